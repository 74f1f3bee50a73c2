/**
 * The protocol fuzzer (proxy-fuzz.ts) with a bounded budget, against a session-pooling and a
 * transaction-pooling proxy in front of the test run's Postgres; and the bugs it found, each
 * reduced to a deterministic reproducer (`test.fails` until the proxy is fixed).
 *
 * FUZZ_CASES (default 1200), FUZZ_TIME_LIMIT_MS (default 75 s: a loaded machine runs fewer
 * cases rather than timing out) and FUZZ_SEED set the budget and the seed; a failure prints the
 * seed, the fast-check path and the hex of the inputs (see `npm run fuzz` for longer runs).
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import * as fe from '../../protocol/frontend-encoders.js';
import {
  directClient,
  startPoolProxy,
  sleep,
  waitFor,
  type PoolProxy,
} from '../support/pool-proxy.js';
import { RawClient } from '../support/raw-client.js';
import { FuzzHarness, formatFailure, formatStats, runFuzz, writeReplayFile } from './proxy-fuzz.js';

const CASES = Number(process.env.FUZZ_CASES ?? 1200);
/** A loaded machine gets fewer cases, not a timeout: the run stops after this long. */
const TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_LIMIT_MS ?? 75_000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

describe('protocol fuzzing of a running proxy', () => {
  let harness: FuzzHarness | undefined;
  beforeAll(async () => {
    harness = await FuzzHarness.start({ upstreamUrl: inject('upstreamUrl') });
  }, 120_000);
  afterAll(async () => {
    await harness?.stop();
  });

  test(`${CASES} mutated, recorded and generated sessions: the invariants hold after every batch`, async () => {
    if (!harness) throw new Error('no harness');
    const report = await runFuzz(harness, {
      cases: CASES,
      timeLimitMs: TIME_LIMIT_MS,
      ...(SEED === undefined ? {} : { seed: SEED }),
    });
    console.log(`fuzz: ${formatStats(report)}`);
    if (report.failed) {
      const file = await writeReplayFile(report);
      expect.fail(formatFailure(report, file));
    }
    expect(report.casesRun).toBeGreaterThanOrEqual(Math.min(CASES, 200));
  }, 600_000);
});

// ---- bugs found by the fuzzer (fixed) --------------------------------------------------------------

/** A raw socket logged in with trust auth (resolves at the first ReadyForQuery). */
function rawLogin(
  port: number,
  user: string,
  database: string,
  allowHalfOpen = false,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen }, () => {
      socket.write(fe.startupMessage({ user, database }));
    });
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      // ReadyForQuery: 'Z', length 5, status.
      if (seen.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) {
        socket.off('data', onData);
        resolve(socket);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

describe('bugs found by the fuzzer', () => {
  let proxy: PoolProxy | undefined;
  afterAll(async () => {
    await proxy?.stop(500);
  });

  /**
   * Was (src/upstream-link.ts, UpstreamLink.close()): a client that sends an extended-protocol
   * message that fails (here an unparsable Parse) and leaves before its Sync handed the upstream
   * connection back to the transaction pool while Postgres still discarded every message up to
   * the next Sync: the next client got no answer to its Query, or XX000 when its settings had to
   * be replayed first. Now a batch without its Sync is not quiet, and the connection is closed.
   */
  test('transaction pooling: a client leaving after an extended-protocol error without Sync does not poison the pooled connection', async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1 },
      auth: { method: 'trust' },
    });
    const p = proxy;
    const raw = await RawClient.connect(p.port, { user: p.user, database: p.database });
    raw.send(fe.parse('', 'SELEC 1'));
    const reply = await raw.next(5000);
    expect(String.fromCharCode(reply.type)).toBe('E');
    raw.close();
    await waitFor('the session to end', () => p.running.proxy.sessions.size === 0, 5000);
    const client = await p.connect({ query_timeout: 3000 });
    try {
      const r = await client.query<{ n: number }>('SELECT $1::int AS n', [7]);
      expect(r.rows).toEqual([{ n: 7 }]);
    } finally {
      await client.end().catch(() => undefined);
      await p.stop(500);
      proxy = undefined;
    }
  }, 30_000);

  /**
   * The same exit without an error: the batch's implicit transaction is still open upstream, so
   * the proxy must neither reuse the connection as is nor Sync it (which would commit): the
   * client's work is rolled back, as when a client leaves Postgres mid-batch.
   */
  test('transaction pooling: a client leaving mid-batch without Sync commits nothing', async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1 },
      auth: { method: 'trust' },
    });
    const p = proxy;
    const direct = await directClient();
    const table = `fuzz_unsynced_${process.pid}`;
    await direct.query(`CREATE TABLE ${table} (n int)`);
    try {
      const raw = await RawClient.connect(p.port, { user: p.user, database: p.database });
      raw.send(
        fe.parse('', `INSERT INTO ${table} VALUES (1)`),
        fe.bind(),
        fe.execute(),
        fe.flush(),
      );
      const replies: string[] = [];
      for (let i = 0; i < 3; i++) replies.push(String.fromCharCode((await raw.next(5000)).type));
      expect(replies).toEqual(['1', '2', 'C']);
      raw.close();
      await waitFor('the session to end', () => p.running.proxy.sessions.size === 0, 5000);
      const client = await p.connect({ query_timeout: 3000 });
      try {
        const r = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
        expect(r.rows).toEqual([{ n: 0 }]);
      } finally {
        await client.end().catch(() => undefined);
      }
    } finally {
      await direct.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      await direct.end();
      await p.stop(500);
      proxy = undefined;
    }
  }, 30_000);

  /**
   * Was (src/session.ts answerAdmin()): an admin-console session was never closed by
   * timeouts.client_idle once it had sent a statement — every message clears the idle timer, and
   * only the UpstreamLink's idle() callback armed it again, which admin sessions do not have.
   * Found by a lingering fuzz case on the admin console (seed 11, path 482).
   */
  test('the admin console honours timeouts.clientIdleMs after a statement', async () => {
    proxy = await startPoolProxy({ timeouts: { clientIdleMs: 300 }, auth: { method: 'trust' } });
    const p = proxy;
    const admin = await p.adminConsole();
    const errors: Error[] = [];
    admin.on('error', (error) => errors.push(error));
    try {
      await admin.query('SHOW POOLS');
      await waitFor('the idle admin session to be closed', () => errors.length > 0, 3000);
      expect(String(errors[0])).toMatch(/idle-session timeout/);
    } finally {
      await admin.end().catch(() => undefined);
      await p.stop(500);
      proxy = undefined;
    }
  }, 30_000);

  /**
   * Was (src/session.ts fail()): a client that resets its connection (RST: read ECONNRESET, or
   * write EPIPE/ECONNRESET while a reply is sent) was handled as an internal error — logged at
   * error level, counted as XX000 in docfusion_errors_total and answered with XX000. Now the
   * session ends quietly (a debug line), as Postgres logs a reset at LOG level only.
   */
  test('a client connection reset is not reported as an internal error', async () => {
    const lines: string[] = [];
    proxy = await startPoolProxy({
      pool: { mode: 'session', size: 2 },
      auth: { method: 'trust' },
      logLevel: 'info',
      logLines: lines,
    });
    const p = proxy;
    for (let i = 0; i < 5; i++) {
      const socket = await rawLogin(p.port, p.user, p.database);
      socket.write(fe.query("SELECT n, repeat('x', 1000) FROM generate_series(1, 5000) AS n"));
      await sleep(5);
      socket.resetAndDestroy();
    }
    try {
      await waitFor('the sessions to end', () => p.running.proxy.sessions.size === 0, 5000);
      const internal = lines.filter((line) => line.includes('internal error'));
      expect(internal).toEqual([]);
    } finally {
      await p.stop(500);
      proxy = undefined;
    }
  }, 30_000);

  /**
   * Was (src/session.ts startup(), src/upstream-link.ts attach()): when a session ended while it
   * waited for the pool at login (its startup timer firing as authentication finished, an admin
   * shutdown's drain()), the pool later handed the connection to that dead waiter, and it stayed
   * "active" forever: the pool shrank by one per occurrence until every client got 53300. A client
   * that gave up meanwhile was not even noticed until then. Now the session watches its socket
   * while it waits, a closed link leaves the pool's queue, and a connection handed to a closed
   * link goes back.
   */
  test.each([
    ['the client gives up', 'client'],
    ['the session is drained (shutdown)', 'drain'],
  ] as const)(
    'a session that ends while it waits for the pool at login does not keep a connection (%s)',
    async (_title, how) => {
      proxy = await startPoolProxy({
        pool: { mode: 'session', size: 1, maxClientWaitMs: 10_000 },
        auth: { method: 'trust' },
      });
      const p = proxy;
      const pool = (): { active: number; idle: number; waiting: number } => {
        const stats = p.running.proxy.pools.all()[0]?.stats();
        return {
          active: stats?.active ?? -1,
          idle: stats?.idle ?? -1,
          waiting: stats?.waiting ?? -1,
        };
      };
      const holder = await p.connect();
      try {
        // A second client waits for the only connection, and goes away meanwhile.
        const waiter = new pg.Client(
          p.clientConfig({ connectionTimeoutMillis: how === 'client' ? 1000 : 10_000 }),
        );
        waiter.on('error', () => undefined);
        const outcome = waiter.connect().then(
          () => 'connected',
          (error: unknown) => String(error),
        );
        await waitFor('the waiter to queue', () => pool().waiting === 1, 5000);
        if (how === 'drain') {
          for (const session of p.running.proxy.sessions) if (session.waiting) session.drain();
        }
        expect(await outcome).toMatch(how === 'client' ? /timeout expired/ : /administrator/);
        await waitFor('the waiter session to end', () => p.running.proxy.sessions.size === 1, 5000);
        expect(pool()).toMatchObject({ active: 1, waiting: 0 });
        await holder.end();
        await waitFor('the connection back in the pool', () => pool().active === 0, 3000);
        expect(pool()).toEqual({ active: 0, idle: 1, waiting: 0 });
        const next = await p.connect({ connectionTimeoutMillis: 3000 });
        expect((await next.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
        await next.end();
      } finally {
        await holder.end().catch(() => undefined);
        await p.stop(500);
        proxy = undefined;
      }
    },
    30_000,
  );

  /**
   * Was (src/session.ts fromClient(), src/upstream-link.ts fromClient()): bytes that arrived after
   * the session had ended (here a Query in a TCP chunk after the client's Terminate; also after
   * an idle timeout or an upstream FATAL, until the socket is destroyed a second later) still
   * reached the closed link, which leased a connection for them — in transaction mode one nobody
   * would ever give back. Found by the fuzzer once its known-bug avoidance was removed.
   */
  test('transaction pooling: bytes after Terminate do not lease a connection', async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 2 },
      auth: { method: 'trust' },
    });
    const p = proxy;
    const active = (): number => p.running.proxy.pools.all()[0]?.stats().active ?? -1;
    try {
      // Half-open, so the Query can still be written after the proxy's FIN.
      const socket = await rawLogin(p.port, p.user, p.database, true);
      socket.on('error', () => undefined);
      socket.write(fe.terminate());
      await waitFor('the session to end', () => p.running.proxy.sessions.size === 0, 5000);
      socket.write(fe.query('SELECT 1'));
      await sleep(300); // the proxy reads it (its socket stays readable for a second)
      socket.destroy();
      expect(active()).toBe(0);
      const client = await p.connect({ query_timeout: 3000 });
      expect((await client.query<{ n: number }>('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
      await client.end();
      expect(active()).toBe(0);
    } finally {
      await p.stop(500);
      proxy = undefined;
    }
  }, 30_000);

  /**
   * Was (src/upstream-link.ts forward()): a Query the proxy answers itself (SHOW docfusion.*, a
   * lone DEALLOCATE in transaction mode) gets no reply from upstream, and only such a reply gave
   * the connection back and re-armed the idle timers: in transaction mode a client that sent only
   * those kept its pool connection, and no client was closed by timeouts.client_idle_ms after
   * one. Found by the bounded fuzz run (a local-show case ending in linger).
   */
  test('transaction pooling: a Query answered by the proxy gives the connection back and re-arms the idle timer', async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, maxClientWaitMs: 3000 },
      timeouts: { clientIdleMs: 500 },
      auth: { method: 'trust' },
    });
    const p = proxy;
    const active = (): number => p.running.proxy.pools.all()[0]?.stats().active ?? -1;
    try {
      const raw = await RawClient.connect(p.port, { user: p.user, database: p.database });
      expect(await raw.roundTrip(fe.query('SELECT 1'))).toEqual(['T', 'D:1', 'C:SELECT 1', 'Z:I']);
      const local = await raw.roundTrip(fe.query('SHOW docfusion.version'));
      expect(local.at(-1)).toBe('Z:I');
      expect(active()).toBe(0);
      // The only connection is free for another client.
      const other = await p.connect();
      expect((await other.query<{ n: number }>('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
      await other.end();
      // And the idle timeout still ends the first client.
      const fatal = await raw.next(3000);
      expect(String.fromCharCode(fatal.type)).toBe('E');
      expect(fatal.body.toString('latin1')).toContain('57P05');
    } finally {
      await p.stop(500);
      proxy = undefined;
    }
  }, 30_000);
});
