/**
 * postgres.js (the `postgres` package) through the proxy. Results are compared with the same
 * queries run by postgres.js straight against Postgres.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import postgres from 'postgres';
import { startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
let direct: postgres.Sql;
const pools: postgres.Sql[] = [];

beforeAll(async () => {
  proxy = await startProxy();
  direct = postgres(proxy.upstreamUrl, { max: 1, onnotice: () => undefined });
  await direct.unsafe('DROP TABLE IF EXISTS pj_tx, pj_copy');
  await direct.unsafe('CREATE TABLE pj_tx (id int PRIMARY KEY, note text)');
  await direct.unsafe('CREATE TABLE pj_copy (id int PRIMARY KEY, txt text, v int)');
});

afterEach(async () => {
  for (const sql of pools.splice(0)) await sql.end({ timeout: 5 });
});

afterAll(async () => {
  await direct.unsafe('DROP TABLE IF EXISTS pj_tx, pj_copy');
  await direct.end({ timeout: 5 });
  await proxy.stop();
});

/** A postgres.js instance (one connection) through the proxy, ended after the test. */
function connect(
  options: postgres.Options<Record<string, postgres.PostgresType>> = {},
): postgres.Sql {
  const sql = postgres(proxy.url(), { max: 1, onnotice: () => undefined, ...options });
  pools.push(sql);
  return sql;
}

interface Shape {
  command: string;
  count: number | null;
  columns: { name: string; type: number; table: number; number: number }[] | undefined;
  rows: unknown[];
}

function shape(result: postgres.RowList<postgres.Row[]>): Shape {
  return {
    command: result.command,
    count: result.count,
    columns: (result.columns as postgres.ColumnList<string> | undefined)?.map((c) => ({
      name: c.name,
      type: c.type,
      table: c.table,
      number: c.number,
    })),
    rows: [...result],
  };
}

async function rejection(promise: Promise<unknown>): Promise<postgres.PostgresError> {
  try {
    await promise;
  } catch (error) {
    return error as postgres.PostgresError;
  }
  throw new Error('expected the query to fail, but it succeeded');
}

/** One parameterized query over many types; postgres.js decides the wire types of the parameters. */
function typedQuery(sql: postgres.Sql): postgres.PendingQuery<postgres.Row[]> {
  return sql`SELECT
    ${-32768}::int2 AS i2, ${2147483647}::int4 AS i4, ${'-9223372036854775808'}::int8 AS i8,
    ${'123456789012345678901234567890.123456789012345678901234567890'}::numeric AS num,
    ${'NaN'}::float8 AS nan, ${'Infinity'}::float8 AS inf, ${'-Infinity'}::float8 AS ninf, ${Math.PI}::float8 AS pi,
    ${'héllo wörld 日本語 🎉👍🏽 "q" \\ back'}::text AS txt, ${Buffer.from([0, 1, 0xff, 0x5c])}::bytea AS ba,
    ${true}::bool AS t, ${new Date('2024-02-29T07:04:56.789Z')}::timestamptz AS ts, ${'2024-02-29'}::date AS d,
    ${'1 year 2 mons 3 days 04:05:06.789'}::interval AS iv, ${'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'}::uuid AS u,
    ${sql.json({ a: [1, 2, { b: null }], é: '🎉', n: 1.5 })}::jsonb AS jb, ${sql.json({ x: 1, y: [true] })}::json AS j,
    ${sql.array([1, 2, 3, 4])}::int[] AS ia, ${'{a,"b c","\\"q\\"",🎉,"NULL"}'}::text[] AS ta,
    ${null}::int AS n, ${null}::text AS nt`;
}

const LITERAL_SQL = `SELECT
  (-32768)::int2 AS i2, 2147483647::int4 AS i4, (-9223372036854775808)::int8 AS i8,
  123456789012345678901234567890.123456789012345678901234567890::numeric AS num,
  'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, 'héllo 日本語 🎉' AS txt, '\\x0001ff5c'::bytea AS ba,
  '2024-02-29 12:34:56.789+05:30'::timestamptz AS ts, '2024-02-29'::date AS d, '3 days 04:05:06'::interval AS iv,
  gen_random_uuid() IS NOT NULL AS has_uuid, '{"a": [1, null]}'::jsonb AS jb, ARRAY[1, NULL]::int[] AS ia,
  ARRAY['x', NULL]::text[] AS ta, NULL::int AS n`;

describe('postgres.js: values', () => {
  test('parameterized query of many types agrees with direct Postgres', async () => {
    const sql = connect();
    // Array parameters are typed from the array types postgres.js fetches when it connects.
    await sql`SELECT 1`;
    await direct`SELECT 1`;
    const viaProxy = await typedQuery(sql);
    const viaDirect = await typedQuery(direct);
    expect(shape(viaProxy)).toEqual(shape(viaDirect));
    const row = viaProxy[0] as Record<string, unknown>;
    expect(row.i8).toBe('-9223372036854775808');
    expect(row.num).toBe('123456789012345678901234567890.123456789012345678901234567890');
    expect(row.nan).toBeNaN();
    expect(row.ninf).toBe(-Infinity);
    expect(row.txt).toBe('héllo wörld 日本語 🎉👍🏽 "q" \\ back');
    expect(row.ba).toEqual(Buffer.from([0, 1, 0xff, 0x5c]));
    expect(row.ts).toEqual(new Date('2024-02-29T07:04:56.789Z'));
    expect(row.jb).toEqual({ a: [1, 2, { b: null }], é: '🎉', n: 1.5 });
    expect(row.ia).toEqual([1, 2, 3, 4]);
    expect(row.ta).toEqual(['a', 'b c', '"q"', '🎉', 'NULL']);
    expect(row.n).toBeNull();
  });

  test('raw text values are byte-identical to direct Postgres', async () => {
    const sql = connect();
    await sql`SELECT 1`;
    const viaProxy = await typedQuery(sql).raw();
    const viaDirect = await typedQuery(direct).raw();
    expect([...viaProxy]).toEqual([...viaDirect]);
    expect((viaProxy[0] as unknown as (Buffer | null)[]).length).toBe(21);
  });

  test('sql.unsafe without parameters (simple protocol) agrees with direct Postgres', async () => {
    const sql = connect();
    const viaProxy = await sql.unsafe(LITERAL_SQL);
    const viaDirect = await direct.unsafe(LITERAL_SQL);
    expect(shape(viaProxy)).toEqual(shape(viaDirect));
    // (postgres.js parses a NULL array element of int[] as NaN, through the proxy and directly alike.)
    expect(viaProxy[0]).toMatchObject({
      i2: -32768,
      has_uuid: true,
      txt: 'héllo 日本語 🎉',
      n: null,
    });
  });

  test('sql.unsafe with several statements returns one result per statement', async () => {
    const sql = connect();
    const text = "SELECT 1 AS a; SELECT 'two' AS b; VALUES (3), (4)";
    const viaProxy = (await sql.unsafe(text)) as unknown as postgres.RowList<postgres.Row[]>[];
    const viaDirect = (await direct.unsafe(text)) as unknown as postgres.RowList<postgres.Row[]>[];
    expect(viaProxy.map(shape)).toEqual(viaDirect.map(shape));
    expect(viaProxy.map((r) => [...r])).toEqual([
      [{ a: 1 }],
      [{ b: 'two' }],
      [{ column1: 3 }, { column1: 4 }],
    ]);
  });
});

describe('postgres.js: statements and pipelining', () => {
  test('the same query run 20 times is prepared once and reused', async () => {
    const sql = connect();
    for (let i = 0; i < 20; i++) {
      const rows = await sql`SELECT ${i}::int + 1 AS pj_prepared_x`;
      expect([...rows]).toEqual([{ pj_prepared_x: i + 1 }]);
    }
    const prepared = await sql`
      SELECT name, statement FROM pg_prepared_statements
      WHERE strpos(statement, 'AS ' || 'pj_prepared_x') > 0`;
    expect(prepared.length).toBe(1);
    expect(prepared[0]?.name).not.toBe('');
  });

  test('queries pipelined on one connection resolve in order; an error fails only its own query', async () => {
    const sql = connect();
    const settled = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        i === 13 ? sql`SELECT 1/0 AS boom` : sql`SELECT ${i}::int * 2 AS v`,
      ),
    );
    settled.forEach((outcome, i) => {
      if (i === 13) {
        expect(outcome).toMatchObject({ status: 'rejected', reason: { code: '22012' } });
      } else {
        expect(outcome.status).toBe('fulfilled');
        expect([
          ...(outcome as PromiseFulfilledResult<postgres.RowList<postgres.Row[]>>).value,
        ]).toEqual([{ v: i * 2 }]);
      }
    });
  });

  test('a cursor reads 1000 rows in batches of 100', async () => {
    const sql = connect();
    const sizes: number[] = [];
    const seen: number[] = [];
    for await (const rows of sql<
      { g: number }[]
    >`SELECT g FROM generate_series(1, ${1000}::int) g`.cursor(100)) {
      sizes.push(rows.length);
      seen.push(...rows.map((r) => r.g));
    }
    expect(sizes).toEqual(Array.from({ length: 10 }, () => 100));
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect([...(await sql`SELECT 1 AS ok`)]).toEqual([{ ok: 1 }]);
  });
});

describe('postgres.js: errors and transactions', () => {
  test('an error carries its SQLSTATE and position, and the connection recovers', async () => {
    const sql = connect();
    const viaProxy = await rejection(sql.unsafe('SELEC 1'));
    const viaDirect = await rejection(direct.unsafe('SELEC 1'));
    expect(viaProxy.code).toBe('42601');
    expect(viaProxy.position).toBe('1');
    expect(viaProxy.message).toBe(viaDirect.message);
    expect((await rejection(sql`SELECT ${1}::int / 0`)).code).toBe('22012');
    expect([...(await sql`SELECT ${5}::int AS five`)]).toEqual([{ five: 5 }]);
  });

  test('sql.begin rolls back when the callback throws', async () => {
    const sql = connect();
    const error = await rejection(
      sql.begin(async (tx) => {
        await tx`INSERT INTO pj_tx VALUES (1, 'never committed')`;
        const inside = await tx`SELECT count(*)::int AS n FROM pj_tx WHERE id = 1`;
        expect(inside[0]?.n).toBe(1);
        throw new Error('abort the transaction');
      }),
    );
    expect((error as Error).message).toBe('abort the transaction');
    expect([...(await sql`SELECT count(*)::int AS n FROM pj_tx WHERE id = 1`)]).toEqual([{ n: 0 }]);
    expect([...(await direct`SELECT count(*)::int AS n FROM pj_tx WHERE id = 1`)]).toEqual([
      { n: 0 },
    ]);
  });

  test('sql.savepoint rolls back only the inner work', async () => {
    const sql = connect();
    await sql.begin(async (tx) => {
      await tx`INSERT INTO pj_tx VALUES (10, 'outer')`;
      const inner = await rejection(
        tx.savepoint(async (sp) => {
          await sp`INSERT INTO pj_tx VALUES (11, 'inner')`;
          await sp`INSERT INTO pj_tx VALUES (10, 'duplicate')`;
        }),
      );
      expect(inner.code).toBe('23505');
      await tx`INSERT INTO pj_tx VALUES (12, 'after savepoint')`;
    });
    expect([
      ...(await direct`SELECT id, note FROM pj_tx WHERE id BETWEEN 10 AND 19 ORDER BY id`),
    ]).toEqual([
      { id: 10, note: 'outer' },
      { id: 12, note: 'after savepoint' },
    ]);
  });
});

describe('postgres.js: LISTEN/NOTIFY, COPY, cancel', () => {
  test('sql.listen receives what sql.notify sends', async () => {
    const sql = connect();
    const received: string[] = [];
    let done: () => void = () => undefined;
    const two = new Promise<void>((resolve) => {
      done = resolve;
    });
    const listening = await sql.listen('pj_channel', (payload) => {
      received.push(payload);
      if (received.length === 2) done();
    });
    await sql.notify('pj_channel', 'first é🎉');
    await sql`SELECT pg_notify(${'pj_channel'}, ${'second'})`;
    await two;
    expect(received).toEqual(['first é🎉', 'second']);
    await listening.unlisten();
  });

  test('COPY FROM STDIN via writable() and COPY TO STDOUT via readable(): 10,000 rows round trip', async () => {
    const sql = connect();
    const lines: string[] = [];
    for (let i = 1; i <= 10_000; i++) {
      lines.push(
        `${i}\t${i % 13 === 0 ? 'tab\\there' : `pj ${i} ü🎉`}\t${i % 5 === 0 ? '\\N' : String(i * 3)}\n`,
      );
    }
    const input = Buffer.from(lines.join(''), 'utf8');
    const writable = await sql`COPY pj_copy (id, txt, v) FROM STDIN`.writable();
    const pieces: Buffer[] = [];
    for (let offset = 0; offset < input.length; offset += 4099)
      pieces.push(input.subarray(offset, offset + 4099));
    await pipeline(Readable.from(pieces), writable);

    const readable =
      await sql`COPY (SELECT id, txt, v FROM pj_copy ORDER BY id) TO STDOUT`.readable();
    // Read in flowing mode: postgres.js pauses its socket when a paused-mode readable is full and
    // only resumes it from read(), so after the last chunk it can stay paused and the connection
    // hangs (happens straight against Postgres too).
    const parts: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      readable.on('data', (chunk: Buffer) => parts.push(chunk));
      readable.on('end', resolve);
      readable.on('error', reject);
    });
    const output = Buffer.concat(parts);
    expect(output.equals(input)).toBe(true);

    const checksum = (s: postgres.Sql): postgres.PendingQuery<postgres.Row[]> =>
      s`SELECT count(*)::int AS n, count(v)::int AS nv, md5(string_agg(id || txt || coalesce(v, -1), ',' ORDER BY id)) AS h FROM pj_copy`;
    const viaProxy = await checksum(sql);
    expect([...viaProxy]).toEqual([...(await checksum(direct))]);
    expect(viaProxy[0]).toMatchObject({ n: 10_000, nv: 8_000 });
  });

  test('q.cancel() cancels a running pg_sleep(10) with 57014', async () => {
    const sql = connect();
    await sql`SELECT 1`; // connected, so the cancel has a backend key to use
    const started = Date.now();
    const q = sql`SELECT pg_sleep(10)`;
    setTimeout(() => {
      q.cancel();
    }, 200);
    const error = await rejection(q);
    expect(error.code).toBe('57014');
    expect(Date.now() - started).toBeLessThan(5000);
    expect([...(await sql`SELECT 'still usable' AS s`)]).toEqual([{ s: 'still usable' }]);
  });
});
