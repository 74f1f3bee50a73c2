/**
 * Helpers for the pooling tests: a proxy started from a complete configuration (pool, timeouts
 * and admin merged key by key into the defaults), pg clients that never crash the test run on an
 * asynchronous error, the admin console, and views of the upstream's pg_stat_activity.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { defaultConfig } from '../../src/config.js';
import type { DocFusionConfig } from '../../src/config-types.js';
import { startDocFusion, type RunningDocFusion } from '../../src/run.js';
import { upstreamUrl } from './proxy.js';

type Writeable<T> = { -readonly [K in keyof T]: T[K] };

export interface PoolProxyOptions {
  readonly pool?: Partial<DocFusionConfig['pool']>;
  readonly timeouts?: Partial<DocFusionConfig['timeouts']>;
  readonly limits?: Partial<DocFusionConfig['limits']>;
  readonly auth?: Partial<DocFusionConfig['auth']>;
  readonly admin?: Partial<DocFusionConfig['admin']>;
  readonly upstreamConnect?: Partial<DocFusionConfig['upstreamConnect']>;
  readonly databases?: DocFusionConfig['databases'];
  readonly embedded?: Partial<DocFusionConfig['embedded']>;
  /** Upstream admin URL; default: the test run's Postgres. */
  readonly upstream?: string;
  /** Start the HTTP listener (on a free port). Default false. */
  readonly http?: boolean;
  /** Log level; default TEST_LOG_LEVEL or silent. */
  readonly logLevel?: DocFusionConfig['log']['level'];
  /** Receives every JSON log line (the level still applies). */
  readonly logLines?: string[];
  /** A complete config to start from (e.g. from loadConfig); the other options still apply. */
  readonly base?: DocFusionConfig;
  readonly reloadConfig?: () => DocFusionConfig;
}

export interface PoolProxy {
  readonly running: RunningDocFusion;
  readonly config: DocFusionConfig;
  readonly port: number;
  readonly httpPort: number;
  readonly upstreamUrl: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** pg.ClientConfig for the proxy (default user, password and database of the upstream admin). */
  clientConfig(overrides?: pg.ClientConfig): pg.ClientConfig;
  /** A connected pg client; asynchronous errors are collected in `errorsOf(client)`. */
  connect(overrides?: pg.ClientConfig): Promise<pg.Client>;
  /** A connected pg client on the admin console (`docfusion_admin`). */
  adminConsole(): Promise<pg.Client>;
  url(database?: string): string;
  stop(graceMs?: number): Promise<void>;
}

const clientErrors = new WeakMap<pg.Client, Error[]>();

/** Errors a client emitted (FATAL while idle, connection lost). */
export function errorsOf(client: pg.Client): Error[] {
  return clientErrors.get(client) ?? [];
}

/** A pg client with an error listener, so an asynchronous FATAL is recorded, not thrown. */
export function watchedClient(config: pg.ClientConfig): pg.Client {
  const client = new pg.Client(config);
  const errors: Error[] = [];
  clientErrors.set(client, errors);
  client.on('error', (error) => {
    errors.push(error);
  });
  return client;
}

/**
 * A query node-postgres sends over the extended protocol (unnamed Parse/Bind/Execute/Sync) even
 * without parameters, as postgres.js's sql.unsafe() does. `queryMode` is missing from @types/pg.
 */
export function extendedQuery(text: string): pg.QueryConfig {
  return { text, queryMode: 'extended' } as pg.QueryConfig;
}

/** End a client, ignoring a connection that is already gone. */
export async function endQuietly(client: pg.Client | undefined): Promise<void> {
  if (!client) return;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise((resolve) => setTimeout(resolve, 3000)),
  ]);
}

export async function startPoolProxy(options: PoolProxyOptions = {}): Promise<PoolProxy> {
  const upstream = options.upstream ?? upstreamUrl();
  const base = options.base ?? defaultConfig();
  const config: Writeable<DocFusionConfig> = {
    ...base,
    upstream,
    listen: { host: '127.0.0.1', port: 0 },
    http: { enabled: options.http ?? false, listen: { host: '127.0.0.1', port: 0 } },
    pool: { ...base.pool, ...options.pool },
    timeouts: { ...base.timeouts, ...options.timeouts },
    limits: { ...base.limits, ...options.limits },
    auth: { ...base.auth, ...options.auth },
    admin: { ...base.admin, ...options.admin },
    upstreamConnect: { ...base.upstreamConnect, ...options.upstreamConnect },
    embedded: { ...base.embedded, ...options.embedded },
    databases: options.databases ?? base.databases,
    log: {
      ...base.log,
      level: options.logLevel ?? (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent',
    },
  };
  const lines = options.logLines;
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (lines) lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      else if (process.env.TEST_LOG_LEVEL) process.stdout.write(chunk);
      callback();
    },
  });
  const log = pino({ level: config.log.level }, destination);
  const running = await startDocFusion(
    config,
    log,
    options.reloadConfig ? { reloadConfig: options.reloadConfig } : {},
  );
  const admin = new URL(upstream);
  const user = decodeURIComponent(admin.username);
  const password = decodeURIComponent(admin.password);
  const database = admin.pathname.slice(1);
  const port = running.proxy.address().port;
  const clientConfig = (overrides: pg.ClientConfig = {}): pg.ClientConfig => ({
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    connectionTimeoutMillis: 30_000,
    ...overrides,
  });
  return {
    running,
    config,
    port,
    httpPort: running.http?.address().port ?? 0,
    upstreamUrl: upstream,
    user,
    password,
    database,
    clientConfig,
    connect: async (overrides) => {
      const client = watchedClient(clientConfig(overrides));
      await client.connect();
      return client;
    },
    adminConsole: async () => {
      const client = watchedClient(clientConfig({ database: 'docfusion_admin' }));
      await client.connect();
      return client;
    },
    url: (db = database) =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`,
    stop: (graceMs = 2000) => running.stop(graceMs),
  };
}

const DIRECT_APP = 'docfusion-test-direct';

/** A pg client straight to the upstream admin URL, marked so upstreamPoolBackends skips it. */
export async function directClient(url = upstreamUrl()): Promise<pg.Client> {
  const client = watchedClient({ connectionString: url, application_name: DIRECT_APP });
  await client.connect();
  return client;
}

/**
 * Client backends of the proxy's pools on the upstream: not the proxy's own service connections
 * (application_name docfusiondb-auth, docfusiondb-readiness, …), not the tests' own direct
 * connections (directClient), not `self`.
 */
export async function upstreamPoolBackends(self: pg.Client): Promise<number> {
  const r = await self.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND datname = current_database()
        AND application_name NOT LIKE 'docfusiondb-%' AND application_name <> $1
        AND pid <> pg_backend_pid()`,
    [DIRECT_APP],
  );
  return r.rows[0]?.n ?? -1;
}

/** SHOW CLIENTS / SHOW POOLS / SHOW SERVERS rows from the admin console. */
export async function adminRows(
  console: pg.Client,
  command: string,
): Promise<Record<string, string | null>[]> {
  const r = await console.query<Record<string, string | null>>(command);
  return r.rows;
}

/** The SQLSTATE of a rejection (or 'none' when `promise` resolved). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    return (error as { code?: string }).code ?? `no code: ${String(error)}`;
  }
}

/** Wait until `check` returns true; fail with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A CancelRequest for (pid, key) sent as a raw 16-byte packet to the proxy; resolves on close. */
export function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(processId, 8);
    packet.writeInt32BE(secretKey, 12);
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.end(packet);
    });
    socket.on('error', reject);
    socket.on('close', () => {
      resolve();
    });
  });
}
