/**
 * DDL run straight on the upstream (not through the proxy): the planner learns column types from
 * the upstream catalog, trusted for `planner.catalog_ttl_ms`; a cached plan must not outlive the
 * catalog it was planned against. With a TTL of 0 the catalog is read for every plan, so a
 * statement run again after the column's type changed gets a plan for the new type, whether its
 * plan was kept by exact text or shared by statement shape.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import pg from 'pg';
import { defaultConfig } from '../../src/config-schema.js';
import { adminClient, startProxy, type TestProxy } from '../support/proxy.js';

const TEXT = 25;
const JSON_OID = 114;

let direct: pg.Client;

beforeAll(async () => {
  direct = await adminClient();
});

afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS cat_docs');
  await direct.end();
});

describe.each(['session', 'transaction'] as const)('%s pooling, catalog TTL 0', (mode) => {
  let proxy: TestProxy;
  let client: pg.Client;

  beforeAll(async () => {
    proxy = await startProxy({
      pool: { ...defaultConfig().pool, mode, size: 2 },
      planner: { pushdown: true, catalogTtlMs: 0 },
    });
    client = new pg.Client({ connectionString: proxy.url() });
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
    await proxy.stop();
  });

  beforeEach(async () => {
    await direct.query('DROP TABLE IF EXISTS cat_docs');
    await direct.query('CREATE TABLE cat_docs (id int, doc jsonb)');
    await direct.query(`INSERT INTO cat_docs VALUES (1, '{"a": "x1"}'), (2, '{"a": "x2"}')`);
  });

  /** The same statement (by text) straight to Postgres and through the proxy. */
  const both = async (sql: string): Promise<{ want: pg.QueryResult; got: pg.QueryResult }> => ({
    want: await direct.query(sql),
    got: await client.query(sql),
  });

  test('jsonb → json: the plan made for jsonb is not used for json', async () => {
    const sql = `SELECT json_extract_path(doc, 'a') AS v FROM cat_docs ORDER BY id`;
    const before = await client.query(sql);
    expect(before.fields[0]?.dataTypeID).toBe(TEXT); // DocFusion's: text, like #>>
    expect(before.rows).toEqual([{ v: 'x1' }, { v: 'x2' }]);
    await client.query(sql); // kept in the plan cache
    await direct.query('ALTER TABLE cat_docs ALTER COLUMN doc TYPE json');
    // Postgres's own json_extract_path(json, VARIADIC text[]) returns json ("x1", with quotes).
    const { want, got } = await both(sql);
    expect(got.fields[0]?.dataTypeID).toBe(JSON_OID);
    expect(got.rows).toEqual(want.rows);
  });

  test('jsonb → text: a plan shared by statement shape is planned again', async () => {
    const q = (id: number): string =>
      `SELECT json_extract_path(doc, 'a') AS v FROM cat_docs WHERE id = ${String(id)}`;
    expect((await client.query(q(1))).rows).toEqual([{ v: 'x1' }]);
    expect((await client.query(q(2))).rows).toEqual([{ v: 'x2' }]); // the shared plan
    await direct.query('ALTER TABLE cat_docs ALTER COLUMN doc TYPE text');
    // On text DocFusion casts to jsonb; the jsonb plan's `doc #>> '{a}'` would fail (42883).
    const got = await client.query(q(1));
    expect(got.fields[0]?.dataTypeID).toBe(TEXT);
    expect(got.rows).toEqual([{ v: 'x1' }]);
    expect((await client.query(q(2))).rows).toEqual([{ v: 'x2' }]);
  });

  test('jsonb → text, extended protocol with a parameter', async () => {
    const sql = `SELECT json_contains(doc, '{"a": "x2"}') AS c, json_extract_path(doc, 'a') AS v FROM cat_docs WHERE id = $1`;
    expect((await client.query(sql, [2])).rows).toEqual([{ c: true, v: 'x2' }]);
    expect((await client.query(sql, [1])).rows).toEqual([{ c: false, v: 'x1' }]);
    await direct.query('ALTER TABLE cat_docs ALTER COLUMN doc TYPE text');
    expect((await client.query(sql, [2])).rows).toEqual([{ c: true, v: 'x2' }]);
  });
});
