import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(async () => {
  await proxy.stop();
});

describe('smoke', () => {
  test('pg connects through the proxy with SCRAM and runs queries', async () => {
    const client = new pg.Client({ connectionString: proxy.url() });
    await client.connect();
    const r = await client.query<{ u: string; n: number }>(
      'SELECT current_user AS u, $1::int AS n',
      [42],
    );
    expect(r.rows).toEqual([{ u: 'docfusion', n: 42 }]);
    const show = await client.query<{ 'docfusion.version': string }>('SHOW docfusion.version');
    expect(show.rows[0]?.['docfusion.version']).toMatch(/^\d+\.\d+\.\d+/);
    await client.end();
  });
});
