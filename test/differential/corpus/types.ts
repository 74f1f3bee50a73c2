/** The shape of the differential corpus. */

export const CATEGORIES = [
  'ddl',
  'dml',
  'cte',
  'window',
  'jsonb',
  'arrays',
  'numeric-time',
  'text-binary-net',
  'ranges-enums-composites-domains',
  'catalog-psql',
  'catalog-pgjdbc',
  'catalog-typeorm',
  'grafana',
  'errors',
  'transactions',
  'session-set-show-prepare',
  'copy',
  'docfusion-functions',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Statement {
  /** SQL text; `{{name}}` is replaced per side by the group's `resolve` value. */
  readonly sql: string;
  /**
   * Text parameters ($1, $2, ...): bound in the extended variants, inlined as quoted literals
   * in the simple variant.
   */
  readonly params?: readonly (string | null)[];
  /**
   * Row order: by default a result of more than one row must come from a statement with
   * ORDER BY (checked). `unordered` compares rows as a multiset; `deterministic` vouches for an
   * order fixed by construction (VALUES, generate_series, unnest, WITH ORDINALITY).
   */
  readonly order?: 'unordered' | 'deterministic';
  /** SQLSTATE the first execution must fail with (checked against direct Postgres). */
  readonly error?: string;
  /** Overrides `error` in the extended-protocol variants (e.g. several statements in one string). */
  readonly extendedError?: string | null;
  /**
   * Depends on session state (SET, PREPARE, LISTEN, temporary tables...). The transaction-pool
   * pass runs it too, but counts it apart: there it relies on the proxy's SET replay and
   * pinning rather than on plain forwarding.
   */
  readonly session?: true;
  /**
   * A difference that is understood and accepted. The test passes only while the difference is
   * still there (so a fix makes it fail until the mark is removed). Listed in the summary.
   */
  readonly known?: KnownDifference;
}

/** A per-statement known difference (see also known-differences.ts for protocol-level rules). */
export interface KnownDifference {
  readonly reason: string;
  readonly variants?: readonly string[];
  readonly modes?: readonly ('session' | 'transaction')[];
  /**
   * Pool modes where the difference depends on which pooled upstream connection the statement
   * lands on: there, agreement is accepted too.
   */
  readonly intermittentIn?: readonly ('session' | 'transaction')[];
}

export interface Group {
  /** Unique; the group's objects live in schema `g_<name>` (on the search_path while it runs). */
  readonly name: string;
  readonly category: Category;
  /** SQL run (outside the tested connections) in both databases after `CREATE SCHEMA g_<name>`. */
  readonly setup?: string;
  /** Placeholders: name → SQL returning one value, run per side after `setup`. */
  readonly resolve?: Readonly<Record<string, string>>;
  /** Every statement depends on session state (see Statement.session). */
  readonly session?: true;
  readonly statements: readonly (string | Statement)[];
}

export function normalize(s: string | Statement): Statement {
  return typeof s === 'string' ? { sql: s } : s;
}
