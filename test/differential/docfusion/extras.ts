/**
 * Statements beyond the function × clause matrix: parameters, Postgres's own json functions,
 * the proxy-only functions, shapes the proxy cannot evaluate (fallback or 0A000), errors, and
 * comparisons whose constants the proxy must type as Postgres does.
 */
import { call, col, lit, param, pathCall, render, type DialectName } from './dialects.js';
import { DOCS } from './matrix.js';
import type { Probes } from './probes.js';
import { build, type Spec, type Statement } from './statement.js';

const D = col('doc');

export function extraStatements(probes: Probes): Statement[] {
  const specs: Spec[] = [];
  const add = (spec: Spec): void => {
    specs.push(spec);
  };
  const pattern = probes.objectPatterns[probes.objectPatterns.length - 5] ?? '{"kind": "a"}';
  const value = probes.values.find((v) => v.path.length === 1) ?? { path: ['kind'], text: 'a' };
  const [key = 'kind'] = value.path;

  // Parameters: bound in the extended protocol, inlined as literals in the simple one.
  const pc = call('json_contains', D, param(1));
  const pe = call('json_extract_path', D, param(2));
  add({
    id: 'params/contains-and-extract',
    fn: 'json_contains',
    clause: 'where',
    off: 'proxy',
    params: [pattern, key, value.text],
    sql: (d) => `SELECT id FROM ${DOCS} WHERE ${render(pc, d)} AND ${render(pe, d)} = $3`,
  });
  const pk = call('json_extract_path', D, param(1), param(2));
  const pi = call('json_get_int', D, param(1), param(2), lit('v'));
  const pa = call('json_array_length', D, param(3));
  add({
    id: 'params/keys',
    fn: 'json_extract_path',
    clause: 'select',
    off: 'proxy',
    params: ['nested', 'deep', 'tags'],
    sql: (d) =>
      `SELECT id, ${render(pk, d)} AS v, ${render(pi, d)} AS i, ${render(pa, d)} AS l FROM ${DOCS} WHERE id % 10 = 3`,
  });
  const nullKey = call('json_typeof', D, param(1));
  const nullPattern = call('json_contains', D, param(2));
  const nullExists = call('json_exists', D, lit('n'), param(1));
  add({
    id: 'params/nulls',
    fn: 'json_typeof',
    clause: 'select',
    off: 'proxy',
    params: [null, null],
    sql: (d) =>
      `SELECT id, ${render(nullKey, d)} AS t, ${render(nullPattern, d)} AS c, ${render(nullExists, d)} AS e FROM ${DOCS} WHERE id % 50 = 1`,
  });

  // Postgres's own json_extract_path / json_typeof on json keep their meaning.
  add({
    id: 'builtin/json-column',
    fn: 'json_extract_path',
    clause: 'select',
    on: 'forwarded',
    off: 'forwarded',
    sql: () =>
      `SELECT id, json_extract_path(jdoc, 'nested', 'deep') AS j, json_typeof(jdoc) AS t FROM ${DOCS} WHERE id % 20 = 0`,
  });
  const mixed = pathCall('json_extract_path', D, ['kind']);
  const onJson = pathCall('json_typeof', col('jdoc', 'text'), ['kind']);
  add({
    id: 'builtin/mixed-with-docfusion',
    fn: 'json_extract_path',
    clause: 'select',
    off: 'proxy',
    sql: (d) =>
      `SELECT id, json_extract_path(jdoc, 'kind') AS builtin, ${render(mixed, d)} AS df, ${render(onJson, d)} AS t FROM ${DOCS} WHERE id % 20 = 0`,
  });
  add({
    id: 'builtin/json-column-via-cte',
    fn: 'json_extract_path',
    clause: 'cte',
    on: 'forwarded',
    off: 'forwarded',
    sql: () =>
      `WITH x AS (SELECT id, doc::json AS doc FROM ${DOCS} WHERE id % 50 = 0) SELECT id, json_extract_path(doc, 'kind') AS k FROM x`,
  });
  const renamed = pathCall('json_extract_path', col('body'), ['kind']);
  add({
    id: 'cte/renamed-jsonb-column',
    fn: 'json_extract_path',
    clause: 'cte',
    off: 'proxy',
    sql: (d) =>
      `WITH x AS (SELECT id, doc AS body FROM ${DOCS} WHERE id % 50 = 0) SELECT id, ${render(renamed, d)} AS k FROM x`,
  });

  // Functions only the proxy can run.
  const patch = '{"kind": null, "added": {"x": [1, {"y": null}]}, "tags": "replaced"}';
  add({
    id: 'proxy-only/merge-patch-select',
    fn: 'json_merge_patch',
    clause: 'select',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT id, (doc - 'kind') || '{"added": {"x": [1, {"y": null}]}, "tags": "replaced"}'::jsonb AS m FROM ${DOCS} WHERE jsonb_typeof(doc) = 'object' AND id % 10 = 0`,
    sql: () =>
      `SELECT id, json_merge_patch(doc, '${patch}') AS m FROM ${DOCS} WHERE jsonb_typeof(doc) = 'object' AND id % 10 = 0`,
  });
  const schema =
    '{"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "minLength": 1}, "tags": {"type": "array"}}}';
  add({
    id: 'proxy-only/schema-valid-where',
    fn: 'json_schema_valid',
    clause: 'where',
    on: 'proxy',
    off: 'proxy',
    native:
      `SELECT id FROM ${DOCS} WHERE id % 3 = 0 AND jsonb_typeof(doc) = 'object' AND jsonb_typeof(doc -> 'kind') = 'string' ` +
      `AND length(doc ->> 'kind') >= 1 AND (NOT doc ? 'tags' OR jsonb_typeof(doc -> 'tags') = 'array')`,
    sql: () => `SELECT id FROM ${DOCS} WHERE json_schema_valid(doc, '${schema}') AND id % 3 = 0`,
  });
  add({
    id: 'proxy-only/merge-patch-order-by',
    fn: 'json_merge_patch',
    clause: 'order-by',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT id FROM ${DOCS} WHERE jsonb_typeof(doc) = 'object' AND id % 25 = 0 ORDER BY doc || '{"z": 1}'::jsonb, id`,
    sql: () =>
      `SELECT id FROM ${DOCS} WHERE jsonb_typeof(doc) = 'object' AND id % 25 = 0 ORDER BY json_merge_patch(doc, '{"z": 1}'), id`,
  });
  add({
    id: 'proxy-only/schema-valid-aggregate',
    fn: 'json_schema_valid',
    clause: 'where',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT count(*) FROM ${DOCS} WHERE jsonb_typeof(doc) = 'array'`,
    sql: () => `SELECT count(*) FROM ${DOCS} WHERE json_schema_valid(doc, '{"type": "array"}')`,
  });
  add({
    id: 'proxy-only/merge-patch-group-by',
    fn: 'json_merge_patch',
    clause: 'group-by',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT '{"k": [1]}'::jsonb AS m, count(*) FROM ${DOCS} WHERE jsonb_typeof(doc) <> 'object' GROUP BY 1`,
    sql: () =>
      `SELECT json_merge_patch(doc, '{"k": [1]}') AS m, count(*) FROM ${DOCS} WHERE jsonb_typeof(doc) <> 'object' GROUP BY 1`,
  });
  // Exact decimals in the proxy (numeric, not doubles): the proxy evaluates json_schema_valid,
  // so the aggregates over the numbers in `n` (pushed as a numeric column) run there too.
  add({
    id: 'proxy-only/numeric-sum-avg',
    fn: 'json_schema_valid',
    clause: 'select',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT sum(v) AS s, avg(v) AS a, min(v) AS lo, max(v) AS hi, count(DISTINCT v) AS d, count(*) AS c FROM (SELECT (doc ->> 'n')::numeric AS v FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number') AS d`,
    sql: () =>
      `SELECT sum(v) AS s, avg(v) AS a, min(v) AS lo, max(v) AS hi, count(DISTINCT v) AS d, count(*) AS c FROM (SELECT doc, (doc ->> 'n')::numeric AS v FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number') AS d WHERE json_schema_valid(doc, '{"type": "object"}')`,
  });
  // Comparisons, ORDER BY and DISTINCT over numeric and jsonb values the proxy evaluates over:
  // numerics past 15 digits and jsonb values equal as jsonb (1 = 1.0) but not as text.
  add({
    id: 'proxy-only/numeric-compare-order',
    fn: 'json_schema_valid',
    clause: 'order-by',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT id, v FROM (SELECT id, (doc ->> 'n')::numeric AS v FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number') AS d WHERE v > '0.5' ORDER BY v DESC, id`,
    sql: () =>
      `SELECT id, v FROM (SELECT id, doc, (doc ->> 'n')::numeric AS v FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number') AS d WHERE json_schema_valid(doc, '{}') AND v > '0.5' ORDER BY v DESC, id`,
  });
  // jsonb equality in the proxy: `{"n": 1}` and `{"n": 1.0}` are one group and one distinct value
  // (the corpus spells numbers both ways). The group's own value is not compared: which
  // spelling represents it is arbitrary.
  const wrapped = `json_merge_patch(jsonb_build_object('n', doc -> 'n'), '{}')`;
  add({
    id: 'proxy-only/jsonb-group-equality',
    fn: 'json_merge_patch',
    clause: 'group-by',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT count(*) AS c FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number' GROUP BY jsonb_build_object('n', doc -> 'n')`,
    sql: () =>
      `SELECT count(*) AS c FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number' GROUP BY ${wrapped}`,
  });
  // An expression over a group key, with a jsonb comparison the proxy types from the group row.
  add({
    id: 'proxy-only/group-key-expression',
    fn: 'json_merge_patch',
    clause: 'group-by',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT jsonb_build_object('n', doc -> 'n') = '{"n": 1.00}' AS one, count(*) AS c FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number' GROUP BY jsonb_build_object('n', doc -> 'n')`,
    sql: () =>
      `SELECT ${wrapped} = '{"n": 1.00}' AS one, count(*) AS c FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number' GROUP BY ${wrapped}`,
  });
  add({
    id: 'proxy-only/jsonb-count-distinct',
    fn: 'json_merge_patch',
    clause: 'select',
    on: 'proxy',
    off: 'proxy',
    native: `SELECT count(DISTINCT jsonb_build_object('n', doc -> 'n')) AS d FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number'`,
    sql: () =>
      `SELECT count(DISTINCT ${wrapped}) AS d FROM ${DOCS} WHERE jsonb_typeof(doc -> 'n') = 'number'`,
  });
  add({
    id: 'proxy-only/merge-patch-in-cte',
    fn: 'json_merge_patch',
    clause: 'cte',
    on: { error: '0A000' },
    off: { error: '0A000' },
    error: '0A000',
    native: '-',
    sql: () =>
      `WITH s AS (SELECT id, json_merge_patch(doc, '{"a": 1}') AS m FROM ${DOCS} WHERE id % 100 = 0) SELECT id, m FROM s`,
  });
  add({
    id: 'proxy-only/schema-valid-in-join',
    fn: 'json_schema_valid',
    clause: 'join-on',
    on: { error: '0A000' },
    off: { error: '0A000' },
    error: '0A000',
    native: '-',
    sql: () =>
      `SELECT d.id FROM ${DOCS} d JOIN dfx_probe p ON json_schema_valid(d.doc, p.pattern) WHERE d.id < 100`,
  });

  // Shapes the proxy does not evaluate itself: with pushdown off they fall back to pushdown.
  const lat = pathCall('json_typeof', col('d.doc'), ['n']);
  add({
    id: 'misc/lateral',
    fn: 'json_typeof',
    clause: 'subquery',
    off: 'pushed',
    sql: (d) =>
      `SELECT d.id, l.t FROM ${DOCS} d, LATERAL (SELECT ${render(lat, d)} AS t) l WHERE d.id % 30 = 0`,
  });
  const u1 = pathCall('json_typeof', D, ['n']);
  const u2 = pathCall('json_typeof', D, ['kind']);
  add({
    id: 'misc/union',
    fn: 'json_typeof',
    clause: 'misc',
    off: 'pushed',
    sql: (d) =>
      `SELECT ${render(u1, d)} AS t FROM ${DOCS} WHERE id % 2 = 0 UNION SELECT ${render(u2, d)} FROM ${DOCS}`,
  });
  const w = pathCall('json_get_int', D, ['n']);
  add({
    id: 'misc/window',
    fn: 'json_get_int',
    clause: 'misc',
    off: 'pushed',
    sql: (d) =>
      `SELECT id, ${render(w, d)} AS n, rank() OVER (ORDER BY ${render(w, d)} NULLS LAST, id) AS r FROM ${DOCS} WHERE id % 40 = 0`,
  });
  const star = pathCall('json_typeof', D, ['n']);
  add({
    id: 'misc/star-and-computed',
    fn: 'json_typeof',
    clause: 'select',
    // `*` beside a column the proxy computes falls back to pushdown (Bind cannot ask per-column
    // formats for a `*` of unknown width).
    off: 'pushed',
    sql: (d) => `SELECT *, ${render(star, d)} AS t FROM ${DOCS} WHERE id % 97 = 0`,
  });
  const lim = pathCall('json_exists', D, ['tags']);
  add({
    id: 'misc/filter-limit-offset',
    fn: 'json_exists',
    clause: 'where',
    off: 'proxy',
    sql: (d) => `SELECT id FROM ${DOCS} WHERE ${render(lim, d)} ORDER BY id LIMIT 5 OFFSET 2`,
  });
  add({
    id: 'misc/nested-call',
    fn: 'json_extract_path',
    clause: 'select',
    off: 'proxy',
    native: `SELECT id, doc #>> ARRAY['meta', doc #>> '{kind}'] AS v, jsonb_typeof(doc #> ARRAY['nested', doc #>> '{kind}']) AS t FROM ${DOCS} WHERE id % 3 = 0`,
    sql: () =>
      `SELECT id, json_extract_path(doc, 'meta', json_extract_path(doc, 'kind')) AS v, json_typeof(doc, 'nested', json_extract_path(doc, 'kind')) AS t FROM ${DOCS} WHERE id % 3 = 0`,
  });

  // Constants compared with a call must be typed as Postgres types them.
  const n = pathCall('json_get_int', D, ['n']);
  for (const [i, cond] of [
    '= 9007199254740993',
    '> 9223372036854775806',
    '= -9223372036854775808',
  ].entries()) {
    add({
      id: `compare/get-int-big-constant/${String(i + 1)}`,
      fn: 'json_get_int',
      clause: 'where',
      off: 'proxy',
      sql: (d) => `SELECT id FROM ${DOCS} WHERE ${render(n, d)} ${cond}`,
    });
  }
  const keysOf = pathCall('json_keys', D, ['empty_o']);
  add({
    id: 'compare/keys-empty-array-literal',
    fn: 'json_keys',
    clause: 'where',
    off: 'proxy',
    sql: (d) => `SELECT id FROM ${DOCS} WHERE ${render(keysOf, d)} = '{}'`,
  });
  const flag = pathCall('json_get_bool', D, ['flag']);
  add({
    id: 'compare/bool-literal-spelling',
    fn: 'json_get_bool',
    clause: 'where',
    off: 'proxy',
    sql: (d) => `SELECT id FROM ${DOCS} WHERE ${render(flag, d)} = 'yes'`,
  });
  const typeErrors: readonly [string, (d: DialectName) => string, string][] = [
    [
      'text-vs-integer',
      (d) => `${render(pathCall('json_extract_path', D, ['n']), d)} = 42`,
      '42883',
    ],
    ['bigint-vs-bad-literal', (d) => `${render(n, d)} = 'abc'`, '22P02'],
    ['boolean-vs-integer', (d) => `${render(flag, d)} = 1`, '42883'],
  ];
  for (const [name, cond, code] of typeErrors) {
    add({
      id: `compare/${name}`,
      fn: 'mixed',
      clause: 'where',
      on: { error: code },
      off: { error: code },
      error: code,
      sql: (d) => `SELECT id FROM ${DOCS} WHERE ${cond(d)}`,
    });
  }

  // Bad input: the same SQLSTATE with pushdown on and off, constants and parameters.
  const errors: readonly [string, string, readonly (string | null)[], string][] = [
    ['multi-contains-array-pattern', `json_multi_contains(doc, '[1]')`, [], '22023'],
    ['multi-contains-param-pattern', 'json_multi_contains(doc, $1) AND id < 50', ['"x"'], '22023'],
    ['invalid-json-pattern', `json_contains(doc, '{"a": ')`, [], '22P02'],
    ['invalid-json-param', 'json_contains(doc, $1)', ['{"a": tru}'], '22P02'],
    ['wrong-argument-count', 'json_contains(doc)', [], '42883'],
    ['key-of-type-jsonb', `json_extract_path(doc, '{}'::jsonb)`, [], '42883'],
  ];
  for (const [name, expr, params, code] of errors) {
    add({
      id: `error/${name}`,
      fn: 'mixed',
      clause: 'where',
      on: { error: code },
      off: { error: code },
      error: code,
      params,
      native: '-',
      sql: () => `SELECT id FROM ${DOCS} WHERE ${expr}`,
    });
  }
  return specs.map(build);
}
