/**
 * node-postgres (pg, pg-copy-streams, pg-cursor) through the proxy. Wherever a result can be
 * compared, the same statement also runs straight against Postgres (adminClient) as the oracle
 * and the two results must be deep-equal.
 */
import net from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import Cursor from 'pg-cursor';
import { FrameReader, Frame } from '../../protocol/frame-reader.js';
import * as fe from '../../protocol/frontend-encoders.js';
import {
  decodeDataRow,
  decodeErrorFields,
  decodeRowDescription,
} from '../../protocol/backend-decoders.js';
import { BackendCode } from '../../protocol/message-codes.js';
import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import { adminClient, startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
let direct: pg.Client;
const clients: pg.Client[] = [];

beforeAll(async () => {
  proxy = await startProxy();
  direct = await adminClient();
  await direct.query(
    'DROP TABLE IF EXISTS np_tx, np_copy, np_search_schema.np_in_schema; DROP SCHEMA IF EXISTS np_search_schema',
  );
  await direct.query('CREATE TABLE np_tx (id int PRIMARY KEY, note text)');
  await direct.query('CREATE TABLE np_copy (id int PRIMARY KEY, txt text, v int)');
  await direct.query('CREATE SCHEMA np_search_schema');
  await direct.query(
    "CREATE TABLE np_search_schema.np_in_schema AS SELECT 'found in schema'::text AS what",
  );
});

afterEach(async () => {
  // Each test ends its clients, so proxied sessions (and their upstream connections) don't pile up.
  for (const client of clients.splice(0)) await client.end().catch(() => undefined);
});

afterAll(async () => {
  await direct.query(
    'DROP TABLE IF EXISTS np_tx, np_copy; DROP SCHEMA IF EXISTS np_search_schema CASCADE',
  );
  await direct.end();
  await proxy.stop();
});

/** A pg client connected through the proxy, ended after the test. */
async function connect(config: Omit<pg.ClientConfig, 'connectionString'> = {}): Promise<pg.Client> {
  const client = new pg.Client({ ...config, connectionString: proxy.url() });
  // A connection error while idle surfaces in the next query; don't let it crash the run.
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return client;
}

/** The parts of a result a client sees: command, row count, column descriptions and rows. */
function shape(result: pg.QueryResult): unknown {
  return {
    command: result.command,
    rowCount: result.rowCount,
    fields: result.fields.map((f) => ({ ...f })),
    rows: result.rows,
  };
}

/** Run the same query through the proxy and directly; they must agree. Returns the proxy's result. */
async function differential(client: pg.Client, query: pg.QueryConfig): Promise<pg.QueryResult> {
  const viaProxy = await client.query(query);
  const viaDirect = await direct.query(query);
  expect(shape(viaProxy)).toEqual(shape(viaDirect));
  return viaProxy;
}

const rawValue = (value: unknown): unknown => value;

/** Run a query and capture the RowDescription, DataRow and CommandComplete frames exactly as received. */
async function wireFrames(client: pg.Client, query: pg.QueryConfig): Promise<Buffer[]> {
  const reader = new FrameReader({ maxMessageSize: 1 << 30 });
  const frames: Buffer[] = [];
  const onData = (chunk: Buffer): void => {
    reader.push(chunk);
    for (let frame = reader.next(); frame !== null; frame = reader.next())
      frames.push(Buffer.from(frame.raw));
  };
  const stream = client.connection.stream;
  stream.on('data', onData);
  try {
    await client.query(query);
  } finally {
    stream.off('data', onData);
  }
  const kept: number[] = [
    BackendCode.RowDescription,
    BackendCode.DataRow,
    BackendCode.CommandComplete,
  ];
  return frames.filter((f) => kept.includes(f[0] ?? 0));
}

/** The body of a captured frame (after the type byte and length). */
function messageBody(frame: Buffer | undefined): Buffer {
  if (frame === undefined) throw new Error('expected another frame');
  return frame.subarray(5);
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    delay(ms, undefined, { ref: false }).then(() => {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }),
  ]);
}

/** The error a promise rejects with (fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<pg.DatabaseError> {
  try {
    await promise;
  } catch (error) {
    return error as pg.DatabaseError;
  }
  throw new Error('expected the query to fail, but it succeeded');
}

const LITERAL_SQL = `SELECT
  (-32768)::int2 AS i2, 2147483647::int4 AS i4, (-9223372036854775808)::int8 AS i8,
  123456789012345678901234567890.123456789012345678901234567890::numeric AS num,
  'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, '-Infinity'::float8 AS ninf, 3.141592653589793::float8 AS pi,
  'héllo wörld 日本語 🎉👍🏽 "q" \\ back' AS txt, '\\x0001ff5c'::bytea AS ba, true AS t, false AS f,
  '2024-02-29 12:34:56.789+05:30'::timestamptz AS ts, '2024-02-29'::date AS d,
  '1 year 2 mons 3 days 04:05:06.789'::interval AS iv, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
  '{"a": [1, 2, {"b": null}], "é": "🎉", "n": 1.50}'::jsonb AS jb, '{"x": 1,  "y" : [true]}'::json AS j,
  ARRAY[1, 2, NULL, 4]::int[] AS ia, ARRAY['a', 'b c', '"q"', NULL, '🎉', 'NULL']::text[] AS ta,
  NULL::int AS n, NULL::text AS nt`;

const PARAM_SQL = `SELECT $1::int2 AS i2, $2::int4 AS i4, $3::int8 AS i8, $4::numeric AS num,
  $5::float8 AS nan, $6::float8 AS inf, $7::float8 AS ninf, $8::text AS txt, $9::bytea AS ba, $10::bool AS t,
  $11::timestamptz AS ts, $12::date AS d, $13::interval AS iv, $14::uuid AS u, $15::jsonb AS jb, $16::json AS j,
  $17::int[] AS ia, $18::text[] AS ta, $19::int AS n, $20::text AS nt`;

const PARAMS: unknown[] = [
  -32768,
  2147483647,
  '-9223372036854775808',
  '123456789012345678901234567890.123456789012345678901234567890',
  'NaN',
  'Infinity',
  '-Infinity',
  'héllo wörld 日本語 🎉👍🏽 "q" \\ back',
  Buffer.from([0, 1, 0xff, 0x5c]),
  true,
  '2024-02-29T12:34:56.789+05:30',
  '2024-02-29',
  '1 year 2 mons 3 days 04:05:06.789',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  JSON.stringify({ a: [1, 2, { b: null }], é: '🎉', n: 1.5 }),
  '{"x": 1,  "y" : [true]}',
  [1, 2, null, 4],
  ['a', 'b c', '"q"', null, '🎉', 'NULL'],
  null,
  null,
];

describe('node-postgres: values', () => {
  test('simple query protocol: every type agrees with direct Postgres', async () => {
    const client = await connect();
    const r = await differential(client, { text: LITERAL_SQL });
    const row = r.rows[0] as Record<string, unknown>;
    expect(row.i8).toBe('-9223372036854775808');
    expect(row.num).toBe('123456789012345678901234567890.123456789012345678901234567890');
    expect(row.nan).toBeNaN();
    expect(row.inf).toBe(Infinity);
    expect(row.txt).toBe('héllo wörld 日本語 🎉👍🏽 "q" \\ back');
    expect(row.ba).toEqual(Buffer.from([0, 1, 0xff, 0x5c]));
    expect(row.ta).toEqual(['a', 'b c', '"q"', null, '🎉', 'NULL']);
    expect(row.n).toBeNull();
  });

  test('extended protocol with parameters: every type agrees with direct Postgres', async () => {
    const client = await connect();
    const r = await differential(client, { text: PARAM_SQL, values: PARAMS });
    const row = r.rows[0] as Record<string, unknown>;
    expect(row.i2).toBe(-32768);
    expect(row.ia).toEqual([1, 2, null, 4]);
    expect(row.jb).toEqual({ a: [1, 2, { b: null }], é: '🎉', n: 1.5 });
    expect(row.nt).toBeNull();
  });

  test('binary result format: the same RowDescription, DataRow and CommandComplete bytes as direct Postgres', async () => {
    // pg asks for binary results with `binary: true` but decodes every DataRow field as UTF-8 text
    // before its binary parsers run, which mangles the values; so compare the wire bytes instead.
    const client = await connect();
    // `binary` is honoured by pg's Query but missing from @types/pg's QueryConfig.
    const query: pg.QueryConfig & { binary: boolean } = {
      text: PARAM_SQL,
      values: PARAMS,
      binary: true,
      types: { getTypeParser: () => rawValue },
    };
    const viaProxy = await wireFrames(client, query);
    const viaDirect = await wireFrames(direct, query);
    expect(viaProxy.map((f) => String.fromCharCode(f[0] ?? 0)).join('')).toBe('TDC');
    expect(viaProxy).toEqual(viaDirect);
    const fields = decodeRowDescription(messageBody(viaProxy[0]));
    expect(fields.length).toBe(20);
    expect(fields.every((f) => f.format === 1)).toBe(true);
    const values = decodeDataRow(messageBody(viaProxy[1]));
    expect(values[1]).toEqual(Buffer.from([0x7f, 0xff, 0xff, 0xff])); // int4 2147483647
    expect(values[8]).toEqual(Buffer.from([0, 1, 0xff, 0x5c])); // bytea
    expect(values[18]).toBeNull();
  });

  test('large values and many rows span TCP chunks intact', async () => {
    const client = await connect();
    const big = await differential(client, {
      text: 'SELECT repeat($1, 300000) AS big, md5(repeat($1, 300000)) AS h',
      values: ['é🎉x'],
    });
    expect((big.rows[0] as { big: string }).big.length).toBe(300000 * 'é🎉x'.length);
    const many = await differential(client, {
      text: "SELECT g, repeat('ü', g % 500) AS pad, g::float8 / 3 AS third FROM generate_series(1, 20000) g",
    });
    expect(many.rowCount).toBe(20000);
  });

  test('multiple statements in one simple Query return one result each', async () => {
    const client = await connect();
    const sql = "SELECT 1 AS a; SELECT 'two' AS b, 2.5::float8 AS c; VALUES (3), (4)";
    const viaProxy = (await client.query(sql)) as unknown as pg.QueryResult[];
    const viaDirect = (await direct.query(sql)) as unknown as pg.QueryResult[];
    expect(Array.isArray(viaProxy)).toBe(true);
    expect(viaProxy.map(shape)).toEqual(viaDirect.map(shape));
    expect(viaProxy.map((r): unknown => r.rows)).toEqual([
      [{ a: 1 }],
      [{ b: 'two', c: 2.5 }],
      [{ column1: 3 }, { column1: 4 }],
    ]);
  });

  test('empty query behaves as on direct Postgres', async () => {
    const client = await connect();
    const r = await differential(client, { text: '' });
    expect(r.command).toBeNull();
    expect(r.rows).toEqual([]);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('node-postgres: extended protocol', () => {
  test('a named prepared statement is reused many times', async () => {
    const client = await connect();
    for (let i = 0; i < 50; i++) {
      const r = await client.query<{ x: number }>({
        name: 'stmt1',
        text: 'SELECT $1::int + 1 AS x',
        values: [i],
      });
      expect(r.rows).toEqual([{ x: i + 1 }]);
    }
    // Prepared once and reused (whatever name the statement has upstream).
    const prepared = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = 'SELECT $1::int + 1 AS x'",
    );
    expect(prepared.rows).toEqual([{ n: 1 }]);
  });

  test('pipelined queries (pg pipeline mode) resolve in order, an error in the middle touches only its own query', async () => {
    const client = await connect({ pipeline: true });
    const promises: Promise<pg.QueryResult>[] = [];
    for (let i = 0; i < 40; i++) {
      if (i === 17) promises.push(client.query('SELECT 1/0 AS boom'));
      else if (i % 2 === 0)
        promises.push(client.query({ text: 'SELECT $1::int * 2 AS v', values: [i] }));
      else promises.push(client.query(`SELECT ${i * 2} AS v`));
    }
    const settled = await Promise.allSettled(promises);
    settled.forEach((outcome, i) => {
      if (i === 17) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: '22012' });
      } else {
        expect(outcome.status).toBe('fulfilled');
        expect((outcome as PromiseFulfilledResult<pg.QueryResult>).value.rows).toEqual([
          { v: i * 2 },
        ]);
      }
    });
  });

  test('queries queued without awaiting (default mode) all resolve in order', async () => {
    const client = await connect();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.query<{ v: number }>({ text: 'SELECT $1::int AS v', values: [i] }),
      ),
    );
    expect(results.map((r) => r.rows[0]?.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  test('pg-cursor reads 1000 rows in batches of 100 through portal suspension', async () => {
    const client = await connect();
    const cursor = client.query(
      new Cursor<{ g: number }>('SELECT g FROM generate_series(1, $1::int) g', [1000]),
    );
    const seen: number[] = [];
    const sizes: number[] = [];
    for (;;) {
      const rows = await cursor.read(100);
      if (rows.length === 0) break;
      sizes.push(rows.length);
      seen.push(...rows.map((r) => r.g));
    }
    await cursor.close();
    expect(sizes).toEqual(Array.from({ length: 10 }, () => 100));
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });
});

describe('node-postgres: errors and transactions', () => {
  test('a syntax error arrives as 42601 with its position, and the client carries on', async () => {
    const client = await connect();
    const viaProxy = await rejection(client.query('SELEC 1'));
    const viaDirect = await rejection(direct.query('SELEC 1'));
    expect(viaProxy.code).toBe('42601');
    expect(viaProxy.position).toBe('1');
    expect(viaProxy.message).toBe(viaDirect.message);
    expect(viaProxy.severity).toBe('ERROR');
    expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    const extended = await rejection(client.query({ text: 'SELEC $1::int', values: [1] }));
    expect(extended.code).toBe('42601');
    expect((await client.query({ text: 'SELECT $1::int AS ok', values: [1] })).rows).toEqual([
      { ok: 1 },
    ]);
  });

  test('an error inside a transaction aborts it; ROLLBACK recovers', async () => {
    const client = await connect();
    await client.query('BEGIN');
    await client.query("INSERT INTO np_tx VALUES (1, 'rolled back')");
    expect((await rejection(client.query('SELECT 1/0'))).code).toBe('22012');
    expect((await rejection(client.query('SELECT 1'))).code).toBe('25P02');
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS n FROM np_tx WHERE id = 1')).rows).toEqual([
      { n: 0 },
    ]);
    expect((await direct.query('SELECT count(*)::int AS n FROM np_tx WHERE id = 1')).rows).toEqual([
      { n: 0 },
    ]);
  });

  test('ROLLBACK TO SAVEPOINT keeps the work before the savepoint', async () => {
    const client = await connect();
    await client.query('BEGIN');
    await client.query("INSERT INTO np_tx VALUES (10, 'before savepoint')");
    await client.query('SAVEPOINT sp');
    await client.query("INSERT INTO np_tx VALUES (11, 'after savepoint')");
    expect((await rejection(client.query("INSERT INTO np_tx VALUES (10, 'duplicate')"))).code).toBe(
      '23505',
    );
    await client.query('ROLLBACK TO SAVEPOINT sp');
    await client.query("INSERT INTO np_tx VALUES (12, 'after rollback to savepoint')");
    await client.query('COMMIT');
    const rows = await direct.query(
      'SELECT id, note FROM np_tx WHERE id BETWEEN 10 AND 19 ORDER BY id',
    );
    expect(rows.rows).toEqual([
      { id: 10, note: 'before savepoint' },
      { id: 12, note: 'after rollback to savepoint' },
    ]);
  });
});

/** Deterministic COPY text rows: unicode, escaped tab and backslash, and \N nulls. */
function copyRows(count: number): Buffer {
  const lines: string[] = [];
  for (let i = 1; i <= count; i++) {
    const txt = i % 11 === 0 ? `tab\\there\\\\back ${i}` : `row ${i} é日本語🎉`;
    const v = i % 7 === 0 ? '\\N' : String(((i * 7919) % 100003) - 50000);
    lines.push(`${i}\t${txt}\t${v}\n`);
  }
  return Buffer.from(lines.join(''), 'utf8');
}

/** Split a buffer into chunks of an odd size, so UTF-8 characters and rows straddle CopyData messages. */
function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size)
    yield data.subarray(offset, offset + size);
}

describe('node-postgres: COPY', () => {
  // Regression: frames split across TCP chunks must reach Postgres whole (UpstreamLink.forward
  // once wrote a client's raw chunk upstream even when it held only part of a frame).
  test('100,000 rows COPY FROM STDIN then COPY TO STDOUT: the same bytes come back', async () => {
    const client = await connect();
    const input = copyRows(100_000);
    const sink = client.query(copyFrom('COPY np_copy (id, txt, v) FROM STDIN'));
    await pipeline(Readable.from(chunksOf(input, 65_537)), sink);
    expect(sink.rowCount).toBe(100_000);

    const source = client.query(
      copyTo('COPY (SELECT id, txt, v FROM np_copy ORDER BY id) TO STDOUT'),
    );
    const parts: Buffer[] = [];
    for await (const chunk of source) parts.push(chunk as Buffer);
    const output = Buffer.concat(parts);
    expect(output.length).toBe(input.length);
    expect(output.equals(input)).toBe(true);

    const checksum = {
      text: `SELECT count(*)::int AS n, count(v)::int AS nv, sum(id)::bigint AS s,
        md5(string_agg(id || ':' || txt || ':' || coalesce(v::text, 'null'), E'\\n' ORDER BY id)) AS h FROM np_copy`,
    };
    const r = await differential(client, checksum);
    expect(r.rows[0]).toMatchObject({
      n: 100_000,
      nv: 100_000 - Math.floor(100_000 / 7),
      s: '5000050000',
    });
    expect(
      (await client.query<{ txt: string }>('SELECT txt FROM np_copy WHERE id = 11')).rows,
    ).toEqual([{ txt: 'tab\there\\back 11' }]);
  });

  test('a failing COPY FROM STDIN reports the error and the client carries on', async () => {
    const client = await connect();
    const sink = client.query(copyFrom('COPY np_copy (id, txt, v) FROM STDIN'));
    const error = await rejection(
      pipeline(Readable.from([Buffer.from('not-a-number\tx\t1\n')]), sink),
    );
    expect(error.code).toBe('22P02');
    expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });
});

describe('node-postgres: asynchronous messages', () => {
  test('LISTEN/NOTIFY delivers channel and payload across two proxied clients', async () => {
    const listener = await connect();
    const notifier = await connect();
    const received: pg.Notification[] = [];
    const two = new Promise<void>((resolve) => {
      listener.on('notification', (n) => {
        received.push(n);
        if (received.length === 2) resolve();
      });
    });
    await listener.query('LISTEN np_channel');
    await notifier.query("NOTIFY np_channel, 'payload é🎉 42'");
    await notifier.query({ text: 'SELECT pg_notify($1, $2)', values: ['np_channel', 'second'] });
    await within(two, 10_000, 'two notifications');
    expect(received.map((n) => ({ channel: n.channel, payload: n.payload }))).toEqual([
      { channel: 'np_channel', payload: 'payload é🎉 42' },
      { channel: 'np_channel', payload: 'second' },
    ]);
  });

  test('RAISE NOTICE reaches the client notice event', async () => {
    const client = await connect();
    const notices: NoticeMessage[] = [];
    client.on('notice', (n) => notices.push(n));
    await client.query("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
    expect(
      notices.map((n) => ({ message: n.message, severity: n.severity, code: n.code })),
    ).toEqual([{ message: 'hello 42', severity: 'NOTICE', code: '00000' }]);
  });

  test('SET application_name sends ParameterStatus and SHOW returns it', async () => {
    const client = await connect({ application_name: 'np-startup-app' });
    const statuses: { parameterName: string; parameterValue: string }[] = [];
    client.connection.on(
      'parameterStatus',
      (msg: { parameterName: string; parameterValue: string }) => {
        statuses.push({ parameterName: msg.parameterName, parameterValue: msg.parameterValue });
      },
    );
    expect((await client.query('SHOW application_name')).rows).toEqual([
      { application_name: 'np-startup-app' },
    ]);
    await client.query("SET application_name = 'np-renamed-app'");
    expect(statuses).toContainEqual({
      parameterName: 'application_name',
      parameterValue: 'np-renamed-app',
    });
    expect((await client.query('SHOW application_name')).rows).toEqual([
      { application_name: 'np-renamed-app' },
    ]);
  });

  test('startup options (-c search_path=...) pass through to Postgres', async () => {
    const options = '-c search_path=np_search_schema,public';
    const client = await connect({ options });
    const oracle = new pg.Client({ connectionString: proxy.upstreamUrl, options });
    await oracle.connect();
    try {
      const viaProxy = await client.query('SHOW search_path');
      const viaDirect = await oracle.query('SHOW search_path');
      expect(viaProxy.rows).toEqual(viaDirect.rows);
      expect(viaProxy.rows).toEqual([{ search_path: 'np_search_schema,public' }]);
      expect((await client.query('SELECT what FROM np_in_schema')).rows).toEqual([
        { what: 'found in schema' },
      ]);
    } finally {
      await oracle.end();
    }
  });
});

interface BackendKey {
  processID: number;
  secretKey: number;
}

/** Send a raw 16-byte CancelRequest to the proxy and wait until it closes the socket. */
async function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(processId, 8);
  packet.writeInt32BE(secretKey, 12);
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(packet);
    });
    socket.on('error', reject);
    socket.on('close', () => {
      resolve();
    });
  });
}

describe('node-postgres: cancel', () => {
  test('a CancelRequest with the BackendKeyData cancels only that client’s running query', async () => {
    const client = await connect();
    const bystander = await connect();
    const key = client as unknown as BackendKey;
    expect(typeof key.processID).toBe('number');
    const started = Date.now();
    const sleeping = rejection(client.query('SELECT pg_sleep(10)'));
    const other = bystander.query<{ done: string }>("SELECT pg_sleep(1), 'done' AS done");
    await delay(200);
    await sendCancel(proxy.port, key.processID, key.secretKey);
    const error = await sleeping;
    expect(error.code).toBe('57014');
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await other).rows[0]?.done).toBe('done');
    expect((await client.query('SELECT 1 AS again')).rows).toEqual([{ again: 1 }]);
  });

  test('a CancelRequest cancels a query pg-cursor runs with Execute + Flush (no Sync yet)', async () => {
    const client = await connect();
    const key = client as unknown as BackendKey;
    const cursor = client.query(new Cursor('SELECT pg_sleep(10)'));
    const started = Date.now();
    const reading = rejection(cursor.read(1));
    await delay(200);
    await sendCancel(proxy.port, key.processID, key.secretKey);
    expect((await reading).code).toBe('57014');
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await client.query('SELECT 3 AS after')).rows).toEqual([{ after: 3 }]);
  });

  test('a CancelRequest with a wrong secret key cancels nothing', async () => {
    const client = await connect();
    const key = client as unknown as BackendKey;
    const sleeping = client.query<{ finished: boolean }>('SELECT pg_sleep(1), true AS finished');
    await delay(200);
    await sendCancel(proxy.port, key.processID, key.secretKey ^ 1);
    await sendCancel(proxy.port, key.processID ^ 1, key.secretKey);
    expect((await sleeping).rows).toEqual([{ pg_sleep: '', finished: true }]);
  });
});

/** A raw protocol connection (trust auth) reading frames with the project's FrameReader. */
class RawConnection {
  readonly frames: Frame[] = [];
  private readonly reader = new FrameReader({ maxMessageSize: 1 << 30 });
  private wake: (() => void) | undefined;
  private failure: Error | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let frame = this.reader.next(); frame !== null; frame = this.reader.next()) {
        // Copy: frames are views into chunks the reader may reuse.
        this.frames.push(copyFrame(frame));
      }
      this.wake?.();
    });
    socket.on('error', (error) => {
      this.failure = error;
      this.wake?.();
    });
    socket.on('close', () => {
      this.failure ??= new Error('connection closed');
      this.wake?.();
    });
  }

  static async open(port: number, user: string, database: string): Promise<RawConnection> {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const conn = new RawConnection(socket);
    socket.write(fe.startupMessage({ user, database }));
    await conn.readyCount(1);
    conn.frames.length = 0;
    return conn;
  }

  /** Wait until `n` ReadyForQuery frames have arrived since the last reset. */
  async readyCount(n: number): Promise<void> {
    const count = (): number =>
      this.frames.filter((f) => f.type === BackendCode.ReadyForQuery).length;
    const deadline = Date.now() + 20_000;
    while (count() < n) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline)
        throw new Error(`only ${count()} of ${n} ReadyForQuery frames arrived`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100).unref();
      });
    }
  }

  /** DataRow first values, error codes and ReadyForQuery markers, in arrival order. */
  events(): string[] {
    const out: string[] = [];
    for (const f of this.frames) {
      if (f.type === BackendCode.DataRow)
        out.push(`D:${decodeDataRow(f.body)[0]?.toString('utf8') ?? 'null'}`);
      else if (f.type === BackendCode.ErrorResponse)
        out.push(`E:${decodeErrorFields(f.body).get('C') ?? '?'}`);
      else if (f.type === BackendCode.ReadyForQuery)
        out.push(`Z:${String.fromCharCode(f.body[0] ?? 0)}`);
    }
    return out;
  }

  close(): void {
    this.socket.end(fe.terminate());
  }
}

describe('node-postgres: raw protocol pipeline', () => {
  let trustProxy: TestProxy;
  beforeAll(async () => {
    trustProxy = await startProxy({ auth: { method: 'trust' } });
  });
  afterAll(async () => {
    await trustProxy.stop();
  });

  const pipelineBytes = (): Buffer =>
    Buffer.concat([
      fe.parse('p1', 'SELECT $1::int AS a'),
      fe.bind({ statement: 'p1', params: ['1'] }),
      fe.execute(),
      fe.sync(),
      fe.bind({ statement: 'p1', params: ['2'] }),
      fe.execute(),
      fe.sync(),
      fe.query('SHOW docfusion.auth_method'),
      fe.parse('', 'SELEC 1'),
      fe.bind(),
      fe.execute(),
      fe.sync(),
      fe.query('BEGIN'),
      fe.bind({ statement: 'p1', params: ['3'] }),
      fe.describe('P'),
      fe.execute(),
      fe.sync(),
      fe.query("SELECT 4 AS d; SELECT 'five'; COMMIT"),
    ]);

  const expected = [
    'D:1',
    'Z:I',
    'D:2',
    'Z:I',
    'D:trust',
    'Z:I',
    'E:42601',
    'Z:I',
    'Z:T',
    'D:3',
    'Z:T',
    'D:4',
    'D:five',
    'Z:I',
  ];

  test('several Syncs and a locally answered query in one write come back in order', async () => {
    const admin = new URL(trustProxy.upstreamUrl);
    const conn = await RawConnection.open(
      trustProxy.port,
      decodeURIComponent(admin.username),
      admin.pathname.slice(1),
    );
    try {
      conn.socket.write(pipelineBytes());
      await conn.readyCount(7);
      expect(conn.events()).toEqual(expected);
    } finally {
      conn.close();
    }
  });

  // Regression: frames split across TCP chunks must reach Postgres whole (UpstreamLink.forward
  // once wrote a client's raw chunk upstream even when it held only part of a frame).
  test('the same pipeline written a few bytes at a time', async () => {
    const admin = new URL(trustProxy.upstreamUrl);
    const conn = await RawConnection.open(
      trustProxy.port,
      decodeURIComponent(admin.username),
      admin.pathname.slice(1),
    );
    try {
      for (const piece of chunksOf(pipelineBytes(), 7)) {
        conn.socket.write(piece);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await conn.readyCount(7);
      expect(conn.events()).toEqual(expected);
    } finally {
      conn.close();
    }
  });
});

/** A frame that owns its bytes (received chunks are views the reader may drop). */
function copyFrame(frame: Frame): Frame {
  const raw = Buffer.from(frame.raw);
  return new Frame(frame.type, raw, 0, raw.length, frame.headerLength);
}
