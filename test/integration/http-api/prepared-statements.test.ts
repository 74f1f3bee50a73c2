/**
 * The API's single-document statements are prepared once per upstream connection and then only
 * bound and executed, on connections wire clients share (transaction pooling, one connection, so
 * every request and the wire client below meet on the same backend). What a wire client does to
 * that connection — DISCARD ALL, a DEALLOCATE the proxy cannot follow, DDL that changes a
 * prepared statement's result type — must not break the next request.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DocFusionClient } from '../../../sdk/client.js';
import { startApiProxy, uniqueName, type ApiProxy } from './api-support.js';

interface Prepared {
  readonly name: string;
  readonly statement: string;
  /** Times it was executed (custom plans + generic plans). */
  readonly runs: number;
}

let api: ApiProxy;
let admin: DocFusionClient;
let wire: pg.Client;

beforeAll(async () => {
  api = await startApiProxy({ pool: { mode: 'transaction', size: 1, maxPreparedStatements: 4 } });
  admin = api.client('admin');
  wire = new pg.Client({ connectionString: api.proxy.url() });
  await wire.connect();
});

afterAll(async () => {
  await wire.end();
  await api.stop();
  expect(api.openapi.failures).toEqual([]);
});

/** The backend's named statements on `collection`'s table (seen through the proxy: same backend). */
async function preparedOn(collection: string): Promise<Prepared[]> {
  const result = await wire.query<{ name: string; statement: string; runs: string }>(
    `SELECT name, statement, (generic_plans + custom_plans)::text AS runs
       FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '%' ORDER BY statement`,
    [collection],
  );
  return result.rows.map((row) => ({ ...row, runs: Number(row.runs) }));
}

async function allPrepared(): Promise<string[]> {
  const result = await wire.query<{ name: string }>(
    'SELECT name FROM pg_prepared_statements ORDER BY name',
  );
  return result.rows.map((row) => row.name);
}

function kinds(statements: readonly Prepared[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of statements) out[s.statement.trimStart().split(' ')[0] ?? ''] = s.runs;
  return out;
}

describe('prepared single-document statements', () => {
  test('are prepared once per upstream connection under proxy names and reused', async () => {
    const name = uniqueName('prep');
    await admin.createCollection(name);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await admin.insert(name, { i })).id);
    for (const id of ids) expect((await admin.get(name, id)).doc).toEqual({ i: ids.indexOf(id) });

    const prepared = await preparedOn(name);
    expect(kinds(prepared)).toEqual({ INSERT: 3, SELECT: 3 });
    for (const statement of prepared) expect(statement.name).toMatch(/^docfusion_[0-9a-f]{32}$/);
  });

  test("a wire client's DISCARD ALL on the shared connection: the next insert prepares again", async () => {
    const name = uniqueName('prep');
    await admin.createCollection(name);
    await admin.insert(name, { a: 1 });
    await admin.insert(name, { a: 2 });
    expect(kinds(await preparedOn(name))).toEqual({ INSERT: 2 });

    await wire.query('DISCARD ALL');
    expect(await preparedOn(name)).toEqual([]);

    const stored = await admin.insert(name, { a: 3 });
    expect(stored.doc).toEqual({ a: 3 });
    expect(kinds(await preparedOn(name))).toEqual({ INSERT: 1 });
  });

  test('a DEALLOCATE the proxy cannot follow: the insert prepares again and succeeds', async () => {
    const name = uniqueName('prep');
    await admin.createCollection(name);
    const first = await admin.insert(name, { a: 1 });
    await admin.get(name, first.id);
    const before = await preparedOn(name);
    expect(kinds(before)).toEqual({ INSERT: 1, SELECT: 1 });

    // Names the proxy's own: it forwards the DEALLOCATE and still believes both exist.
    for (const statement of before) await wire.query(`DEALLOCATE "${statement.name}"`);
    expect(await preparedOn(name)).toEqual([]);

    const second = await admin.insert(name, { a: 2 });
    expect(second.doc).toEqual({ a: 2 });
    expect((await admin.get(name, first.id)).doc).toEqual({ a: 1 });
    expect(kinds(await preparedOn(name))).toEqual({ INSERT: 1, SELECT: 1 });
    const { rows } = await wire.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${name}"`);
    expect(rows[0]?.n).toBe('2');
  });

  test('DDL that changes a prepared statement’s result type: prepared again, once', async () => {
    const name = uniqueName('prep');
    await admin.createCollection(name);
    const first = await admin.insert(name, { a: 1 });
    await admin.get(name, first.id);
    await admin.replace(name, first.id, { a: 2 });

    // The RETURNING list's version column changes type: "cached plan must not change result type".
    await wire.query(`ALTER TABLE "${name}" ALTER COLUMN version TYPE numeric`);

    const second = await admin.insert(name, { b: 1 });
    expect(second.doc).toEqual({ b: 1 });
    expect(second.version).toBe(1);
    const got = await admin.get(name, first.id);
    expect(got).toMatchObject({ doc: { a: 2 }, version: 2 });
    const replaced = await admin.replace(name, first.id, { a: 3 }, got.etag);
    expect(replaced).toMatchObject({ doc: { a: 3 }, version: 3 });
    // Each was parsed anew once: one statement per kind, run once since.
    expect(kinds(await preparedOn(name))).toEqual({ INSERT: 1, SELECT: 1, UPDATE: 1 });
    const { rows } = await wire.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${name}"`);
    expect(rows[0]?.n).toBe('2');
  });

  test('a dropped collection is a 404 with its statements prepared, and a new one works', async () => {
    const name = uniqueName('prep');
    await admin.createCollection(name);
    await admin.insert(name, { a: 1 });
    await admin.dropCollection(name);
    await expect(admin.insert(name, { a: 2 })).rejects.toMatchObject({ status: 404 });
    await admin.createCollection(name);
    expect((await admin.insert(name, { a: 3 })).doc).toEqual({ a: 3 });
  });

  test('at most max_prepared_statements per connection, the least recently used closed', async () => {
    const names = [uniqueName('prep'), uniqueName('prep'), uniqueName('prep')];
    for (const name of names) {
      await admin.createCollection(name);
      const stored = await admin.insert(name, { name });
      expect((await admin.get(name, stored.id)).doc).toEqual({ name });
    }
    const left = await allPrepared();
    expect(left.length).toBeLessThanOrEqual(4);
    // The last collection's two statements are the most recent: both still there.
    expect(kinds(await preparedOn(names[2] ?? ''))).toEqual({ INSERT: 1, SELECT: 1 });
    expect(await preparedOn(names[0] ?? '')).toEqual([]);
    // An evicted statement is prepared again when needed.
    expect((await admin.insert(names[0] ?? '', { again: true })).doc).toEqual({ again: true });
  });
});
