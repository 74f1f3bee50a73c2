/**
 * Connection limits, the startup timeout, graceful shutdown of the real CLI process, an
 * upstream backend dying mid-query, and the health endpoints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeErrorFields } from '../../protocol/backend-decoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { defaultConfig } from '../../src/config.js';
import type { DocFusionConfig } from '../../src/config-types.js';
import { freePort } from '../../src/embedded-postgres.js';
import { startDocFusion } from '../../src/run.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const TABLE = `df_lifecycle_${suffix}`;

const upstream = new URL(upstreamUrl());
const USER = decodeURIComponent(upstream.username);
const PASSWORD = decodeURIComponent(upstream.password);
const DB = upstream.pathname.slice(1);

// ---- helpers ---------------------------------------------------------------------------------

interface Watched {
  readonly client: pg.Client;
  /** Errors pg emitted on the client (a FATAL error while idle, a dropped connection). */
  readonly errors: Error[];
  /** Resolves with the first emitted error. */
  readonly firstError: Promise<Error>;
  /** Resolves when the connection has ended. */
  readonly ended: Promise<void>;
}

async function connect(port: number, user = USER, password = PASSWORD): Promise<Watched> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    password,
    database: DB,
    connectionTimeoutMillis: 10_000,
  });
  const errors: Error[] = [];
  const firstError = new Promise<Error>((resolve) => {
    client.on('error', (error) => {
      errors.push(error);
      resolve(error);
    });
  });
  const ended = new Promise<void>((resolve) => client.once('end', resolve));
  await client.connect();
  return { client, errors, firstError, ended };
}

async function connectError(port: number, user = USER, password = PASSWORD): Promise<Error> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    password,
    database: DB,
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  let connected = false;
  try {
    await client.connect();
    connected = true;
  } catch (error) {
    return error as Error;
  } finally {
    if (connected) await client.end();
  }
  throw new Error('connection unexpectedly succeeded');
}

/** `error` as a Postgres error (failing the test when it is something else). */
function dbError(error: unknown): pg.DatabaseError {
  if (!(error instanceof pg.DatabaseError))
    throw new Error(`expected a DatabaseError, got ${String(error)}`);
  return error;
}

async function roundTrip(client: pg.Client, n: number): Promise<void> {
  const r = await client.query<{ n: number }>('SELECT $1::int AS n', [n]);
  expect(r.rows).toEqual([{ n }]);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
}

/** Waits until a statement containing `marker` is running upstream. */
async function waitForActive(admin: pg.Client, marker: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [marker],
    );
    if ((r.rows[0]?.n ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no active statement containing ${marker}`);
}

async function activeCount(admin: pg.Client, marker: string): Promise<number> {
  const r = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
    [marker],
  );
  return r.rows[0]?.n ?? 0;
}

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Everything the proxy sends until it closes the socket, or `closed: false` after the timeout. */
function readUntilClose(
  socket: net.Socket,
  timeoutMs: number,
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      resolve({ data: Buffer.concat(chunks), closed: false });
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
  });
}

/** SQLSTATEs of the ErrorResponses in `data` (other messages are skipped). */
function errorCodes(data: Buffer): string[] {
  const codes: string[] = [];
  for (let at = 0; at + 5 <= data.length;) {
    const length = data.readInt32BE(at + 1);
    if (data[at] === 0x45 /* E */)
      codes.push(decodeErrorFields(data.subarray(at + 5, at + 1 + length)).code);
    at += 1 + length;
  }
  return codes;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

// ---- the CLI in a child process --------------------------------------------------------------

interface Cli {
  readonly child: ChildProcess;
  readonly port: number;
  readonly httpPort: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

async function startCli(extraArgs: string[] = []): Promise<Cli> {
  const port = await freePort();
  let httpPort = await freePort();
  while (httpPort === port) httpPort = await freePort();
  // Only our settings: no DOCFUSION_* or DATABASE_URL leaking in from the test environment.
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) => !name.startsWith('DOCFUSION_') && name !== 'DATABASE_URL',
      ),
    ),
    DOCFUSION_LOG_LEVEL: 'info',
  };
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli.ts',
      '--upstream',
      upstreamUrl(),
      '--listen',
      `127.0.0.1:${port}`,
      '--http-listen',
      `127.0.0.1:${httpPort}`,
      ...extraArgs,
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  const cli: Cli = { child, port, httpPort, exited, output: () => output };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`docfusiondb exited during startup:\n${output}`);
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      if (response.status === 200) return cli;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docfusiondb did not become healthy:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// ---- setup -----------------------------------------------------------------------------------

let admin: pg.Client;
const children: ChildProcess[] = [];
const tempDirs: string[] = [];

beforeAll(async () => {
  admin = await adminClient();
  await admin.query(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, note text)`);
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.end();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

// ---- tests -----------------------------------------------------------------------------------

describe('limits.maxClientConnections', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ limits: { maxClientConnections: 3 } });
  });
  afterAll(async () => {
    await proxy.stop();
  });

  test('the 4th client gets 53300; after one leaves, a new one gets in', async () => {
    const clients = [
      await connect(proxy.port),
      await connect(proxy.port),
      await connect(proxy.port),
    ];
    const error = await connectError(proxy.port);
    expect(dbError(error).code).toBe('53300');
    expect(dbError(error).severity).toBe('FATAL');
    expect(error.message).toBe('sorry, too many clients already');
    for (const [i, c] of clients.entries()) await roundTrip(c.client, i);

    const first = clients.shift();
    if (!first) throw new Error('no client');
    await first.client.end();
    const replacement = await connect(proxy.port);
    await roundTrip(replacement.client, 100);
    clients.push(replacement);
    expect(dbError(await connectError(proxy.port)).code).toBe('53300');
    await Promise.all(clients.map((c) => c.client.end()));
  });

  test('failed logins do not keep their slot', async () => {
    const clients = [await connect(proxy.port), await connect(proxy.port)];
    for (let i = 0; i < 5; i++) {
      expect(dbError(await connectError(proxy.port, USER, 'wrong')).code).toBe('28P01');
    }
    const third = await connect(proxy.port);
    await roundTrip(third.client, 3);
    await Promise.all([...clients, third].map((c) => c.client.end()));
  });
});

describe('limits.startupTimeoutMs', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ limits: { startupTimeoutMs: 500 } });
  });
  afterAll(async () => {
    await proxy.stop();
  });

  test('a socket that sends nothing is closed by the proxy', async () => {
    const socket = await rawConnect(proxy.port);
    const { data, closed } = await readUntilClose(socket, 5000);
    expect(closed).toBe(true);
    for (const code of errorCodes(data)) expect(code).toMatch(/^08/);
  });

  test('a socket that stops halfway through the startup packet is closed', async () => {
    const socket = await rawConnect(proxy.port);
    const reply = readUntilClose(socket, 5000);
    socket.write(fe.startupMessage({ user: USER, database: DB }).subarray(0, 12));
    expect((await reply).closed).toBe(true);
  });

  test('a client that stalls in the middle of SCRAM is closed', async () => {
    const socket = await rawConnect(proxy.port);
    const reply = readUntilClose(socket, 5000);
    socket.write(fe.startupMessage({ user: USER, database: DB }));
    const { data, closed } = await reply;
    expect(closed).toBe(true);
    expect(data[0]).toBe(0x52); // R: the SASL request came first
  });

  test('a logged-in client idle for longer than the startup timeout is not affected', async () => {
    const c = await connect(proxy.port);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await roundTrip(c.client, 5);
    expect(c.errors).toEqual([]);
    await c.client.end();
  });
});

describe('graceful shutdown of the CLI process', () => {
  test('SIGTERM: the running query finishes, idle clients get 57P01, new ones are refused, exit 0', async () => {
    const cli = await startCli();
    children.push(cli.child);
    const marker = `df_grace_a_${suffix}`;
    const a = await connect(cli.port);
    const b = await connect(cli.port);
    await roundTrip(b.client, 1);
    const running = a.client.query<{ done: number }>(
      `SELECT pg_sleep(2), 1 AS done /* ${marker} */`,
    );
    await waitForActive(admin, marker);

    const signalledAt = Date.now();
    cli.child.kill('SIGTERM');

    const bError = await withTimeout(b.firstError, 5000, 'client B to get 57P01');
    expect(dbError(bError).code).toBe('57P01');
    const refused = await connectError(cli.port);
    expect(refused).not.toBeInstanceOf(pg.DatabaseError); // the listener is closed: no session at all
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');

    const result = await running;
    expect(result.rows).toHaveLength(1);
    expect(result.rows[0]?.done).toBe(1);
    await withTimeout(a.ended, 5000, 'client A to be disconnected after its query');
    // pg emits the FATAL error, then "Connection terminated unexpectedly" when the socket ends.
    expect(dbError(a.errors[0]).code).toBe('57P01');

    const exit = await withTimeout(cli.exited, 10_000 + 5000, 'the process to exit');
    expect(exit, cli.output()).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(10_000 + 5000);
  });

  test('a query that outlasts shutdown.grace_ms gets 57P01 and the process still exits 0', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-lifecycle-'));
    tempDirs.push(dir);
    const configFile = path.join(dir, 'docfusion.yaml');
    await writeFile(configFile, 'shutdown:\n  grace_ms: 500\n');
    const cli = await startCli(['--config', configFile]);
    children.push(cli.child);
    const marker = `df_grace_b_${suffix}`;
    const a = await connect(cli.port);
    const running = a.client.query(`SELECT pg_sleep(5) /* ${marker} */`).then(
      () => null,
      (error: unknown) => error as Error,
    );
    await waitForActive(admin, marker);

    const signalledAt = Date.now();
    cli.child.kill('SIGTERM');
    const error = await withTimeout(running, 4000, 'the running query to be ended');
    expect(dbError(error).code).toBe('57P01');
    expect(Date.now() - signalledAt).toBeLessThan(4000); // well before pg_sleep(5) would end

    const exit = await withTimeout(cli.exited, 500 + 5000, 'the process to exit');
    expect(exit, cli.output()).toEqual({ code: 0, signal: null });
  });
});

describe('graceful shutdown in process', () => {
  // Regression (fixed): when the grace period ends, Session.terminate() sends the client 57P01
  // and UpstreamLink.close() releases the busy upstream connection as not reusable, which only
  // writes Terminate (Postgres reads it after the statement): the statement runs on and commits
  // although the client was told its session was terminated.
  test('a statement ended by the grace period does not go on running (and committing) upstream', async () => {
    const proxy = await startProxy();
    const marker = `df_grace_c_${suffix}`;
    const a = await connect(proxy.port);
    const running = a.client
      .query(`INSERT INTO ${TABLE} SELECT 1, '${marker}' FROM pg_sleep(3)`)
      .then(
        () => null,
        (error: unknown) => error as Error,
      );
    await waitForActive(admin, marker);
    await proxy.stop(300);
    const error = await running;
    expect(dbError(error).code).toBe('57P01');
    // The client was told its session was terminated, so the statement must not take effect.
    // Wait until it would have finished, then look.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(await activeCount(admin, marker)).toBe(0);
    const rows = await admin.query(`SELECT * FROM ${TABLE} WHERE note = $1`, [marker]);
    expect(rows.rows).toEqual([]);
  });
});

describe('an upstream backend killed mid-query', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy();
  });
  afterAll(async () => {
    await proxy.stop();
  });

  test('the client gets 57P01/08006, other clients keep working, new clients connect', async () => {
    const marker = `df_kill_${suffix}`;
    const a = await connect(proxy.port);
    const b = await connect(proxy.port);
    await roundTrip(b.client, 1);
    const running = a.client.query(`SELECT pg_sleep(5) /* ${marker} */`).then(
      () => null,
      (error: unknown) => error as Error,
    );
    await waitForActive(admin, marker);
    const killed = await admin.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE query LIKE '%pg_sleep(5)%' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [marker],
    );
    expect(killed.rows).toEqual([{ ok: true }]);

    const error = await withTimeout(running, 5000, 'the killed query to fail');
    expect(['57P01', '08006']).toContain(dbError(error).code);
    await withTimeout(a.ended, 5000, 'client A to be disconnected');

    await roundTrip(b.client, 2);
    const c = await connect(proxy.port);
    await roundTrip(c.client, 3);
    await Promise.all([b.client.end(), c.client.end()]);
    expect(b.errors).toEqual([]);
  });
});

describe('health endpoints', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy();
  });
  afterAll(async () => {
    await proxy.stop();
  });

  test('/healthz answers 200 JSON with status ok', async () => {
    const { status, body } = await getJson(`http://127.0.0.1:${proxy.httpPort}/healthz`);
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
  });

  test('/readyz answers 200 when the upstream is reachable', async () => {
    const { status, body } = await getJson(`http://127.0.0.1:${proxy.httpPort}/readyz`);
    expect(status).toBe(200);
    expect(body.status).toBe('ready');
  });
});

describe('an unreachable upstream', () => {
  async function startAgainstClosedPort(auth: DocFusionConfig['auth']['method']) {
    const base = defaultConfig();
    const deadPort = await freePort();
    const config: DocFusionConfig = {
      ...base,
      upstream: `postgres://x:y@127.0.0.1:${deadPort}/db`,
      listen: { host: '127.0.0.1', port: 0 },
      http: { ...base.http, enabled: true, listen: { host: '127.0.0.1', port: 0 } },
      auth: { ...base.auth, method: auth },
      upstreamConnect: {
        ...base.upstreamConnect,
        timeoutMs: 2000,
        retries: 1,
        backoffInitialMs: 10,
        backoffMaxMs: 20,
      },
      log: { ...base.log, level: 'silent' },
    };
    const running = await startDocFusion(config, pino({ level: 'silent' }));
    return {
      running,
      port: running.proxy.address().port,
      httpPort: running.http?.address().port ?? 0,
    };
  }

  test('startup succeeds; /healthz is 200, /readyz is 503 with a reason; clients get 08006', async () => {
    const { running, port, httpPort } = await startAgainstClosedPort('trust');
    try {
      expect((await getJson(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);
      const ready = await getJson(`http://127.0.0.1:${httpPort}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.body.status).not.toBe('ready');
      expect(typeof ready.body.reason).toBe('string');
      expect(ready.body.reason).not.toBe('');

      const started = Date.now();
      const error = await connectError(port, 'x', 'y');
      expect(dbError(error).code).toBe('08006');
      expect(dbError(error).severity).toBe('FATAL');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await running.stop(0);
    }
  });

  // Regression (fixed): with auth.source upstream, the credential lookup
  // (UpstreamCredentialStore.lookup) fails with ECONNREFUSED, which Session.fail() reports as
  // XX000 "internal error in DocFusionDB" instead of 08006 like the trust path.
  test('with password authentication, clients also get 08006 (not an internal error)', async () => {
    const { running, port } = await startAgainstClosedPort('scram-sha-256');
    try {
      const error = await connectError(port, 'x', 'y');
      expect(dbError(error).code).toBe('08006');
    } finally {
      await running.stop(0);
    }
  });
});
