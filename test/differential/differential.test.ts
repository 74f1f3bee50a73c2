/**
 * Differential SQL suite: every corpus statement runs directly against Postgres and through the
 * proxy, at the wire level, in four protocol variants (simple; extended text; extended binary;
 * a named statement executed twice), in session pooling and again in transaction pooling. In
 * transaction pooling the statements marked as depending on session state are counted apart
 * ("transaction [session state]"): for them the proxy must replay SETs and pin the client. Command tags, RowDescription (names, table and type
 * OIDs, sizes, modifiers, formats), rows byte for byte, notices, errors (every field) and
 * ReadyForQuery status must be identical. See harness.ts and outcome.ts for the rules.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultConfig } from '../../src/config.js';
import { startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';
import { CORPUS, corpusSizes } from './corpus/index.js';
import { FIXTURE_SQL } from './corpus/fixture.js';
import { normalize, type Group, type Statement } from './corpus/types.js';
import {
  VARIANTS,
  corpusProblems,
  dropGroupData,
  harnessQuery,
  runBoth,
  searchPathOf,
  setupGroupData,
  type PoolMode,
  type Side,
  type Variant,
} from './harness.js';
import { KNOWN_RULES } from './known-differences.js';
import { compareEvents, OidNormalizer, toEvents, type Event } from './outcome.js';
import { WireConnection } from './wire.js';

/** Equal length, so renaming the proxy side's name keeps binary values well-formed. */
const DIRECT_DB = 'dfdiff_d';
const PROXY_DB = 'dfdiff_p';
const TEMPLATE_DB = 'dfdiff_t';

/** Fixed session settings for both sides (sent as startup parameters). */
const STARTUP: Readonly<Record<string, string>> = {
  client_encoding: 'UTF8',
  DateStyle: 'ISO, MDY',
  TimeZone: 'UTC',
  IntervalStyle: 'postgres',
  application_name: 'docfusion-differential',
};

const MODES: readonly PoolMode[] = ['session', 'transaction'];

interface Tally {
  pass: number;
  fail: number;
  known: number;
}
const tallies = new Map<string, Tally>();
const failures: string[] = [];
const knownSeen: string[] = [];
/** How many statement runs each known rule explained. */
const knownRuleHits = new Map<string, number>();
const started = Date.now();

function tally(mode: string, variant: Variant): Tally {
  const key = `${mode} / ${variant}`;
  let t = tallies.get(key);
  if (!t) {
    t = { pass: 0, fail: 0, known: 0 };
    tallies.set(key, t);
  }
  return t;
}

function sessionDependent(group: Group, stmt: Statement): boolean {
  return group.session === true || stmt.session === true;
}

function label(index: number, sql: string): string {
  const line = sql.replace(/\s+/g, ' ').trim();
  return `#${index + 1} ${line.length > 100 ? line.slice(0, 100) + '…' : line || '(empty)'}`;
}

const upstream = new URL(upstreamUrl());
const user = decodeURIComponent(upstream.username);
const password = decodeURIComponent(upstream.password);
let threshold = 0;
let adminDirect: pg.Client;
let adminProxy: pg.Client;

function dbUrl(database: string): string {
  const u = new URL(upstream.href);
  u.pathname = `/${database}`;
  return u.href;
}

async function dropDatabases(admin: pg.Client): Promise<void> {
  for (const db of [DIRECT_DB, PROXY_DB, TEMPLATE_DB]) {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
}

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: upstream.href });
  await admin.connect();
  try {
    await dropDatabases(admin);
    await admin.query(
      `CREATE DATABASE ${TEMPLATE_DB} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'`,
    );
    const tpl = new pg.Client({ connectionString: dbUrl(TEMPLATE_DB) });
    await tpl.connect();
    try {
      await tpl.query(FIXTURE_SQL);
      // Every OID allocated after this probe belongs to an object made after the template.
      await tpl.query('CREATE TABLE oid_probe ()');
      const r = await tpl.query<{ oid: string }>("SELECT 'oid_probe'::regclass::oid AS oid");
      threshold = Number(r.rows[0]?.oid);
      await tpl.query('DROP TABLE oid_probe');
    } finally {
      await tpl.end();
    }
    for (const db of [DIRECT_DB, PROXY_DB]) {
      await admin.query(`CREATE DATABASE ${db} TEMPLATE ${TEMPLATE_DB}`);
      // Commits need not wait for the WAL flush (DDL-heavy groups run 8 times); invisible to
      // the corpus, and the same on both sides.
      await admin.query(`ALTER DATABASE ${db} SET synchronous_commit = off`);
    }
  } finally {
    await admin.end();
  }
  adminDirect = new pg.Client({ connectionString: dbUrl(DIRECT_DB) });
  adminProxy = new pg.Client({ connectionString: dbUrl(PROXY_DB) });
  await adminDirect.connect();
  await adminProxy.connect();
});

afterAll(async () => {
  await adminDirect.end();
  await adminProxy.end();
  const admin = new pg.Client({ connectionString: upstream.href });
  await admin.connect();
  try {
    await dropDatabases(admin);
  } finally {
    await admin.end();
  }
  const sizes = corpusSizes();
  const lines = [
    `differential suite: ${sizes.total} statements in ${CORPUS.length} groups (${sizes.sessionIndependent} independent of session state)`,
    ...Object.entries(sizes.byCategory).map(([c, n]) => `  ${c.padEnd(34)} ${n}`),
    'results (pass / fail / known difference), per pool mode / variant:',
    ...[...tallies].map(([k, t]) => `  ${k.padEnd(34)} ${t.pass} / ${t.fail} / ${t.known}`),
    `runtime ${((Date.now() - started) / 1000).toFixed(1)} s`,
  ];
  if (knownSeen.length > 0) lines.push('known differences:', ...knownSeen.map((k) => `  ${k}`));
  for (const rule of KNOWN_RULES) {
    const hits = knownRuleHits.get(rule.id);
    if (hits !== undefined) lines.push(`known rule ${rule.id} (${hits} runs): ${rule.description}`);
  }
  if (failures.length > 0) lines.push('first difference:', failures[0] ?? '');
  console.log(lines.join('\n'));
  await mkdir('.tmp', { recursive: true });
  await writeFile(
    '.tmp/differential-report.json',
    JSON.stringify(
      {
        sizes,
        tallies: Object.fromEntries(tallies),
        knownSeen,
        knownRules: Object.fromEntries(knownRuleHits),
        failures,
      },
      null,
      2,
    ),
  );
});

test('the corpus has at least 300 statements and covers every category', () => {
  const sizes = corpusSizes();
  expect(sizes.total).toBeGreaterThanOrEqual(300);
  for (const [category, n] of Object.entries(sizes.byCategory)) {
    // DocFusion function statements wait for the planner (corpus/docfusion-functions.ts).
    if (category !== 'docfusion-functions') expect(n, category).toBeGreaterThan(0);
  }
});

for (const mode of MODES) {
  describe(`pool mode ${mode}`, () => {
    for (const variant of VARIANTS) {
      describe(variant, () => {
        // A proxy per variant: its client then gets never-used upstream backends, as the direct
        // side does (a reused backend keeps e.g. the temp namespace of an earlier client).
        let proxy: TestProxy;
        let direct: Side;
        let viaProxy: Side;

        async function connect(): Promise<void> {
          const [d, p] = await Promise.all([
            WireConnection.open({
              host: upstream.hostname,
              port: Number(upstream.port || 5432),
              user,
              password,
              database: DIRECT_DB,
              params: STARTUP,
            }),
            WireConnection.open({
              host: '127.0.0.1',
              port: proxy.port,
              user,
              password,
              database: PROXY_DB,
              params: STARTUP,
            }),
          ]);
          const dOids = new OidNormalizer(threshold);
          const pOids = new OidNormalizer(threshold);
          direct = {
            label: 'direct',
            conn: d,
            admin: adminDirect,
            oids: dOids,
            ctx: { oids: dOids },
            vars: new Map(),
          };
          viaProxy = {
            label: 'proxy',
            conn: p,
            admin: adminProxy,
            oids: pOids,
            ctx: { oids: pOids, rename: [Buffer.from(PROXY_DB), Buffer.from(DIRECT_DB)] },
            vars: new Map(),
          };
        }

        beforeAll(async () => {
          proxy = await startProxy(
            mode === 'session' ? {} : { pool: { ...defaultConfig().pool, mode: 'transaction' } },
          );
          await connect();
        });
        afterAll(async () => {
          direct.conn.close();
          viaProxy.conn.close();
          await proxy.stop();
        });

        test('login: the same ParameterStatus messages (by name) and notices', () => {
          const byName = (side: Side): Event[] =>
            toEvents(side.conn.loginMessages, side.ctx).sort((a, b) =>
              JSON.stringify(a) < JSON.stringify(b) ? -1 : 1,
            );
          const difference = compareEvents(byName(direct), byName(viaProxy));
          if (difference !== undefined) {
            throw new Error(`login differs: ${JSON.stringify(difference)}`);
          }
        });

        for (const group of CORPUS) {
          const statements = group.statements
            .map(normalize)
            .map((stmt, index) => ({ stmt, index }));

          describe(group.name, () => {
            beforeAll(async () => {
              if (direct.conn.closed || viaProxy.conn.closed) {
                direct.conn.close();
                viaProxy.conn.close();
                await connect();
              }
              await Promise.all([setupGroupData(direct, group), setupGroupData(viaProxy, group)]);
              const sql = `SET search_path TO ${searchPathOf(group)}`;
              const [a, b] = await Promise.all([
                harnessQuery(direct, sql),
                harnessQuery(viaProxy, sql),
              ]);
              const diff = compareEvents(a, b);
              if (diff) {
                throw new Error(`group setup "${sql}" differs: ${JSON.stringify(diff)}`);
              }
            });
            afterAll(async () => {
              for (const side of [direct, viaProxy]) {
                if (side.conn.closed) continue;
                if (side.conn.txStatus !== 'I') await harnessQuery(side, 'ROLLBACK');
                await harnessQuery(side, 'DISCARD ALL');
              }
              await Promise.all([dropGroupData(direct, group), dropGroupData(viaProxy, group)]);
            });

            for (const { stmt, index } of statements) {
              test(label(index, stmt.sql), async () => {
                const verdict = await runBoth(direct, viaProxy, variant, mode, stmt);
                const t = tally(
                  mode === 'transaction' && sessionDependent(group, stmt)
                    ? 'transaction [session state]'
                    : mode,
                  variant,
                );
                const problems = corpusProblems(stmt, variant, verdict.direct);
                if (problems.length > 0) {
                  t.fail++;
                  throw new Error(
                    `${problems.join('\n')}\n  direct: ${JSON.stringify(verdict.direct.events).slice(0, 1500)}`,
                  );
                }
                const known = stmt.known;
                if (
                  known &&
                  (known.variants?.includes(variant) ?? true) &&
                  (known.modes?.includes(mode) ?? true)
                ) {
                  if (verdict.difference === undefined && verdict.known.length === 0) {
                    if (known.intermittentIn?.includes(mode) === true) {
                      t.pass++;
                      return;
                    }
                    t.fail++;
                    throw new Error(
                      `marked as a known difference (${known.reason}) but the sides now agree: remove the mark`,
                    );
                  }
                  t.known++;
                  knownSeen.push(
                    `[${mode}/${variant}] ${group.name} #${index + 1}: ${known.reason}`,
                  );
                  return;
                }
                if (verdict.report !== undefined) {
                  t.fail++;
                  failures.push(`${group.name} #${index + 1}\n${verdict.report}`);
                  throw new Error(verdict.report);
                }
                if (verdict.known.length > 0) {
                  t.known++;
                  for (const rule of verdict.known) {
                    knownRuleHits.set(rule.id, (knownRuleHits.get(rule.id) ?? 0) + 1);
                  }
                  return;
                }
                t.pass++;
              });
            }
          });
        }
      });
    }
  });
}
