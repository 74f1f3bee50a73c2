/**
 * The differential harness: runs one corpus statement on two sides — Postgres directly and
 * through the proxy — in one of four protocol variants, and compares what came back on the wire.
 *
 * Each side has its own database of the same cluster, both copied from one template holding the
 * shared fixtures (so fixture OIDs are identical), and each group's objects live in a schema
 * created identically on both sides, so state never crosses from one side to the other.
 */
import type pg from 'pg';
import * as fe from '../../protocol/frontend-encoders.js';
import { decodeErrorFields } from '../../protocol/backend-decoders.js';
import type { Group, Statement } from './corpus/types.js';
import {
  compareEvents,
  formatDifference,
  sortRowRuns,
  toEvents,
  type DecodeContext,
  type Difference,
  type Event,
  type OidNormalizer,
} from './outcome.js';
import { KNOWN_RULES, type KnownRule } from './known-differences.js';
import { NAMED_STATEMENT, type PoolMode, type Variant } from './variants.js';
import type { WireConnection, WireMessage } from './wire.js';

export { VARIANTS, NAMED_STATEMENT, type PoolMode, type Variant } from './variants.js';

/** A client waits for CopyInResponse before sending more: such statements are not pipelined. */
const COPY_FROM_STDIN = /\bcopy\b[\s\S]*\bfrom\s+stdin\b/i;

export interface Side {
  readonly label: 'direct' | 'proxy';
  readonly conn: WireConnection;
  /** A pg client straight to this side's database (setup, teardown, placeholders). */
  readonly admin: pg.Client;
  readonly oids: OidNormalizer;
  readonly ctx: DecodeContext;
  /** Placeholder values of the running group. */
  readonly vars: Map<string, string>;
}

export function schemaOf(group: Group): string {
  return `g_${group.name}`;
}

export function searchPathOf(group: Group): string {
  return `${schemaOf(group)}, fx, public`;
}

/** Replace `{{name}}` placeholders with this side's values. */
export function substitute(sql: string, vars: ReadonlyMap<string, string>): string {
  return sql.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = vars.get(name);
    if (value === undefined) throw new Error(`corpus error: no value for placeholder {{${name}}}`);
    return value;
  });
}

/** The simple variant has no parameters: inline them as quoted literals. */
export function inlineParams(sql: string, params: readonly (string | null)[]): string {
  if (params.length === 0) return sql;
  return sql.replace(/\$(\d+)/g, (whole, n: string) => {
    const value = params[Number(n) - 1];
    if (value === undefined) return whole;
    return value === null ? 'NULL' : `'${value.replaceAll("'", "''")}'`;
  });
}

/** The frame batches (each ending in Sync or being one Query) a variant sends for one statement. */
export function batchesFor(
  variant: Variant,
  sql: string,
  params: readonly (string | null)[],
): Buffer[][] {
  switch (variant) {
    case 'simple':
      return [[fe.query(inlineParams(sql, params))]];
    case 'extended-text':
    case 'extended-binary':
      return [
        [
          fe.parse('', sql),
          fe.bind({ params, resultFormats: variant === 'extended-binary' ? [1] : [] }),
          fe.describe('P'),
          fe.execute(),
          fe.sync(),
        ],
      ];
    case 'named-twice':
      return [
        [
          fe.parse(NAMED_STATEMENT, sql),
          fe.describe('S', NAMED_STATEMENT),
          fe.bind({ statement: NAMED_STATEMENT, params }),
          fe.describe('P'),
          fe.execute(),
          fe.sync(),
        ],
        [
          fe.bind({ statement: NAMED_STATEMENT, params, resultFormats: [1] }),
          fe.describe('P'),
          fe.execute(),
          fe.sync(),
        ],
        [fe.close('S', NAMED_STATEMENT), fe.sync()],
      ];
  }
}

export interface SideResult {
  readonly events: Event[];
  /** SQLSTATE of the first error in the first batch, if any. */
  readonly firstError: string | undefined;
  /** Row counts of each result set (for the ORDER BY check). */
  readonly rowRuns: number[];
}

function rowRuns(messages: readonly WireMessage[]): number[] {
  const runs: number[] = [];
  let n = 0;
  for (const m of messages) {
    if (m.type === 'D') {
      n++;
    } else if (n > 0) {
      runs.push(n);
      n = 0;
    }
  }
  if (n > 0) runs.push(n);
  return runs;
}

/** Run one statement on one side in one variant. */
export async function runOn(side: Side, variant: Variant, stmt: Statement): Promise<SideResult> {
  const sql = substitute(stmt.sql, side.vars);
  const batches = batchesFor(variant, sql, stmt.params ?? []);
  const all: WireMessage[] = [];
  const [first, ...rest] = batches;
  if (first) all.push(...(await side.conn.exchange(first, 1, isExtended(variant))));
  if (rest.length > 0 && !COPY_FROM_STDIN.test(sql)) {
    // After the first execution, the second and the Close are pipelined (as pgjdbc does).
    all.push(...(await side.conn.exchange(rest.flat(), rest.length, true)));
  } else {
    for (const batch of rest) all.push(...(await side.conn.exchange(batch, 1, true)));
  }
  const firstReady = all.findIndex((m) => m.type === 'Z');
  const error = all.slice(0, firstReady).find((m) => m.type === 'E');
  const firstError = error ? decodeErrorFields(error.body).code : undefined;
  side.oids.anonymous = stmt.order === 'unordered';
  try {
    const events = toEvents(all, side.ctx);
    return {
      events: stmt.order === 'unordered' ? sortRowRuns(events) : events,
      firstError,
      rowRuns: rowRuns(all),
    };
  } finally {
    side.oids.anonymous = false;
  }
}

export function isExtended(variant: Variant): boolean {
  return variant !== 'simple';
}

/** Problems with the corpus itself, judged on the direct side (not proxy bugs). */
export function corpusProblems(stmt: Statement, variant: Variant, direct: SideResult): string[] {
  const problems: string[] = [];
  // Executing every statement twice changes what later statements see (a second INSERT fails,
  // a second DECLARE aborts the transaction): expected errors are checked in the other variants.
  const expected =
    isExtended(variant) && stmt.extendedError !== undefined
      ? (stmt.extendedError ?? undefined)
      : stmt.error;
  if (variant !== 'named-twice' && expected !== direct.firstError) {
    problems.push(
      expected === undefined
        ? `corpus error: direct Postgres failed with ${direct.firstError ?? '?'} but no error is expected (mark it with error: '${direct.firstError ?? ''}')`
        : `corpus error: expected SQLSTATE ${expected} from direct Postgres, got ${direct.firstError ?? 'success'}`,
    );
  }
  if (
    stmt.order === undefined &&
    direct.rowRuns.some((n) => n > 1) &&
    !/\border\s+by\b/i.test(stmt.sql)
  ) {
    problems.push(
      'corpus error: a multi-row result without ORDER BY: add ORDER BY or mark order unordered/deterministic',
    );
  }
  return problems;
}

export interface Verdict {
  /** The first difference not explained by a known rule. */
  readonly difference: Difference | undefined;
  readonly report: string | undefined;
  /** Known rules that explained differences of this statement. */
  readonly known: readonly KnownRule[];
  readonly direct: SideResult;
  readonly proxy: SideResult;
}

/** Run on both sides in lockstep and compare. */
export async function runBoth(
  direct: Side,
  proxy: Side,
  variant: Variant,
  mode: PoolMode,
  stmt: Statement,
): Promise<Verdict> {
  const [d, p] = await Promise.all([runOn(direct, variant, stmt), runOn(proxy, variant, stmt)]);
  let proxyEvents = p.events;
  let difference = compareEvents(d.events, proxyEvents);
  const known: KnownRule[] = [];
  for (const rule of KNOWN_RULES) {
    if (difference === undefined) break;
    if (!rule.modes.includes(mode) || !rule.variants.includes(variant)) continue;
    const explained = rule.explain(d.events, proxyEvents);
    if (explained === undefined) continue;
    known.push(rule);
    proxyEvents = explained;
    difference = compareEvents(d.events, proxyEvents);
  }
  return {
    difference,
    known,
    direct: d,
    proxy: p,
    report:
      difference === undefined
        ? undefined
        : formatDifference({
            statement: stmt.sql,
            variant,
            mode,
            difference,
            direct: d.events,
            proxy: proxyEvents,
          }) +
          (known.length > 0
            ? `\n  (proxy events shown after the known rules ${known.map((r) => r.id).join(', ')}; the proxy sent: ${JSON.stringify(p.events[difference.index] ?? null).slice(0, 600)})`
            : ''),
  };
}

/** Create the group's schema and fixtures on one side and resolve its placeholders. */
export async function setupGroupData(side: Side, group: Group): Promise<void> {
  const schema = schemaOf(group);
  await side.admin.query(
    `DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}; SET search_path TO ${searchPathOf(group)}`,
  );
  try {
    if (group.setup !== undefined) await side.admin.query(group.setup);
    side.vars.clear();
    for (const [name, sql] of Object.entries(group.resolve ?? {})) {
      const r = await side.admin.query<unknown[]>({ text: sql, rowMode: 'array' });
      const row = r.rows[0];
      if (row === undefined) throw new Error(`placeholder ${name}: no row from ${sql}`);
      side.vars.set(name, String(row[0]));
    }
  } finally {
    await side.admin.query('RESET search_path');
  }
  side.oids.reset();
}

/** Drop the group's schema on one side. */
export async function dropGroupData(side: Side, group: Group): Promise<void> {
  await side.admin.query(`DROP SCHEMA IF EXISTS ${schemaOf(group)} CASCADE`);
}

/** Run harness-level SQL (not corpus) on the tested connection of one side; events returned. */
export async function harnessQuery(side: Side, sql: string): Promise<Event[]> {
  return toEvents(await side.conn.exchange([fe.query(sql)]), side.ctx);
}
