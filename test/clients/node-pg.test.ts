/**
 * node-postgres (`pg`, with `pg-cursor` and `pg-copy-streams`) through DocFusionDB, in session and
 * in transaction pool mode: the compatibility matrix's scripted session. Logins (SCRAM, md5,
 * cleartext), values of many types in text and binary, named prepared statements, transactions,
 * savepoints, errors, COPY, cursors, cancel, LISTEN/NOTIFY, the catalog queries tools make and a
 * busy pg.Pool. Where a result can be compared, the same query also runs straight against
 * Postgres and the results must be equal. Each feature is one test and one result.
 * (test/integration/node-postgres.test.ts holds the protocol-level checks of the same client.)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import Cursor from 'pg-cursor';
import { defaultConfig } from '../../src/config.js';
import { recordCompat, type CompatResult } from '../support/compat.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const suffix = randomBytes(4).toString('hex');
const SCRAM_ROLE = `df_npg_scram_${suffix}`;
const SCRAM_PASSWORD = 'npg-scram-pa$$ wörd';
const MD5_ROLE = `df_npg_md5_${suffix}`;
const MD5_PASSWORD = 'npg-md5-password';
const CLEARTEXT_ROLE = `df_npg_clear_${suffix}`;
const CLEARTEXT_PASSWORD = 'npg-cleartext-pw';
const TXN = 'txn-pool.';
const PG_VERSION = (
  JSON.parse(readFileSync(path.resolve('node_modules/pg/package.json'), 'utf8')) as {
    version: string;
  }
).version;

type Mode = 'session' | 'transaction';

const upstream = new URL(upstreamUrl());
const DB = upstream.pathname.slice(1);

let admin: pg.Client | undefined;
let proxy: TestProxy | undefined;
let md5Proxy: TestProxy | undefined;
let cleartextProxy: TestProxy | undefined;
let txnProxy: TestProxy | undefined;
const opened: { end: () => Promise<void> }[] = [];
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

const table = (mode: Mode, name: string): string => `df_npg_${suffix}_${mode.slice(0, 1)}_${name}`;

function oracle(): pg.Client {
  if (admin === undefined) throw new Error('admin client not connected');
  return admin;
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
      `CREATE TABLE ${table(mode, 'copy')} (id int PRIMARY KEY, txt text, v numeric, doc jsonb)`,
    );
    await admin.query(`CREATE TABLE ${table(mode, 'parent')} (
        id serial PRIMARY KEY, name varchar(40) NOT NULL UNIQUE, created timestamptz DEFAULT now())`);
    await admin.query(`CREATE TABLE ${table(mode, 'child')} (
        id bigserial PRIMARY KEY,
        parent_id int NOT NULL REFERENCES ${table(mode, 'parent')} (id) ON DELETE CASCADE,
        qty smallint CHECK (qty > 0), tags text[], doc jsonb)`);
    await admin.query(`CREATE INDEX ON ${table(mode, 'child')} (parent_id)`);
    await admin.query(`CREATE TABLE ${table(mode, 'pool')} (id int PRIMARY KEY, worker int)`);
  }
  proxy = await startProxy();
  md5Proxy = await startProxy({ auth: { method: 'md5' } });
  cleartextProxy = await startProxy({ auth: { method: 'password' } });
  // startProxy merges only some sections key by key; `pool` is replaced whole.
  txnProxy = await startProxy({ pool: { ...defaultConfig().pool, mode: 'transaction', size: 3 } });
}, 120_000);

afterEach(async () => {
  for (const client of opened.splice(0)) await client.end().catch(() => undefined);
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
  recordCompat({ client: 'node-postgres', version: PG_VERSION, results: all });
  await Promise.all(
    [proxy, md5Proxy, cleartextProxy, txnProxy].map((p) => p?.stop(500) ?? Promise.resolve()),
  );
  if (admin !== undefined) {
    for (const mode of ['session', 'transaction'] as const) {
      for (const name of ['tx', 'copy', 'child', 'parent', 'pool']) {
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

/** The parts of a result a client sees. */
function shape(result: pg.QueryResult): unknown {
  return {
    command: result.command,
    rowCount: result.rowCount,
    fields: result.fields.map((f) => ({ ...f })),
    rows: result.rows,
  };
}

async function rejection(promise: Promise<unknown>): Promise<pg.DatabaseError> {
  try {
    await promise;
  } catch (error) {
    return error as pg.DatabaseError;
  }
  throw new Error('expected the query to fail, but it succeeded');
}

interface BackendKey {
  readonly processID: number;
  readonly secretKey: number;
}

/** A CancelRequest on its own connection, as libpq and pg send it. */
function sendCancel(port: number, key: BackendKey): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      const message = Buffer.alloc(16);
      message.writeInt32BE(16, 0);
      message.writeInt32BE(80877102, 4);
      message.writeInt32BE(key.processID, 8);
      message.writeInt32BE(key.secretKey, 12);
      socket.end(message);
    });
    socket.on('error', reject);
    socket.on('close', () => {
      resolve();
    });
  });
}

const TYPES_SQL = `SELECT
  (-32768)::int2 AS i2, 2147483647::int4 AS i4, 9223372036854775807::int8 AS i8,
  98765432109876543210.0123456789::numeric(40, 10) AS num, 1.5::float4 AS f4, 'NaN'::float8 AS nan,
  '-Infinity'::float8 AS ninf, 'ünïcödé 🎉 "q" \\ back'::text AS txt, 'abc'::varchar(10) AS vc, 'x'::char(3) AS ch,
  '\\x00ff10'::bytea AS ba, true AS t, '2024-02-29 23:59:59.999999+14'::timestamptz AS tstz,
  '1999-12-31 23:59:59'::timestamp AS ts, '0044-03-15 BC'::date AS bc, '13:37:00'::time AS tm,
  '13:37:00+02'::timetz AS ttz, '-1 year -2 mons +3 days -04:05:06'::interval AS iv,
  '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid AS u, '{"k": [1, 2.5, "s", null, {"n": true}]}'::jsonb AS jb,
  '192.168.0.1/24'::inet AS ip, '10.0.0.0/8'::cidr AS net, '08:00:2b:01:02:03'::macaddr AS mac,
  '(1.5,-2)'::point AS pt, '[1,10)'::int4range AS rng, B'1011'::bit(4) AS bits, 'pg_class'::regclass::oid AS oid,
  '12.34'::money AS cash, ARRAY[[1, 2], [3, 4]]::int[] AS matrix, ARRAY['a', NULL, 'b,c', '{}']::text[] AS ta,
  '{"a": 1}'::json AS js, 'a fat cat'::tsvector AS tsv, NULL::int AS n`;

const PARAM_SQL = `SELECT $1::int2 AS i2, $2::int4 AS i4, $3::int8 AS i8, $4::numeric AS num, $5::float8 AS f8,
  $6::text AS txt, $7::bytea AS ba, $8::bool AS b, $9::timestamptz AS tstz, $10::date AS d, $11::interval AS iv,
  $12::uuid AS u, $13::jsonb AS jb, $14::int[] AS ia, $15::text[] AS ta, $16::inet AS ip, $17::text AS nul,
  $18::varchar AS empty, $19::float4 AS f4`;

const PARAMS: unknown[] = [
  32767,
  -2147483648,
  '-9223372036854775808',
  '-0.000000000000000000000000000001',
  Math.E,
  'tab\there\nnewline ünï 🎉 \\ "',
  Buffer.from([0, 0xff, 0x5c, 0x27]),
  false,
  new Date('2024-02-29T12:00:00.123Z'),
  '2000-02-29',
  'P1Y2M3DT4H5M6S',
  '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
  { nested: { list: [1, null, 'x'], ü: true } },
  [1, -2, null, 2147483647],
  ['', 'NULL', null, 'a"b', 'c\\d'],
  '::1',
  null,
  '',
  3.25,
];

function suite(mode: Mode): void {
  describe(`node-postgres, ${mode} pool mode`, () => {
    const target = (): TestProxy => {
      const p = mode === 'session' ? proxy : txnProxy;
      if (p === undefined) throw new Error('proxy not started');
      return p;
    };

    async function connect(
      config: Omit<pg.ClientConfig, 'connectionString'> = {},
      url = target().url(),
    ): Promise<pg.Client> {
      const client = new pg.Client({ ...config, connectionString: url });
      client.on('error', () => undefined);
      opened.push(client);
      await client.connect();
      return client;
    }

    async function differential(client: pg.Client, query: pg.QueryConfig): Promise<pg.QueryResult> {
      const viaProxy = await client.query(query);
      const viaDirect = await oracle().query(query);
      expect(shape(viaProxy)).toEqual(shape(viaDirect));
      return viaProxy;
    }

    const tx = table(mode, 'tx');

    feature(mode, 'login-scram', async () => {
      const client = await connect({}, target().url(SCRAM_ROLE, SCRAM_PASSWORD));
      const r = await client.query<{ u: string }>('SELECT current_user AS u');
      expect(r.rows).toEqual([{ u: SCRAM_ROLE }]);
    });

    feature(mode, 'login-wrong-password', async () => {
      const client = new pg.Client({ connectionString: target().url(SCRAM_ROLE, 'wrong') });
      client.on('error', () => undefined);
      const error = await rejection(client.connect());
      expect(error.code).toBe('28P01');
      expect(error.message).toContain(`password authentication failed for user "${SCRAM_ROLE}"`);
    });

    if (mode === 'session') {
      feature(mode, 'login-md5', async () => {
        if (md5Proxy === undefined) throw new Error('md5 proxy not started');
        const client = await connect({}, md5Proxy.url(MD5_ROLE, MD5_PASSWORD));
        const r = await client.query<{ u: string }>('SELECT current_user AS u');
        expect(r.rows).toEqual([{ u: MD5_ROLE }]);
      });

      feature(mode, 'login-cleartext', async () => {
        if (cleartextProxy === undefined) throw new Error('cleartext proxy not started');
        const client = await connect({}, cleartextProxy.url(CLEARTEXT_ROLE, CLEARTEXT_PASSWORD));
        const r = await client.query<{ u: string }>('SELECT current_user AS u');
        expect(r.rows).toEqual([{ u: CLEARTEXT_ROLE }]);
      });
    }

    feature(mode, 'simple-query-types', async () => {
      const client = await connect();
      const r = await differential(client, { text: TYPES_SQL });
      expect(r.fields).toHaveLength(33);
    });

    feature(mode, 'parameterized-types', async () => {
      const client = await connect();
      const r = await differential(client, { text: PARAM_SQL, values: PARAMS });
      expect(r.rows[0]).toMatchObject({ i2: 32767, b: false, nul: null, empty: '' });
    });

    feature(mode, 'binary-results', async () => {
      const client = await connect();
      const query = {
        text: `SELECT 1::int2 AS a, -2::int4 AS b, 3::int8 AS c, 1.5::float4 AS d, -2.25::float8 AS e, true AS f,
                 '2024-01-02 03:04:05.678+00'::timestamptz AS g, '\\xdeadbeef'::bytea AS h, 'text'::text AS i,
                 $1::int4 AS j, NULL::int AS k`,
        values: [42],
        binary: true,
      };
      const r = await differential(client, query);
      // (Compared with direct Postgres above: pg's own binary parsers decide the values.)
      expect(r.fields.every((f) => f.format === 'binary')).toBe(true);
      expect(r.rows[0]).toMatchObject({ a: 1, f: true, i: 'text', k: null });
    });

    feature(mode, 'named-prepared-statements', async () => {
      // Two clients use the same statement name for different texts; each must get its own.
      const a = await connect();
      const b = await connect();
      const seen: number[] = [];
      for (let i = 0; i < 25; i++) {
        const [ra, rb] = await Promise.all([
          a.query<{ n: number }>({
            name: 'npg_stmt',
            text: 'SELECT $1::int + 1 AS n',
            values: [i],
          }),
          b.query<{ n: number }>({
            name: 'npg_stmt',
            text: 'SELECT $1::int * 100 AS n',
            values: [i],
          }),
        ]);
        expect(ra.rows).toEqual([{ n: i + 1 }]);
        expect(rb.rows).toEqual([{ n: i * 100 }]);
        seen.push(ra.rows[0]?.n ?? -1);
      }
      expect(seen).toHaveLength(25);
      // A named statement inside a transaction, then reused outside it.
      await a.query('BEGIN');
      const inTx = await a.query({
        name: 'npg_stmt',
        text: 'SELECT $1::int + 1 AS n',
        values: [99],
      });
      await a.query('COMMIT');
      const after = await a.query({
        name: 'npg_stmt',
        text: 'SELECT $1::int + 1 AS n',
        values: [7],
      });
      expect([inTx.rows, after.rows]).toEqual([[{ n: 100 }], [{ n: 8 }]]);
    });

    feature(mode, 'transaction-rollback', async () => {
      const client = await connect();
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${tx} VALUES ($1, $2), ($3, $4)`, [1, 'one', 2, 'two']);
      const inside = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${tx}`);
      expect(inside.rows).toEqual([{ n: 2 }]);
      const status = await client.query<{ s: string }>(`SELECT 'in' || 'side' AS s`);
      expect(status.rows).toEqual([{ s: 'inside' }]);
      await client.query('ROLLBACK');
      const after = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${tx}`);
      expect(after.rows).toEqual([{ n: 0 }]);
      expect((await oracle().query(`SELECT 1 FROM ${tx}`)).rowCount).toBe(0);
    });

    feature(mode, 'savepoint', async () => {
      const client = await connect();
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${tx} VALUES (10, 'kept')`);
      await client.query('SAVEPOINT sp1');
      await client.query(`INSERT INTO ${tx} VALUES (11, 'undone')`);
      const dup = await rejection(client.query(`INSERT INTO ${tx} VALUES (10, 'dup')`));
      expect(dup.code).toBe('23505');
      await client.query('ROLLBACK TO SAVEPOINT sp1');
      await client.query(`INSERT INTO ${tx} VALUES ($1, $2)`, [12, 'after']);
      await client.query('RELEASE SAVEPOINT sp1');
      await client.query('COMMIT');
      const rows = await oracle().query(`SELECT id, note FROM ${tx} WHERE id >= 10 ORDER BY id`);
      expect(rows.rows).toEqual([
        { id: 10, note: 'kept' },
        { id: 12, note: 'after' },
      ]);
      await oracle().query(`DELETE FROM ${tx} WHERE id >= 10`);
    });

    feature(mode, 'error-recovery', async () => {
      const client = await connect();
      const syntax = await rejection(client.query('SELEC 1'));
      expect(syntax.code).toBe('42601');
      expect(syntax.position).toBe('1');
      const param = await rejection(client.query('SELECT $1::int AS n', ['not a number']));
      expect(param.code).toBe('22P02');
      expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      await client.query('BEGIN');
      const divide = await rejection(client.query('SELECT 1/0'));
      expect(divide.code).toBe('22012');
      const aborted = await rejection(client.query('SELECT 2'));
      expect(aborted.code).toBe('25P02');
      await client.query('ROLLBACK');
      const missing = await rejection(client.query('SELECT * FROM df_npg_no_such_table'));
      expect(missing.code).toBe('42P01');
      expect((await client.query('SELECT $1::text AS ok', ['recovered'])).rows).toEqual([
        { ok: 'recovered' },
      ]);
    });

    feature(mode, 'multi-statement-simple-query', async () => {
      const client = await connect();
      const r = (await client.query(
        `SELECT 1 AS a; SELECT 'two' AS b, 2.5::numeric AS c; UPDATE ${tx} SET note = note WHERE false`,
      )) as unknown as pg.QueryResult[];
      expect(r.map((x) => [x.command, x.rows])).toEqual([
        ['SELECT', [{ a: 1 }]],
        ['SELECT', [{ b: 'two', c: '2.5' }]],
        ['UPDATE', []],
      ]);
    });

    feature(mode, 'copy-in', async () => {
      const client = await connect();
      const lines: string[] = [];
      for (let i = 1; i <= 5000; i++) {
        const txt = i % 11 === 0 ? 'tab\\there \\\\ back' : `row ${i} ünï 🎉`;
        const v = i % 7 === 0 ? '\\N' : String(i / 4);
        lines.push(`${i}\t${txt}\t${v}\t{"i": ${i}}\n`);
      }
      const data = Buffer.from(lines.join(''), 'utf8');
      const chunks: Buffer[] = [];
      for (let at = 0; at < data.length; at += 3001) chunks.push(data.subarray(at, at + 3001));
      const stream = client.query(
        copyFrom(`COPY ${table(mode, 'copy')} (id, txt, v, doc) FROM STDIN`),
      );
      await pipeline(Readable.from(chunks), stream);
      expect(stream.rowCount).toBe(5000);
      const check = await oracle().query<{ n: number; nv: number }>(
        `SELECT count(*)::int AS n, count(v)::int AS nv FROM ${table(mode, 'copy')}`,
      );
      expect(check.rows).toEqual([{ n: 5000, nv: 5000 - Math.floor(5000 / 7) }]);
      // A COPY that fails mid-stream reports the error, and the client carries on.
      const bad = client.query(copyFrom(`COPY ${table(mode, 'copy')} (id) FROM STDIN`));
      const failed = await rejection(pipeline(Readable.from([Buffer.from('1\n')]), bad));
      expect(failed.code).toBe('23505');
      expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    });

    feature(mode, 'copy-out', async () => {
      const client = await connect();
      const query = `COPY (SELECT id, txt, v, doc FROM ${table(mode, 'copy')} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)`;
      const read = async (c: pg.Client): Promise<Buffer> => {
        const parts: Buffer[] = [];
        const stream = c.query(copyTo(query));
        for await (const chunk of stream) parts.push(chunk as Buffer);
        return Buffer.concat(parts);
      };
      const viaProxy = await read(client);
      const viaDirect = await read(oracle());
      expect(viaProxy.length).toBeGreaterThan(100_000);
      expect(viaProxy.equals(viaDirect)).toBe(true);
      expect((await client.query('SELECT 2 AS ok')).rows).toEqual([{ ok: 2 }]);
    });

    feature(mode, 'cursor-batches', async () => {
      const client = await connect();
      const read = async (): Promise<number[]> => {
        const cursor = client.query(
          new Cursor<{ g: number }>('SELECT g FROM generate_series(1, $1::int) g', [1000]),
        );
        const sizes: number[] = [];
        const all: number[] = [];
        for (;;) {
          const rows = await cursor.read(100);
          if (rows.length === 0) break;
          sizes.push(rows.length);
          all.push(...rows.map((r) => r.g));
        }
        await cursor.close();
        expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
        return sizes;
      };
      // Outside a transaction (the portal lives until the cursor's Sync) and inside one.
      expect(await read()).toEqual(Array<number>(10).fill(100));
      await client.query('BEGIN');
      expect(await read()).toEqual(Array<number>(10).fill(100));
      await client.query('COMMIT');
      expect((await client.query('SELECT 3 AS ok')).rows).toEqual([{ ok: 3 }]);
    });

    feature(
      mode,
      'cancel',
      async () => {
        const client = await connect();
        const bystander = await connect();
        const key = client as unknown as BackendKey;
        expect(typeof key.processID).toBe('number');
        const started = Date.now();
        const sleeping = rejection(client.query('SELECT pg_sleep(10)'));
        const other = bystander.query<{ done: string }>("SELECT pg_sleep(0.5), 'done' AS done");
        await delay(300);
        await sendCancel(target().port, key);
        const error = await sleeping;
        expect(error.code).toBe('57014');
        expect(error.message).toBe('canceling statement due to user request');
        expect(Date.now() - started).toBeLessThan(5000);
        expect((await other).rows[0]?.done).toBe('done');
        expect((await client.query('SELECT 1 AS again')).rows).toEqual([{ again: 1 }]);
      },
      30_000,
    );

    feature(mode, 'listen-notify', async () => {
      const listener = await connect();
      const notifier = await connect();
      const channel = `npg_${mode}_${suffix}`;
      const received: { channel: string; payload: string | undefined }[] = [];
      const two = new Promise<void>((resolve) => {
        listener.on('notification', (n) => {
          received.push({ channel: n.channel, payload: n.payload });
          if (received.length === 2) resolve();
        });
      });
      await listener.query(`LISTEN ${channel}`);
      await notifier.query(`NOTIFY ${channel}, 'first ü🎉'`);
      await notifier.query('SELECT pg_notify($1, $2)', [channel, 'second']);
      await Promise.race([
        two,
        delay(5000).then(() => {
          throw new Error(`only ${received.length} of 2 notifications arrived in 5 s`);
        }),
      ]);
      expect(received).toEqual([
        { channel, payload: 'first ü🎉' },
        { channel, payload: 'second' },
      ]);
      await listener.query(`UNLISTEN ${channel}`);
    });

    feature(mode, 'notices', async () => {
      const client = await connect();
      const notices: string[] = [];
      client.on('notice', (n) => notices.push(n.message ?? ''));
      await client.query(`DO $$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; END $$`);
      await client.query('SELECT 1');
      expect(notices).toEqual(['hello from plpgsql']);
    });

    feature(mode, 'startup-parameters', async () => {
      const settings = {
        application_name: `npg-${mode}`,
        options: '-c search_path=pg_catalog,public -c statement_timeout=12345',
      };
      const query = `SELECT current_setting('application_name') AS app, current_setting('search_path') AS sp,
                            current_setting('statement_timeout') AS st`;
      const client = await connect(settings);
      const viaProxy = await client.query<{ app: string; sp: string; st: string }>(query);
      const direct = new pg.Client({ ...settings, connectionString: upstreamUrl() });
      opened.push(direct);
      await direct.connect();
      const viaDirect = await direct.query<{ app: string; sp: string; st: string }>(query);
      expect(viaProxy.rows).toEqual(viaDirect.rows);
      expect(viaProxy.rows[0]).toMatchObject({ app: `npg-${mode}`, st: '12345ms' });
    });

    feature(mode, 'catalog-queries', async () => {
      const client = await connect();
      const parent = table(mode, 'parent');
      const child = table(mode, 'child');
      // What schema tools and ORMs ask: columns, keys, foreign keys, indexes, types.
      await differential(client, {
        text: `SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default,
                      character_maximum_length, numeric_precision, udt_name
               FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY($1)
               ORDER BY table_name, ordinal_position`,
        values: [[parent, child]],
      });
      await differential(client, {
        text: `SELECT tc.table_name, tc.constraint_name, tc.constraint_type, kcu.column_name,
                      ccu.table_name AS foreign_table, ccu.column_name AS foreign_column
               FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage kcu
                 ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema
               LEFT JOIN information_schema.constraint_column_usage ccu
                 ON tc.constraint_type = 'FOREIGN KEY' AND ccu.constraint_name = tc.constraint_name
               WHERE tc.table_name = ANY($1) ORDER BY 1, 2, 4`,
        values: [[parent, child]],
      });
      const indexes = await differential(client, {
        text: `SELECT c.relname, i.relname AS index, ix.indisunique, ix.indisprimary, pg_get_indexdef(ix.indexrelid) AS def
               FROM pg_index ix JOIN pg_class c ON c.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid
               WHERE c.relname = ANY($1) ORDER BY 1, 2`,
        values: [[parent, child]],
      });
      expect(indexes.rowCount).toBe(4);
      await differential(client, {
        text: `SELECT t.oid::int, t.typname, t.typcategory, t.typarray::int FROM pg_type t
               WHERE t.typname = ANY($1) ORDER BY 2`,
        values: [['int4', 'jsonb', 'text', 'timestamptz', 'numeric', 'uuid']],
      });
      await differential(client, {
        text: `SELECT pg_get_serial_sequence($1, 'id') AS seq, $1::regclass::oid::int > 0 AS has_oid,
                      obj_description($1::regclass, 'pg_class') AS comment`,
        values: [parent],
      });
    });

    feature(
      mode,
      'pool-concurrency',
      async () => {
        const pool = new pg.Pool({ connectionString: target().url(), max: 10 });
        pool.on('error', () => undefined);
        opened.push(pool);
        const poolTable = table(mode, 'pool');
        // 200 queries at once, each must get its own answer.
        const answers = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            pool.query<{ n: number; s: string }>({
              // Half of them as a named prepared statement, half unnamed.
              ...(i % 2 === 0 ? {} : { name: 'npg_pool' }),
              text: 'SELECT $1::int AS n, md5($1::text) AS s',
              values: [i],
            }),
          ),
        );
        const expectedMd5 = await oracle().query<{ s: string }>(
          'SELECT md5(g::text) AS s FROM generate_series(0, 199) g ORDER BY g',
        );
        answers.forEach((r, i) => {
          expect(r.rows).toEqual([{ n: i, s: expectedMd5.rows[i]?.s }]);
        });
        // 20 concurrent transactions on pool.connect(), some rolled back.
        await Promise.all(
          Array.from({ length: 20 }, async (_, worker) => {
            const client = await pool.connect();
            try {
              await client.query('BEGIN');
              for (let k = 0; k < 5; k++) {
                await client.query(`INSERT INTO ${poolTable} VALUES ($1, $2)`, [
                  worker * 10 + k,
                  worker,
                ]);
              }
              await client.query(worker % 4 === 0 ? 'ROLLBACK' : 'COMMIT');
            } finally {
              client.release();
            }
          }),
        );
        const counts = await oracle().query<{ n: number; workers: number }>(
          `SELECT count(*)::int AS n, count(DISTINCT worker)::int AS workers FROM ${poolTable}`,
        );
        expect(counts.rows).toEqual([{ n: 75, workers: 15 }]);
        expect(pool.totalCount).toBeLessThanOrEqual(10);
      },
      60_000,
    );

    feature(mode, 'large-values', async () => {
      const client = await connect();
      const big = 'ü'.repeat(3_000_000);
      const r = await client.query<{ len: number; echo: string }>(
        'SELECT length($1::text) AS len, $1::text AS echo',
        [big],
      );
      expect(r.rows[0]?.len).toBe(3_000_000);
      expect(r.rows[0]?.echo === big).toBe(true);
      const many = await client.query<{ g: number }>('SELECT g FROM generate_series(1, 100000) g');
      expect(many.rowCount).toBe(100_000);
    });
  });
}

suite('session');
suite('transaction');
