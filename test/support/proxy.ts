import { inject } from 'vitest';
import pg from 'pg';
import pino from 'pino';
import { defaultConfig } from '../../src/config.js';
import type { DocFusionConfig } from '../../src/config-types.js';
import { startDocFusion, type RunningDocFusion } from '../../src/run.js';

export type DeepPartial<T> = {
  -readonly [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K];
};

export interface TestProxy {
  readonly running: RunningDocFusion;
  readonly config: DocFusionConfig;
  readonly port: number;
  readonly httpPort: number;
  /** Admin URL of the real upstream Postgres (embedded for the run, or TEST_DATABASE_URL). */
  readonly upstreamUrl: string;
  /** A connection string to the proxy for user/password (default: the upstream admin's). */
  url(user?: string, password?: string, database?: string): string;
  stop(graceMs?: number): Promise<void>;
}

/** The test run's upstream admin URL (see global-setup.ts). */
export function upstreamUrl(): string {
  return inject('upstreamUrl');
}

/**
 * Start DocFusionDB in this process in front of the test run's real Postgres, on free ports.
 * `overrides` are merged one level deep into the default configuration.
 */
export async function startProxy(overrides: DeepPartial<DocFusionConfig> = {}): Promise<TestProxy> {
  const upstream = upstreamUrl();
  const base = defaultConfig();
  const config = {
    ...base,
    ...overrides,
    upstream,
    listen: { host: '127.0.0.1', port: 0, ...overrides.listen },
    http: {
      enabled: true,
      ...overrides.http,
      listen: { host: '127.0.0.1', port: 0, ...overrides.http?.listen },
    },
    auth: { ...base.auth, ...overrides.auth },
    tls: { ...base.tls, ...overrides.tls },
    limits: { ...base.limits, ...overrides.limits },
    upstreamConnect: { ...base.upstreamConnect, ...overrides.upstreamConnect },
    shutdown: { ...base.shutdown, ...overrides.shutdown },
    log: { level: process.env.TEST_LOG_LEVEL ?? 'silent', ...overrides.log },
  } as DocFusionConfig;
  const log = pino({ level: config.log.level });
  const running = await startDocFusion(config, log);
  const admin = new URL(upstream);
  const port = running.proxy.address().port;
  return {
    running,
    config,
    port,
    httpPort: running.http?.address().port ?? 0,
    upstreamUrl: upstream,
    url: (
      user = decodeURIComponent(admin.username),
      password = decodeURIComponent(admin.password),
      database = admin.pathname.slice(1),
    ) =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    stop: (graceMs = 2000) => running.stop(graceMs),
  };
}

/** A pg client connected straight to the upstream as its admin (for setup and oracles). */
export async function adminClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: upstreamUrl() });
  await client.connect();
  return client;
}
