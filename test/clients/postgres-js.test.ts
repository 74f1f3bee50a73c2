/**
 * postgres.js (the `postgres` package) through DocFusionDB, in session and in transaction pool
 * mode: the compatibility matrix's scripted session in postgres.js idioms. Logins (SCRAM, md5,
 * cleartext), tagged-template queries (prepared statements: `prepare: true` is the default),
 * `sql.unsafe` in the simple protocol, `.describe()`, insert helpers, `sql.begin`, savepoints,
 * errors, COPY via `.writable()`/`.readable()`, cursors, `q.cancel()`, `sql.listen`, catalog
 * queries and a busy pool. Where a result can be compared, the same query also runs through
 * postgres.js straight against Postgres. Each feature is one test and one result.
 * (test/integration/postgres-js.test.ts holds the protocol-level checks of the same client.)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import postgres from 'postgres';
import pg from 'pg';
import { defaultConfig } from '../../src/config.js';
import { recordCompat, type CompatResult } from '../support/compat.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const suffix = randomBytes(4).toString('hex');
const SCRAM_ROLE = `df_pjs_scram_${suffix}`;
const SCRAM_PASSWORD = 'pjs-scram-pa$$ wörd';
const MD5_ROLE = `df_pjs_md5_${suffix}`;
const MD5_PASSWORD = 'pjs-md5-password';
const CLEARTEXT_ROLE = `df_pjs_clear_${suffix}`;
const CLEARTEXT_PASSWORD = 'pjs-cleartext-pw';
const TXN = 'txn-pool.';
const VERSION = (
  JSON.parse(readFileSync(path.resolve('node_modules/postgres/package.json'), 'utf8')) as {
    version: string;
  }
).version;

type Mode = 'session' | 'transaction';
type Sql = postgres.Sql;
type Options = postgres.Options<Record<string, postgres.PostgresType>>;

const upstream = new URL(upstreamUrl());
const DB = upstream.pathname.slice(1);

let admin: pg.Client | undefined;
let direct: Sql | undefined;
let proxy: TestProxy | undefined;
let md5Proxy: TestProxy | undefined;
let cleartextProxy: TestProxy | undefined;
let txnProxy: TestProxy | undefined;
const opened: Sql[] = [];
const results = new Map<Mode, Map<string, CompatResult>>([
  ['session', new Map()],
  ['transaction', new Map()],
]);
const expected = new Map<Mode, string[]>([
  ['session', []],
  ['transaction', []],
]);

/** pg_hba lines added for the md5 role (the embedded Postgres asks every host for SCRAM). */
const HBA_LINES = [`host all ${MD5_ROLE} 127.0.0.1/32 md5`, `host all ${MD5_ROLE} ::1/128 md5`];
let hbaFile = '';

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').trim().slice(0, 400);
}

function feature(mode: Mode, name: string, body: () => Promise<void>, timeoutMs = 60_000): void {
  expected.get(mode)?.push(name);
  test(
    name,
    async () => {
      const record = results.get(mode);
      try {
        await body();
        record?.set(name, { feature: name, pass: true });
      } catch (error) {
        record?.set(name, { feature: name, pass: false, detail: oneLine(error) });
        throw error;
      }
    },
    timeoutMs,
  );
}

async function directLoginWorks(user: string, password: string): Promise<boolean> {
  const client = new pg.Client({
    host: upstream.hostname,
    port: Number(upstream.port),
    database: DB,
    user,
    password,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * An md5-hashed role can log in upstream only where pg_hba says md5 (Postgres refuses it under
 * scram-sha-256), and the proxy logs in upstream as the client's own role. Allow it for our role.
 */
async function allowMd5Upstream(client: pg.Client): Promise<void> {
  if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return;
  const file = (await client.query<{ hba_file: string }>('SHOW hba_file')).rows[0]?.hba_file ?? '';
  await access(file, constants.R_OK | constants.W_OK);
  hbaFile = file;
  await writeFile(file, `${HBA_LINES.join('\n')}\n${await readFile(file, 'utf8')}`);
  await client.query('SELECT pg_reload_conf()');
  for (let i = 0; i < 50; i++) {
    if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return;
    await delay(100);
  }
  throw new Error(`the md5 role ${MD5_ROLE} cannot log in to the upstream directly`);
}

async function restoreHba(client: pg.Client): Promise<void> {
  if (hbaFile === '') return;
  const lines = (await readFile(hbaFile, 'utf8')).split('\n');
  await writeFile(hbaFile, lines.filter((line) => !HBA_LINES.includes(line)).join('\n'));
  await client.query('SELECT pg_reload_conf()');
}

const table = (mode: Mode, name: string): string => `df_pjs_${suffix}_${mode.slice(0, 1)}_${name}`;

function oracle(): Sql {
  if (direct === undefined) throw new Error('direct postgres.js not connected');
  return direct;
}

beforeAll(async () => {
  admin = await adminClient();
  await admin.query(`SET password_encryption = 'scram-sha-256'`);
  await admin.query(`CREATE ROLE ${SCRAM_ROLE} LOGIN PASSWORD '${SCRAM_PASSWORD}'`);
  await admin.query(`CREATE ROLE ${CLEARTEXT_ROLE} LOGIN PASSWORD '${CLEARTEXT_PASSWORD}'`);
  await admin.query(`SET password_encryption = 'md5'`);
  await admin.query(`CREATE ROLE ${MD5_ROLE} LOGIN PASSWORD '${MD5_PASSWORD}'`);
  await admin.query(`RESET password_encryption`);
  // Where the upstream cannot be opened to md5 (an external TEST_DATABASE_URL), login-md5 fails.
  await allowMd5Upstream(admin).catch((error: unknown) => {
    console.warn(`login-md5 will fail: ${String(error)}`);
  });
  for (const mode of ['session', 'transaction'] as const) {
    await admin.query(`CREATE TABLE ${table(mode, 'tx')} (id int PRIMARY KEY, note text)`);
    await admin.query(
      `CREATE TABLE ${table(mode, 'copy')} (id int PRIMARY KEY, txt text, v int, doc jsonb)`,
    );
    await admin.query(`CREATE TABLE ${table(mode, 'people')} (
        id serial PRIMARY KEY, name text NOT NULL, age int, email varchar(80) UNIQUE,
        tags text[], profile jsonb, joined date)`);
    await admin.query(`CREATE TABLE ${table(mode, 'pool')} (id int PRIMARY KEY, worker int)`);
  }
  direct = postgres(upstreamUrl(), { max: 2, onnotice: () => undefined });
  await direct`SELECT 1`;
  proxy = await startProxy();
  md5Proxy = await startProxy({ auth: { method: 'md5' } });
  cleartextProxy = await startProxy({ auth: { method: 'password' } });
  // startProxy merges only some sections key by key; `pool` is replaced whole.
  txnProxy = await startProxy({ pool: { ...defaultConfig().pool, mode: 'transaction', size: 3 } });
}, 120_000);

afterEach(async () => {
  for (const sql of opened.splice(0)) await sql.end({ timeout: 5 }).catch(() => undefined);
});

afterAll(async () => {
  const all: CompatResult[] = [];
  for (const mode of ['session', 'transaction'] as const) {
    const prefix = mode === 'session' ? '' : TXN;
    const got = results.get(mode) ?? new Map<string, CompatResult>();
    for (const name of expected.get(mode) ?? []) {
      const result = got.get(name) ?? { feature: name, pass: false, detail: 'did not run' };
      all.push({ ...result, feature: `${prefix}${name}` });
    }
  }
  recordCompat({ client: 'postgres.js', version: VERSION, results: all });
  await direct?.end({ timeout: 5 });
  await Promise.all(
    [proxy, md5Proxy, cleartextProxy, txnProxy].map((p) => p?.stop(500) ?? Promise.resolve()),
  );
  if (admin !== undefined) {
    for (const mode of ['session', 'transaction'] as const) {
      for (const name of ['tx', 'copy', 'people', 'pool']) {
        await admin.query(`DROP TABLE IF EXISTS ${table(mode, name)} CASCADE`);
      }
    }
    await restoreHba(admin);
    for (const role of [SCRAM_ROLE, MD5_ROLE, CLEARTEXT_ROLE]) {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
    }
    await admin.end();
  }
});

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

/** Many parameter types; postgres.js infers the wire types (and prepares the statement). */
function typedQuery(sql: Sql): postgres.PendingQuery<postgres.Row[]> {
  return sql`SELECT
    ${32767}::int2 AS i2, ${-2147483648}::int4 AS i4, ${'9223372036854775807'}::int8 AS i8,
    ${'-0.000000000000000000000000000001'}::numeric AS num, ${Math.E}::float8 AS e, ${1.25}::float4 AS f4,
    ${'tab\there\nnewline ünï 🎉 \\ "'}::text AS txt, ${Buffer.from([0, 0xff, 0x5c, 0x27])}::bytea AS ba,
    ${false}::bool AS b, ${new Date('2000-02-29T23:59:59.999Z')}::timestamptz AS ts, ${'2000-02-29'}::date AS d,
    ${'-1 year -2 mons +3 days -04:05:06'}::interval AS iv, ${'6ba7b810-9dad-11d1-80b4-00c04fd430c8'}::uuid AS u,
    ${sql.json({ nested: { list: [1, null, 'x'], ü: true } })}::jsonb AS jb, ${sql.array([1, -2, 2147483647])}::int[] AS ia,
    ${sql.array(['', 'NULL', 'a"b', 'c\\d'])}::text[] AS ta, ${'::1'}::inet AS ip, ${null}::text AS nul,
    ${''}::varchar AS empty, ${'13:37:00'}::time AS tm, ${'[1,10)'}::int4range AS rng`;
}

const LITERAL_SQL = `SELECT
  (-32768)::int2 AS i2, 2147483647::int4 AS i4, 9223372036854775807::int8 AS i8,
  98765432109876543210.0123456789::numeric(40, 10) AS num, 'NaN'::float8 AS nan, '-Infinity'::float8 AS ninf,
  'ünïcödé 🎉 "q" \\ back'::text AS txt, '\\x00ff10'::bytea AS ba, true AS t,
  '2024-02-29 23:59:59.999999+14'::timestamptz AS tstz, '1999-12-31 23:59:59'::timestamp AS ts,
  '13:37:00+02'::timetz AS ttz, '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid AS u,
  '{"k": [1, 2.5, "s", null, {"n": true}]}'::jsonb AS jb, '192.168.0.1/24'::inet AS ip, '(1.5,-2)'::point AS pt,
  '12.34'::money AS cash, ARRAY['a', 'b,c', '{}']::text[] AS ta, 'a fat cat'::tsvector AS tsv, NULL::int AS n`;

function suite(mode: Mode): void {
  describe(`postgres.js, ${mode} pool mode`, () => {
    const target = (): TestProxy => {
      const p = mode === 'session' ? proxy : txnProxy;
      if (p === undefined) throw new Error('proxy not started');
      return p;
    };

    function connect(options: Options = {}, url = target().url()): Sql {
      const sql = postgres(url, { max: 1, onnotice: () => undefined, ...options });
      opened.push(sql);
      return sql;
    }

    const tx = table(mode, 'tx');

    feature(mode, 'login-scram', async () => {
      const sql = connect({}, target().url(SCRAM_ROLE, SCRAM_PASSWORD));
      expect([...(await sql`SELECT current_user AS u`)]).toEqual([{ u: SCRAM_ROLE }]);
    });

    feature(mode, 'login-wrong-password', async () => {
      const sql = connect({}, target().url(SCRAM_ROLE, 'wrong'));
      const error = await rejection(sql`SELECT 1`);
      expect(error.code).toBe('28P01');
      expect(error.message).toContain(`password authentication failed for user "${SCRAM_ROLE}"`);
    });

    if (mode === 'session') {
      feature(mode, 'login-md5', async () => {
        if (md5Proxy === undefined) throw new Error('md5 proxy not started');
        const sql = connect({}, md5Proxy.url(MD5_ROLE, MD5_PASSWORD));
        expect([...(await sql`SELECT current_user AS u`)]).toEqual([{ u: MD5_ROLE }]);
      });

      feature(mode, 'login-cleartext', async () => {
        if (cleartextProxy === undefined) throw new Error('cleartext proxy not started');
        const sql = connect({}, cleartextProxy.url(CLEARTEXT_ROLE, CLEARTEXT_PASSWORD));
        expect([...(await sql`SELECT current_user AS u`)]).toEqual([{ u: CLEARTEXT_ROLE }]);
      });
    }

    feature(mode, 'parameterized-types', async () => {
      const sql = connect();
      await sql`SELECT 1`; // array types are fetched when the first connection opens
      const viaProxy = await typedQuery(sql);
      const viaDirect = await typedQuery(oracle());
      expect(shape(viaProxy)).toEqual(shape(viaDirect));
      expect(viaProxy[0]).toMatchObject({
        i2: 32767,
        i8: '9223372036854775807',
        b: false,
        nul: null,
      });
      const rawProxy = await typedQuery(sql).raw();
      const rawDirect = await typedQuery(oracle()).raw();
      expect([...rawProxy]).toEqual([...rawDirect]);
    });

    feature(mode, 'simple-protocol-types', async () => {
      const sql = connect();
      const viaProxy = await sql.unsafe(LITERAL_SQL);
      const viaDirect = await oracle().unsafe(LITERAL_SQL);
      expect(shape(viaProxy)).toEqual(shape(viaDirect));
      expect(viaProxy[0]).toMatchObject({ i2: -32768, t: true, n: null });
    });

    feature(mode, 'unprepared-queries', async () => {
      // prepare: false sends unnamed statements (what PgBouncer users are told to configure).
      const sql = connect({ prepare: false });
      for (let i = 0; i < 10; i++) {
        expect([...(await sql`SELECT ${i}::int * 3 AS v`)]).toEqual([{ v: i * 3 }]);
      }
    });

    feature(mode, 'prepared-statement-reuse', async () => {
      const a = connect();
      const b = connect();
      for (let i = 0; i < 20; i++) {
        // The same text on two clients, and different texts with the same shape.
        const [ra, rb, rc] = await Promise.all([
          a`SELECT ${i}::int + 1 AS pjs_prepared_x`,
          b`SELECT ${i}::int + 1 AS pjs_prepared_x`,
          b`SELECT ${i}::int * 100 AS pjs_prepared_x`,
        ]);
        expect([...ra, ...rb, ...rc]).toEqual([
          { pjs_prepared_x: i + 1 },
          { pjs_prepared_x: i + 1 },
          { pjs_prepared_x: i * 100 },
        ]);
      }
    });

    feature(mode, 'pipelined-queries', async () => {
      const sql = connect();
      const settled = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          i === 7
            ? sql`SELECT ${i}::int / 0 AS boom`
            : sql`SELECT ${i}::int * 2 AS v, ${`s${i}`}::text AS s`,
        ),
      );
      settled.forEach((outcome, i) => {
        if (i === 7)
          expect(outcome).toMatchObject({ status: 'rejected', reason: { code: '22012' } });
        else
          expect(outcome).toMatchObject({ status: 'fulfilled', value: [{ v: i * 2, s: `s${i}` }] });
      });
    });

    feature(mode, 'describe', async () => {
      const sql = connect();
      const people = table(mode, 'people');
      const q = (s: Sql): ReturnType<postgres.PendingQuery<postgres.Row[]>['describe']> =>
        s`SELECT id, name, profile FROM ${s(people)} WHERE age > ${1} AND email = ${'x'}`.describe();
      const [viaProxy, viaDirect] = await Promise.all([q(sql), q(oracle())]);
      expect(viaProxy.types).toEqual(viaDirect.types);
      expect(viaProxy.columns.map((c) => [c.name, c.type])).toEqual(
        viaDirect.columns.map((c) => [c.name, c.type]),
      );
      expect(viaProxy.types).toHaveLength(2);
      expect(viaProxy.columns.map((c) => c.name)).toEqual(['id', 'name', 'profile']);
    });

    feature(mode, 'insert-helpers', async () => {
      const sql = connect();
      const people = table(mode, 'people');
      const rows = [
        {
          name: 'Ada',
          age: 36,
          email: `ada-${mode}@x`,
          tags: ['math', 'engines'],
          profile: { lang: 'en' },
          joined: '1843-07-10',
        },
        {
          name: 'Grace',
          age: 85,
          email: `grace-${mode}@x`,
          tags: ['cobol'],
          profile: { rank: 'admiral' },
          joined: '1944-01-01',
        },
        { name: 'Zoë', age: null, email: null, tags: [], profile: null, joined: null },
      ];
      const inserted = await sql`INSERT INTO ${sql(people)} ${sql(
        rows.map((r) => ({ ...r, profile: r.profile === null ? null : sql.json(r.profile) })),
        'name',
        'age',
        'email',
        'tags',
        'profile',
        'joined',
      )} RETURNING id, name`;
      expect(inserted.map((r) => r.name as string)).toEqual(['Ada', 'Grace', 'Zoë']);
      const updated =
        await sql`UPDATE ${sql(people)} SET ${sql({ age: 37 }, 'age')} WHERE name = ${'Ada'} RETURNING age`;
      expect([...updated]).toEqual([{ age: 37 }]);
      const found =
        await sql`SELECT name FROM ${sql(people)} WHERE name IN ${sql(['Ada', 'Zoë'])} AND profile @> ${sql.json({ lang: 'en' })} ORDER BY name`;
      expect([...found]).toEqual([{ name: 'Ada' }]);
      const viaProxy =
        await sql`SELECT name, age, tags, profile, joined FROM ${sql(people)} ORDER BY id`;
      const viaDirect =
        await oracle()`SELECT name, age, tags, profile, joined FROM ${oracle()(people)} ORDER BY id`;
      expect(shape(viaProxy)).toEqual(shape(viaDirect));
    });

    feature(mode, 'transaction-rollback', async () => {
      const sql = connect();
      const error = await rejection(
        sql.begin(async (t) => {
          await t`INSERT INTO ${t(tx)} VALUES (1, 'never committed')`;
          const inside = await t`SELECT count(*)::int AS n FROM ${t(tx)} WHERE id = 1`;
          expect(inside[0]?.n).toBe(1);
          throw new Error('abort the transaction');
        }),
      );
      expect((error as Error).message).toBe('abort the transaction');
      expect([...(await sql`SELECT count(*)::int AS n FROM ${sql(tx)}`)]).toEqual([{ n: 0 }]);
      // And a committed one.
      const committed = await sql.begin('read write', async (t) => {
        await t`INSERT INTO ${t(tx)} VALUES (2, 'committed')`;
        return t`SELECT note FROM ${t(tx)} WHERE id = 2`;
      });
      expect([...committed]).toEqual([{ note: 'committed' }]);
      expect([...(await oracle()`SELECT note FROM ${oracle()(tx)} WHERE id = 2`)]).toEqual([
        { note: 'committed' },
      ]);
      await oracle()`DELETE FROM ${oracle()(tx)}`;
    });

    feature(mode, 'savepoint', async () => {
      const sql = connect();
      await sql.begin(async (t) => {
        await t`INSERT INTO ${t(tx)} VALUES (10, 'outer')`;
        const inner = await rejection(
          t.savepoint(async (sp) => {
            await sp`INSERT INTO ${sp(tx)} VALUES (11, 'inner')`;
            await sp`INSERT INTO ${sp(tx)} VALUES (10, 'duplicate')`;
          }),
        );
        expect(inner.code).toBe('23505');
        await t.savepoint('named', async (sp) => {
          await sp`INSERT INTO ${sp(tx)} VALUES (12, 'in a released savepoint')`;
        });
      });
      expect([
        ...(await oracle()`SELECT id, note FROM ${oracle()(tx)} WHERE id >= 10 ORDER BY id`),
      ]).toEqual([
        { id: 10, note: 'outer' },
        { id: 12, note: 'in a released savepoint' },
      ]);
      await oracle()`DELETE FROM ${oracle()(tx)}`;
    });

    feature(mode, 'error-recovery', async () => {
      const sql = connect();
      const viaProxy = await rejection(sql.unsafe('SELEC 1'));
      const viaDirect = await rejection(oracle().unsafe('SELEC 1'));
      expect([viaProxy.code, viaProxy.position, viaProxy.message]).toEqual([
        viaDirect.code,
        viaDirect.position,
        viaDirect.message,
      ]);
      expect((await rejection(sql`SELECT ${'x'}::int`)).code).toBe('22P02');
      expect((await rejection(sql`SELECT * FROM df_pjs_no_such_table`)).code).toBe('42P01');
      expect([...(await sql`SELECT ${5}::int AS five`)]).toEqual([{ five: 5 }]);
      // An error inside sql.begin rolls the transaction back and the connection carries on.
      const inTx = await rejection(
        sql.begin(async (t) => {
          await t`INSERT INTO ${t(tx)} VALUES (30, 'rolled back by the error')`;
          await t`SELECT 1/0`;
        }),
      );
      expect(inTx.code).toBe('22012');
      expect([...(await sql`SELECT count(*)::int AS n FROM ${sql(tx)} WHERE id = 30`)]).toEqual([
        { n: 0 },
      ]);
    });

    feature(mode, 'unsafe-multi-statement', async () => {
      const sql = connect();
      const text = `SELECT 1 AS a; SELECT 'two' AS b, 2.5::numeric AS c; VALUES (3), (4); UPDATE ${tx} SET note = note WHERE false`;
      const viaProxy = (await sql.unsafe(text)) as unknown as postgres.RowList<postgres.Row[]>[];
      const viaDirect = (await oracle().unsafe(text)) as unknown as postgres.RowList<
        postgres.Row[]
      >[];
      expect(viaProxy.map(shape)).toEqual(viaDirect.map(shape));
      expect(viaProxy.map((r) => [...r])).toEqual(viaDirect.map((r) => [...r]));
      expect(viaProxy.at(-1)?.command).toBe('UPDATE');
    });

    feature(mode, 'copy-in', async () => {
      const sql = connect();
      const lines: string[] = [];
      for (let i = 1; i <= 5000; i++) {
        const txt = i % 13 === 0 ? 'tab\\there \\\\ back' : `pjs ${i} ü🎉`;
        lines.push(`${i}\t${txt}\t${i % 5 === 0 ? '\\N' : String(i * 3)}\t{"i": ${i}}\n`);
      }
      const input = Buffer.from(lines.join(''), 'utf8');
      const pieces: Buffer[] = [];
      for (let at = 0; at < input.length; at += 4099) pieces.push(input.subarray(at, at + 4099));
      const writable =
        await sql`COPY ${sql(table(mode, 'copy'))} (id, txt, v, doc) FROM STDIN`.writable();
      await pipeline(Readable.from(pieces), writable);
      const counts =
        await oracle()`SELECT count(*)::int AS n, count(v)::int AS nv FROM ${oracle()(table(mode, 'copy'))}`;
      expect([...counts]).toEqual([{ n: 5000, nv: 4000 }]);
      expect([...(await sql`SELECT 1 AS ok`)]).toEqual([{ ok: 1 }]);
    });

    feature(mode, 'copy-out', async () => {
      const sql = connect();
      const read = async (s: Sql): Promise<Buffer> => {
        const readable =
          await s`COPY (SELECT id, txt, v, doc FROM ${s(table(mode, 'copy'))} ORDER BY id) TO STDOUT WITH (FORMAT csv)`.readable();
        // Flowing mode: postgres.js can leave a paused-mode readable stuck after the last chunk
        // (directly too).
        const parts: Buffer[] = [];
        await new Promise<void>((resolve, reject) => {
          readable.on('data', (chunk: Buffer) => parts.push(chunk));
          readable.on('end', resolve);
          readable.on('error', reject);
        });
        return Buffer.concat(parts);
      };
      const viaProxy = await read(sql);
      const viaDirect = await read(oracle());
      expect(viaProxy.length).toBeGreaterThan(50_000);
      expect(viaProxy.equals(viaDirect)).toBe(true);
      expect([...(await sql`SELECT 2 AS ok`)]).toEqual([{ ok: 2 }]);
    });

    feature(mode, 'cursor', async () => {
      const sql = connect();
      const read = async (s: Sql | postgres.TransactionSql): Promise<number[]> => {
        const sizes: number[] = [];
        const seen: number[] = [];
        for await (const rows of s<
          { g: number }[]
        >`SELECT g FROM generate_series(1, ${1000}::int) g`.cursor(100)) {
          sizes.push(rows.length);
          seen.push(...rows.map((r) => r.g));
        }
        expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
        return sizes;
      };
      expect(await read(sql)).toEqual(Array<number>(10).fill(100));
      // Inside a transaction, and one stopped early.
      await sql.begin(async (t) => {
        expect(await read(t)).toEqual(Array<number>(10).fill(100));
        let batches = 0;
        for await (const rows of t`SELECT g FROM generate_series(1, 1000) g`.cursor(50)) {
          expect(rows).toHaveLength(50);
          if (++batches === 2) break;
        }
        expect(batches).toBe(2);
      });
      expect([...(await sql`SELECT 3 AS ok`)]).toEqual([{ ok: 3 }]);
    });

    feature(
      mode,
      'cancel',
      async () => {
        const sql = connect();
        await sql`SELECT 1`; // connected: the cancel needs the BackendKeyData
        const started = Date.now();
        const q = sql`SELECT pg_sleep(10)`;
        setTimeout(() => {
          q.cancel();
        }, 300);
        const error = await rejection(q);
        expect(error.code).toBe('57014');
        expect(Date.now() - started).toBeLessThan(5000);
        expect([...(await sql`SELECT 'still usable' AS s`)]).toEqual([{ s: 'still usable' }]);
      },
      30_000,
    );

    feature(mode, 'listen-notify', async () => {
      const sql = connect();
      const channel = `pjs_${mode}_${suffix}`;
      const received: string[] = [];
      let done: () => void = () => undefined;
      const two = new Promise<void>((resolve) => {
        done = resolve;
      });
      const listening = await sql.listen(channel, (payload) => {
        received.push(payload);
        if (received.length === 2) done();
      });
      await sql.notify(channel, 'first é🎉');
      await sql`SELECT pg_notify(${channel}, ${'second'})`;
      await Promise.race([
        two,
        delay(5000).then(() => {
          throw new Error(`only ${received.length} of 2 notifications arrived in 5 s`);
        }),
      ]);
      expect(received).toEqual(['first é🎉', 'second']);
      await listening.unlisten();
    });

    feature(mode, 'notices', async () => {
      const notices: string[] = [];
      const sql = connect({ onnotice: (n) => notices.push(n.message ?? '') });
      await sql`DO $$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; END $$`;
      await sql`SELECT 1`;
      expect(notices).toEqual(['hello from plpgsql']);
    });

    feature(mode, 'connection-parameters', async () => {
      const settings: Options = {
        connection: {
          application_name: `pjs-${mode}`,
          search_path: 'pg_catalog,public',
          TimeZone: 'Asia/Kolkata',
        },
      };
      const query = (s: Sql): postgres.PendingQuery<postgres.Row[]> =>
        s`SELECT current_setting('application_name') AS app, current_setting('search_path') AS sp,
                 current_setting('TimeZone') AS tz, '2024-01-01 00:00:00+00'::timestamptz::text AS local`;
      const sql = connect(settings);
      const other = postgres(upstreamUrl(), { max: 1, ...settings });
      opened.push(other);
      const [viaProxy, viaDirect] = await Promise.all([query(sql), query(other)]);
      expect([...viaProxy]).toEqual([...viaDirect]);
      expect(viaProxy[0]).toMatchObject({
        app: `pjs-${mode}`,
        tz: 'Asia/Kolkata',
        local: '2024-01-01 05:30:00+05:30',
      });
    });

    feature(mode, 'session-settings', async () => {
      // A SET sent as a tagged template (a prepared statement, postgres.js's default) must follow
      // the client wherever its next queries run.
      const sql = connect();
      const busy = connect({ max: 4 });
      await sql`SET search_path TO pg_catalog, public`;
      await sql`SET application_name TO 'pjs-set'`;
      for (let i = 0; i < 10; i++) {
        const [mine] = await Promise.all([
          sql`SELECT current_setting('search_path') AS sp, current_setting('application_name') AS app`,
          ...Array.from({ length: 4 }, () => busy`SELECT pg_sleep(0.01)`),
        ]);
        expect([...mine]).toEqual([{ sp: 'pg_catalog, public', app: 'pjs-set' }]);
      }
    });

    feature(mode, 'catalog-queries', async () => {
      const sql = connect();
      const people = table(mode, 'people');
      const queries = (s: Sql): postgres.PendingQuery<postgres.Row[]>[] => [
        s`SELECT column_name, data_type, is_nullable, column_default, character_maximum_length, udt_name
          FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ${people}
          ORDER BY ordinal_position`,
        s`SELECT tc.constraint_type, kcu.column_name FROM information_schema.table_constraints tc
          JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)
          WHERE tc.table_name = ${people} ORDER BY 1, 2`,
        s`SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
          FROM pg_attribute a WHERE a.attrelid = ${people}::regclass AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
        s`SELECT b.oid, b.typarray FROM pg_catalog.pg_type a
          LEFT JOIN pg_catalog.pg_type b ON b.oid = a.typelem
          WHERE a.typcategory = 'A' AND b.typname = ANY(${['int4', 'text', 'jsonb']}::text[]) ORDER BY b.oid`,
      ];
      const viaProxy = await Promise.all(queries(sql));
      const viaDirect = await Promise.all(queries(oracle()));
      expect(viaProxy.map(shape)).toEqual(viaDirect.map(shape));
      expect(viaProxy[0]?.length).toBe(7);
    });

    feature(
      mode,
      'pool-concurrency',
      async () => {
        const sql = connect({ max: 10 });
        const poolTable = table(mode, 'pool');
        const answers = await Promise.all(
          Array.from(
            { length: 200 },
            (_, i) =>
              sql<{ n: number; s: string }[]>`SELECT ${i}::int AS n, md5(${i}::int::text) AS s`,
          ),
        );
        const md5s = await oracle()<
          { s: string }[]
        >`SELECT md5(g::text) AS s FROM generate_series(0, 199) g ORDER BY g`;
        answers.forEach((rows, i) => {
          expect([...rows]).toEqual([{ n: i, s: md5s[i]?.s }]);
        });
        await Promise.all(
          Array.from({ length: 20 }, (_, worker) =>
            sql
              .begin(async (t) => {
                for (let k = 0; k < 5; k++)
                  await t`INSERT INTO ${t(poolTable)} VALUES (${worker * 10 + k}, ${worker})`;
                if (worker % 4 === 0) throw new Error('roll back');
              })
              .catch((error: unknown) => {
                if (!(error instanceof Error) || error.message !== 'roll back') throw error;
              }),
          ),
        );
        const counts =
          await oracle()`SELECT count(*)::int AS n, count(DISTINCT worker)::int AS workers FROM ${oracle()(poolTable)}`;
        expect([...counts]).toEqual([{ n: 75, workers: 15 }]);
      },
      60_000,
    );

    feature(mode, 'large-values', async () => {
      const sql = connect();
      const big = 'ü'.repeat(3_000_000);
      const r = await sql<
        { len: number; echo: string }[]
      >`SELECT length(${big}::text) AS len, ${big}::text AS echo`;
      expect(r[0]?.len).toBe(3_000_000);
      expect(r[0]?.echo === big).toBe(true);
      const many = await sql`SELECT g FROM generate_series(1, 100000) g`;
      expect(many.count).toBe(100_000);
    });
  });
}

suite('session');
suite('transaction');
