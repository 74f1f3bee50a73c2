/** The shape of one differential statement and how it is built from its dialect template. */
import type { DialectName } from './dialects.js';

/** How the proxy ran a statement, from its EXPLAIN. */
export type Classification =
  /** Every DocFusion call rewritten to native SQL (or fallen back to that with pushdown off). */
  | 'pushed'
  /** Some work done over Arrow batches in the proxy. */
  | 'proxy'
  /** No DocFusion call recognised: the statement went to Postgres untouched. */
  | 'forwarded'
  /** Refused by the proxy with this SQLSTATE (0A000: cannot plan; 22023, 42883, ...). */
  | { readonly error: string };

export const CLAUSES = [
  'select',
  'where',
  'group-by',
  'having',
  'order-by',
  'join-on',
  'cte',
  'subquery',
  'misc',
] as const;
export type Clause = (typeof CLAUSES)[number];

/** Known proxy bugs a statement hits (see BUGS in bugs.ts), by pushdown setting. */
export interface KnownBugs {
  readonly on?: string;
  readonly off?: string;
}

export interface Statement {
  /** Unique and stable: `<clause>/<function>/<n>`. */
  readonly id: string;
  readonly fn: string;
  readonly clause: Clause;
  /** Sent through the proxy. */
  readonly docfusion: string;
  /** The oracle, run directly on Postgres. */
  readonly native: string;
  /** The same statement with every call replaced by the function's own pushdown SQL. */
  readonly pushdownNative: string | undefined;
  /** Text parameters `$1`, `$2`, ... (inlined as literals in the simple protocol). */
  readonly params: readonly (string | null)[];
  /** Rows compared in order (the outermost query has ORDER BY); else as a multiset. */
  readonly ordered: boolean;
  /** Expected classification with pushdown on and off. */
  readonly on: Classification;
  readonly off: Classification;
  /** The SQLSTATE every run must fail with (then `native` is only documentation). */
  readonly error: string | undefined;
  readonly bugs: KnownBugs;
  /** Reads every document into a large result: run in fewer protocol variants. */
  readonly wide: boolean;
}

export interface Spec {
  readonly id: string;
  readonly fn: string;
  readonly clause: Clause;
  /** The statement in a dialect (DocFusion calls written with dialects.ts render/bare). */
  readonly sql: (dialect: DialectName) => string;
  /** A hand-written oracle when the template's native dialect cannot express it. */
  readonly native?: string;
  readonly params?: readonly (string | null)[];
  readonly ordered?: boolean;
  readonly on?: Classification;
  readonly off: Classification;
  readonly error?: string;
  readonly bugs?: KnownBugs;
  readonly wide?: true;
}

/** ORDER BY outside parentheses and string literals: the outermost query is ordered. */
export function outermostOrderBy(sql: string): boolean {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql.charAt(i);
    if (ch === "'") quoted = !quoted;
    else if (quoted) continue;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (depth === 0 && /^ORDER\s+BY\b/i.test(sql.slice(i, i + 12))) return true;
  }
  return false;
}

/** Raw control characters other than tab and newline. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0001-\u0008\u000b-\u001f]/;

export function build(spec: Spec): Statement {
  const docfusion = spec.sql('docfusion');
  const bugs: KnownBugs = {
    ...spec.bugs,
  };
  return {
    id: spec.id,
    fn: spec.fn,
    clause: spec.clause,
    docfusion,
    native: spec.native ?? spec.sql('native'),
    pushdownNative: spec.native === undefined ? spec.sql('pushdown') : undefined,
    params: spec.params ?? [],
    ordered: spec.ordered ?? outermostOrderBy(docfusion),
    on: spec.on ?? 'pushed',
    // libpg-query's scanner cannot tokenise raw control characters, so the proxy cannot split
    // such a statement into clauses: it falls back to pushdown.
    off: spec.off === 'proxy' && CONTROL.test(docfusion) ? 'pushed' : spec.off,
    error: spec.error,
    bugs,
    wide: spec.wide === true,
  };
}

export function describeClassification(c: Classification): string {
  return typeof c === 'string' ? c : `error ${c.error}`;
}

export function sameClassification(a: Classification, b: Classification): boolean {
  return describeClassification(a) === describeClassification(b);
}
