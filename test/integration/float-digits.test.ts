/**
 * Double precision values the proxy computes print as the session's extra_float_digits asks,
 * as Postgres prints its own: set at startup (`options=-c`), by SET, by SET LOCAL inside a
 * transaction and undone by ROLLBACK, in session and transaction pooling. Postgres, asked the
 * same with the same settings, is the oracle.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { defaultConfig } from '../../src/config-schema.js';
import { adminClient, startProxy, type TestProxy } from '../support/proxy.js';

let direct: pg.Client;

beforeAll(async () => {
  direct = await adminClient();
  await direct.query('DROP TABLE IF EXISTS fd_docs');
  await direct.query('CREATE TABLE fd_docs (id int PRIMARY KEY, doc jsonb NOT NULL)');
  await direct.query(`INSERT INTO fd_docs VALUES
    (1, '{"f": 0.30000000000000004}'), (2, '{"f": 123456789.123456789}'),
    (3, '{"f": 1e-7}'), (4, '{"f": 2.5e20}')`);
});

afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS fd_docs');
  await direct.end();
});

/** Evaluated in the proxy (pushdown is off for these sessions). */
const PROXY_SQL = `SELECT id, json_get_float(doc, 'f') AS f FROM fd_docs ORDER BY id`;
const AGG_SQL = `SELECT array_agg(json_get_float(doc, 'f')) AS a, avg(json_get_float(doc, 'f')) AS m FROM fd_docs`;
const NATIVE_SQL = `SELECT id, (doc ->> 'f')::float8 AS f FROM fd_docs ORDER BY id`;
const NATIVE_AGG = `SELECT array_agg((doc ->> 'f')::float8 ORDER BY id) AS a, avg((doc ->> 'f')::float8) AS m FROM fd_docs`;

/** Rows as text, whatever the column types (no parsing on the client). */
async function texts(client: pg.Client, sql: string): Promise<unknown[][]> {
  const result = await client.query({
    text: sql,
    rowMode: 'array',
    types: { getTypeParser: () => (value: string) => value },
  });
  return result.rows as unknown[][];
}

async function oracle(setting: string, sql: string): Promise<unknown[][]> {
  await direct.query(`SET extra_float_digits = ${setting}`);
  try {
    return await texts(direct, sql);
  } finally {
    await direct.query('RESET extra_float_digits');
  }
}

describe.each(['session', 'transaction'] as const)('%s pooling', (mode) => {
  let proxy: TestProxy;

  beforeAll(async () => {
    proxy = await startProxy({
      pool: { ...defaultConfig().pool, mode, size: 2 },
      planner: { ...defaultConfig().planner, pushdown: false },
    });
  });

  afterAll(async () => {
    await proxy.stop();
  });

  async function connect(options?: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: proxy.url(), options });
    await client.connect();
    return client;
  }

  test('SET, SET LOCAL and ROLLBACK change how the proxy prints doubles', async () => {
    const client = await connect();
    try {
      const shortest = await oracle('1', NATIVE_SQL);
      const rounded = await oracle('0', NATIVE_SQL);
      const fewer = await oracle('-6', NATIVE_SQL);
      expect(rounded).not.toEqual(shortest);
      expect(await texts(client, PROXY_SQL)).toEqual(shortest);
      await client.query('SET extra_float_digits = 0');
      expect(await texts(client, PROXY_SQL)).toEqual(rounded);
      await client.query('BEGIN');
      await client.query('SET LOCAL extra_float_digits TO -6');
      expect(await texts(client, PROXY_SQL)).toEqual(fewer);
      await client.query('ROLLBACK');
      expect(await texts(client, PROXY_SQL)).toEqual(rounded);
      await client.query('RESET extra_float_digits');
      expect(await texts(client, PROXY_SQL)).toEqual(shortest);
    } finally {
      await client.end();
    }
  });

  test('the startup value applies, to arrays and averages too', async () => {
    const client = await connect('-c extra_float_digits=-2');
    try {
      const [ours] = await texts(client, AGG_SQL);
      const [theirs] = await oracle('-2', NATIVE_AGG);
      expect(ours).toEqual(theirs);
      expect(await texts(client, PROXY_SQL)).toEqual(await oracle('-2', NATIVE_SQL));
    } finally {
      await client.end();
    }
  });
});
