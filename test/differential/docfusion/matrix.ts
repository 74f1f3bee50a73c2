/**
 * Every DocFusion function in every clause it can appear in: select list, WHERE, GROUP BY,
 * HAVING, ORDER BY, JOIN ON, CTE and subquery. Arguments come from the corpus (probes.ts).
 */
import { Rng } from './corpus.js';
import {
  bare,
  call,
  col,
  FUNCTIONS,
  lit,
  pathCall,
  render,
  type Arg,
  type Call,
  type DialectName,
  type FnName,
} from './dialects.js';
import type { Path, Probes } from './probes.js';
import { build, type Classification, type Spec, type Statement } from './statement.js';

export const DOCS = 'dfx_docs';
export const PROBE = 'dfx_probe';

/** A boolean use of a call; `residual` says whether the proxy can evaluate it (else fallback). */
interface Predicate {
  readonly sql: (d: DialectName) => string;
  readonly residual: boolean;
}

const NUMERIC_PATHS: readonly Path[] = [
  ['n'], ['price'], ['id'], ['nested', 'deep', 'v'], ['items', '0', 'qty'], ['n', '0'],
  ['n', 'v'], ['nested', 'n'], ['items', '-1', 'price'], ['free'], ['nested', 'list', '0'],
]; // prettier-ignore
const BOOL_PATHS: readonly Path[] = [
  ['flag'], ['nested', 'flag'], ['n'], ['free'], ['meta', 'NULL'], ['0'],
]; // prettier-ignore

/** Chooses the arguments of each call, deterministically. */
class Chooser {
  private readonly rng: Rng;
  constructor(
    private readonly probes: Probes,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  path(fn: FnName): Path {
    const p = this.probes;
    const r = this.rng;
    switch (fn) {
      case 'json_array_length':
        return r.chance(0.7) ? r.pick(p.arrayPaths) : r.pick(p.paths);
      case 'json_keys':
        return r.chance(0.7) ? r.pick(p.objectPaths) : r.pick(p.paths);
      case 'json_get_int':
      case 'json_get_float':
        return r.chance(0.7) ? r.pick(NUMERIC_PATHS) : r.pick(p.paths);
      case 'json_get_bool':
        return r.chance(0.7) ? r.pick(BOOL_PATHS) : r.pick(p.paths);
      default:
        if (r.chance(0.1)) return r.pick(p.indexEdgePaths);
        // Mostly paths many documents have, so that results are not all NULL.
        return r.chance(0.7) ? r.pick(p.frequent) : r.pick(p.paths);
    }
  }

  pattern(fn: FnName): string {
    return this.rng.pick(
      fn === 'json_multi_contains' ? this.probes.objectPatterns : this.probes.patterns,
    );
  }

  /** `k` calls of `fn` on `doc`; the first path-taking call of each list has an empty path. */
  calls(fn: FnName, doc: Arg, k: number): Call[] {
    return Array.from({ length: k }, (_, i) => {
      if (fn === 'json_contains' || fn === 'json_multi_contains')
        return call(fn, doc, lit(this.pattern(fn)));
      if (i === 0 && fn !== 'json_extract_path') return call(fn, doc);
      return pathCall(fn, doc, this.path(fn));
    });
  }

  one(fn: FnName, doc: Arg): Call {
    const [only] = this.calls(fn, doc, 2).slice(1);
    if (only === undefined) throw new Error('no call');
    return only;
  }

  value(): { path: Path; text: string } {
    return this.rng.pick(this.probes.values);
  }

  /** Predicates over `fn`; index picks one of a few shapes. */
  predicate(fn: FnName, doc: Arg, index: number): Predicate {
    const c = this.one(fn, doc);
    const r = (d: DialectName): string => render(c, d);
    const shape = <T>(items: readonly T[]): T => items[index % items.length] ?? (items[0] as T);
    const ok = (sql: (d: DialectName) => string): Predicate => ({ sql, residual: true });
    const fallback = (sql: (d: DialectName) => string): Predicate => ({ sql, residual: false });
    switch (fn) {
      case 'json_extract_path': {
        const v = this.value();
        const e = pathCall(fn, doc, v.path);
        const literal = `'${v.text.replaceAll("'", "''")}'`;
        return shape([
          ok((d) => `${render(e, d)} = ${literal}`),
          ok((d) => `${r(d)} > 'm'`),
          ok((d) => `${r(d)} IS NULL`),
        ]);
      }
      case 'json_contains':
      case 'json_multi_contains':
      case 'json_exists':
        return shape([ok(r), ok((d) => `NOT ${r(d)}`), ok((d) => `${r(d)} = false`)]);
      case 'json_get_bool':
        return shape([ok(r), fallback((d) => `${r(d)} IS NOT TRUE`), ok((d) => `NOT ${r(d)}`)]);
      case 'json_typeof':
        return shape([
          ok((d) => `${r(d)} = 'number'`),
          fallback((d) => `${r(d)} IN ('string', 'array')`),
          ok((d) => `${r(d)} IS NULL`),
        ]);
      case 'json_array_length':
        return shape([
          ok((d) => `${r(d)} > 1`),
          ok((d) => `${r(d)} = 0`),
          fallback((d) => `${r(d)} BETWEEN 1 AND 2`),
        ]);
      case 'json_get_int':
        return shape([
          ok((d) => `${r(d)} > 10`),
          ok((d) => `${r(d)} < -5 OR ${r(d)} = 0`),
          fallback((d) => `${r(d)} % 7 = 3`),
        ]);
      case 'json_get_float':
        return shape([
          ok((d) => `${r(d)} < 0.5`),
          ok((d) => `${r(d)} > 1e300 OR ${r(d)} = 0.1`),
          fallback((d) => `abs(${r(d)}) < 1e-300`),
        ]);
      case 'json_keys':
        return shape([
          ok((d) => `${r(d)} IS NOT NULL`),
          fallback((d) => `'kind' = ANY(${r(d)})`),
          ok((d) => `${r(d)} = '{kind,n}'`),
        ]);
    }
  }
}

const off = (residual: boolean): Classification => (residual ? 'proxy' : 'pushed');

export function matrixStatements(probes: Probes, seed: number): Statement[] {
  const out: Statement[] = [];
  const choose = new Chooser(probes, seed);
  const D = col('doc');
  const counters = new Map<string, number>();
  const add = (spec: Omit<Spec, 'id'>): void => {
    const key = `${spec.clause}/${spec.fn}`;
    const n = (counters.get(key) ?? 0) + 1;
    counters.set(key, n);
    out.push(build({ ...spec, id: `${key}/${String(n)}` }));
  };
  const list = (calls: readonly Call[], d: DialectName): string =>
    calls.map((c, i) => `${render(c, d)} AS c${String(i + 1)}`).join(', ');

  for (const fn of FUNCTIONS) {
    // SELECT list: every document, several argument sets at once.
    const wide = choose.calls(fn, D, 6);
    add({
      fn,
      clause: 'select',
      off: 'proxy',
      wide: true,
      sql: (d) => `SELECT id, ${list(wide, d)} FROM ${DOCS}`,
    });
    const named = choose.one(fn, D);
    add({
      fn,
      clause: 'select',
      off: 'proxy',
      sql: (d) => `SELECT id, ${bare(named, d)} FROM ${DOCS} WHERE id % 7 = 3 ORDER BY id`,
    });
    const onText = choose.calls(fn, col('tdoc', 'text'), 3);
    add({
      fn,
      clause: 'select',
      off: 'proxy',
      sql: (d) => `SELECT id, ${list(onText, d)} FROM ${DOCS} WHERE id % 5 = 2`,
    });

    // WHERE: alone, beside pushed conjuncts, under OR/NOT.
    for (let i = 0; i < 3; i++) {
      const p = choose.predicate(fn, D, i);
      const q = choose.predicate(fn, D, i + 1);
      const filter = i === 0 ? '' : ` AND id % ${String(i + 2)} = 0`;
      add({
        fn,
        clause: 'where',
        off: off(p.residual),
        sql: (d) => `SELECT id FROM ${DOCS} WHERE (${p.sql(d)})${filter}`,
      });
      if (i === 2) {
        add({
          fn,
          clause: 'where',
          off: off(p.residual && q.residual),
          sql: (d) =>
            `SELECT id, ${render(named, d)} AS v FROM ${DOCS} WHERE id % 3 = 1 AND (${q.sql(d)} OR NOT (${p.sql(d)}))`,
        });
      }
    }

    // GROUP BY, by position and by expression.
    const key = choose.one(fn, D);
    add({
      fn,
      clause: 'group-by',
      off: 'proxy',
      sql: (d) =>
        `SELECT ${render(key, d)} AS k, count(*) AS n FROM ${DOCS} WHERE id % 3 = 1 GROUP BY 1`,
    });
    add({
      fn,
      clause: 'group-by',
      off: 'proxy',
      sql: (d) =>
        `SELECT ${bare(key, d)}, count(*) AS n, min(id) AS first FROM ${DOCS} WHERE id % 3 = 0 GROUP BY ${render(key, d)} ORDER BY 3`,
    });

    // HAVING over the function, grouped by another DocFusion call.
    const h = choose.predicate(fn, D, 0);
    const group = pathCall('json_typeof', D, ['n']);
    add({
      fn,
      clause: 'having',
      off: 'pushed',
      sql: (d) =>
        `SELECT ${render(group, d)} AS t, count(*) AS n, count(*) FILTER (WHERE ${h.sql(d)}) AS hits ` +
        `FROM ${DOCS} WHERE id % 5 = 1 GROUP BY 1 HAVING bool_or(${h.sql(d)}) IS NOT NULL`,
    });
    add({
      fn,
      clause: 'having',
      off: 'proxy',
      sql: (d) =>
        `SELECT ${render(group, d)} AS t, count(*) AS n, bool_or(${h.sql(d)}) AS some FROM ${DOCS} ` +
        `WHERE id % 5 = 2 GROUP BY 1 HAVING count(*) > 10 OR bool_or(${h.sql(d)})`,
    });

    // ORDER BY the function (an expression, an alias, a position), with LIMIT/OFFSET.
    const o = choose.one(fn, D);
    add({
      fn,
      clause: 'order-by',
      off: 'proxy',
      sql: (d) =>
        `SELECT id, ${render(o, d)} AS v FROM ${DOCS} WHERE id % 9 = 4 ORDER BY ${render(o, d)} DESC NULLS FIRST, id LIMIT 60 OFFSET 3`,
    });
    add({
      fn,
      clause: 'order-by',
      off: 'proxy',
      sql: (d) => `SELECT id, ${render(o, d)} AS v FROM ${DOCS} WHERE id % 13 = 5 ORDER BY v, id`,
    });
    add({
      fn,
      clause: 'order-by',
      off: 'proxy',
      sql: (d) =>
        `SELECT DISTINCT ${render(o, d)} AS v FROM ${DOCS} WHERE id % 6 = 0 ORDER BY 1 NULLS FIRST`,
    });

    // JOIN ON: arguments from the other table's columns (vectors, not constants).
    const joined = joinCall(fn);
    add({
      fn,
      clause: 'join-on',
      off: 'pushed',
      sql: (d) =>
        `SELECT d.id, p.pid FROM ${DOCS} d JOIN ${PROBE} p ON ${joined(d)} WHERE d.id % 4 = 1`,
    });
    add({
      fn,
      clause: 'join-on',
      off: 'proxy',
      sql: (d) =>
        `SELECT d.id, p.pid FROM ${DOCS} d JOIN ${PROBE} p ON d.id % 8 = p.pid WHERE ${joined(d)}`,
    });

    // CTE: the function over the CTE's rows, and inside the CTE.
    const c1 = choose.one(fn, D);
    add({
      fn,
      clause: 'cte',
      off: 'proxy',
      sql: (d) =>
        `WITH s AS (SELECT id, doc FROM ${DOCS} WHERE id % 6 = 1) SELECT id, ${render(c1, d)} AS v FROM s`,
    });
    add({
      fn,
      clause: 'cte',
      off: 'pushed',
      sql: (d) =>
        `WITH s AS (SELECT id, ${render(c1, d)} AS v FROM ${DOCS} WHERE id % 4 = 2) SELECT v, count(*) AS n FROM s GROUP BY v`,
    });

    // Subqueries: IN, scalar, FROM, EXISTS.
    const sp = choose.predicate(fn, D, 0);
    const sc = choose.one(fn, col('d.doc'));
    add({
      fn,
      clause: 'subquery',
      off: 'pushed',
      sql: (d) =>
        `SELECT id FROM ${DOCS} WHERE id % 3 = 0 AND id IN (SELECT id FROM ${DOCS} WHERE (${sp.sql(d)}) AND id % 2 = 0)`,
    });
    add({
      fn,
      clause: 'subquery',
      off: 'pushed',
      sql: (d) => `SELECT d.id, (SELECT ${render(sc, d)}) AS v FROM ${DOCS} d WHERE d.id % 11 = 0`,
    });
    add({
      fn,
      clause: 'subquery',
      off: 'pushed',
      sql: (d) =>
        `SELECT s.id, s.v FROM (SELECT id, ${render(c1, d)} AS v FROM ${DOCS} WHERE id % 5 = 0) s WHERE s.id % 2 = 0`,
    });
    add({
      fn,
      clause: 'subquery',
      off: 'pushed',
      sql: (d) =>
        `SELECT p.pid FROM ${PROBE} p WHERE EXISTS (SELECT 1 FROM ${DOCS} d WHERE d.id % 10 = p.pid AND ${joined(d)})`,
    });
  }
  return out;
}

/** A boolean join condition of `fn` with arguments from dfx_probe p (and document d.doc). */
function joinCall(fn: FnName): (d: DialectName) => string {
  const doc = col('d.doc');
  const k1 = col('p.k1', 'text');
  const k2 = col('p.k2', 'text');
  const r = (c: Call, d: DialectName): string => render(c, d);
  switch (fn) {
    case 'json_extract_path':
      return (d) => `${r(call(fn, doc, k1), d)} = p.val`;
    case 'json_contains':
      return (d) => r(call(fn, doc, col('p.anypattern')), d);
    case 'json_multi_contains':
      return (d) => r(call(fn, doc, col('p.pattern')), d);
    case 'json_exists':
      return (d) => r(call(fn, doc, k1, k2), d);
    case 'json_typeof':
      return (d) => `${r(call(fn, doc, k1), d)} = p.t`;
    case 'json_array_length':
    case 'json_get_int':
      return (d) => `${r(call(fn, doc, k1), d)} = p.pid`;
    case 'json_get_float':
      return (d) => `${r(call(fn, doc, k1), d)} < p.pid`;
    case 'json_get_bool':
      return (d) => `${r(call(fn, doc, k1), d)} = p.b`;
    case 'json_keys':
      return (d) =>
        `${r(pathCall(fn, doc, ['nested', 'deep']), d)} = ${r(call(fn, col('p.obj')), d)}`;
  }
}
