/**
 * POST /v1/query: the same rows as JSON, NDJSON and an Arrow IPC stream (read back with
 * apache-arrow), parameters always bound, read-only for read keys, Postgres errors mapped to
 * HTTP statuses with their SQLSTATE, and no session state leaking into the shared pool.
 */
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DocFusionError, type DocFusionClient } from '../../../sdk/client.js';
import { startApiProxy, uniqueName, type ApiProxy } from './api-support.js';

let api: ApiProxy;
let writer: DocFusionClient;
let reader: DocFusionClient;
let name: string;

beforeAll(async () => {
  api = await startApiProxy();
  writer = api.client('writer');
  reader = api.client('reader');
  name = uniqueName('q');
  await api.client('admin').createCollection(name);
  await writer.bulkInsert(
    name,
    Array.from({ length: 30 }, (_, i) => ({ i, kind: i % 2 ? 'odd' : 'even', score: i / 4 })),
  );
});

afterAll(async () => {
  await api.stop();
  expect(api.openapi.failures).toEqual([]);
});

const SQL = `SELECT id, (doc->>'i')::int AS i, doc->>'kind' AS kind, (doc->>'score')::float8 AS score,
  id * 10000000000 AS big, (doc->>'i')::numeric / 3 AS ratio, (doc->>'i')::int % 3 = 0 AS fizz,
  doc, created_at, NULLIF(doc->>'kind', 'odd') AS maybe, DATE '2024-02-29' + (doc->>'i')::int AS day
  FROM %TABLE% WHERE doc @> $1::jsonb ORDER BY id`;

function sql(): string {
  return SQL.replace('%TABLE%', name);
}

describe('/v1/query', () => {
  test('JSON: columns with types, rows as arrays, command tag', async () => {
    const result = await reader.query(sql(), [{ kind: 'even' }]);
    expect(result.command).toBe('SELECT 15');
    expect(result.rowCount).toBe(15);
    expect(result.columns.map((c) => [c.name, c.type])).toEqual([
      ['id', 'int8'],
      ['i', 'int4'],
      ['kind', 'text'],
      ['score', 'float8'],
      ['big', 'int8'],
      ['ratio', 'numeric'],
      ['fizz', 'bool'],
      ['doc', 'jsonb'],
      ['created_at', 'timestamptz'],
      ['maybe', 'text'],
      ['day', 'date'],
    ]);
    const [first] = result.rows;
    expect(first?.slice(1, 5)).toEqual([
      0,
      'even',
      0,
      first?.[0] === undefined ? 0 : Number(first[0]) * 1e10,
    ]);
    expect(first?.[7]).toEqual({ i: 0, kind: 'even', score: 0 });
    expect(first?.[6]).toBe(true);
  });

  test('NDJSON streams the same rows between a columns line and a command line', async () => {
    const json = await reader.query(sql(), [{ kind: 'even' }]);
    const lines: unknown[] = [];
    for await (const line of reader.queryNdjson(sql(), [{ kind: 'even' }])) lines.push(line);
    expect(lines[0]).toEqual({ columns: json.columns });
    expect(lines.slice(1, -1)).toEqual(json.rows);
    expect(lines.at(-1)).toEqual({ command: 'SELECT 15', rowCount: 15 });
  });

  test('Arrow IPC stream reads back into the same rows as the JSON response', async () => {
    const json = await reader.query(sql(), [{ kind: 'even' }]);
    const table = tableFromIPC(await reader.queryArrow(sql(), [{ kind: 'even' }]));
    expect(table.numRows).toBe(15);
    expect(table.schema.fields.map((f) => f.name)).toEqual(json.columns.map((c) => c.name));
    const rows = table.toArray().map((row: { toJSON(): Record<string, unknown> }) => row.toJSON());
    json.rows.forEach((expected, r) => {
      const actual = rows[r] ?? {};
      expect(Number(actual.id)).toBe(expected[0]);
      expect(actual.i).toBe(expected[1]);
      expect(actual.kind).toBe(expected[2]);
      expect(actual.score).toBe(expected[3]);
      expect(Number(actual.big)).toBe(expected[4]);
      expect(actual.ratio).toBe(expected[5]);
      expect(actual.fizz).toBe(expected[6]);
      expect(JSON.parse(String(actual.doc))).toEqual(expected[7]);
      expect(actual.maybe).toBe(expected[9]);
      const millis = actual.created_at as number;
      expect(new Date(millis).toISOString().slice(0, 19)).toBe(
        new Date(String(expected[8]).replace(' ', 'T').replace(/\+00$/, 'Z'))
          .toISOString()
          .slice(0, 19),
      );
      expect(new Date(actual.day as number).toISOString().slice(0, 10)).toBe(expected[10]);
    });
  });

  test('a large result streams as Arrow in several batches', async () => {
    const bytes = await reader.queryArrow(
      'SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 50000) g',
    );
    const table = tableFromIPC(bytes);
    expect(table.numRows).toBe(50_000);
    expect(table.batches.length).toBeGreaterThan(1);
    expect(table.getChild('n')?.get(49_999)).toBe(50_000);
  });

  test('a statement without rows, and one with parameters of every JSON kind', async () => {
    const none = await writer.query(`UPDATE ${name} SET doc = doc WHERE id < 0`);
    expect(none).toEqual({ columns: [], rows: [], rowCount: 0, command: 'UPDATE 0' });
    const kinds = await reader.query(
      'SELECT $1::text, $2::int, $3::bool, $4::text IS NULL, $5::jsonb',
      ["it's", 42, true, null, [1, { a: 'b' }]],
    );
    expect(kinds.rows).toEqual([["it's", 42, true, true, [1, { a: 'b' }]]]);
  });

  test('parameters are bound, never spliced: an injection attempt is just a value', async () => {
    const result = await reader.query('SELECT $1::text AS v', ["'); DROP TABLE x; --"]);
    expect(result.rows).toEqual([["'); DROP TABLE x; --"]]);
    const multi = await reader.query('SELECT 1; SELECT 2').catch((e: unknown) => e);
    expect(multi).toMatchObject({ status: 400, sqlstate: '42601' });
  });

  test('a read key runs read-only; a write key may write', async () => {
    const denied = await reader.query(`DELETE FROM ${name}`).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(DocFusionError);
    expect(denied).toMatchObject({ status: 403, code: 'read_only', sqlstate: '25006' });
    const sneaky = await reader
      .query(
        `WITH off AS (SELECT set_config('transaction_read_only', 'off', true)) DELETE FROM ${name} WHERE EXISTS (SELECT 1 FROM off)`,
      )
      .catch((e: unknown) => e);
    expect(sneaky).toBeInstanceOf(DocFusionError);
    const done = await writer.query(`UPDATE ${name} SET doc = doc || '{"w":1}' WHERE doc @> $1`, [
      { i: 1 },
    ]);
    expect(done.command).toBe('UPDATE 1');
  });

  test('Postgres errors map to statuses with the SQLSTATE and no stack trace', async () => {
    const cases: [string, unknown[], number, string][] = [
      ['SELECT * FROM no_such_table', [], 404, '42P01'],
      ['SELEC 1', [], 400, '42601'],
      ['SELECT $1::jsonb', ['{bad'], 400, '22P02'],
      ['SELECT 1/0', [], 400, '22012'],
    ];
    for (const [text, params, status, sqlstate] of cases) {
      const error = await reader.query(text, params).catch((e: unknown) => e);
      expect(error).toMatchObject({ status, sqlstate });
      expect(JSON.stringify((error as DocFusionError).body)).not.toMatch(
        /\bat \S+ \(|\.ts:\d+|node_modules/,
      );
    }
    const unique = await writer
      .query('CREATE TEMP TABLE u (x int primary key); INSERT INTO u VALUES (1), (1)')
      .catch((e: unknown) => e);
    expect(unique).toMatchObject({ status: 400 });
    const dup = await writer
      .query(`INSERT INTO ${name} (id, doc) OVERRIDING SYSTEM VALUE VALUES (1, '{}')`)
      .catch((e: unknown) => e);
    expect(dup).toMatchObject({ status: 409, code: 'conflict', sqlstate: '23505' });
  });

  test('an error in a streamed query before the first row is a plain error response', async () => {
    const response = await fetch(`${api.baseUrl}/v1/query`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${api.keys.reader ?? ''}`,
        'content-type': 'application/json',
        accept: 'application/x-ndjson',
      },
      body: JSON.stringify({ sql: 'SELECT * FROM missing_table' }),
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { sqlstate: '42P01' } });
  });

  test('session state set over HTTP does not leak into the next request', async () => {
    await writer.query("SET statement_timeout = '1234ms'");
    await writer.query("SET search_path = 'nowhere'");
    for (let i = 0; i < 5; i++) {
      const result = await reader.query('SHOW statement_timeout');
      expect(result.rows[0]?.[0]).not.toBe('1234ms');
      const path = await reader.query('SHOW search_path');
      expect(path.rows[0]?.[0]).not.toBe('nowhere');
    }
  });

  test('DocFusion functions go through the planner: pushed down, evaluated in the proxy, EXPLAIN', async () => {
    const pushed = await reader.query(
      `SELECT id, json_extract_path(doc, 'kind') AS kind FROM ${name} WHERE json_contains(doc, $1) ORDER BY id`,
      [{ kind: 'odd' }],
    );
    const native = await reader.query(
      `SELECT id, doc #>> '{kind}' AS kind FROM ${name} WHERE doc @> $1::jsonb ORDER BY id`,
      [{ kind: 'odd' }],
    );
    expect(pushed.rows).toEqual(native.rows);
    expect(pushed.rows).toHaveLength(15);
    const schema = { properties: { i: { type: 'integer', maximum: 9 } } };
    const inProxy = await reader.query(
      `SELECT json_get_int(doc, 'i') AS i, json_merge_patch(doc, '{"score": null}') AS patched FROM ${name} WHERE json_schema_valid(doc, $1) ORDER BY 1`,
      [schema],
    );
    expect(inProxy.columns.map((c) => [c.name, c.type])).toEqual([
      ['i', 'int8'],
      ['patched', 'jsonb'],
    ]);
    expect(inProxy.rows.map((row) => row[0])).toEqual(
      Array.from({ length: 10 }, (_, i) =>
        typeof inProxy.rows[0]?.[0] === 'string' ? String(i) : i,
      ),
    );
    const explain = await reader.query(
      `EXPLAIN SELECT id FROM ${name} WHERE json_contains(doc, '{"kind": "odd"}')`,
      [],
    );
    expect(explain.rows.map((row) => String(row[0])).join('\n')).toContain('DocFusion plan');
    const bad = await reader
      .query(`SELECT json_contains(doc) FROM ${name}`, [])
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(DocFusionError);
    expect((bad as DocFusionError).sqlstate).toBe('42883');
  });

  test('more rows than max_json_rows in JSON is a 413 naming the streaming formats', async () => {
    const error = await reader.query('SELECT generate_series(1, 100001)').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 413 });
    expect((error as DocFusionError).message).toContain('application/x-ndjson');
  });
});
