/**
 * The DocFusion planner end to end: DocFusion functions through the proxy, with Postgres as the
 * oracle (the same question asked in native JSONB SQL straight to Postgres), with pushdown on
 * and off, through node-postgres (simple and extended protocol) and postgres.js, in session
 * and transaction pooling.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import Cursor from 'pg-cursor';
import postgres from 'postgres';
import { defaultConfig } from '../../src/config-schema.js';
import { adminClient, startProxy, type TestProxy } from '../support/proxy.js';

let direct: pg.Client;

/** No type parsing: values as Postgres sent them (Buffers in binary format). */
const RAW = { getTypeParser: () => (value: unknown) => value } as unknown as pg.CustomTypesConfig;

const DOCS = 3000;

beforeAll(async () => {
  direct = await adminClient();
  await direct.query('DROP TABLE IF EXISTS pl_docs');
  await direct.query(
    'CREATE TABLE pl_docs (id int PRIMARY KEY, doc jsonb NOT NULL, tdoc text, jdoc json)',
  );
  await direct.query(`
    INSERT INTO pl_docs
    SELECT i, d, d::text, d::json FROM (
      SELECT i, jsonb_build_object(
        'name', 'user' || i,
        'kind', (ARRAY['a', 'b', 'c', 'ü'])[1 + i % 4],
        'n', CASE WHEN i % 7 = 0 THEN to_jsonb('x' || i) WHEN i % 11 = 0 THEN 'null'::jsonb ELSE to_jsonb(i % 50) END,
        'tags', CASE WHEN i % 3 = 0 THEN '[]'::jsonb ELSE jsonb_build_array('t' || (i % 5), 't' || (i % 2)) END,
        'nested', jsonb_build_object('deep', jsonb_build_object('v', i % 10), 'flag', i % 2 = 0)
      ) || CASE WHEN i % 5 = 0 THEN '{"extra": {"a": [1, 2, {"b": null}]}}'::jsonb ELSE '{}'::jsonb END AS d
      FROM generate_series(1, ${String(DOCS)}) AS i
    ) s`);
  await direct.query('CREATE INDEX pl_docs_gin ON pl_docs USING gin (doc)');
  await direct.query('ANALYZE pl_docs');
});

afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS pl_docs');
  await direct.end();
});

/** DocFusion SQL through the proxy and its native equivalent straight to Postgres. */
const CASES: readonly { name: string; docfusion: string; native: string }[] = [
  {
    name: 'json_extract_path in select and where',
    docfusion: `SELECT id, json_extract_path(doc, 'name') AS name FROM pl_docs WHERE json_extract_path(doc, 'kind') = 'b' ORDER BY id`,
    native: `SELECT id, doc #>> '{name}' AS name FROM pl_docs WHERE doc #>> '{kind}' = 'b' ORDER BY id`,
  },
  {
    name: 'nested paths, array indexes, JSON null',
    docfusion: `SELECT id, json_extract_path(doc, 'extra', 'a', '2', 'b') AS b, json_extract_path(doc, 'n') AS n, json_extract_path(doc, 'tags', '0') AS t FROM pl_docs ORDER BY id LIMIT 200`,
    native: `SELECT id, doc #>> '{extra,a,2,b}' AS b, doc #>> '{n}' AS n, doc #>> '{tags,0}' AS t FROM pl_docs ORDER BY id LIMIT 200`,
  },
  {
    name: 'json_contains with nested pattern',
    docfusion: `SELECT id FROM pl_docs WHERE json_contains(doc, '{"nested": {"deep": {"v": 2}}, "kind": "c"}') ORDER BY id`,
    native: `SELECT id FROM pl_docs WHERE doc @> '{"nested": {"deep": {"v": 2}}, "kind": "c"}' ORDER BY id`,
  },
  {
    name: 'json_multi_contains',
    docfusion: `SELECT count(*) FROM pl_docs WHERE json_multi_contains(doc, '{"kind": "a", "tags": ["t1"]}')`,
    native: `SELECT count(*) FROM pl_docs WHERE doc @> '{"kind": "a", "tags": ["t1"]}'`,
  },
  {
    name: 'typed helpers',
    docfusion: `SELECT id, json_get_int(doc, 'n') AS n, json_typeof(doc, 'n') AS t, json_exists(doc, 'extra') AS e, json_array_length(doc, 'tags') AS l, json_get_bool(doc, 'nested', 'flag') AS f FROM pl_docs ORDER BY id LIMIT 300`,
    native: `SELECT id, CASE WHEN jsonb_typeof(doc->'n') = 'number' THEN (doc->>'n')::bigint END AS n, jsonb_typeof(doc->'n') AS t, doc ? 'extra' AS e, jsonb_array_length(doc->'tags') AS l, (doc #> '{nested,flag}')::boolean AS f FROM pl_docs ORDER BY id LIMIT 300`,
  },
  {
    name: 'group by and having on an extracted path',
    docfusion: `SELECT json_extract_path(doc, 'kind') AS k, count(*) FROM pl_docs GROUP BY 1 HAVING count(*) > 10 ORDER BY 1`,
    native: `SELECT doc #>> '{kind}' AS k, count(*) FROM pl_docs GROUP BY 1 HAVING count(*) > 10 ORDER BY 1`,
  },
  {
    name: 'text column documents',
    docfusion: `SELECT id, json_extract_path(tdoc, 'nested', 'deep', 'v') AS v FROM pl_docs WHERE json_contains(tdoc, '{"kind": "a"}') ORDER BY id LIMIT 50`,
    native: `SELECT id, tdoc::jsonb #>> '{nested,deep,v}' AS v FROM pl_docs WHERE tdoc::jsonb @> '{"kind": "a"}' ORDER BY id LIMIT 50`,
  },
  {
    name: 'CTE, subquery and join',
    docfusion: `WITH k AS (SELECT id FROM pl_docs WHERE json_contains(doc, '{"kind": "b"}')) SELECT count(*) FROM k JOIN pl_docs p ON p.id = k.id AND json_extract_path(p.doc, 'nested', 'deep', 'v') = '1' WHERE k.id IN (SELECT id FROM pl_docs WHERE json_exists(doc, 'extra'))`,
    native: `WITH k AS (SELECT id FROM pl_docs WHERE doc @> '{"kind": "b"}') SELECT count(*) FROM k JOIN pl_docs p ON p.id = k.id AND p.doc #>> '{nested,deep,v}' = '1' WHERE k.id IN (SELECT id FROM pl_docs WHERE doc ? 'extra')`,
  },
];

/** Residual-capable statements (single SELECTs): also compared with pushdown off. */
const RESIDUAL_CASES = CASES;

describe.each(['session', 'transaction'] as const)('%s pooling', (mode) => {
  let proxy: TestProxy;
  let client: pg.Client;

  beforeAll(async () => {
    proxy = await startProxy({ pool: { ...defaultConfig().pool, mode, size: 3 } });
    client = new pg.Client({ connectionString: proxy.url() });
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
    await proxy.stop();
  });

  test.each(CASES)('pushdown: $name', async ({ docfusion, native }) => {
    const want = await direct.query({ text: native, rowMode: 'array' });
    const got = await client.query({ text: docfusion, rowMode: 'array' });
    expect(got.rows).toEqual(want.rows);
    expect(got.rows.length).toBeGreaterThan(0);
  });

  test.each(RESIDUAL_CASES)('pushdown off (Arrow path): $name', async ({ docfusion, native }) => {
    await client.query('SET docfusion.pushdown = off');
    try {
      expect((await client.query('SHOW docfusion.pushdown')).rows).toEqual([
        { 'docfusion.pushdown': 'off' },
      ]);
      const want = await direct.query({ text: native, rowMode: 'array' });
      const got = await client.query({ text: docfusion, rowMode: 'array' });
      expect(got.rows).toEqual(want.rows);
      const explain = await client.query(`EXPLAIN ${docfusion}`);
      // A DocFusion call inside a CTE or JOIN condition is beyond the proxy's evaluator: such a
      // statement falls back to pushdown, and EXPLAIN says so.
      const expected = docfusion.startsWith('WITH')
        ? 'pushed down entirely'
        : 'evaluated partly in the proxy';
      expect(
        explain.rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n'),
      ).toContain(expected);
    } finally {
      await client.query('RESET docfusion.pushdown');
    }
  });

  test('column names and type OIDs match Postgres (text and binary)', async () => {
    for (const pushdown of ['on', 'off']) {
      await client.query(`SET docfusion.pushdown = ${pushdown}`);
      const got = await client.query({
        text: `SELECT id, json_extract_path(doc, 'name'), json_get_int(doc, 'n') AS n, json_contains(doc, '{"kind": "a"}') AS c FROM pl_docs WHERE id < $1 ORDER BY id`,
        values: [20],
        rowMode: 'array',
        binary: true,
        types: RAW,
      } as pg.QueryConfig);
      const want = await direct.query({
        text: `SELECT id, doc #>> '{name}' AS json_extract_path, CASE WHEN jsonb_typeof(doc->'n') = 'number' THEN (doc->>'n')::bigint END AS n, doc @> '{"kind": "a"}' AS c FROM pl_docs WHERE id < $1 ORDER BY id`,
        values: [20],
        rowMode: 'array',
        binary: true,
        types: RAW,
      } as pg.QueryConfig);
      expect(got.fields.map((f) => [f.name, f.dataTypeID])).toEqual(
        want.fields.map((f) => [f.name, f.dataTypeID]),
      );
      expect(got.rows).toEqual(want.rows);
    }
    await client.query('RESET docfusion.pushdown');
  });

  test('parameters travel as parameters (extended protocol), pushdown on and off', async () => {
    for (const pushdown of ['on', 'off']) {
      await client.query(`SET docfusion.pushdown = ${pushdown}`);
      const got = await client.query(
        `SELECT id FROM pl_docs WHERE json_extract_path(doc, $1) = $2 AND json_contains(doc, $3) ORDER BY id`,
        ['kind', "c'; DROP TABLE pl_docs; --", '{"tags": []}'],
      );
      expect(got.rows).toEqual([]);
      const some = await client.query(
        `SELECT id FROM pl_docs WHERE json_extract_path(doc, $1) = $2 AND json_contains(doc, $3) ORDER BY id`,
        ['kind', 'c', '{"tags": []}'],
      );
      const want = await direct.query(
        `SELECT id FROM pl_docs WHERE doc->>'kind' = 'c' AND doc @> '{"tags": []}' ORDER BY id`,
      );
      expect(some.rows).toEqual(want.rows);
    }
    await client.query('RESET docfusion.pushdown');
  });

  test('inside a transaction a planned statement sees the transaction’s writes', async () => {
    await client.query('BEGIN');
    try {
      await client.query(`INSERT INTO pl_docs VALUES (999999, '{"kind": "tx-only"}', NULL, NULL)`);
      for (const pushdown of ['on', 'off']) {
        await client.query(`SET docfusion.pushdown = ${pushdown}`);
        const got = await client.query(
          `SELECT id FROM pl_docs WHERE json_extract_path(doc, 'kind') = 'tx-only'`,
        );
        expect(got.rows).toEqual([{ id: 999999 }]);
      }
    } finally {
      await client.query('ROLLBACK');
      await client.query('RESET docfusion.pushdown');
    }
    const after = await client.query(
      `SELECT id FROM pl_docs WHERE json_extract_path(doc, 'kind') = 'tx-only'`,
    );
    expect(after.rows).toEqual([]);
  });

  test('json_schema_valid and json_merge_patch run in the proxy', async () => {
    const schema = JSON.stringify({
      type: 'object',
      required: ['n'],
      properties: { n: { type: 'integer', minimum: 10 } },
    });
    const got = await client.query(
      `SELECT id, json_merge_patch(doc, '{"name": null, "added": 1}') AS patched FROM pl_docs WHERE json_schema_valid(doc, $1) ORDER BY id LIMIT 25`,
      [schema],
    );
    const want = await direct.query(
      `SELECT id, (doc - 'name') || '{"added": 1}' AS patched FROM pl_docs WHERE jsonb_typeof(doc->'n') = 'number' AND (doc->>'n')::numeric >= 10 ORDER BY id LIMIT 25`,
    );
    expect(got.rows).toEqual(want.rows);
    expect(got.fields.map((f) => f.dataTypeID)).toEqual([23, 3802]);
  });

  test('aggregates over rows only the proxy can filter', async () => {
    const got = await client.query({
      text: `SELECT json_extract_path(doc, 'kind') AS k, count(*), count(DISTINCT json_get_int(doc, 'n')) AS d, sum(json_get_int(doc, 'n')) AS s, avg(json_get_int(doc, 'n')) AS a, min(json_extract_path(doc, 'name')) AS mn, max(json_get_int(doc, 'n')) AS mx, bool_and(json_get_bool(doc, 'nested', 'flag')) AS ba, bool_or(json_exists(doc, 'extra')) AS bo FROM pl_docs WHERE json_schema_valid(doc, '{"properties": {"n": {"type": "integer"}}}') GROUP BY 1 HAVING count(*) > 5 ORDER BY 2 DESC, 1 LIMIT 3`,
      rowMode: 'array',
    });
    const want = await direct.query({
      text: `SELECT doc->>'kind' AS k, count(*), count(DISTINCT CASE WHEN jsonb_typeof(doc->'n') = 'number' THEN (doc->>'n')::bigint END) AS d, sum(CASE WHEN jsonb_typeof(doc->'n') = 'number' THEN (doc->>'n')::bigint END) AS s, avg(CASE WHEN jsonb_typeof(doc->'n') = 'number' THEN (doc->>'n')::bigint END) AS a, min(doc->>'name') AS mn, max(CASE WHEN jsonb_typeof(doc->'n') = 'number' THEN (doc->>'n')::bigint END) AS mx, bool_and((doc #> '{nested,flag}')::boolean) AS ba, bool_or(doc ? 'extra') AS bo FROM pl_docs WHERE jsonb_typeof(doc->'n') = 'number' GROUP BY 1 HAVING count(*) > 5 ORDER BY 2 DESC, 1 LIMIT 3`,
      rowMode: 'array',
    });
    expect(got.rows).toEqual(want.rows);
    expect(got.fields.map((f) => [f.name, f.dataTypeID])).toEqual(
      want.fields.map((f) => [f.name, f.dataTypeID]),
    );
    const total = await client.query(
      `SELECT count(*) AS c FROM pl_docs WHERE json_schema_valid(doc, '{"required": ["extra"]}')`,
    );
    expect(total.rows).toEqual(
      (await direct.query(`SELECT count(*) AS c FROM pl_docs WHERE doc ? 'extra'`)).rows,
    );
  });

  test('a cursor reads a proxy-evaluated statement a few rows at a time (portal suspension)', async () => {
    await client.query('SET docfusion.pushdown = off');
    try {
      const text = `SELECT id, json_extract_path(doc, 'name') AS name FROM pl_docs WHERE json_get_int(doc, 'n') < 3 ORDER BY id`;
      const want = await direct.query({
        text: `SELECT id, doc #>> '{name}' AS name FROM pl_docs WHERE jsonb_typeof(doc->'n') = 'number' AND (doc->>'n')::int < 3 ORDER BY id`,
        rowMode: 'array',
      });
      const cursor = client.query(new Cursor(text, [], { rowMode: 'array' }));
      const read = (n: number): Promise<unknown[]> =>
        new Promise((resolve, reject) => {
          cursor.read(n, (error, rows) => {
            if (error) reject(error);
            else resolve(rows);
          });
        });
      const got: unknown[] = [];
      const sizes: number[] = [];
      for (;;) {
        const rows = await read(7);
        sizes.push(rows.length);
        got.push(...rows);
        if (rows.length < 7) break;
      }
      await new Promise<void>((resolve) => {
        cursor.close(() => {
          resolve();
        });
      });
      expect(got).toEqual(want.rows);
      expect(sizes.slice(0, -1).every((n) => n === 7)).toBe(true);
      expect(sizes.length).toBeGreaterThan(3);
    } finally {
      await client.query('RESET docfusion.pushdown');
    }
  });

  test('postgres.js: planned statements with parameters, in a transaction', async () => {
    const sql = postgres(proxy.url(), { max: 1, onnotice: () => undefined });
    try {
      const kinds =
        await sql`SELECT json_extract_path(doc, 'kind') AS k, count(*)::int AS c FROM pl_docs WHERE json_contains(doc, ${sql.json({ nested: { flag: true } })}) GROUP BY 1 ORDER BY 1`;
      const want = await direct.query(
        `SELECT doc->>'kind' AS k, count(*)::int AS c FROM pl_docs WHERE doc @> '{"nested": {"flag": true}}' GROUP BY 1 ORDER BY 1`,
      );
      expect(kinds.map((r) => ({ ...r }))).toEqual(want.rows);
      await sql`SET docfusion.pushdown = off`;
      const offRows =
        await sql`SELECT id FROM pl_docs WHERE json_schema_valid(doc, ${sql.json({ required: ['extra'] })}) AND json_get_int(doc, ${'n'}) = ${5} ORDER BY id`;
      const wantOff = await direct.query(
        `SELECT id FROM pl_docs WHERE doc ? 'extra' AND doc->'n' = '5' ORDER BY id`,
      );
      expect(offRows.map((r) => ({ ...r }))).toEqual(wantOff.rows);
      expect(offRows.length).toBeGreaterThan(0);
      const explained =
        await sql`EXPLAIN SELECT id FROM pl_docs WHERE json_contains(doc, ${sql.json({ kind: 'a' })})`;
      expect(explained.map((r) => String(r['QUERY PLAN'])).join('\n')).toContain(
        'evaluated partly in the proxy',
      );
      await sql`RESET docfusion.pushdown`;
      const inTx = await sql.begin(async (tx) => {
        await tx`INSERT INTO pl_docs VALUES (999998, '{"kind": "pjs"}', NULL, NULL)`;
        return tx`SELECT id FROM pl_docs WHERE json_extract_path(doc, ${'kind'}) = ${'pjs'}`;
      });
      expect(inTx.map((r) => ({ ...r }))).toEqual([{ id: 999998 }]);
    } finally {
      await sql`DELETE FROM pl_docs WHERE id = 999998`;
      await sql.end({ timeout: 5 });
    }
  });

  test('EXPLAIN of json_contains on a GIN-indexed column shows a bitmap index scan upstream', async () => {
    await client.query('SET enable_seqscan = off');
    try {
      const explain = await client.query(
        `EXPLAIN SELECT id FROM pl_docs WHERE json_contains(doc, '{"kind": "a"}')`,
      );
      const text = explain.rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      expect(text).toContain('DocFusion plan');
      expect(text).toContain('Bitmap Index Scan on pl_docs_gin');
      const inexact = await client.query(
        `EXPLAIN SELECT id FROM pl_docs WHERE json_extract_path(doc, 'kind') = 'b'`,
      );
      const plan = inexact.rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      expect(plan).toContain('Inexact');
      expect(plan).toContain('Bitmap Index Scan on pl_docs_gin');
    } finally {
      await client.query('RESET enable_seqscan');
    }
  });

  test('EXPLAIN ANALYZE adds rows and time of the proxy operators to Postgres’s own', async () => {
    await client.query('SET docfusion.pushdown = off');
    try {
      const explain = await client.query(
        `EXPLAIN ANALYZE SELECT json_extract_path(doc, 'kind') AS k, count(*) FROM pl_docs WHERE json_contains(doc, '{"nested": {"flag": true}}') GROUP BY 1 ORDER BY 1`,
      );
      const text = explain.rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      expect(text).toContain('HashAggregate (proxy)');
      expect(text).toContain(`Batches from Postgres: ${String(DOCS)} rows`);
      expect(text).toContain(`${String(DOCS / 2)} rows kept`);
      expect(text).toContain('HashAggregate: 2 groups'); // even ids: kinds a and c
      expect(text).toMatch(/actual time=/);
    } finally {
      await client.query('RESET docfusion.pushdown');
    }
  });

  test('DDL through the proxy refreshes the column types the planner uses', async () => {
    await client.query('CREATE TABLE pl_ddl (doc json)');
    try {
      await client.query(`INSERT INTO pl_ddl VALUES ('{"a": {"b": 1}}')`);
      const asJson = await client.query(`SELECT json_extract_path(doc, 'a') AS v FROM pl_ddl`);
      expect(asJson.fields[0]?.dataTypeID).toBe(114); // Postgres's own function on json
      await client.query('ALTER TABLE pl_ddl ALTER COLUMN doc TYPE jsonb');
      const asJsonb = await client.query(`SELECT json_extract_path(doc, 'a') AS v FROM pl_ddl`);
      expect(asJsonb.fields[0]?.dataTypeID).toBe(25); // DocFusion's, text like #>>
      expect(asJsonb.rows).toEqual([{ v: '{"b": 1}' }]);
    } finally {
      await client.query('DROP TABLE pl_ddl');
    }
  });

  test('statements differing only in constants share a plan and get their own rows', async () => {
    const lookups = proxy.running.proxy.plans.lookups;
    const before = { ...lookups };
    let runs = 0;
    for (const kind of ['a', 'b', 'ü', "it's", '1']) {
      for (const last of [50, 400, 3000]) {
        const literal = kind.replace(/'/g, "''");
        const docfusion = `SELECT id, json_extract_path(doc, 'name') AS name FROM pl_docs WHERE json_extract_path(doc, 'kind') = '${literal}' AND id <= ${String(last)} ORDER BY id`;
        const native = `SELECT id, doc #>> '{name}' AS name FROM pl_docs WHERE doc #>> '{kind}' = '${literal}' AND id <= ${String(last)} ORDER BY id`;
        const want = await direct.query({ text: native, rowMode: 'array' });
        const simple = await client.query({ text: docfusion, rowMode: 'array' });
        expect(simple.rows, docfusion).toEqual(want.rows);
        // Extended protocol: the same shape with a parameter beside the literals.
        const extended = await client.query({
          text: `${docfusion.replace(' ORDER BY id', '')} AND id > $1 ORDER BY id`,
          values: [0],
          rowMode: 'array',
        });
        expect(extended.rows, docfusion).toEqual(want.rows);
        runs += 2;
      }
    }
    // '1' can be the text of a number: no Inexact superset, so it has a plan of its own.
    const shapeHits = lookups.shape - before.shape;
    expect(shapeHits).toBeGreaterThanOrEqual(runs - 6);
    expect(lookups.miss - before.miss).toBeLessThanOrEqual(6);
  });

  test('DDL through the proxy drops plans shared by statement shape', async () => {
    await client.query('CREATE TABLE pl_shape (id int, doc jsonb)');
    try {
      await client.query(`INSERT INTO pl_shape VALUES (1, '{"a": "x1"}'), (2, '{"a": "x2"}')`);
      const q = (id: number) =>
        client.query(
          `SELECT json_extract_path(doc, 'a') AS v FROM pl_shape WHERE id = ${String(id)}`,
        );
      expect((await q(1)).rows).toEqual([{ v: 'x1' }]);
      const shared = await q(2);
      expect(shared.fields[0]?.dataTypeID).toBe(25); // DocFusion's: text like #>>
      expect(shared.rows).toEqual([{ v: 'x2' }]);
      await client.query('ALTER TABLE pl_shape ALTER COLUMN doc TYPE json');
      const after = await q(1);
      expect(after.fields[0]?.dataTypeID).toBe(114); // Postgres's own function on json
      expect(after.rows).toEqual([{ v: 'x1' }]);
      // DDL that itself passes the prefilter (a column named like a DocFusion function).
      await client.query(
        'ALTER TABLE pl_shape ALTER COLUMN doc TYPE jsonb, ADD COLUMN json_typeof int',
      );
      const again = await q(2);
      expect(again.fields[0]?.dataTypeID).toBe(25);
      expect(again.rows).toEqual([{ v: 'x2' }]);
    } finally {
      await client.query('DROP TABLE pl_shape');
    }
  });

  test('planned statements are metered under route="planned"', async () => {
    await client.query(`SELECT id FROM pl_docs WHERE json_contains(doc, '{"kind": "a"}') LIMIT 1`);
    await client.query({ text: `SELECT json_exists(doc, $1) FROM pl_docs LIMIT 1`, values: ['n'] });
    const metrics = await (
      await fetch(`http://127.0.0.1:${String(proxy.httpPort)}/metrics`)
    ).text();
    const planned = metrics
      .split('\n')
      .filter((line) =>
        line.startsWith('docfusion_statement_duration_seconds_count{route="planned"'),
      )
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    expect(planned).toBeGreaterThanOrEqual(2);
  });

  test("Postgres's own json_extract_path keeps its meaning on json", async () => {
    const got = await client.query(
      `SELECT json_extract_path(jdoc, 'nested', 'deep') AS j FROM pl_docs WHERE id = 1`,
    );
    expect(got.fields[0]?.dataTypeID).toBe(114);
    expect(got.rows).toEqual(
      (
        await direct.query(
          `SELECT json_extract_path(jdoc, 'nested', 'deep') AS j FROM pl_docs WHERE id = 1`,
        )
      ).rows,
    );
  });

  test('bad calls get clear errors with real SQLSTATEs, and the session goes on', async () => {
    const fail = async (
      sql: string,
    ): Promise<{ code?: string; position?: string; hint?: string }> => {
      try {
        await client.query(sql);
      } catch (error) {
        return error as { code?: string; position?: string; hint?: string };
      }
      throw new Error(`expected an error from ${sql}`);
    };
    const arity = await fail(`SELECT json_contains(doc) FROM pl_docs`);
    expect(arity.code).toBe('42883');
    expect(arity.hint).toContain('json_contains');
    const badJson = await fail(`SELECT id FROM pl_docs WHERE json_contains(doc, '{"a": ')`);
    expect(badJson.code).toBe('22P02');
    expect(Number(badJson.position)).toBe(
      `SELECT id FROM pl_docs WHERE json_contains(doc, `.length + 1,
    );
    const notObject = await fail(`SELECT id FROM pl_docs WHERE json_multi_contains(doc, '[1]')`);
    expect(notObject.code).toBe('22023');
    const unsupported = await fail(
      `SELECT id FROM pl_docs WHERE json_schema_valid(doc, '{"type": "object"}') UNION SELECT 1`,
    );
    expect(unsupported.code).toBe('0A000');
    await client.query('SET docfusion.pushdown = off');
    const badParam = await client
      .query(`SELECT id FROM pl_docs WHERE json_multi_contains(doc, $1)`, ['[1]'])
      .catch((error: unknown) => error as { code?: string });
    expect((badParam as { code?: string }).code).toBe('22023');
    await client.query('RESET docfusion.pushdown');
    const pushedBadParam = await client
      .query(`SELECT id FROM pl_docs WHERE json_multi_contains(doc, $1)`, ['[1]'])
      .catch((error: unknown) => error as { code?: string });
    expect((pushedBadParam as { code?: string }).code).toBe('22023');
    await client.query('BEGIN');
    const inTx = await fail(`SELECT json_contains(doc) FROM pl_docs`);
    expect(inTx.code).toBe('42883');
    const aborted = await fail('SELECT 1');
    expect(aborted.code).toBe('25P02');
    await client.query('ROLLBACK');
    expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });
});
