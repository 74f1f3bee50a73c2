/**
 * Proxy bugs this suite found, each with a minimal failing case, run as `test.fails` by
 * docfusion-differential.test.ts. When a bug is fixed its case passes, the `fails` mark turns
 * that into a failure, and the mark comes off (on the matrix statements naming it, and here by
 * saying how it was fixed: the case stays, as an ordinary regression test).
 *
 * A case is a DocFusion statement through the proxy and its oracle straight to Postgres, in the
 * simple protocol and the extended protocol with text and binary results; `setup` runs on both
 * connections first (the proxy's `SET docfusion.pushdown` is the proxy's own).
 */
import { DOCS } from './matrix.js';
import type { Variant } from './wire-run.js';

export interface Bug {
  readonly id: string;
  readonly title: string;
  /** Where it comes from, as far as the suite could tell. */
  readonly cause: string;
  /** How it was fixed; a fixed bug's case runs as an ordinary test. */
  readonly fixed?: string;
  /** Statements run first on the proxy connection. */
  readonly setup?: readonly string[];
  /** Statements run first on the direct connection. */
  readonly directSetup?: readonly string[];
  readonly docfusion: string;
  readonly native: string;
  readonly params?: readonly (string | null)[];
  /** `ordered`: rows in order; `count`: only how many rows (the representative is arbitrary). */
  readonly compare?: 'ordered' | 'multiset' | 'count';
  /** The SQLSTATE the statement must fail with (then `native` is not run). */
  readonly error?: string;
  /** The protocol variants it shows in (default: all). */
  readonly variants?: readonly Variant[];
}

const OFF = 'SET docfusion.pushdown = off';

export const BUGS: readonly Bug[] = [
  {
    id: 'B4',
    title:
      "ORDER BY a jsonb value computed in the proxy (json_merge_patch) sorts by the jsonb text, not by jsonb's ordering (objects with fewer pairs first, then keys, then values)",
    cause:
      'planner/expr.ts compareValues compares jsonb values as strings, byte by byte; Postgres uses compareJsonbContainers',
    fixed:
      'sort keys, comparisons and min/max are ordered by their type (planner/value-order.ts); jsonb by udf/jsonb/compare.ts',
    docfusion: `SELECT id FROM ${DOCS} WHERE id < 40 AND jsonb_typeof(doc) = 'object' ORDER BY json_merge_patch(doc, '{}'), id`,
    native: `SELECT id FROM ${DOCS} WHERE id < 40 AND jsonb_typeof(doc) = 'object' ORDER BY doc, id`,
    compare: 'ordered',
  },
  {
    id: 'B11',
    title:
      'DISTINCT (and GROUP BY) over jsonb computed in the proxy compares the text: {"v": 1} and {"v": 1.0} stay two rows, Postgres gives one',
    cause:
      'the residual distinct / hash aggregate key is the encoded value; jsonb equality compares numbers numerically',
    fixed:
      'DISTINCT, GROUP BY and count(DISTINCT) keys are equality keys of the value’s type (jsonbEqualityKey: numbers by value)',
    docfusion: `SELECT DISTINCT json_merge_patch(x, '{}') AS m FROM (VALUES ('{"v": 1}'::jsonb), ('{"v": 1.0}'::jsonb)) AS t (x)`,
    native: `SELECT DISTINCT x AS m FROM (VALUES ('{"v": 1}'::jsonb), ('{"v": 1.0}'::jsonb)) AS t (x)`,
    compare: 'count',
  },
  {
    id: 'B14',
    variants: ['simple', 'extended-text'],
    title:
      'pushdown off, text format: double precision computed in the proxy ignores extra_float_digits (always shortest digits; Postgres prints 15 significant digits at extra_float_digits = 0)',
    cause: 'planner/wire-values.ts float8Text does not read the session’s extra_float_digits',
    fixed:
      'the planning stage reads extra_float_digits from the settings the link follows; float8Text prints %.{15+n}g at 0 and below',
    setup: ['SET extra_float_digits = 0', OFF],
    directSetup: ['SET extra_float_digits = 0'],
    docfusion: `SELECT id, json_get_float(doc, 'n') AS f FROM ${DOCS} WHERE doc @> '{"n": 9007199254740993}'`,
    native: `SELECT id, (doc ->> 'n')::float8 AS f FROM ${DOCS} WHERE doc @> '{"n": 9007199254740993}'`,
  },
  {
    id: 'B15',
    title:
      'numeric values the proxy evaluates over are decoded as doubles: past 15 significant digits sum, avg, min, max and comparisons lose precision',
    cause:
      'planner/wire-values.ts decodeText turns numeric text into a JS number; the exact decimal sum (planner/decimal-sum.ts) then adds the rounded values',
    fixed:
      'numeric values stay their exact text; value-order.ts compares them as decimals, decimal-sum.ts adds them',
    docfusion: `SELECT sum(v) AS s FROM (SELECT doc, '12345678901234567890.123'::numeric AS v FROM ${DOCS} WHERE id = 1) AS d WHERE json_schema_valid(doc, '{}')`,
    native: `SELECT '12345678901234567890.123'::numeric AS s`,
  },
];

/** The open bug with this id (every mark on a statement must name one; fixed ones lose theirs). */
export function bugById(id: string): Bug | undefined {
  return BUGS.find((bug) => bug.id === id && bug.fixed === undefined);
}
