import pg from 'pg';
import { inject } from 'vitest';

/**
 * A client of the test Postgres that returns values as the kernel does: bigint as bigint,
 * json and jsonb as their text, text[] as arrays, numbers and booleans as JS values.
 */
export async function connectOracle(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: inject('upstreamUrl') });
  const { builtins } = pg.types;
  client.setTypeParser(builtins.INT8, 'text', (value: string) => BigInt(value));
  client.setTypeParser(builtins.JSON, 'text', (value: string) => value);
  client.setTypeParser(builtins.JSONB, 'text', (value: string) => value);
  await client.connect();
  return client;
}

/** The server's version number (e.g. 170004). */
export async function serverVersion(client: pg.Client): Promise<number> {
  const result = await client.query<{ v: string }>('SELECT current_setting($1) AS v', [
    'server_version_num',
  ]);
  return Number(result.rows[0]?.v);
}
