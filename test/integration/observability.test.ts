/**
 * Observability end to end: `/metrics` is valid Prometheus text exposition whose values move as a
 * scripted workload runs (client connections by state, pools, checkout waits, statement
 * durations by route and command, bytes, errors by SQLSTATE class, auth failures, cancels),
 * labels never carry SQL text or user-supplied values; `/healthz` and `/readyz` (against a
 * Postgres of its own that is stopped and started again) and `SHOW docfusion.status`; the
 * structured logs: per-session child logger fields, the slow-statement log without literals or
 * parameter values, and a log level changed at runtime through the admin console.
 *
 * Metrics live in one process-wide registry, so every assertion is a difference between two
 * scrapes of the proxy under test.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultConfig } from '../../src/config.js';
import type { DocFusionConfig } from '../../src/config-types.js';
import { startEmbeddedPostgres, type RunningEmbedded } from '../../src/embedded-postgres.js';
import { startDocFusion, type RunningDocFusion } from '../../src/run.js';
import {
  parsePrometheusText,
  samplesOf,
  valueOf,
  type Exposition,
} from '../support/prometheus-text.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const UPSTREAM = new URL(upstreamUrl());
const ADMIN_USER = decodeURIComponent(UPSTREAM.username);
const ADMIN_PASSWORD = decodeURIComponent(UPSTREAM.password);
const DATABASE = decodeURIComponent(UPSTREAM.pathname.slice(1));
/** The pool label of the upstream admin's pool: `<upstream database>/<user>`. */
const POOL = `${DATABASE}/${ADMIN_USER}`;

// ---- helpers ----------------------------------------------------------------------------------

async function scrape(httpPort: number): Promise<Exposition> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  expect(response.status).toBe(200);
  return parsePrometheusText(await response.text());
}

/** Poll `probe` until `accept` holds for its result; fails with the last result after `ms`. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(last)}`,
      );
    }
    await sleep(100);
    last = await probe();
  }
  return last;
}

const clientErrors = new WeakMap<pg.Client, Error[]>();

/** A connected pg client whose asynchronous errors are recorded instead of crashing the run. */
async function connect(port: number, overrides: pg.ClientConfig = {}): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: ADMIN_USER,
    password: ADMIN_PASSWORD,
    database: DATABASE,
    connectionTimeoutMillis: 30_000,
    ...overrides,
  });
  const errors: Error[] = [];
  clientErrors.set(client, errors);
  client.on('error', (error) => errors.push(error));
  await client.connect();
  return client;
}

async function endQuietly(client: pg.Client | undefined): Promise<void> {
  if (!client) return;
  await Promise.race([client.end().catch(() => undefined), sleep(3000)]);
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

/** Send a CancelRequest for (processId, secretKey) to the proxy on `port`. */
async function sendCancel(port: number, processId: number, secretKey: number | Buffer) {
  const key = Buffer.alloc(4);
  if (typeof secretKey === 'number') key.writeInt32BE(secretKey | 0, 0);
  else secretKey.copy(key, 0, 0, 4);
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(processId, 8);
  key.copy(packet, 12);
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

interface BackendKey {
  readonly processID: number;
  readonly secretKey: number | Buffer;
}

/** Every JSON line written to a pino logger. */
class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  raw = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const text = chunk.toString('utf8');
    this.raw += text;
    for (const line of text.split('\n')) {
      if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    if (process.env.TEST_LOG_LEVEL) process.stdout.write(chunk);
    callback();
  }
}

/** A complete configuration in front of `upstream` on free ports, HTTP on. */
function configFor(upstream: string, log: Partial<DocFusionConfig['log']> = {}): DocFusionConfig {
  const base = defaultConfig();
  return {
    ...base,
    upstream,
    listen: { host: '127.0.0.1', port: 0 },
    http: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
    log: { ...base.log, ...log },
  };
}

// ---- metrics under a scripted workload -----------------------------------------------------

describe('/metrics under a scripted workload', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy();
  });
  afterAll(async () => {
    await proxy.stop();
  });

  test('is valid Prometheus text exposition 0.0.4, every name prefixed docfusion_', async () => {
    // Some traffic first, so histograms and labelled counters have series to check.
    const client = await connect(proxy.port);
    await client.query('SELECT 1');
    await rejection(client.query('SELEC 1'));
    await endQuietly(client);

    const response = await fetch(`http://127.0.0.1:${proxy.httpPort}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const exposition = parsePrometheusText(text);
    expect(exposition.families.size).toBeGreaterThan(10);
    for (const name of exposition.families.keys()) expect(name).toMatch(/^docfusion_/);
    for (const sample of exposition.samples) expect(sample.name).toMatch(/^docfusion_/);
    for (const family of exposition.families.values()) {
      expect(family.help, `HELP of ${family.name}`).toBeTruthy();
      expect(family.type, `TYPE of ${family.name}`).not.toBe('untyped');
    }
    // The metrics issue #6 asks for, under these names and types.
    const expected: Record<string, string> = {
      docfusion_client_connections: 'gauge',
      docfusion_upstream_connections: 'gauge',
      docfusion_pool_size: 'gauge',
      docfusion_pool_checkout_wait_seconds: 'histogram',
      docfusion_statement_duration_seconds: 'histogram',
      docfusion_client_bytes_total: 'counter',
      docfusion_errors_total: 'counter',
      docfusion_auth_failures_total: 'counter',
      docfusion_cancel_requests_total: 'counter',
      docfusion_client_sessions_total: 'counter',
      docfusion_upstream_connects_total: 'counter',
      docfusion_process_cpu_seconds_total: 'counter',
      docfusion_process_resident_memory_bytes: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      expect(exposition.families.get(name)?.type, name).toBe(type);
    }
    // The statement histogram has the series of what just ran.
    expect(
      samplesOf(exposition, 'docfusion_statement_duration_seconds_bucket', {
        route: 'passthrough',
        command: 'SELECT',
      }).length,
    ).toBeGreaterThan(1);
    // /healthz: the process serves.
    const health = await fetch(`http://127.0.0.1:${proxy.httpPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
  });

  test('client connections by state follow clients: idle, active, in_transaction, gone', async () => {
    const state = async (name: string) =>
      valueOf(await scrape(proxy.httpPort), 'docfusion_client_connections', { state: name });
    const states = async () => {
      const m = await scrape(proxy.httpPort);
      return Object.fromEntries(
        ['startup', 'waiting', 'active', 'in_transaction', 'idle'].map((s) => [
          s,
          valueOf(m, 'docfusion_client_connections', { state: s }),
        ]),
      );
    };
    const before = await states();
    const clients = await Promise.all([1, 2, 3].map(() => connect(proxy.port)));
    try {
      expect(await states()).toEqual({ ...before, idle: (before.idle ?? 0) + 3 });

      await clients[0]?.query('BEGIN');
      expect(await states()).toEqual({
        ...before,
        idle: (before.idle ?? 0) + 2,
        in_transaction: (before.in_transaction ?? 0) + 1,
      });

      const sleeping = clients[1]?.query('SELECT pg_sleep(1)');
      await waitFor(
        'an active client',
        () => state('active'),
        (n) => n === (before.active ?? 0) + 1,
      );
      expect(await states()).toEqual({
        ...before,
        idle: (before.idle ?? 0) + 1,
        in_transaction: (before.in_transaction ?? 0) + 1,
        active: (before.active ?? 0) + 1,
      });
      await sleeping;
      await clients[0]?.query('COMMIT');
      expect(await states()).toEqual({ ...before, idle: (before.idle ?? 0) + 3 });
    } finally {
      await Promise.all(clients.map(endQuietly));
    }
    await waitFor(
      'the baseline again',
      states,
      (now) => JSON.stringify(now) === JSON.stringify(before),
    );
  });

  test('upstream connections per pool, pool size and checkout waits move with clients', async () => {
    const before = await scrape(proxy.httpPort);
    const activeBefore = valueOf(before, 'docfusion_upstream_connections', {
      pool: POOL,
      state: 'active',
    });
    const checkoutsBefore = valueOf(before, 'docfusion_pool_checkout_wait_seconds_count', {
      pool: POOL,
    });
    const clients = await Promise.all([1, 2, 3].map(() => connect(proxy.port)));
    try {
      // Session mode: each client holds one upstream connection.
      const during = await scrape(proxy.httpPort);
      expect(
        valueOf(during, 'docfusion_upstream_connections', { pool: POOL, state: 'active' }),
      ).toBe(activeBefore + 3);
      expect(valueOf(during, 'docfusion_pool_size', { pool: POOL })).toBe(20);
      expect(
        valueOf(during, 'docfusion_pool_checkout_wait_seconds_count', { pool: POOL }),
      ).toBeGreaterThanOrEqual(checkoutsBefore + 3);
      // Every upstream-connection series names a pool and a known state.
      for (const s of samplesOf(during, 'docfusion_upstream_connections')) {
        expect(['active', 'idle', 'connecting']).toContain(s.labels.state);
        expect(s.labels.pool).toMatch(/^[^/]+\/[^/]+$/);
      }
    } finally {
      await Promise.all(clients.map(endQuietly));
    }
    // Released (after DISCARD ALL) to the pool's idle list.
    const after = await waitFor(
      'connections released',
      () => scrape(proxy.httpPort),
      (m) =>
        valueOf(m, 'docfusion_upstream_connections', { pool: POOL, state: 'active' }) ===
        activeBefore,
    );
    expect(
      valueOf(after, 'docfusion_upstream_connections', { pool: POOL, state: 'idle' }),
    ).toBeGreaterThanOrEqual(3);
  });

  test('statement durations count passthrough SELECTs exactly and SHOW docfusion.* as local', async () => {
    const count = (m: Exposition, route: string, command: string) =>
      valueOf(m, 'docfusion_statement_duration_seconds_count', { route, command });
    const client = await connect(proxy.port);
    try {
      const before = await scrape(proxy.httpPort);
      for (let i = 0; i < 5; i++) await client.query(`SELECT ${i} AS n`);
      await client.query('SELECT $1::int AS n', [7]); // extended protocol
      await client.query('SELECT $1::text AS t', ['x']);
      await client.query('SHOW docfusion.version');
      await client.query('CREATE TEMP TABLE obs_t (a int)');
      await client.query('INSERT INTO obs_t VALUES (1), (2)');
      const after = await scrape(proxy.httpPort);
      expect(count(after, 'passthrough', 'SELECT') - count(before, 'passthrough', 'SELECT')).toBe(
        7,
      );
      expect(count(after, 'local', 'SHOW') - count(before, 'local', 'SHOW')).toBe(1);
      expect(count(after, 'passthrough', 'CREATE') - count(before, 'passthrough', 'CREATE')).toBe(
        1,
      );
      expect(count(after, 'passthrough', 'INSERT') - count(before, 'passthrough', 'INSERT')).toBe(
        1,
      );
      // The sum grows too, and the +Inf bucket equals the count (checked by the parser).
      const sum = (m: Exposition) =>
        valueOf(m, 'docfusion_statement_duration_seconds_sum', {
          route: 'passthrough',
          command: 'SELECT',
        });
      expect(sum(after)).toBeGreaterThan(sum(before));
      // Labels are bounded: routes and command tags from fixed lists.
      for (const s of samplesOf(after, 'docfusion_statement_duration_seconds_count')) {
        expect(['passthrough', 'planned', 'local']).toContain(s.labels.route);
        expect(s.labels.command).toMatch(/^[A-Z]+$/);
      }
    } finally {
      await endQuietly(client);
    }
  });

  test('bytes in and out grow with the traffic', async () => {
    const client = await connect(proxy.port);
    try {
      const before = await scrape(proxy.httpPort);
      const sql = `SELECT repeat('x', 10000) AS big -- ${'y'.repeat(2000)}`;
      await client.query(sql);
      const after = await scrape(proxy.httpPort);
      const delta = (direction: string) =>
        valueOf(after, 'docfusion_client_bytes_total', { direction }) -
        valueOf(before, 'docfusion_client_bytes_total', { direction });
      expect(delta('in')).toBeGreaterThanOrEqual(Buffer.byteLength(sql));
      expect(delta('out')).toBeGreaterThanOrEqual(10000);
    } finally {
      await endQuietly(client);
    }
  });

  test('errors are counted by SQLSTATE class: 42 for a syntax error, 22 for 1/0', async () => {
    const errors = async () => {
      const m = await scrape(proxy.httpPort);
      return {
        c42: valueOf(m, 'docfusion_errors_total', { class: '42' }),
        c22: valueOf(m, 'docfusion_errors_total', { class: '22' }),
      };
    };
    const client = await connect(proxy.port);
    try {
      const before = await errors();
      expect((await rejection(client.query('SELEC 1'))).code).toBe('42601');
      const mid = await errors();
      expect(mid).toEqual({ c42: before.c42 + 1, c22: before.c22 });
      expect((await rejection(client.query('SELECT 1/0'))).code).toBe('22012');
      expect(await errors()).toEqual({ c42: before.c42 + 1, c22: before.c22 + 1 });
      // An error in an extended-protocol batch counts once too.
      expect((await rejection(client.query('SELECT $1::int / 0', [1]))).code).toBe('22012');
      expect(await errors()).toEqual({ c42: before.c42 + 1, c22: before.c22 + 2 });
    } finally {
      await endQuietly(client);
    }
  });

  // Regression (fixed; the old behaviour): answerLocal (src/local-commands.ts) sends this ErrorResponse as a synthetic reply and
  // the meter only records meter.local('SHOW') for it; errors_total never sees it.
  test('an unknown docfusion.* setting (42704, answered locally) counts in errors_total', async () => {
    const client = await connect(proxy.port);
    try {
      const before = valueOf(await scrape(proxy.httpPort), 'docfusion_errors_total', {
        class: '42',
      });
      expect((await rejection(client.query('SHOW docfusion.no_such_setting'))).code).toBe('42704');
      const after = valueOf(await scrape(proxy.httpPort), 'docfusion_errors_total', {
        class: '42',
      });
      expect(after - before).toBe(1);
    } finally {
      await endQuietly(client);
    }
  });

  test('a wrong password counts as an auth failure (and a refused session)', async () => {
    const before = await scrape(proxy.httpPort);
    const error = await rejection(connect(proxy.port, { password: 'definitely-wrong' }));
    expect(error.code).toBe('28P01');
    const after = await scrape(proxy.httpPort);
    const delta = (name: string, labels: Record<string, string>) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('docfusion_auth_failures_total', { method: proxy.config.auth.method })).toBe(1);
    expect(delta('docfusion_client_sessions_total', { outcome: 'refused' })).toBe(1);
    expect(delta('docfusion_errors_total', { class: '28' })).toBe(1);
  });

  test('a cancelled pg_sleep counts as a forwarded cancel and a 57014 error', async () => {
    const client = await connect(proxy.port);
    try {
      const before = await scrape(proxy.httpPort);
      const key = client as unknown as BackendKey;
      const sleeping = rejection(client.query('SELECT pg_sleep(10)'));
      await sleep(300);
      await sendCancel(proxy.port, key.processID, key.secretKey);
      expect((await sleeping).code).toBe('57014');
      const after = await waitFor(
        'the cancel counted',
        () => scrape(proxy.httpPort),
        (m) =>
          valueOf(m, 'docfusion_cancel_requests_total', { result: 'forwarded' }) >
          valueOf(before, 'docfusion_cancel_requests_total', { result: 'forwarded' }),
      );
      const delta = (name: string, labels: Record<string, string>) =>
        valueOf(after, name, labels) - valueOf(before, name, labels);
      expect(delta('docfusion_cancel_requests_total', { result: 'forwarded' })).toBe(1);
      expect(delta('docfusion_errors_total', { class: '57' })).toBe(1);

      // Nothing running: the cancel is ignored.
      await sendCancel(proxy.port, key.processID, key.secretKey);
      await waitFor(
        'the ignored cancel counted',
        () => scrape(proxy.httpPort),
        (m) =>
          valueOf(m, 'docfusion_cancel_requests_total', { result: 'ignored' }) ===
          valueOf(after, 'docfusion_cancel_requests_total', { result: 'ignored' }) + 1,
        5000,
      );
      expect((await client.query<{ ok: number }>('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await endQuietly(client);
    }
  });

  // Regression (fixed; the old behaviour): the HELP of docfusion_cancel_requests_total promises result="unknown", but
  // Session.handshake ignores CancelRegistry.cancel()'s false, so nothing counts it.
  test('a CancelRequest with an unknown key counts as result="unknown"', async () => {
    const before = valueOf(await scrape(proxy.httpPort), 'docfusion_cancel_requests_total', {
      result: 'unknown',
    });
    await sendCancel(proxy.port, 424242, 1234);
    await waitFor(
      'the unknown cancel counted',
      async () =>
        valueOf(await scrape(proxy.httpPort), 'docfusion_cancel_requests_total', {
          result: 'unknown',
        }),
      (n) => n === before + 1,
      3000,
    );
  });

  test('no label value carries SQL text, literals, parameters or names a client chose', async () => {
    const marker = `zqmark${randomBytes(6).toString('hex')}`;
    const client = await connect(proxy.port, { application_name: `app_${marker}` });
    try {
      await client.query(`SELECT '${marker}' AS ${marker}_alias`);
      await client.query('SELECT $1::text AS v', [`param_${marker}`]);
      await client.query({ name: `stmt_${marker}`, text: 'SELECT $1::int AS n', values: [1] });
      await client.query(`SET application_name = 'set_${marker}'`);
      await client.query('BEGIN');
      await client.query(`SAVEPOINT sp_${marker}`);
      await client.query('COMMIT');
      await rejection(client.query(`SELECT * FROM no_table_${marker}`));
      await rejection(client.query(`${marker} nonsense`));
      await rejection(client.query(`SELECT 'x' || (SELECT ${marker}_col)`));
      await client.query(`CREATE TEMP TABLE t_${marker} (c int)`);
      await client.query(`DROP TABLE t_${marker}`);
      await client.query(`DO $$ BEGIN PERFORM '${marker}'; END $$`);
      await client.query(`LISTEN ch_${marker}`);
      const text = await (await fetch(`http://127.0.0.1:${proxy.httpPort}/metrics`)).text();
      const exposition = parsePrometheusText(text);
      for (const sample of exposition.samples) {
        for (const value of Object.values(sample.labels)) {
          expect(value).not.toContain(marker);
          expect(value.length).toBeLessThanOrEqual(64);
        }
      }
      expect(text).not.toContain(marker);
      // Every command label comes from the fixed list or is OTHER/NONE.
      const commands = new Set(
        samplesOf(exposition, 'docfusion_statement_duration_seconds_count').map(
          (s) => s.labels.command,
        ),
      );
      expect([...commands].every((c) => c !== undefined && /^[A-Z]+$/.test(c))).toBe(true);
    } finally {
      await endQuietly(client);
    }
  });

  // Regression (fixed; the old behaviour): a pool is created per (database, user) a client asks for, before the upstream login
  // is known to work, and never removed; its name becomes the `pool` label. Any authenticated
  // client can so mint label values (and pools) with database names of its choice.
  test('a client asking for a database that does not exist leaves no pool label behind', async () => {
    const marker = `zqdb${randomBytes(6).toString('hex')}`;
    const error = await rejection(connect(proxy.port, { database: marker }));
    expect(error.code).toBe('3D000');
    const text = await (await fetch(`http://127.0.0.1:${proxy.httpPort}/metrics`)).text();
    expect(text).not.toContain(marker);
  });

  test('SHOW docfusion.status: a JSON row with status ready and the pools', async () => {
    const client = await connect(proxy.port);
    try {
      const status = await waitFor(
        'status ready',
        async () => {
          const r = await client.query<{ 'docfusion.status': string }>('SHOW docfusion.status');
          expect(r.rows).toHaveLength(1);
          return JSON.parse(r.rows[0]?.['docfusion.status'] ?? '{}') as Record<string, unknown>;
        },
        (s) => s.status === 'ready',
        10_000,
      );
      expect(status).toMatchObject({ status: 'ready', version: expect.any(String) as string });
      expect(status.sessions).toBeGreaterThanOrEqual(1);
      expect(status.pools).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            database: DATABASE,
            user: ADMIN_USER,
            mode: 'session',
            size: 20,
            active: expect.any(Number) as number,
            idle: expect.any(Number) as number,
            waiting: 0,
          }),
        ]),
      );
      // The same answer over HTTP.
      const ready = await fetch(`http://127.0.0.1:${proxy.httpPort}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready' });
    } finally {
      await endQuietly(client);
    }
  });
});

describe('/metrics with a saturated pool', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ pool: { ...defaultConfig().pool, mode: 'transaction', size: 1 } });
  });
  afterAll(async () => {
    await proxy.stop();
  });

  test('a client waiting for the only connection shows as waiting and its wait is measured', async () => {
    const holder = await connect(proxy.port);
    const waiter = await connect(proxy.port);
    try {
      const waitSum = (m: Exposition) =>
        valueOf(m, 'docfusion_pool_checkout_wait_seconds_sum', { pool: POOL });
      const bucket = (m: Exposition, le: string) =>
        valueOf(m, 'docfusion_pool_checkout_wait_seconds_bucket', { pool: POOL, le });
      const waiting = (m: Exposition) =>
        valueOf(m, 'docfusion_client_connections', { state: 'waiting' });
      const before = await scrape(proxy.httpPort);
      expect(valueOf(before, 'docfusion_pool_size', { pool: POOL })).toBe(1);
      expect(waiting(before)).toBe(0);

      await holder.query('BEGIN'); // transaction mode: holds the only connection until COMMIT
      const query = waiter.query<{ ok: number }>('SELECT 1 AS ok');
      const during = await waitFor(
        'a waiting client',
        () => scrape(proxy.httpPort),
        (m) => waiting(m) === 1,
      );
      expect(valueOf(during, 'docfusion_client_connections', { state: 'in_transaction' })).toBe(1);
      expect(
        valueOf(during, 'docfusion_upstream_connections', { pool: POOL, state: 'active' }),
      ).toBe(1);
      await sleep(500);
      await holder.query('COMMIT');
      expect((await query).rows).toEqual([{ ok: 1 }]);

      const after = await scrape(proxy.httpPort);
      expect(waiting(after)).toBe(0);
      expect(waitSum(after) - waitSum(before)).toBeGreaterThanOrEqual(0.4);
      // Two checkouts (BEGIN, the SELECT); exactly one of them waited longer than 0.1 s.
      const inf = bucket(after, '+Inf') - bucket(before, '+Inf');
      expect(inf).toBeGreaterThanOrEqual(2);
      expect(inf - (bucket(after, '0.1') - bucket(before, '0.1'))).toBe(1);
    } finally {
      await endQuietly(holder);
      await endQuietly(waiter);
    }
  });
});

describe('/metrics: a login waiting for a session-mode pool', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ pool: { ...defaultConfig().pool, mode: 'session', size: 1 } });
  });
  afterAll(async () => {
    await proxy.stop();
  });

  // Regression (fixed; the old behaviour): in session mode a login waits for its connection inside Session.startup()
  // (link.attach() → pool.acquire(), which does not set UpstreamLink.acquiring), and
  // ProxyServer.collectMetrics counts every session not yet 'ready' as startup before looking at
  // `waiting`: the client shows as state="startup", never "waiting".
  test('is counted as waiting, not as startup', async () => {
    const holder = await connect(proxy.port);
    const connecting = connect(proxy.port).then(
      (client) => client,
      () => undefined,
    );
    try {
      await waitFor(
        'a waiting login',
        () => scrape(proxy.httpPort),
        (m) =>
          valueOf(m, 'docfusion_client_connections', { state: 'waiting' }) === 1 &&
          valueOf(m, 'docfusion_client_connections', { state: 'startup' }) === 0,
        3000,
      );
    } finally {
      await endQuietly(holder);
      await endQuietly(await connecting);
    }
  });
});

describe('readiness right after start', () => {
  // The probe is created once the listener listens and checks at once (a first measurement taken
  // before listening used to be served, cached, for seconds).
  test('SHOW docfusion.status says ready once the proxy accepts clients', async () => {
    const proxy = await startProxy();
    try {
      expect((await fetch(`http://127.0.0.1:${proxy.httpPort}/readyz`)).status).toBe(200);
      const client = await connect(proxy.port);
      try {
        const r = await client.query<{ 'docfusion.status': string }>('SHOW docfusion.status');
        const status = JSON.parse(r.rows[0]?.['docfusion.status'] ?? '{}') as { status?: string };
        expect(status.status).toBe('ready');
      } finally {
        await endQuietly(client);
      }
    } finally {
      await proxy.stop();
    }
  });
});

// ---- readiness against a Postgres of its own ------------------------------------------------

describe('/readyz follows the upstream', () => {
  let dir: string;
  let upstream: RunningEmbedded | undefined;
  let running: RunningDocFusion | undefined;
  let upstreamPort = 0;
  const PASSWORD = `ready-${randomBytes(4).toString('hex')}`;
  const startUpstream = (port: number) =>
    startEmbeddedPostgres({
      dataDir: dir,
      port,
      user: 'readiness',
      password: PASSWORD,
      database: 'readiness',
      logger: pino({ level: 'warn' }),
    });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-readyz-'));
    upstream = await startUpstream(0);
    upstreamPort = upstream.port;
    running = await startDocFusion(configFor(upstream.url), pino({ level: 'silent' }));
  });
  afterAll(async () => {
    await running?.stop(1000);
    await upstream?.stop('immediate');
    await rm(dir, { recursive: true, force: true });
  });

  test('200 while Postgres answers, 503 with a JSON reason while it is down, 200 again', async () => {
    const httpPort = running?.http?.address().port ?? 0;
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        body: (await response.json()) as Record<string, unknown>,
      };
    };
    const ok = await waitFor('ready', readyz, (r) => r.status === 200, 10_000);
    expect(ok.body).toEqual({ status: 'ready' });
    expect(ok.type).toMatch(/^application\/json/);

    await upstream?.stop('fast');
    upstream = undefined;
    const down = await waitFor('unavailable', readyz, (r) => r.status === 503, 15_000);
    expect(down.type).toMatch(/^application\/json/);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.reason).toMatch(/upstream unreachable/);
    expect(String(down.body.reason)).not.toContain(PASSWORD);
    // The process itself is alive.
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);

    upstream = await startUpstream(upstreamPort);
    const back = await waitFor('ready again', readyz, (r) => r.status === 200, 15_000);
    expect(back.body).toEqual({ status: 'ready' });
  });
});

// ---- logs -------------------------------------------------------------------------------------

describe('structured logs', () => {
  const capture = new LogCapture();
  let running: RunningDocFusion;
  let port: number;
  const ROLE = `obs_${randomBytes(4).toString('hex')}`;
  const ROLE_PASSWORD = `pw-secret-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    const admin = await adminClient();
    try {
      await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    } finally {
      await admin.end();
    }
    running = await startDocFusion(
      configFor(upstreamUrl(), { level: 'info', slowStatementMs: 100 }),
      pino({ level: 'info' }, capture),
    );
    port = running.proxy.address().port;
  });
  afterAll(async () => {
    await running.stop(1000);
    const admin = await adminClient();
    try {
      await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
    } finally {
      await admin.end();
    }
  });

  test('the slow-statement log has route, duration, rows and normalised SQL, never the values', async () => {
    const client = await connect(port, {
      user: ROLE,
      password: ROLE_PASSWORD,
      application_name: 'obs-slow',
    });
    try {
      await client.query("SELECT pg_sleep(0.2), 'secret-literal-123' AS s");
      await client.query('SELECT pg_sleep($1), $2::text AS s', [0.2, 'secret-param-456']);
      await client.query("SELECT 'fast-literal-789' AS quick");
    } finally {
      await endQuietly(client);
    }
    const slow = await waitFor(
      'two slow-statement lines',
      () => Promise.resolve(capture.lines.filter((l) => l.msg === 'slow statement')),
      (lines) => lines.length >= 2,
      5000,
    );
    expect(slow).toHaveLength(2);
    for (const line of slow) {
      expect(line).toMatchObject({
        level: 40,
        route: 'passthrough',
        rows: 1,
        command: 'SELECT',
        user: ROLE,
        database: DATABASE,
        application_name: 'obs-slow',
      });
      expect(line.durationMs).toBeGreaterThanOrEqual(100);
      expect(line.statement).toMatch(/^SELECT pg_sleep\(\$1\), \$2/);
    }
    expect(capture.raw).not.toContain('secret-literal-123');
    expect(capture.raw).not.toContain('secret-param-456');
    expect(capture.raw).not.toContain('fast-literal-789');
    expect(capture.raw).not.toContain(ROLE_PASSWORD);
  });

  test('lines of a session carry session, client, user, database and application_name', async () => {
    const client = await connect(port, {
      user: ROLE,
      password: ROLE_PASSWORD,
      application_name: 'obs-fields',
    });
    const address = client as unknown as { connection: { stream: net.Socket } };
    const localPort = address.connection.stream.localPort;
    await client.query('SELECT 1');
    await endQuietly(client);
    const mine = await waitFor(
      'session lines',
      () =>
        Promise.resolve(
          capture.lines.filter((l) => l.application_name === 'obs-fields' && 'session' in l),
        ),
      (lines) => lines.some((l) => l.msg === 'session closed'),
      5000,
    );
    const messages = mine.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['client startup', 'session ready']));
    for (const line of mine) {
      expect(line).toMatchObject({
        session: expect.any(Number) as number,
        client: `127.0.0.1:${localPort}`,
        user: ROLE,
        database: DATABASE,
        application_name: 'obs-fields',
      });
    }
    expect(new Set(mine.map((l) => l.session)).size).toBe(1);
  });

  test('SET log_level = debug on the admin console turns debug lines on at runtime', async () => {
    expect(capture.lines.filter((l) => l.level === 20)).toEqual([]);
    const console = await connect(port, { database: 'docfusion_admin' });
    try {
      expect((await rejection(console.query('SET log_level = chatty'))).code).toBe('22023');
      await console.query('SET log_level = debug');
      expect(capture.lines.some((l) => l.msg === 'log level changed from the admin console')).toBe(
        true,
      );
      // A new pool (another database) opens a new upstream connection, logged at debug.
      const client = await connect(port, { database: 'postgres', application_name: 'obs-debug' });
      await client.query('SELECT 1');
      await endQuietly(client);
      const debug = await waitFor(
        'a debug line',
        () => Promise.resolve(capture.lines.filter((l) => l.level === 20)),
        (lines) => lines.length > 0,
        5000,
      );
      expect(debug.map((l) => l.msg)).toContain('upstream connection ready');

      await console.query("SET log_level TO 'info'");
      const count = capture.lines.filter((l) => l.level === 20).length;
      const again = await connect(port, { database: 'template1' });
      await again.query('SELECT 1');
      await endQuietly(again);
      await sleep(200);
      expect(capture.lines.filter((l) => l.level === 20)).toHaveLength(count);
    } finally {
      await endQuietly(console);
    }
  });
});
