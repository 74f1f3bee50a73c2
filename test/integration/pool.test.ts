import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import pg from 'pg';
import pino from 'pino';
import * as fe from '../../protocol/frontend-encoders.js';
import { PgError } from '../../protocol/pg-error.js';
import { defaultConfig } from '../../src/config.js';
import { Pool, type Connector, type EffectivePoolSettings } from '../../src/pool.js';
import { connectWithRetry } from '../../src/upstream-connect.js';
import type { UpstreamConnection } from '../../src/upstream-connection.js';
import { parseUpstreamUrl, type UpstreamEndpoint } from '../../src/upstream-target.js';

const url = inject('upstreamUrl');
const upstream = parseUpstreamUrl(url);
const log = pino({ level: 'silent' });
const config = defaultConfig();

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Every connection any connector opened, so each test can clean up what it leaked. */
const opened: UpstreamConnection[] = [];
const pools: Pool[] = [];

function connectorTo(endpoint: UpstreamEndpoint = upstream.endpoint): Connector {
  return async () => {
    const connection = await connectWithRetry(
      {
        endpoint,
        user: upstream.admin.user,
        credentials: { kind: 'password', password: upstream.admin.password ?? '' },
        params: new Map([['application_name', 'docfusion-pool-test']]),
      },
      config,
      log,
    );
    opened.push(connection);
    return connection;
  };
}

function makePool(
  overrides: Partial<EffectivePoolSettings> = {},
  connector: Connector = connectorTo(),
): Pool {
  const settings: EffectivePoolSettings = {
    mode: 'transaction',
    size: 2,
    minIdle: 0,
    maxClientWaitMs: 10_000,
    serverIdleTimeoutMs: 600_000,
    serverLifetimeMs: 0,
    serverCheckDelayMs: 600_000,
    resetQuery: '',
    maxPreparedStatements: 100,
    ...overrides,
  };
  const pool = new Pool(
    { endpoint: upstream.endpoint, user: upstream.admin.user },
    settings,
    connector,
    log,
  );
  pools.push(pool);
  return pool;
}

/** Resolves to whether `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return settled;
}

async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A connection is usable when Postgres answers a query on it. */
async function works(connection: UpstreamConnection): Promise<void> {
  await connection.runQuiet('SELECT 1', 5_000);
}

let admin: pg.Client;

async function backendAlive(pid: number): Promise<boolean> {
  const r = await admin.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1',
    [pid],
  );
  return r.rows[0]?.n === 1;
}

async function terminateBackend(pid: number): Promise<void> {
  await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  await waitUntil(async () => !(await backendAlive(pid)), `backend ${pid} to exit`);
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});

afterEach(() => {
  for (const pool of pools.splice(0)) pool.close();
  for (const connection of opened.splice(0)) connection.destroy();
});

afterAll(async () => {
  await admin.end();
});

describe('Pool against a real Postgres', () => {
  test('size cap: the acquire beyond size waits and gets the first connection released', async () => {
    const pool = makePool({ size: 3 });
    const held = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    expect(new Set(held.map((c) => c.processId)).size).toBe(3);
    for (const c of held) await works(c);
    const extra = pool.acquire();
    expect(await settlesWithin(extra, 150)).toBe(false);
    expect(pool.stats()).toMatchObject({ size: 3, active: 3, idle: 0, waiting: 1 });
    const [first, second] = held;
    pool.release(second, true);
    pool.release(first, true);
    const got = await extra;
    expect(got).toBe(second);
    expect(opened).toHaveLength(3); // no fourth connection was opened
    await works(got);
    expect(pool.stats()).toMatchObject({ active: 2, idle: 1, waiting: 0 });
  });

  test('FIFO: five waiters are served in arrival order as the one connection comes back', async () => {
    const pool = makePool({ size: 1 });
    const only = await pool.acquire();
    const order: number[] = [];
    const waiters = Array.from({ length: 5 }, (_, i) =>
      pool.acquire().then((connection) => {
        order.push(i);
        return connection;
      }),
    );
    await sleep(50);
    expect(pool.stats().waiting).toBe(5);
    expect(order).toEqual([]);
    pool.release(only, true);
    for (const [i, waiter] of waiters.entries()) {
      const connection = await waiter;
      expect(connection).toBe(only);
      expect(order).toEqual([...Array(i + 1).keys()]);
      await works(connection);
      pool.release(connection, true);
    }
    expect(opened).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ active: 0, idle: 1, waiting: 0 });
  });

  test('max client wait: a waiter gets FATAL 53300 and leaves the queue', async () => {
    const pool = makePool({ size: 1, maxClientWaitMs: 250 });
    const held = await pool.acquire();
    const started = Date.now();
    const error = await pool.acquire().then(
      () => undefined,
      (e: unknown) => e,
    );
    const waited = Date.now() - started;
    expect(error).toBeInstanceOf(PgError);
    expect((error as PgError).code).toBe('53300');
    expect((error as PgError).severity).toBe('FATAL');
    expect(waited).toBeGreaterThanOrEqual(200);
    expect(waited).toBeLessThan(3_000);
    expect(pool.stats().waiting).toBe(0);
    // The connection released later goes idle (nobody is waiting) and is handed out again.
    pool.release(held, true);
    expect(pool.stats()).toMatchObject({ active: 0, idle: 1 });
    expect(await pool.acquire()).toBe(held);
  });

  test('release(false) closes the connection; the next acquire opens a new one', async () => {
    const pool = makePool({ size: 1 });
    const first = await pool.acquire();
    const pid = first.processId;
    expect(await backendAlive(pid)).toBe(true);
    pool.release(first, false);
    expect(first.isClosed).toBe(true);
    expect(pool.stats()).toMatchObject({ active: 0, idle: 0, connecting: 0 });
    await waitUntil(async () => !(await backendAlive(pid)), 'the closed backend to exit');
    const second = await pool.acquire();
    expect(second).not.toBe(first);
    expect(second.processId).not.toBe(pid);
    await works(second);
  });

  test('an idle connection killed upstream is noticed, dropped and replaced', async () => {
    const pool = makePool({ size: 2 });
    const victim = await pool.acquire();
    pool.release(victim, true);
    expect(pool.stats().idle).toBe(1);
    await terminateBackend(victim.processId);
    await waitUntil(() => victim.isClosed && pool.stats().idle === 0, 'the pool to drop it');
    const next = await pool.acquire();
    expect(next.processId).not.toBe(victim.processId);
    await works(next);
  });

  test('a killed idle connection handed out at once fails its health check and is replaced', async () => {
    const pool = makePool({ size: 2, serverCheckDelayMs: 0 });
    const victim = await pool.acquire();
    pool.release(victim, true);
    await terminateBackend(victim.processId);
    const next = await pool.acquire();
    expect(next.processId).not.toBe(victim.processId);
    await works(next);
    expect(pool.stats()).toMatchObject({ active: 1 });
  });

  test('a silently dead idle connection (no reply at all) fails its health check and is replaced', async () => {
    const forwarder = await Forwarder.start(upstream.endpoint);
    try {
      let first = true;
      const direct = connectorTo();
      const viaForwarder = connectorTo(forwarder.endpoint);
      const pool = makePool({ size: 2, serverCheckDelayMs: 0, maxClientWaitMs: 400 }, () => {
        const connector = first ? viaForwarder : direct;
        first = false;
        return connector();
      });
      const victim = await pool.acquire();
      pool.release(victim, true);
      forwarder.blackhole = true; // the network swallows everything from now on
      const started = Date.now();
      const next = await pool.acquire();
      expect(Date.now() - started).toBeGreaterThanOrEqual(350); // the check timed out
      expect(next).not.toBe(victim);
      expect(victim.isClosed).toBe(true);
      await works(next);
    } finally {
      forwarder.close();
    }
  });

  test('server lifetime: a connection older than serverLifetimeMs is closed when released', async () => {
    const pool = makePool({ size: 1, serverLifetimeMs: 40 });
    const old = await pool.acquire();
    await sleep(80);
    pool.release(old, true);
    expect(old.isClosed).toBe(true);
    expect(pool.stats().idle).toBe(0);
    const next = await pool.acquire();
    expect(next.processId).not.toBe(old.processId);
    await works(next);
  });

  test('serverLifetimeMs 0 means never: the same connection is reused', async () => {
    const pool = makePool({ size: 1, serverLifetimeMs: 0 });
    const c = await pool.acquire();
    await sleep(80);
    pool.release(c, true);
    expect(c.isClosed).toBe(false);
    expect(await pool.acquire()).toBe(c);
  });

  test('serverCheckDelayMs 0: every reuse runs a health check (an empty query) first', async () => {
    const pool = makePool({ size: 1, serverCheckDelayMs: 0 });
    const c = await pool.acquire();
    pool.release(c, true);
    const before = c.socket.bytesWritten;
    expect(await pool.acquire()).toBe(c);
    expect(c.socket.bytesWritten - before).toBe(fe.query('').length);
    await works(c);
  });

  test('serverCheckDelayMs: recently used connections are not checked, older ones are', async () => {
    const pool = makePool({ size: 1, serverCheckDelayMs: 150 });
    const c = await pool.acquire();
    pool.release(c, true);
    let before = c.socket.bytesWritten;
    expect(await pool.acquire()).toBe(c);
    expect(c.socket.bytesWritten).toBe(before); // just released: no check
    pool.release(c, true);
    await sleep(200);
    before = c.socket.bytesWritten;
    expect(await pool.acquire()).toBe(c);
    expect(c.socket.bytesWritten - before).toBe(fe.query('').length);
  });

  test('minIdle: maintain() opens idle connections up to min_idle and no more', async () => {
    const pool = makePool({ size: 3, minIdle: 2 });
    expect(pool.stats().idle).toBe(0);
    pool.maintain();
    expect(pool.stats().connecting).toBe(2);
    pool.maintain(); // already on their way: nothing more
    expect(pool.stats().connecting).toBe(2);
    await waitUntil(() => pool.stats().idle === 2, 'two idle connections');
    expect(opened).toHaveLength(2);
    for (const c of opened) expect(await backendAlive(c.processId)).toBe(true);
    // One leased: maintain tops the idle list up again, within size.
    const leased = await pool.acquire();
    pool.maintain();
    await waitUntil(() => pool.stats().idle === 2, 'idle back at two');
    expect(opened).toHaveLength(3);
    const another = await pool.acquire();
    pool.maintain(); // size 3 reached: nothing opens
    expect(pool.stats().connecting).toBe(0);
    expect(opened).toHaveLength(3);
    pool.release(leased, true);
    pool.release(another, true);
  });

  test('maintain() closes idle connections past serverIdleTimeoutMs, keeping min_idle', async () => {
    const pool = makePool({ size: 3, minIdle: 1, serverIdleTimeoutMs: 50 });
    const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    pool.release(a, true);
    pool.release(b, true);
    pool.release(c, true);
    pool.maintain(); // not idle long enough yet
    expect(pool.stats().idle).toBe(3);
    await sleep(80);
    pool.maintain();
    expect(pool.stats().idle).toBe(1);
    // The least recently used go first; the most recently released stays.
    expect([a.isClosed, b.isClosed, c.isClosed]).toEqual([true, true, false]);
    expect(await pool.acquire()).toBe(c);
  });

  test('pause() resolves only once nothing is leased, and blocks acquire until resume()', async () => {
    const pool = makePool({ size: 2 });
    const leased = await pool.acquire();
    const spare = await pool.acquire();
    pool.release(spare, true);
    const paused = pool.pause();
    expect(spare.isClosed).toBe(true); // idle connections are closed at once
    expect(await settlesWithin(paused, 100)).toBe(false);
    expect(pool.stats().paused).toBe(true);
    const blocked = pool.acquire();
    pool.release(leased, true);
    await paused;
    expect(leased.isClosed).toBe(true); // nothing is kept open while paused
    expect(pool.stats()).toMatchObject({ active: 0, idle: 0 });
    expect(await settlesWithin(blocked, 150)).toBe(false);
    pool.resume();
    const after = await blocked;
    expect([leased.processId, spare.processId]).not.toContain(after.processId);
    await works(after);
    expect(pool.stats().paused).toBe(false);
  });

  test('pause() with nothing leased resolves at once', async () => {
    const pool = makePool({ size: 1 });
    pool.release(await pool.acquire(), true);
    expect(await settlesWithin(pool.pause(), 50)).toBe(true);
    pool.resume();
  });

  test('a cancel still in flight delays reuse of its connection until it is done', async () => {
    const pool = makePool({ size: 1 });
    const c = await pool.acquire();
    let cancelDone = false;
    const cancel = c.cancel(5_000).then(() => {
      cancelDone = true;
    });
    pool.release(c, true);
    // Still counted as leased: nobody may get it while the cancel can land.
    expect(pool.stats()).toMatchObject({ active: 1, idle: 0 });
    let servedBeforeCancel: boolean | undefined;
    const next = pool.acquire().then((connection) => {
      servedBeforeCancel = !cancelDone;
      return connection;
    });
    await cancel;
    expect(await next).toBe(c);
    expect(servedBeforeCancel).toBe(false);
    await works(c);
  });

  test('a cancel really cancels the running statement, and the connection is reusable', async () => {
    const pool = makePool({ size: 1 });
    const c = await pool.acquire();
    const running = c.runQuiet('SELECT pg_sleep(30)', 20_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleep(100);
    await c.cancel(5_000);
    const error = await running;
    expect(error).toBeInstanceOf(PgError);
    expect((error as PgError).code).toBe('57014');
    pool.release(c, true);
    const again = await pool.acquire();
    expect(again).toBe(c);
    await works(again);
  });

  test('a cancel that cannot be delivered still returns the connection to the pool', async () => {
    const forwarder = await Forwarder.start(upstream.endpoint);
    try {
      const pool = makePool({ size: 1 }, connectorTo(forwarder.endpoint));
      const c = await pool.acquire();
      forwarder.stopAccepting(); // the cancel's new connection is refused
      // The rejection nobody handles is the subject of the next test; collect it here.
      await captureUnhandledRejections(async () => {
        const cancel = c.cancel(2_000).then(
          () => undefined,
          (e: unknown) => e,
        );
        pool.release(c, true);
        expect(await cancel).toBeInstanceOf(Error);
        await sleep(100);
      });
      expect(pool.stats()).toMatchObject({ active: 0, idle: 1 });
      expect(await pool.acquire()).toBe(c);
      await works(c);
    } finally {
      forwarder.close();
    }
  });

  // Regression (fixed; the old behaviour): Pool.release does `void cancelling.finally(() => this.release(…))`: when the cancel
  // request fails (Postgres unreachable for a new connection, ECONNREFUSED/timeout), the promise
  // returned by finally() rejects with nobody handling it. Under Node's default
  // --unhandled-rejections=throw that terminates the whole proxy.
  test('a failed cancel causes no unhandled promise rejection', async () => {
    const forwarder = await Forwarder.start(upstream.endpoint);
    try {
      const pool = makePool({ size: 1 }, connectorTo(forwarder.endpoint));
      const c = await pool.acquire();
      forwarder.stopAccepting();
      const unhandled = await captureUnhandledRejections(async () => {
        const cancel = c.cancel(2_000).catch(() => undefined);
        pool.release(c, true);
        await cancel;
        await sleep(100);
      });
      expect(unhandled).toEqual([]);
    } finally {
      forwarder.close();
    }
  });

  // Regression (fixed; the old behaviour): When a waiter's health check fails, Pool.checked() calls this.acquire() again, which joins
  // the *end* of the queue (and restarts its max_client_wait): a client that waited longest is
  // served after one that came later, against "handed out first come first served".
  test('FIFO holds when the connection a waiter was given fails its health check', async () => {
    const pool = makePool({ size: 1, serverCheckDelayMs: 0 });
    const c = await pool.acquire();
    const order: string[] = [];
    const w1 = pool.acquire().then((x) => {
      order.push('w1');
      return x;
    });
    await sleep(10);
    const w2 = pool.acquire().then((x) => {
      order.push('w2');
      return x;
    });
    await terminateBackend(c.processId);
    pool.release(c, true);
    const first = await Promise.race([w1, w2]);
    pool.release(first, true);
    const second = await (order[0] === 'w1' ? w2 : w1);
    pool.release(second, true);
    expect(order).toEqual(['w1', 'w2']);
  });
});

/**
 * A TCP forwarder in front of Postgres that the test can break: stop accepting new connections
 * (a cancel request is refused) or silently drop every byte (a dead network path).
 */
class Forwarder {
  private constructor(
    private readonly server: net.Server,
    readonly endpoint: UpstreamEndpoint,
    private readonly sockets: Set<net.Socket>,
    private readonly flags: { blackhole: boolean },
  ) {}

  /** Drop every byte in both directions from now on. */
  set blackhole(value: boolean) {
    this.flags.blackhole = value;
  }

  static async start(target: UpstreamEndpoint): Promise<Forwarder> {
    const sockets = new Set<net.Socket>();
    const flags = { blackhole: false };
    const server = net.createServer((client) => {
      const upstreamSocket = net.connect(target.port, target.host);
      for (const s of [client, upstreamSocket]) {
        sockets.add(s);
        s.on('error', () => {
          /* torn down by the test */
        });
      }
      client.on('data', (data) => {
        if (!flags.blackhole) upstreamSocket.write(data);
      });
      upstreamSocket.on('data', (data) => {
        if (!flags.blackhole) client.write(data);
      });
      client.on('close', () => upstreamSocket.destroy());
      upstreamSocket.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => {
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return new Forwarder(
      server,
      { ...target, host: '127.0.0.1', port: address.port },
      sockets,
      flags,
    );
  }

  /** New connections (such as a cancel request) are refused; open ones keep working. */
  stopAccepting(): void {
    this.server.close();
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

/**
 * Run `fn` with the process's unhandledRejection listeners (vitest's included) replaced by a
 * collector, so a rejection nobody handles is observed instead of failing the whole run.
 */
async function captureUnhandledRejections(fn: () => Promise<void>): Promise<unknown[]> {
  const saved = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  const seen: unknown[] = [];
  const collect = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', collect);
  try {
    await fn();
    await sleep(50);
  } finally {
    process.off('unhandledRejection', collect);
    for (const listener of saved) process.on('unhandledRejection', listener);
  }
  return seen;
}
