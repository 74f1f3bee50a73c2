/**
 * The pool recovering from upstream failures: a pooled backend terminated with
 * pg_terminate_backend (mid-statement, idle in a transaction, idle in the pool), and a whole
 * upstream Postgres restarted under a running proxy.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  freePort,
  startEmbeddedPostgres,
  type RunningEmbedded,
} from '../../src/embedded-postgres.js';
import {
  adminRows,
  codeOf,
  directClient,
  endQuietly,
  errorsOf,
  startPoolProxy,
  waitFor,
  watchedClient,
  type PoolProxy,
} from '../support/pool-proxy.js';

const suffix = randomBytes(4).toString('hex');

async function pidOf(client: pg.Client): Promise<number> {
  const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const pid = r.rows[0]?.pid;
  if (pid === undefined) throw new Error('no pid');
  return pid;
}

/** Clients running short transactions in a loop until `stop()`; failures are collected. */
function bystanders(
  proxy: PoolProxy,
  count: number,
): {
  stop: () => Promise<string[]>;
  rounds: () => number;
} {
  let stopping = false;
  let rounds = 0;
  const failures: string[] = [];
  const runs = Array.from({ length: count }, async (_, b) => {
    const client = await proxy.connect();
    try {
      for (let t = 0; !stopping; t++) {
        await client.query('BEGIN');
        const r = await client.query<{ v: string }>('SELECT $1::text AS v', [`b${b}-${t}`]);
        await client.query('SELECT pg_sleep(0.01)');
        await client.query('COMMIT');
        if (r.rows[0]?.v !== `b${b}-${t}`)
          failures.push(`bystander ${b}: ${JSON.stringify(r.rows)}`);
        rounds++;
      }
    } catch (error) {
      failures.push(`bystander ${b}: ${String(error)}`);
    } finally {
      await endQuietly(client);
    }
    if (errorsOf(client).length > 0) failures.push(`bystander ${b}: ${String(errorsOf(client))}`);
  });
  return {
    rounds: () => rounds,
    stop: async () => {
      stopping = true;
      await Promise.all(runs);
      return failures;
    },
  };
}

// ---- pg_terminate_backend ---------------------------------------------------------------------

describe('pg_terminate_backend on a pooled upstream connection (transaction mode, size 3)', () => {
  const SIZE = 3;
  let proxy: PoolProxy;
  let direct: pg.Client;
  let console: pg.Client;

  beforeAll(async () => {
    direct = await directClient();
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: SIZE, maxClientWaitMs: 20_000 },
    });
    console = await proxy.adminConsole();
  });
  afterAll(async () => {
    await console.end();
    await proxy.stop();
    await direct.end();
  });

  async function serverPids(): Promise<number[]> {
    return (await adminRows(console, 'SHOW SERVERS')).map((row) => Number(row.pid));
  }

  /** The pool is whole again: SIZE transactions at once, each on its own live backend. */
  async function expectPoolWhole(killed: number[]): Promise<void> {
    const clients = await Promise.all(Array.from({ length: SIZE }, () => proxy.connect()));
    try {
      const pids: number[] = [];
      for (const client of clients) {
        await client.query('BEGIN');
        pids.push(await pidOf(client));
      }
      expect(new Set(pids).size).toBe(SIZE);
      for (const pid of killed) expect(pids).not.toContain(pid);
      const pools = await adminRows(console, 'SHOW POOLS');
      expect(pools).toHaveLength(1);
      const pool = pools[0] ?? {};
      expect(Number(pool.sv_active)).toBe(SIZE);
      expect(
        Number(pool.sv_active) + Number(pool.sv_idle) + Number(pool.sv_connecting),
      ).toBeLessThanOrEqual(SIZE);
      for (const client of clients) await client.query('COMMIT');
    } finally {
      for (const client of clients) await endQuietly(client);
    }
    const servers = await serverPids();
    expect(servers.length).toBeLessThanOrEqual(SIZE);
    for (const pid of killed) expect(servers).not.toContain(pid);
  }

  test('mid-statement in a transaction: only that client gets an error, the others go on, the pool replaces the backend', async () => {
    const load = bystanders(proxy, 4);
    const victim = await proxy.connect();
    try {
      await waitFor('bystanders running', () => load.rounds() > 10);
      await victim.query('BEGIN');
      const pid = await pidOf(victim);
      const running = codeOf(victim.query('SELECT pg_sleep(10)'));
      await waitFor('the victim statement upstream', async () => {
        const r = await direct.query(
          `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query = 'SELECT pg_sleep(10)' AND state = 'active'`,
          [pid],
        );
        return r.rowCount === 1;
      });
      const terminated = await direct.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend($1) AS ok',
        [pid],
      );
      expect(terminated.rows).toEqual([{ ok: true }]);
      expect(await running).toBe('57P01');
      const roundsAtKill = load.rounds();
      await waitFor('bystanders to go on', () => load.rounds() > roundsAtKill + 20);
      expect(await load.stop()).toEqual([]);
      await expectPoolWhole([pid]);
    } finally {
      await load.stop();
      await endQuietly(victim);
    }
  });

  test('idle in a transaction: that client gets an error, the others go on, the pool replaces the backend', async () => {
    const load = bystanders(proxy, 4);
    const victim = await proxy.connect();
    try {
      await waitFor('bystanders running', () => load.rounds() > 10);
      await victim.query('BEGIN');
      const pid = await pidOf(victim);
      await direct.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor('the victim to hear of it', () => errorsOf(victim).length > 0, 10_000);
      expect(await codeOf(victim.query('SELECT 1'))).not.toBe('none');
      const roundsAtKill = load.rounds();
      await waitFor('bystanders to go on', () => load.rounds() > roundsAtKill + 20);
      expect(await load.stop()).toEqual([]);
      await expectPoolWhole([pid]);
    } finally {
      await load.stop();
      await endQuietly(victim);
    }
  });

  test('idle in the pool: the pool drops the dead backends and no client notices', async () => {
    await expectPoolWhole([]); // SIZE idle connections now
    const idle = (await adminRows(console, 'SHOW SERVERS'))
      .filter((row) => row.state === 'idle')
      .map((row) => Number(row.pid));
    expect(idle.length).toBeGreaterThan(0);
    await direct.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [idle]);
    await waitFor('the pool to drop the terminated backends', async () => {
      const servers = await serverPids();
      return idle.every((pid) => !servers.includes(pid));
    });
    const load = bystanders(proxy, 4);
    await waitFor('bystanders running', () => load.rounds() > 20);
    expect(await load.stop()).toEqual([]);
    await expectPoolWhole(idle);
  });
});

// ---- upstream restart -------------------------------------------------------------------------

describe('upstream Postgres restarted under a running proxy', () => {
  const TABLE = `df_restart_${suffix}`;
  let dir: string;
  let port: number;
  let embedded: RunningEmbedded | undefined;
  let txProxy: PoolProxy;
  let sessionProxy: PoolProxy;
  const log = pino({ level: 'silent' });

  const startUpstream = async (): Promise<RunningEmbedded> =>
    startEmbeddedPostgres({
      dataDir: dir,
      port,
      user: 'docfusion',
      password: 'docfusion',
      database: 'docfusion',
      logger: log,
    });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-restart-'));
    port = await freePort();
    embedded = await startUpstream();
    const quickConnect = { retries: 1, backoffInitialMs: 50, backoffMaxMs: 200, timeoutMs: 2000 };
    txProxy = await startPoolProxy({
      upstream: embedded.url,
      http: true,
      pool: { mode: 'transaction', size: 3, maxClientWaitMs: 10_000 },
      upstreamConnect: quickConnect,
    });
    sessionProxy = await startPoolProxy({
      upstream: embedded.url,
      http: true,
      pool: { mode: 'session', size: 3, maxClientWaitMs: 10_000 },
      upstreamConnect: quickConnect,
    });
  });
  afterAll(async () => {
    await txProxy.stop();
    await sessionProxy.stop();
    await embedded?.stop('immediate');
    await rm(dir, { recursive: true, force: true });
  });

  async function readyz(proxy: PoolProxy): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${proxy.httpPort}/readyz`);
    await response.text();
    return response.status;
  }

  async function connectError(proxy: PoolProxy): Promise<string> {
    const client = watchedClient(proxy.clientConfig({ connectionTimeoutMillis: 15_000 }));
    try {
      await client.connect();
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
    await client.end();
    return 'connected';
  }

  test('connected clients get errors, /readyz goes 503 and back to 200, new clients work without a proxy restart', async () => {
    const url = embedded?.url ?? '';
    const setup = watchedClient({ connectionString: url });
    await setup.connect();
    await setup.query(`CREATE TABLE ${TABLE} (v int)`);
    await setup.query(`INSERT INTO ${TABLE} VALUES (1), (2)`);
    await setup.end();

    // Readiness is measured in the background; right after start it may not be known yet.
    await waitFor('/readyz 200 at start', async () => (await readyz(txProxy)) === 200, 20_000, 200);
    await waitFor(
      '/readyz 200 at start',
      async () => (await readyz(sessionProxy)) === 200,
      20_000,
      200,
    );
    const inTransaction = await txProxy.connect();
    await inTransaction.query('BEGIN');
    await inTransaction.query(`SELECT count(*) FROM ${TABLE}`);
    const sessionClient = await sessionProxy.connect();
    await sessionClient.query('SELECT 1');
    const idleTxClient = await txProxy.connect();
    const named = { name: 'df_named', text: 'SELECT $1::int * 2 AS v' };
    expect((await idleTxClient.query({ ...named, values: [1] })).rows).toEqual([{ v: 2 }]);

    await embedded?.stop('fast');
    embedded = undefined;
    try {
      await waitFor(
        '/readyz 503 (transaction proxy)',
        async () => (await readyz(txProxy)) === 503,
        20_000,
        200,
      );
      await waitFor(
        '/readyz 503 (session proxy)',
        async () => (await readyz(sessionProxy)) === 503,
        20_000,
        200,
      );
      // Clients holding an upstream connection lose it.
      expect(await codeOf(inTransaction.query('SELECT 1'))).not.toBe('none');
      expect(await codeOf(sessionClient.query('SELECT 1'))).not.toBe('none');
      // While Postgres is down, a new client is told so.
      expect(await connectError(txProxy)).not.toBe('connected');
    } finally {
      embedded = await startUpstream();
    }

    await waitFor(
      '/readyz 200 (transaction proxy)',
      async () => (await readyz(txProxy)) === 200,
      30_000,
      200,
    );
    await waitFor(
      '/readyz 200 (session proxy)',
      async () => (await readyz(sessionProxy)) === 200,
      30_000,
      200,
    );
    // Five clients at once in transaction mode; in session mode as many as the pool has.
    for (const [proxy, count] of [
      [txProxy, 5],
      [sessionProxy, 3],
    ] as const) {
      const clients = await Promise.all(Array.from({ length: count }, () => proxy.connect()));
      try {
        await Promise.all(
          clients.map(async (client, i) => {
            await client.query('BEGIN');
            const r = await client.query<{ n: number; i: number }>(
              `SELECT count(*)::int AS n, $1::int AS i FROM ${TABLE}`,
              [i],
            );
            await client.query('COMMIT');
            expect(r.rows).toEqual([{ n: 2, i }]);
          }),
        );
      } finally {
        for (const client of clients) await endQuietly(client);
      }
    }
    await endQuietly(inTransaction);
    await endQuietly(sessionClient);

    // A transaction-mode client that held no connection during the restart carries on, and
    // its named statement (node-postgres now only binds it) is prepared on a new backend.
    try {
      expect((await idleTxClient.query({ ...named, values: [21] })).rows).toEqual([{ v: 42 }]);
      expect(errorsOf(idleTxClient)).toEqual([]);
    } finally {
      await endQuietly(idleTxClient);
    }
  });
});
