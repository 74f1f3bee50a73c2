/**
 * Proxy bugs this suite found, each with a minimal failing case, run as `test.fails` by
 * docfusion-differential.test.ts. When a bug is fixed its case passes, the `fails` mark turns
 * that into a failure, and the mark comes off (here and on the matrix statements naming it).
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
    id: 'B2',
    title:
      "a json column of a CTE named like the table's jsonb column is taken for the jsonb column: Postgres's own json_extract_path(json, ...) is replaced and returns text instead of json",
    cause:
      'planner/analyze.ts TypeResolver.columnType resolves an unqualified column against every base relation named anywhere in the statement, not against the scope of the call (the CTE)',
    docfusion: `WITH x AS (SELECT id, doc::json AS doc FROM ${DOCS} WHERE id < 20) SELECT id, json_extract_path(doc, 'kind') AS k FROM x ORDER BY id`,
    native: `WITH x AS (SELECT id, doc::json AS doc FROM ${DOCS} WHERE id < 20) SELECT id, json_extract_path(doc, 'kind') AS k FROM x ORDER BY id`,
    compare: 'ordered',
  },
  {
    id: 'B3',
    title:
      'a DocFusion call on a jsonb column of a CTE whose name is no table column is taken for the built-in json function: 42883 from Postgres',
    cause:
      "planner/analyze.ts: the column's type is 'opaque' (no base relation has it), and an opaque first argument makes json_extract_path, json_typeof and json_array_length keep the built-in meaning",
    docfusion: `WITH x AS (SELECT id, doc AS body FROM ${DOCS} WHERE id < 20) SELECT id, json_extract_path(body, 'kind') AS k FROM x ORDER BY id`,
    native: `WITH x AS (SELECT id, doc AS body FROM ${DOCS} WHERE id < 20) SELECT id, body #>> '{kind}' AS k FROM x ORDER BY id`,
    compare: 'ordered',
  },
  {
    id: 'B4',
    title:
      "ORDER BY a jsonb value computed in the proxy (json_merge_patch) sorts by the jsonb text, not by jsonb's ordering (objects with fewer pairs first, then keys, then values)",
    cause:
      'planner/expr.ts compareValues compares jsonb values as strings, byte by byte; Postgres uses compareJsonbContainers',
    docfusion: `SELECT id FROM ${DOCS} WHERE id < 40 AND jsonb_typeof(doc) = 'object' ORDER BY json_merge_patch(doc, '{}'), id`,
    native: `SELECT id FROM ${DOCS} WHERE id < 40 AND jsonb_typeof(doc) = 'object' ORDER BY doc, id`,
    compare: 'ordered',
  },
  {
    id: 'B5',
    title:
      "pushdown off: a comparison Postgres rejects (text = integer, bigint = 'abc', boolean = integer) returns rows instead of the error",
    cause:
      "planner/expr.ts compareValues coerces across types (toNumber, Number(true)); the residual planner does not type-check a comparison's operands",
    setup: [OFF],
    docfusion: `SELECT id FROM ${DOCS} WHERE json_extract_path(doc, 'n') = 42`,
    native: '-',
    error: '42883',
  },
  {
    id: 'B6',
    title:
      'pushdown off: a bigint compared with an integer constant beyond 2^53 is compared as a double: json_get_int(doc, k) > 9223372036854775806 misses 9223372036854775807',
    cause:
      'planner/residual-plan.ts reads a Float A_Const (integers beyond int4 are Float nodes in the parse tree) as a JS number; compareValues then compares the bigint and the number as doubles',
    setup: [OFF],
    docfusion: `SELECT id FROM ${DOCS} WHERE json_get_int(doc, 'n') > 9223372036854775806`,
    native: `SELECT id FROM ${DOCS} WHERE doc @> '{"n": 9223372036854775807}'`,
  },
  {
    id: 'B7',
    title:
      "pushdown off: an untyped literal compared with a call is not read as the call's type: json_keys(...) = '{}' is never true (and json_get_bool(...) = 'yes' never matches)",
    cause:
      "planner/expr.ts compareValues compares a text[] with the literal's text as a one-element list ['{}'], and takes only 't'/'true' as true; Postgres casts the literal with array_in / boolin",
    setup: [OFF],
    docfusion: `SELECT id FROM ${DOCS} WHERE json_keys(doc, 'empty_o') = '{}'`,
    native: `SELECT id FROM ${DOCS} WHERE doc -> 'empty_o' = '{}'::jsonb`,
  },
  {
    id: 'B8',
    title:
      'pushdown off: ORDER BY the alias of a column the proxy computes is pushed to Postgres, which has no such column: 42703',
    cause:
      'planner/residual-plan.ts keeps ORDER BY upstream when no sort item contains a residual call; an alias (ColumnRef) of a computed output does not, so the pushed SQL orders by a column it does not select',
    setup: [OFF],
    docfusion: `SELECT id, json_typeof(doc, 'n') AS t FROM ${DOCS} WHERE id < 30 ORDER BY t, id`,
    native: `SELECT id, jsonb_typeof(doc -> 'n') AS t FROM ${DOCS} WHERE id < 30 ORDER BY t, id`,
    compare: 'ordered',
  },
  {
    id: 'B9',
    title:
      'pushdown off: an unaliased json_exists(...) column is named __df_exists (the masked name the parser saw) instead of json_exists',
    cause:
      'planner/planner.ts masks json_exists as __df_exists before parsing (SQL/JSON JSON_EXISTS); residual-plan.ts columnName takes the name from the masked parse tree',
    setup: [OFF],
    docfusion: `SELECT id, json_exists(doc, 'n') FROM ${DOCS} WHERE id < 30 AND jsonb_typeof(doc) = 'object' ORDER BY id`,
    native: `SELECT id, (doc -> 'n') IS NOT NULL AS json_exists FROM ${DOCS} WHERE id < 30 AND jsonb_typeof(doc) = 'object' ORDER BY id`,
    compare: 'ordered',
  },
  {
    id: 'B10',
    variants: ['simple', 'extended-text'],
    title:
      'pushdown off, text format: a text[] element with a Unicode space (U+00A0) is double-quoted; Postgres quotes only for ASCII whitespace',
    cause:
      "planner/wire-values.ts arrayElement tests /\\s/, which matches Unicode spaces; array_out's scanner_isspace only knows space, \\t, \\n, \\r, \\v, \\f",
    setup: [OFF],
    docfusion: `SELECT id, json_keys(doc) AS k FROM ${DOCS} WHERE doc ? '\u00a0' AND id < 2000`,
    native: `SELECT id, ARRAY(SELECT jsonb_object_keys(doc)) AS k FROM ${DOCS} WHERE doc ? '\u00a0' AND id < 2000`,
  },
  {
    id: 'B11',
    title:
      'DISTINCT (and GROUP BY) over jsonb computed in the proxy compares the text: {"v": 1} and {"v": 1.0} stay two rows, Postgres gives one',
    cause:
      'the residual distinct / hash aggregate key is the encoded value; jsonb equality compares numbers numerically',
    docfusion: `SELECT DISTINCT json_merge_patch(x, '{}') AS m FROM (VALUES ('{"v": 1}'::jsonb), ('{"v": 1.0}'::jsonb)) AS t (x)`,
    native: `SELECT DISTINCT x AS m FROM (VALUES ('{"v": 1}'::jsonb), ('{"v": 1.0}'::jsonb)) AS t (x)`,
    compare: 'count',
  },
  {
    id: 'B13',
    variants: ['extended-binary'],
    title:
      'pushdown off, binary results: with SELECT * beside a computed column the * columns come back as text bytes under a binary RowDescription',
    cause:
      'src/residual-statements.ts pushedFormats: for a single result format code the star width is computed from the client format list (length 1), so the pushed Bind asks for too few / text formats',
    setup: [OFF],
    docfusion: `SELECT *, json_typeof(doc, 'n') AS t FROM ${DOCS} WHERE id < 5 ORDER BY id`,
    native: `SELECT *, jsonb_typeof(doc -> 'n') AS t FROM ${DOCS} WHERE id < 5 ORDER BY id`,
    compare: 'ordered',
  },
  {
    id: 'B14',
    variants: ['simple', 'extended-text'],
    title:
      'pushdown off, text format: double precision computed in the proxy ignores extra_float_digits (always shortest digits; Postgres prints 15 significant digits at extra_float_digits = 0)',
    cause: 'planner/wire-values.ts float8Text does not read the session’s extra_float_digits',
    setup: ['SET extra_float_digits = 0', OFF],
    directSetup: ['SET extra_float_digits = 0'],
    docfusion: `SELECT id, json_get_float(doc, 'n') AS f FROM ${DOCS} WHERE doc @> '{"n": 9007199254740993}'`,
    native: `SELECT id, (doc ->> 'n')::float8 AS f FROM ${DOCS} WHERE doc @> '{"n": 9007199254740993}'`,
  },
  {
    id: 'B15',
    title:
      'pushdown off: a raw control character (U+0001) in a string literal makes the planner fail: "DocFusion could not reach the upstream Postgres to read column types" (earlier: the session was closed)',
    cause:
      "libpg-query's scanSync (planner.ts selectTokens via src/sql-parser.ts scanSql) builds JSON with the raw character and JSON.parse throws; the planner reports any such failure as a catalog error",
    setup: [OFF],
    docfusion: `SELECT id FROM ${DOCS} WHERE json_extract_path(doc, 'text') = '\u0001ctl'`,
    native: `SELECT id FROM ${DOCS} WHERE doc ->> 'text' = '\u0001ctl'`,
  },
];

/** The bug with this id (every mark on a statement must name one). */
export function bugById(id: string): Bug | undefined {
  return BUGS.find((bug) => bug.id === id);
}
