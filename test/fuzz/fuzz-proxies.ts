/**
 * The fuzzed proxies and their helpers: the low limits they run with, the control client kept
 * alive under the short idle timeout, a semaphore bounding fuzz sockets per proxy, and a proxy
 * started in this process from a complete configuration.
 */
import pg from 'pg';
import pino from 'pino';
import { defaultConfig } from '../../src/config.js';
import type { DocFusionConfig, PoolMode } from '../../src/config-types.js';
import { startDocFusion, type RunningDocFusion } from '../../src/run.js';

/** What startProxy() needs of the harness options. */
export interface ProxyOptions {
  readonly upstreamUrl: string;
  readonly logLevel?: DocFusionConfig['log']['level'];
}

/** Limits of the fuzzed proxies: low, so hangs show up quickly. */
export const FUZZ_LIMITS = {
  startupTimeoutMs: 2000,
  clientIdleMs: 500,
  idleInTransactionMs: 500,
  queryMs: 1000,
  maxClientWaitMs: 1500,
  maxMessageSize: 256 * 1024,
} as const;

/** Signs of an idle timeout (which a long event-loop stall fires for everyone in this process). */
export const IDLE_TIMEOUT = /idle-session timeout|idle-in-transaction timeout/;

/** A control client per proxy, kept busy enough for the fuzz proxy's short idle timeout. */
export class Control {
  errors: Error[] = [];
  /**
   * Longest gap between two keepalive ticks since the last check or (re)connect. Ticks are due every
   * clientIdleMs / 4; a gap near clientIdleMs means this process was stalled (CPU starvation,
   * GC) long enough for the proxy's idle timer to fire before the ping could be sent — an
   * artifact of sharing one process, which the per-batch loop monitor misses when the stall
   * falls between batches.
   */
  longestTickGapMs = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private constructor(
    private readonly config: pg.ClientConfig,
    public client: pg.Client,
  ) {}

  static async connect(config: pg.ClientConfig): Promise<Control> {
    const control = new Control(config, new pg.Client(config));
    await control.start();
    return control;
  }

  /** After an event-loop stall killed it with an idle timeout: a new connection. */
  async reconnect(): Promise<void> {
    this.stop();
    await this.client.end().catch(() => undefined);
    this.client = new pg.Client(this.config);
    this.errors = [];
    await this.start();
  }

  stop(): void {
    clearInterval(this.keepalive);
  }

  /**
   * Whether a stall long enough to fire the idle timeout starved the keepalive since the last
   * call (each check consumes it, so one stall excuses one death, not every later one).
   */
  consumeStarvation(): boolean {
    const starved = this.longestTickGapMs >= FUZZ_LIMITS.clientIdleMs - 150;
    this.longestTickGapMs = 0;
    return starved;
  }

  private async start(): Promise<void> {
    const client = this.client;
    client.on('error', (error) => this.errors.push(error));
    await client.connect();
    this.longestTickGapMs = 0;
    let lastTick = Date.now();
    let pinging = false;
    this.keepalive = setInterval(() => {
      const now = Date.now();
      this.longestTickGapMs = Math.max(this.longestTickGapMs, now - lastTick);
      lastTick = now;
      if (pinging) return;
      pinging = true;
      client
        .query('SELECT 1')
        .catch((error: unknown) => this.errors.push(error as Error))
        .finally(() => {
          pinging = false;
        });
    }, FUZZ_LIMITS.clientIdleMs / 4);
  }
}

export class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export async function startProxy(
  options: ProxyOptions,
  mode: PoolMode,
  size: number,
): Promise<RunningDocFusion> {
  const base = defaultConfig();
  const level =
    options.logLevel ??
    (process.env.FUZZ_LOG_LEVEL as DocFusionConfig['log']['level'] | undefined) ??
    'silent';
  const config: DocFusionConfig = {
    ...base,
    upstream: options.upstreamUrl,
    listen: { host: '127.0.0.1', port: 0 },
    http: { enabled: false, listen: { host: '127.0.0.1', port: 0 } },
    limits: {
      ...base.limits,
      maxClientConnections: 200,
      maxMessageSize: FUZZ_LIMITS.maxMessageSize,
      startupTimeoutMs: FUZZ_LIMITS.startupTimeoutMs,
    },
    timeouts: {
      queryMs: FUZZ_LIMITS.queryMs,
      idleInTransactionMs: FUZZ_LIMITS.idleInTransactionMs,
      clientIdleMs: FUZZ_LIMITS.clientIdleMs,
    },
    pool: {
      ...base.pool,
      mode,
      size,
      maxClientWaitMs: FUZZ_LIMITS.maxClientWaitMs,
    },
    log: { ...base.log, level },
  };
  return startDocFusion(config, pino({ level }));
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => {
      clearTimeout(timer);
    }),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${what} timed out after ${ms} ms`));
      }, ms);
    }),
  ]);
}
