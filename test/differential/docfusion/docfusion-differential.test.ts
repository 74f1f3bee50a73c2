/**
 * Differential suite for the DocFusion functions, with Postgres as the oracle (issue 4, Tests).
 *
 * A seeded corpus of 10,000 documents (corpus.ts) is loaded once, with a GIN index. Every
 * statement (matrix.ts: each function in each clause; extras.ts: parameters, built-ins, the
 * proxy-only functions, fallbacks, errors) runs through the proxy as DocFusion SQL and directly
 * on Postgres as hand-written native SQL, over raw wire connections: column descriptions, the
 * command tag and every row byte for byte must be equal (rows as a multiset unless the query is
 * ordered), in the simple protocol (text), and the extended protocol with text and with binary
 * results; with `SET docfusion.pushdown` on and off; in session and transaction pooling. EXPLAIN
 * tells how the proxy ran each statement (pushed down, evaluated in the proxy, fell back,
 * refused with 0A000) and that is asserted too. The function's own pushdown SQL is checked
 * against the hand-written native SQL on Postgres as well. Bugs found are marked (bugs.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultConfig } from '../../../src/config.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../../support/proxy.js';
import * as fe from '../../../protocol/frontend-encoders.js';
import { WireConnection } from '../wire.js';
import { BUGS, bugById, type Bug } from './bugs.js';
import { DEFAULT_SEED, generateCorpus } from './corpus.js';
import { extraStatements } from './extras.js';
import { dropFixture, loadFixture } from './fixture.js';
import { matrixStatements } from './matrix.js';
import { deriveProbes } from './probes.js';
import { describeClassification, sameClassification, type Statement } from './statement.js';
import {
  cells,
  classify,
  ConnectionPool,
  difference,
  run,
  toOutcome,
  VARIANTS,
  type Outcome,
  type Variant,
} from './wire-run.js';

const SEED = Number(process.env.DOCFUSION_DIFF_SEED ?? DEFAULT_SEED);
const corpus = generateCorpus(SEED);
const probes = deriveProbes(corpus);
const STATEMENTS: readonly Statement[] = [
  ...matrixStatements(probes, SEED),
  ...extraStatements(probes),
];
const MODES = ['session', 'transaction'] as const;
/**
 * Session pooling: text (simple protocol) and binary (extended protocol) for every statement;
 * the extended protocol with text results too for statements with parameters, errors, and the
 * select-list, ORDER BY and GROUP BY statements that do not read every document (values are
 * encoded as in the simple protocol, so the rest would add time, not coverage). Transaction
 * pooling changes how statements reach Postgres (pooled connections, Parse/Bind renamed, SET
 * replayed), not how they are planned or encoded: one extended-protocol run with binary results.
 */
const EXTENDED_TEXT_CLAUSES = new Set(['select', 'order-by', 'group-by']);

function variantsOf(stmt: Statement, mode: (typeof MODES)[number]): readonly Variant[] {
  if (mode === 'transaction') return ['extended-binary'];
  const extendedText =
    stmt.params.length > 0 ||
    stmt.error !== undefined ||
    (!stmt.wide && EXTENDED_TEXT_CLAUSES.has(stmt.clause));
  return extendedText ? VARIANTS : ['simple', 'extended-binary'];
}

/**
 * DOCFUSION_DIFF_SHOW_BUGS=1 runs the known-bug cases as ordinary tests, so their failures
 * (the evidence) are printed.
 */
const SHOW_BUGS = process.env.DOCFUSION_DIFF_SHOW_BUGS === '1';
const SETTINGS = ['on', 'off'] as const;
type Setting = (typeof SETTINGS)[number];

const upstream = new URL(upstreamUrl());
const login = {
  user: decodeURIComponent(upstream.username),
  password: decodeURIComponent(upstream.password),
  database: upstream.pathname.slice(1),
  params: { client_encoding: 'UTF8', application_name: 'docfusion-fn-differential' },
};

let admin: pg.Client;
let direct: ConnectionPool;
const oracles = new Map<string, Promise<Outcome>>();

function oracle(stmt: Statement, variant: Variant, sql = stmt.native): Promise<Outcome> {
  const key = `${variant}\u0000${sql}`;
  let outcome = oracles.get(key);
  if (outcome === undefined) {
    outcome = direct.use((conn) => run(conn, sql, stmt.params, variant));
    oracles.set(key, outcome);
  }
  return outcome;
}

interface Tally {
  runs: number;
  equal: number;
  rows: number;
}
const tallies = new Map<string, Tally>();
const classifications = new Map<string, number>();
/** Milliseconds spent per statement (all modes, settings and variants), for the report. */
const spent = new Map<string, number>();
const failures: string[] = [];
const started = Date.now();
const cpuSeconds = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};
const cpuAtStart = cpuSeconds();

function tally(key: string): Tally {
  let t = tallies.get(key);
  if (!t) {
    t = { runs: 0, equal: 0, rows: 0 };
    tallies.set(key, t);
  }
  return t;
}

async function openDirect(): Promise<WireConnection> {
  return WireConnection.open({
    host: upstream.hostname,
    port: Number(upstream.port || 5432),
    ...login,
  });
}

async function openProxy(proxy: TestProxy, setting: Setting): Promise<WireConnection> {
  const conn = await WireConnection.open({ host: '127.0.0.1', port: proxy.port, ...login });
  if (setting === 'off') {
    const set = toOutcome(await conn.exchange([fe.query('SET docfusion.pushdown = off')]));
    const show = toOutcome(await conn.exchange([fe.query('SHOW docfusion.pushdown')]));
    const value = cells(show.rows[0])[0]?.toString() ?? '';
    if (set.error || value !== 'off')
      throw new Error(`SET docfusion.pushdown = off failed (${value})`);
  }
  return conn;
}

beforeAll(async () => {
  admin = await adminClient();
  await loadFixture(admin, corpus, probes);
  direct = await ConnectionPool.create(3, openDirect);
}, 120_000);

afterAll(async () => {
  direct.close();
  await dropFixture(admin);
  await admin.end();
  const lines = [
    `DocFusion differential: seed ${String(SEED)}, ${String(corpus.texts.length)} documents, ${String(STATEMENTS.length)} statements`,
    'runs compared equal / run (rows compared), per pool mode, pushdown and variant:',
    ...[...tallies].map(
      ([k, t]) =>
        `  ${k.padEnd(40)} ${String(t.equal)} / ${String(t.runs)} (${String(t.rows)} rows)`,
    ),
    'classifications (EXPLAIN), per pushdown setting:',
    ...[...classifications].sort().map(([k, n]) => `  ${k.padEnd(40)} ${String(n)}`),
    'slowest statements (ms over every mode, setting and variant):',
    ...[...spent]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([id, ms]) => `  ${id.padEnd(40)} ${String(ms)}`),
    `runtime ${((Date.now() - started) / 1000).toFixed(1)} s (this process used ${(cpuSeconds() - cpuAtStart).toFixed(1)} s of CPU); ${String(failures.length)} failing cases`,
  ];
  const empty: string[] = [];
  for (const stmt of STATEMENTS) {
    const outcome =
      stmt.error === undefined ? oracles.get(`simple\u0000${stmt.native}`) : undefined;
    if (outcome !== undefined && (await outcome).rows.length === 0) empty.push(stmt.id);
  }
  lines.push(
    `statements whose oracle returned no rows (${String(empty.length)}): ${empty.join(', ')}`,
  );
  console.log(lines.join('\n'));
  await mkdir('.tmp', { recursive: true });
  await writeFile(
    '.tmp/docfusion-differential.json',
    JSON.stringify(
      {
        seed: SEED,
        statements: STATEMENTS.length,
        tallies: Object.fromEntries(tallies),
        classifications: Object.fromEntries(classifications),
        failures,
      },
      null,
      2,
    ),
  );
});

test('the corpus: 10,000 documents with every feature the suite needs', async () => {
  const r = await admin.query<Record<string, string>>(`SELECT
    count(*) AS docs,
    count(*) FILTER (WHERE doc IS NULL) AS sql_nulls,
    count(*) FILTER (WHERE jsonb_typeof(doc) NOT IN ('object', 'array')) AS scalars,
    count(*) FILTER (WHERE jsonb_typeof(doc) = 'array') AS arrays,
    count(*) FILTER (WHERE doc = '{}' OR doc = '[]') AS empty,
    count(*) FILTER (WHERE doc @> '{"nul": null}') AS json_nulls,
    count(*) FILTER (WHERE jsonb_typeof(doc -> 'n') = 'string' AND doc ->> 'n' ~ '^-?[0-9]') AS numeric_strings,
    count(*) FILTER (WHERE tdoc ~ '[0-9][eE][-+]?[0-9]') AS exponents,
    count(*) FILTER (WHERE (doc ->> 'n') ~ '^[0-9]{19,}') AS large,
    count(*) FILTER (WHERE tdoc ~ '"n":-') AS negatives,
    count(*) FILTER (WHERE doc::text ~ '[\\U00010000-\\U0010FFFF]') AS astral,
    count(*) FILTER (WHERE doc::text ~ 'e\\u0301') AS combining,
    count(*) FILTER (WHERE doc::text ~ '\\\\["\\\\]') AS escaped_keys_or_strings,
    count(*) FILTER (WHERE jsonb_typeof(doc -> 'flag') = 'boolean') AS booleans,
    count(*) FILTER (WHERE doc ? 'nested' AND NOT doc ? 'tags') AS missing_keys
    FROM dfx_docs`);
  const stats = r.rows[0] ?? {};
  console.log(`corpus: ${JSON.stringify(stats)}`);
  expect(Number(stats.docs)).toBeGreaterThanOrEqual(10_000);
  for (const [name, n] of Object.entries(stats)) expect(Number(n), name).toBeGreaterThan(0);
  expect(STATEMENTS.length).toBeGreaterThanOrEqual(150);
  for (const stmt of STATEMENTS) {
    for (const mark of [stmt.bugs.on, stmt.bugs.off]) {
      if (mark !== undefined) expect(bugById(mark), `${stmt.id}: bug ${mark}`).toBeDefined();
    }
  }
  expect(new Set(STATEMENTS.map((s) => s.id)).size).toBe(STATEMENTS.length);
});

describe('oracle self-check: each function’s pushdown SQL equals the hand-written native SQL on Postgres', () => {
  for (const stmt of STATEMENTS) {
    const pushdownSql = stmt.pushdownNative;
    if (pushdownSql === undefined || stmt.error !== undefined) continue;
    test(stmt.id, { concurrent: true }, async () => {
      const want = await oracle(stmt, 'simple');
      const got = await oracle(stmt, 'simple', pushdownSql);
      if (want.error)
        throw new Error(
          `native SQL failed: ${want.error.code} ${want.error.message}\n  ${stmt.native}`,
        );
      const diff = difference(want, got, stmt.ordered);
      if (diff !== undefined)
        throw new Error(`${diff}\n  native:   ${stmt.native}\n  pushdown: ${pushdownSql}`);
    });
  }
});

for (const mode of MODES) {
  describe(`${mode} pooling`, () => {
    let proxy: TestProxy;
    const pools = new Map<Setting, ConnectionPool>();

    beforeAll(async () => {
      proxy = await startProxy({ pool: { ...defaultConfig().pool, mode, size: 6 } });
      for (const setting of SETTINGS) {
        pools.set(setting, await ConnectionPool.create(2, () => openProxy(proxy, setting)));
      }
    });
    afterAll(async () => {
      for (const pool of pools.values()) pool.close();
      await proxy.stop();
    });

    for (const stmt of STATEMENTS) {
      for (const setting of SETTINGS) {
        const variants = variantsOf(stmt, mode);
        const mark = stmt.bugs[setting];
        // A known bug fails the test only where it shows (some show in text or binary only).
        const bug =
          mark === undefined ||
          !(bugById(mark)?.variants ?? variants).some((v) => variants.includes(v))
            ? undefined
            : mark;
        const name = `${stmt.id} · pushdown ${setting}${bug === undefined ? '' : ` · known bug ${bug}`}`;
        test(name, { concurrent: true, fails: bug !== undefined && !SHOW_BUGS }, async () => {
          const pool = pools.get(setting);
          if (pool === undefined) throw new Error('no pool');
          const problems = await pool.use((conn) => check(conn, stmt, mode, setting));
          if (problems.length > 0) {
            const report = [
              `${stmt.id} (${mode} pooling, pushdown ${setting})`,
              `  DocFusion: ${stmt.docfusion}`,
              ...(stmt.params.length > 0 ? [`  params:    ${JSON.stringify(stmt.params)}`] : []),
              `  native:    ${stmt.native}`,
              ...problems.map((p) => `  ${p}`),
            ].join('\n');
            if (bug === undefined) failures.push(report);
            throw new Error(report);
          }
        });
      }
    }
  });
}

/** Runs one statement through the proxy in every variant; the differences found. */
async function check(
  conn: WireConnection,
  stmt: Statement,
  mode: (typeof MODES)[number],
  setting: Setting,
): Promise<string[]> {
  const out: string[] = [];
  const begin = Date.now();
  try {
    await checkInto(out, conn, stmt, mode, setting);
  } finally {
    spent.set(stmt.id, (spent.get(stmt.id) ?? 0) + Date.now() - begin);
  }
  return out;
}

/** The statement each connection ran last (to tell who closed a connection). */
const lastOn = new WeakMap<WireConnection, string>();

async function checkInto(
  out: string[],
  conn: WireConnection,
  stmt: Statement,
  mode: (typeof MODES)[number],
  setting: Setting,
): Promise<void> {
  try {
    await checkVariants(out, conn, stmt, mode, setting);
  } catch (error) {
    out.push(
      `no answer: ${error instanceof Error ? error.message : String(error)} (the statement before on this connection: ${lastOn.get(conn) ?? 'none'})`,
    );
  } finally {
    lastOn.set(conn, `${stmt.id} (pushdown ${setting})`);
  }
}

async function checkVariants(
  out: string[],
  conn: WireConnection,
  stmt: Statement,
  mode: (typeof MODES)[number],
  setting: Setting,
): Promise<void> {
  // How the statement is planned does not depend on the pool mode: EXPLAIN in session pooling.
  if (mode === 'session') {
    const expected = setting === 'on' ? stmt.on : stmt.off;
    const got = await classify(conn, stmt.docfusion, stmt.params);
    const seen = `pushdown ${setting}: ${describeClassification(got)}`;
    classifications.set(seen, (classifications.get(seen) ?? 0) + 1);
    if (!sameClassification(expected, got)) {
      out.push(
        `EXPLAIN: expected ${describeClassification(expected)}, got ${describeClassification(got)}`,
      );
    }
  }
  for (const variant of variantsOf(stmt, mode)) {
    let result: Outcome;
    try {
      result = await run(conn, stmt.docfusion, stmt.params, variant);
    } catch (error) {
      const previous = lastOn.get(conn) ?? 'none';
      out.push(
        `[${variant}] no answer: ${error instanceof Error ? error.message : String(error)} (the statement before on this connection: ${previous})`,
      );
      break; // the connection is closed; the pool reopens it for the next test
    }
    const t = tally(`${mode} / ${setting} / ${variant}`);
    t.runs++;
    if (stmt.error !== undefined) {
      if (result.error?.code === stmt.error) t.equal++;
      else
        out.push(
          `[${variant}] expected SQLSTATE ${stmt.error}, got ${result.error ? `${result.error.code} ${result.error.message}` : `${String(result.rows.length)} rows`}`,
        );
      continue;
    }
    const want = await oracle(stmt, variant);
    if (want.error) {
      out.push(
        `[${variant}] the native SQL failed on Postgres: ${want.error.code} ${want.error.message}`,
      );
      continue;
    }
    const diff = difference(want, result, stmt.ordered);
    if (diff === undefined) {
      t.equal++;
      t.rows += want.rows.length;
    } else out.push(`[${variant}] ${diff}`);
  }
}

/** A bug's minimal case: the proxy's answers against Postgres's, in every variant. */
async function checkBug(bug: Bug, conn: WireConnection): Promise<void> {
  for (const sql of bug.setup ?? []) await conn.exchange([fe.query(sql)]);
  for (const variant of VARIANTS) {
    const got = await run(conn, bug.docfusion, bug.params ?? [], variant);
    if (bug.error !== undefined) {
      if (got.error?.code !== bug.error) {
        throw new Error(
          `${variant}: expected SQLSTATE ${bug.error}, got ${got.error ? `${got.error.code} ${got.error.message}` : `${String(got.rows.length)} rows`}`,
        );
      }
      continue;
    }
    const want = await direct.use(async (d) => {
      for (const sql of bug.directSetup ?? []) await d.exchange([fe.query(sql)]);
      try {
        return await run(d, bug.native, bug.params ?? [], variant);
      } finally {
        if ((bug.directSetup ?? []).length > 0) await d.exchange([fe.query('RESET ALL')]);
      }
    });
    expect(want.error, 'the oracle itself must succeed').toBeUndefined();
    const diff =
      bug.compare === 'count'
        ? got.rows.length === want.rows.length
          ? undefined
          : `expected ${String(want.rows.length)} rows, got ${String(got.rows.length)}`
        : difference(want, got, bug.compare === 'ordered');
    if (diff !== undefined) throw new Error(`${variant}: ${diff}`);
  }
  // The session goes on.
  const after = await run(conn, 'SELECT 1', [], 'simple');
  expect(after.error).toBeUndefined();
}

describe('known bugs: minimal failing cases (fixed ones as regression tests)', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy();
  });
  afterAll(async () => {
    await proxy.stop();
  });
  for (const bug of BUGS) {
    const name = `${bug.id}: ${bug.fixed === undefined ? '' : '(fixed) '}${bug.title}`;
    test(name, { fails: bug.fixed === undefined && !SHOW_BUGS }, async () => {
      const conn = await WireConnection.open({ host: '127.0.0.1', port: proxy.port, ...login });
      try {
        await checkBug(bug, conn);
      } finally {
        conn.close();
      }
    });
  }
});
