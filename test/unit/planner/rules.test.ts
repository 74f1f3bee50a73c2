/**
 * The planner's rules on plans: input SQL → pushed SQL, verdicts and residual operators. The
 * catalog is a fixed description of one table (doc jsonb, jdoc json, tdoc text, id int); the
 * integration and differential suites check the results against Postgres.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { Catalog } from '../../../planner/catalog.js';
import { Planner, type Plan } from '../../../planner/planner.js';
import { PgError } from '../../../protocol/pg-error.js';
import { loadParser, parseSql, scanSql } from '../../../src/sql-parser.js';
import { registerAll } from '../../../udf/registry.js';
import { fixedRelations } from './support/fixed-catalog.js';

let planner: Planner;
let fetches = 0;
const catalog = new Catalog(async (names) => {
  fetches++;
  await Promise.resolve();
  return fixedRelations(names);
}, 60_000);

beforeAll(async () => {
  await loadParser();
  planner = new Planner(
    registerAll(),
    (sql) => parseSql(sql),
    (sql) => scanSql(sql),
  );
});

async function plan(sql: string, pushdown = true, paramTypes: number[] = []): Promise<Plan> {
  return planner.plan(Buffer.from(sql), catalog, { pushdown, paramTypes });
}

async function pushed(sql: string): Promise<string> {
  const result = await plan(sql);
  if (result.kind !== 'rewrite') throw new Error(`expected a rewrite, got ${result.kind}`);
  return result.sql;
}

async function failure(sql: string, pushdown = true): Promise<PgError> {
  try {
    await plan(sql, pushdown);
  } catch (error) {
    if (error instanceof PgError) return error;
    throw error;
  }
  throw new Error('expected a PgError');
}

describe('prefilter and routing', () => {
  test('statements without DocFusion calls are not parsed or planned', async () => {
    expect(planner.mayPlan(Buffer.from('SELECT doc->>$1 FROM t'))).toBe(false);
    expect(planner.mayPlan(Buffer.from("SELECT 'json_contains(' FROM t"))).toBe(false);
    expect(planner.mayPlan(Buffer.from('SELECT 1 -- json_contains(doc)\n'))).toBe(false);
    expect(planner.mayPlan(Buffer.from('SELECT JSON_CONTAINS(doc, $1) FROM t'))).toBe(true);
    expect(await plan("SELECT json_build_object('a', 1)")).toEqual({ kind: 'forward' });
  });

  test("json arguments keep Postgres's built-in json_extract_path, json_typeof and json_array_length", async () => {
    expect(await plan("SELECT json_extract_path(jdoc, 'a') FROM t")).toEqual({ kind: 'forward' });
    expect(await plan("SELECT json_extract_path('{\"a\":1}', 'a')")).toEqual({ kind: 'forward' });
    expect(await plan('SELECT json_typeof(jdoc) FROM t')).toEqual({ kind: 'forward' });
    expect(await pushed("SELECT json_extract_path(doc, 'a') FROM t")).toContain('#>>');
    expect(await pushed("SELECT json_typeof(jdoc, 'a') FROM t")).toContain('jsonb_typeof');
  });

  test('a syntax error is left for Postgres to report', async () => {
    expect(await plan('SELECT json_contains(doc, FROM t')).toEqual({ kind: 'forward' });
  });

  test('the catalog is read once per relation while fresh', async () => {
    const before = fetches;
    await plan("SELECT json_contains(doc, '{}') FROM fresh_table");
    await plan("SELECT json_exists(doc, 'a') FROM fresh_table");
    expect(fetches - before).toBe(1);
  });
});

describe('pushdown rewrites', () => {
  test('calls are replaced in place; the rest of the text survives byte for byte', async () => {
    const sql = await pushed(
      "/* keep */ SELECT Id, json_extract_path(doc, 'a', $1) FROM t WHERE json_contains(doc, $2::jsonb) -- tail\n",
    );
    expect(sql.startsWith('/* keep */ SELECT Id, ')).toBe(true);
    expect(sql).toContain('AS json_extract_path');
    expect(sql).toContain('$1');
    expect(sql).toContain('@>');
    expect(sql.endsWith('-- tail\n')).toBe(true);
    expect(sql).not.toMatch(/json_contains|json_extract_path\(/);
  });

  test('functions are found in every clause, CTEs, subqueries and joins', async () => {
    const sql = await pushed(
      "WITH c AS (SELECT doc FROM t WHERE json_exists(doc, 'a')) SELECT json_typeof(c.doc, 'a'), count(*) FROM c JOIN t ON json_contains(t.doc, '{}') WHERE t.id IN (SELECT id FROM t WHERE json_get_int(doc, 'n') > 1) GROUP BY json_typeof(c.doc, 'a') HAVING count(*) > json_array_length(min(t.doc), 'x') ORDER BY json_keys(min(t.doc))",
    );
    expect(sql).not.toMatch(/json_(exists|typeof|contains|get_int|array_length|keys)\(/);
  });

  test('json_extract_path = string literal also pushes an index-friendly containment (Inexact)', async () => {
    const result = await plan("SELECT id FROM t WHERE json_extract_path(doc, 'a', 'b') = 'x'");
    expect(result.kind).toBe('rewrite');
    if (result.kind !== 'rewrite') return;
    expect(result.sql).toContain(`doc @> '{"a":{"b":"x"}}'`);
    expect(result.inexact).toHaveLength(1);
  });

  test('no containment superset where it would not be wider', async () => {
    for (const sql of [
      "SELECT id FROM t WHERE json_extract_path(doc, 'a') = '5'", // also matches the number 5
      "SELECT id FROM t WHERE json_extract_path(doc, 'a') = 'true'",
      "SELECT id FROM t WHERE json_extract_path(doc, 'a', '0') = 'x'", // an array index
      "SELECT id FROM t WHERE json_extract_path(doc, 'a') = '{\"b\": 1}'",
      "SELECT id FROM t WHERE json_extract_path(jdoc::jsonb, 'a') = 'x'", // not a plain column
      "SELECT id FROM t WHERE json_extract_path(doc, 'a') = 'x' OR id = 1", // not a conjunct
    ]) {
      const result = await plan(sql);
      expect(result.kind === 'rewrite' && result.inexact.length, sql).toBe(0);
    }
  });

  test('json_exists on one non-index key also pushes doc ? key', async () => {
    expect(await pushed("SELECT id FROM t WHERE json_exists(doc, 'k')")).toContain("doc ? 'k'");
    expect(await pushed("SELECT id FROM t WHERE json_exists(doc, '1')")).not.toContain('?');
  });

  test('documents of type text are cast to jsonb; jsonb columns are not', async () => {
    expect(await pushed("SELECT json_contains(tdoc, '{}') FROM t")).toContain('tdoc::jsonb');
    expect(await pushed("SELECT json_contains(doc, '{}') FROM t")).not.toContain('doc::jsonb');
  });

  test('EXPLAIN of a planned statement is an explain plan of the pushed SQL', async () => {
    const result = await plan('EXPLAIN SELECT id FROM t WHERE json_contains(doc, \'{"a": 1}\')');
    expect(result.kind).toBe('explain');
    if (result.kind !== 'explain') return;
    expect(result.sql).toMatch(/^EXPLAIN SELECT id FROM t WHERE .*@>/);
    expect(result.lines[0]).toContain('DocFusion plan');
  });
});

describe('residual plans (evaluated in the proxy)', () => {
  test('pushdown off: plain scan upstream, filter and projection in the proxy', async () => {
    const result = await plan(
      "SELECT id, json_extract_path(doc, 'a') AS a FROM t WHERE json_contains(doc, '{\"k\": 1}') AND id > 3 ORDER BY id LIMIT 10",
      false,
    );
    expect(result.kind).toBe('residual');
    if (result.kind !== 'residual') return;
    const p = result.plan;
    expect(p.pushedSql).toMatch(
      /^SELECT id, \(doc\)::jsonb AS _df1, id AS _df2 FROM t WHERE id > 3$/,
    );
    expect(p.filters).toHaveLength(1);
    expect(p.outputs.map((o) => o.kind)).toEqual(['pushed', 'computed']);
    expect(p.sort).toHaveLength(1); // ORDER BY/LIMIT not pushed below a proxy filter
    expect(p.limit).toBe(10);
  });

  test('ORDER BY and LIMIT stay upstream when the proxy changes neither rows nor order', async () => {
    const result = await plan(
      "SELECT id, json_merge_patch(doc, '{\"a\": null}') FROM t WHERE json_contains(doc, '{}') ORDER BY id DESC LIMIT 5",
    );
    expect(result.kind).toBe('residual');
    if (result.kind !== 'residual') return;
    expect(result.plan.pushedSql).toContain(
      "WHERE ((doc) @> ('{}'::jsonb)) ORDER BY id DESC LIMIT 5",
    );
    expect(result.plan.sort).toHaveLength(0);
    expect(result.plan.limit).toBeUndefined();
  });

  test('a parameter of a proxy-evaluated call is pushed as a column, never spliced', async () => {
    const result = await plan('SELECT id FROM t WHERE json_schema_valid(doc, $1)', true, [0]);
    expect(result.kind).toBe('residual');
    if (result.kind !== 'residual') return;
    expect(result.plan.pushedSql).toContain('($1)::jsonb');
  });

  test('what the proxy cannot evaluate is refused with 0A000 naming the construct', async () => {
    const error = await failure(
      "SELECT id FROM t WHERE json_schema_valid(doc, '{}') UNION SELECT 1",
    );
    expect(error.code).toBe('0A000');
    expect(error.message).toContain('set operation');
    expect(
      (await failure("INSERT INTO t SELECT 1 WHERE json_schema_valid('{}', '{}')")).message,
    ).toContain('INSERT');
  });

  test('with pushdown off, shapes the proxy cannot take fall back to pushdown', async () => {
    const result = await plan(
      "SELECT doc FROM t UNION SELECT doc FROM t WHERE json_contains(doc, '{}')",
      false,
    );
    expect(result.kind).toBe('rewrite');
  });
});

describe('bad calls', () => {
  test('wrong argument count → 42883 with the signature in the hint and a position', async () => {
    const error = await failure('SELECT json_contains(doc) FROM t');
    expect(error.code).toBe('42883');
    expect(error.hint).toContain('json_contains(doc jsonb, pattern jsonb)');
    expect(error.position).toBe(8);
  });

  test('wrong argument type → 42883', async () => {
    expect((await failure('SELECT json_contains(doc, 5) FROM t')).code).toBe('42883');
    expect((await failure('SELECT json_extract_path(doc, doc) FROM t')).code).toBe('42883');
  });

  test('invalid JSON in a pattern → 22P02 at the literal', async () => {
    const error = await failure("SELECT 'é', json_contains(doc, '{\"a\": }') FROM t");
    expect(error.code).toBe('22P02');
    expect(error.position).toBe("SELECT 'é', json_contains(doc, ".length + 1);
  });

  test('a non-object pattern for json_multi_contains → 22023', async () => {
    expect((await failure("SELECT json_multi_contains(doc, '[1]') FROM t")).code).toBe('22023');
  });
});
