/**
 * Helpers for the chaos tests: a proxy whose upstream is a ChaosRelay in front of the test run's
 * Postgres, pg clients that never crash the run, SQLSTATE extraction, and the "back to baseline"
 * check (pool counts and the upstream's client backends agree with what the pools hold).
 */
import pg from 'pg';
import { upstreamUrl } from '../support/proxy.js';
import {
  startPoolProxy,
  waitFor,
  type PoolProxy,
  type PoolProxyOptions,
} from '../support/pool-proxy.js';
import { ChaosRelay } from './relay.js';

export async function startRelay(): Promise<ChaosRelay> {
  const target = new URL(upstreamUrl());
  return ChaosRelay.start({ targetHost: target.hostname, targetPort: Number(target.port || 5432) });
}

/** The upstream URL with the relay's address: same user, password and database. */
export function relayUrl(relay: ChaosRelay): string {
  const url = new URL(upstreamUrl());
  url.hostname = '127.0.0.1';
  url.port = String(relay.port);
  return url.toString();
}

export async function chaosProxy(
  relay: ChaosRelay,
  options: PoolProxyOptions = {},
): Promise<PoolProxy> {
  return startPoolProxy({
    ...options,
    upstream: relayUrl(relay),
    upstreamConnect: {
      timeoutMs: 2000,
      retries: 3,
      backoffInitialMs: 100,
      backoffMaxMs: 500,
      ...options.upstreamConnect,
    },
  });
}

/** A client of the proxy whose asynchronous errors are collected, never thrown. */
export class ChaosClient {
  readonly errors: Error[] = [];
  readonly client: pg.Client;
  constructor(proxy: PoolProxy, overrides: pg.ClientConfig = {}) {
    this.client = new pg.Client(proxy.clientConfig({ query_timeout: 20_000, ...overrides }));
    this.client.on('error', (error) => this.errors.push(error));
  }
  static async connect(proxy: PoolProxy, overrides: pg.ClientConfig = {}): Promise<ChaosClient> {
    const c = new ChaosClient(proxy, overrides);
    await c.client.connect();
    return c;
  }
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(text, values);
  }
  async end(): Promise<void> {
    await Promise.race([
      this.client.end().catch(() => undefined),
      new Promise((r) => setTimeout(r, 2000)),
    ]);
  }
}

export interface Outcome {
  readonly ok: boolean;
  readonly code: string | undefined;
  readonly severity: string | undefined;
  readonly message: string;
  readonly ms: number;
}

/** Run `work`, and describe how it ended: the SQLSTATE and severity of a Postgres-style error. */
export async function outcome(work: () => Promise<unknown>): Promise<Outcome> {
  const started = Date.now();
  try {
    await work();
    return {
      ok: true,
      code: undefined,
      severity: undefined,
      message: '',
      ms: Date.now() - started,
    };
  } catch (error) {
    const e = error as { code?: string; severity?: string; message?: string };
    return {
      ok: false,
      code: e.code,
      severity: e.severity,
      message: e.message ?? String(error),
      ms: Date.now() - started,
    };
  }
}

/** SQLSTATEs a client may get when its upstream connection dies under it. */
export const CONNECTION_LOST = ['08006', '57P01', '08003', '08000'];

/** Problems with the pools and the upstream backends; empty when back to baseline. */
export async function baselineProblems(
  proxy: PoolProxy,
  direct: pg.Client,
  expectedActive: number,
): Promise<string[]> {
  const out: string[] = [];
  const pooled = new Set<number>();
  for (const pool of proxy.running.proxy.pools.all()) {
    const s = pool.stats();
    if (s.active !== expectedActive || s.waiting !== 0 || s.connecting !== 0 || s.idle > s.size) {
      out.push(
        `pool ${pool.name}: active ${s.active} (expected ${expectedActive}), idle ${s.idle}/${s.size}, waiting ${s.waiting}, connecting ${s.connecting}`,
      );
    }
    for (const { connection } of pool.connections()) pooled.add(connection.processId);
  }
  const r = await direct.query<{ pid: number; state: string | null; query: string }>(
    `SELECT pid, state, left(query, 60) AS query FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename = current_user
        AND application_name NOT LIKE 'docfusiondb-%' AND application_name <> 'docfusion-test-direct'`,
  );
  const upstream = new Set(r.rows.map((row) => row.pid));
  for (const row of r.rows) {
    if (!pooled.has(row.pid))
      out.push(`upstream backend ${row.pid} (${row.state}: ${row.query}) belongs to no pool`);
  }
  for (const pid of pooled)
    if (!upstream.has(pid)) out.push(`pooled connection ${pid} does not exist upstream`);
  return out;
}

/** Wait until baselineProblems() is empty; fail with the last problems. */
export async function backToBaseline(
  proxy: PoolProxy,
  direct: pg.Client,
  expectedActive: number,
  timeoutMs = 15_000,
): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor(
      'pools and upstream back to baseline',
      async () => {
        last = await baselineProblems(proxy, direct, expectedActive);
        return last.length === 0;
      },
      timeoutMs,
      50,
    );
  } catch {
    throw new Error(`not back to baseline after ${timeoutMs} ms:\n  ${last.join('\n  ')}`);
  }
}
