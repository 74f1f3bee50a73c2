/**
 * Chaos between the proxy and Postgres: a ChaosRelay (relay.ts) is the proxy's upstream, and the
 * tests break it on purpose — kill every connection during a query, take the upstream away and
 * bring it back, stall it under a query timeout, reset one connection in the middle of a DataRow,
 * of COPY FROM STDIN, of COPY TO STDOUT, and of a transaction. Each time: the affected client gets
 * a Postgres-style error (a SQLSTATE and a message), no client ever receives another client's rows,
 * the other clients carry on, and the pools and the upstream return to baseline without a proxy
 * restart. Every wait is bounded.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { directClient, sleep, waitFor, type PoolProxy } from '../support/pool-proxy.js';
import {
  backToBaseline,
  chaosProxy,
  ChaosClient,
  CONNECTION_LOST,
  outcome,
  startRelay,
  type Outcome,
} from './chaos-support.js';
import type { ChaosRelay } from './relay.js';

const suffix = randomBytes(4).toString('hex');
/** CHAOS_VERBOSE=1 prints what each affected client got. */
const note = (what: string, o: unknown): void => {
  if (process.env.CHAOS_VERBOSE) console.log(what, JSON.stringify(o));
};
const TABLE = `chaos_t_${suffix}`;

let direct: pg.Client;
let current: ChaosRelay | undefined;
/** The relay of the running test. */
function relayOf(): ChaosRelay {
  if (!current) throw new Error('no relay');
  return current;
}
let proxy: PoolProxy | undefined;
const clients: ChaosClient[] = [];

beforeAll(async () => {
  direct = await directClient();
  await direct.query(`CREATE TABLE ${TABLE} (tag text, n int)`);
});

afterAll(async () => {
  await direct.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
  await direct.end();
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.end();
  await proxy?.stop(500);
  proxy = undefined;
  await current?.close();
  current = undefined;
});

async function setup(
  mode: 'session' | 'transaction',
  extra: Parameters<typeof chaosProxy>[1] = {},
): Promise<PoolProxy> {
  current = await startRelay();
  proxy = await chaosProxy(current, {
    ...extra,
    pool: { mode, size: 6, maxClientWaitMs: 10_000, ...extra.pool },
  });
  return proxy;
}

async function client(p: PoolProxy, overrides: pg.ClientConfig = {}): Promise<ChaosClient> {
  const c = await ChaosClient.connect(p, overrides);
  clients.push(c);
  return c;
}

/** A Postgres-style error: a SQLSTATE of the given set, and a message. */
function expectConnectionLost(o: Outcome): void {
  expect(o.ok, 'the query should have failed').toBe(false);
  expect(CONNECTION_LOST, `SQLSTATE of "${o.message}"`).toContain(o.code);
  expect(o.message.length).toBeGreaterThan(5);
}

/** `count` rows tagged `tag`, each carrying its own tag: what every bystander must get. */
async function taggedRows(c: ChaosClient, tag: string, count: number): Promise<void> {
  const r = await c.query<{ tag: string; n: number }>(
    `SELECT $1::text AS tag, n, repeat('x', 200) AS pad FROM generate_series(1, ${count}) AS n`,
    [tag],
  );
  const foreign = r.rows.filter((row) => row.tag !== tag);
  if (foreign.length > 0) throw new Error(`client ${tag} received rows of ${foreign[0]?.tag}`);
  if (r.rows.length !== count)
    throw new Error(`client ${tag} got ${r.rows.length} rows, not ${count}`);
}

// ---- kill -------------------------------------------------------------------------------------

describe.each(['session', 'transaction'] as const)(
  '%s pooling: upstream killed during a query',
  (mode) => {
    test('the running client gets FATAL 08006 (or 57P01) with a message; later clients work; pools back to baseline', async () => {
      const p = await setup(mode);
      const victim = await client(p);
      const bystander = await client(p);
      await bystander.query('SELECT 1');
      const running = outcome(() => victim.query('SELECT pg_sleep(3)'));
      await sleep(300);
      const killed = relayOf().killAll('reset');
      expect(killed).toBeGreaterThan(0);
      const o = await running;
      note(`${mode} kill: victim`, o);
      expectConnectionLost(o);
      expect(o.ms).toBeLessThan(2500);
      // In transaction mode the idle bystander held no connection and simply carries on.
      if (mode === 'transaction') {
        expect((await bystander.query<{ n: number }>('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
      }
      for (let i = 0; i < 3; i++) {
        const later = await client(p);
        expect((await later.query<{ n: number }>('SELECT $1::int AS n', [i])).rows).toEqual([
          { n: i },
        ]);
        await later.end();
      }
      for (const c of clients.splice(0)) await c.end();
      await backToBaseline(p, direct, 0);
    }, 40_000);
  },
);

// ---- restart ----------------------------------------------------------------------------------

describe('upstream restarted (refused, then accepted again)', () => {
  test('errors while it is away, then the pool recovers without a proxy restart', async () => {
    const p = await setup('transaction', {
      upstreamConnect: { retries: 2, backoffInitialMs: 100, backoffMaxMs: 200 },
    });
    const idle = await client(p);
    await idle.query('SELECT 1');
    relayOf().killAll('reset');
    await relayOf().refuseNew('unlisten');
    // While Postgres is away: a query of a connected client, and a new login, fail cleanly.
    const during = await outcome(() => idle.query('SELECT 1'));
    note('restart: query while away', during);
    expect(during.ok).toBe(false);
    expect(['08006', '57P01', '53300', '08001']).toContain(during.code);
    expect(during.ms).toBeLessThan(10_000);
    const login = await outcome(async () => {
      const c = new ChaosClient(p, { connectionTimeoutMillis: 10_000 });
      clients.push(c);
      await c.client.connect();
    });
    note('restart: login while away', login);
    expect(login.ok).toBe(false);
    expect(login.message).not.toBe('');
    await relayOf().acceptNew();
    // Back: new clients work, and within a bound so does everything else.
    await waitFor(
      'a new client to get rows again',
      async () => {
        const o = await outcome(async () => {
          const c = await client(p, { connectionTimeoutMillis: 5000 });
          const r = await c.query<{ n: number }>('SELECT 41 + 1 AS n');
          if (r.rows[0]?.n !== 42) throw new Error('wrong row');
          await c.end();
        });
        return o.ok;
      },
      15_000,
      200,
    );
    const after = await client(p);
    expect((await after.query<{ n: number }>('SELECT $1::int AS n', [7])).rows).toEqual([{ n: 7 }]);
    for (const c of clients.splice(0)) await c.end();
    await backToBaseline(p, direct, 0);
    expect(p.running.proxy.listening).toBe(true);
  }, 60_000);
});

// ---- stall ------------------------------------------------------------------------------------

describe('stalled upstream with timeouts.queryMs', () => {
  test('57014 arrives once the stall ends (the cancel goes through the relay too)', async () => {
    const p = await setup('session', { timeouts: { queryMs: 500 } });
    const c = await client(p);
    const running = outcome(() => c.query('SELECT pg_sleep(5)'));
    await sleep(100);
    relayOf().stall('down');
    await sleep(1500); // the query timeout fired and its cancel reached Postgres meanwhile
    relayOf().resume();
    const o = await running;
    note('stall then resume', o);
    expect(o.ok).toBe(false);
    expect(o.code).toBe('57014');
    expect(o.ms).toBeLessThan(4000);
    expect((await c.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    for (const x of clients.splice(0)) await x.end();
    await backToBaseline(p, direct, 0);
  }, 30_000);

  /**
   * timeouts.queryMs sends a cancel; when the upstream stops answering altogether (a stalled
   * network path, a frozen host, and here the cancel connection stalls too), the proxy gives up
   * `upstreamConnect.timeoutMs` after the cancel: it destroys the upstream connection (not reused)
   * and the client gets FATAL 08006, instead of waiting until TCP keepalive gives up.
   */
  test('a stall that never ends: the client gets FATAL 08006 within bounds; the pool recovers', async () => {
    const p = await setup('session', {
      timeouts: { queryMs: 500 },
      upstreamConnect: { timeoutMs: 1000 },
    });
    const c = await client(p, { query_timeout: 0 });
    const running = outcome(() => c.query('SELECT pg_sleep(2)'));
    await sleep(100);
    relayOf().stall('both', true);
    const settled = await Promise.race([running, sleep(8000).then(() => undefined)]);
    relayOf().resume();
    note('stall that never ends', settled);
    expect(settled, 'no answer 8 s into a 0.5 s query timeout').toBeDefined();
    expect(settled?.ok).toBe(false);
    expect(settled?.severity).toBe('FATAL');
    expect(settled?.code).toBe('08006');
    expect(settled?.message).not.toMatch(/internal error/);
    for (const x of clients.splice(0)) await x.end();
    const later = await client(p);
    expect((await later.query<{ n: number }>('SELECT 3 AS n')).rows).toEqual([{ n: 3 }]);
    for (const x of clients.splice(0)) await x.end();
    await backToBaseline(p, direct, 0);
  }, 30_000);
});

/**
 * The proxy's own upstream timeouts are connection failures: an upstream that accepts TCP but never
 * answers the login times out with ETIMEDOUT (retried, then FATAL 08006), and an internal query
 * (the SET replay, DISCARD ALL, ROLLBACK, the health check) that gets no answer is FATAL 08006 —
 * never XX000 "internal error".
 */
describe('stalled upstream during login and settings replay', () => {
  test('a login the upstream never answers: FATAL 08006 within bounds, not an internal error', async () => {
    const p = await setup('session', {
      auth: { method: 'trust' },
      upstreamConnect: { timeoutMs: 1000, retries: 1 },
    });
    relayOf().stallNewConnections('both');
    const login = await outcome(async () => {
      await client(p, { connectionTimeoutMillis: 15_000 });
    });
    relayOf().resume();
    note('login against a stalled upstream', login);
    expect(login.ok).toBe(false);
    expect(login.ms).toBeLessThan(10_000);
    expect(login.message).not.toMatch(/internal error/);
    expect(CONNECTION_LOST).toContain(login.code);
  }, 30_000);

  test('a settings replay the upstream never answers: a connection error, not an internal error', async () => {
    const p = await setup('transaction', { auth: { method: 'trust' } });
    const c = await client(p, { application_name: 'chaos-replay' });
    await c.query('SELECT 1');
    // Another client leaves a connection with other settings in the pool: c's next lease needs a SET.
    const other = await client(p, { application_name: 'chaos-other' });
    await other.query("SET work_mem = '9MB'");
    await other.end();
    relayOf().stall('both');
    const o = await outcome(() => c.query('SELECT 2'));
    relayOf().resume();
    note('settings replay against a stalled upstream', o);
    expect(o.ok).toBe(false);
    expect(o.message).not.toMatch(/internal error/);
    expect(CONNECTION_LOST).toContain(o.code);
  }, 30_000);
});

// ---- reset mid-DataRow ------------------------------------------------------------------------

describe.each(['session', 'transaction'] as const)(
  '%s pooling: reset mid-DataRow of a large result',
  (mode) => {
    test('the victim errors; every other client gets exactly its own rows; pools back to baseline', async () => {
      const p = await setup(mode);
      const ROWS = 3000;
      const bystanders = await Promise.all(Array.from({ length: 4 }, () => client(p)));
      for (let round = 0; round < 4; round++) {
        const victim = await client(p);
        const victimTag = `victim-${suffix}-${round}`;
        const rule = relayOf().armReset({
          marker: victimTag,
          onMessage: { direction: 'down', type: 'D', nth: 200 + round * 300, bytesInto: 9 },
        });
        const results = await Promise.all([
          outcome(() => taggedRows(victim, victimTag, ROWS)),
          ...bystanders.map((b, i) =>
            outcome(() => taggedRows(b, `bystander-${i}-${round}`, ROWS)),
          ),
        ]);
        const fired = await Promise.race([
          rule.fired.then(() => true),
          sleep(100).then(() => false),
        ]);
        rule.disarm();
        expect(fired, 'the reset rule fired').toBe(true);
        const [v, ...others] = results;
        note(`${mode} mid-DataRow victim`, v);
        expectConnectionLost(v);
        for (const o of others) expect(o, o.message).toMatchObject({ ok: true });
        await victim.end();
      }
      for (const b of bystanders)
        expect((await b.query<{ n: number }>('SELECT 5 AS n')).rows).toEqual([{ n: 5 }]);
      await backToBaseline(p, direct, mode === 'session' ? bystanders.length : 0);
    }, 60_000);
  },
);

// ---- reset mid-COPY ---------------------------------------------------------------------------

async function copyIn(c: ChaosClient, tag: string, rows: number): Promise<void> {
  const lines = Array.from({ length: rows }, (_, n) => `${tag}\t${n}\n`);
  const chunks: string[] = [];
  for (let i = 0; i < lines.length; i += 50) chunks.push(lines.slice(i, i + 50).join(''));
  await pipeline(
    Readable.from(chunks),
    c.client.query(copyFrom(`COPY ${TABLE} (tag, n) FROM STDIN /* ${tag} */`)),
  );
}

async function copyOut(c: ChaosClient, tag: string, rows: number): Promise<void> {
  let text = '';
  await pipeline(
    c.client.query(
      copyTo(`COPY (SELECT '${tag}'::text, n FROM generate_series(1, ${rows}) AS n) TO STDOUT`),
    ),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text += chunk.toString('utf8');
        callback();
      },
    }),
  );
  const lines = text.split('\n').filter(Boolean);
  const foreign = lines.find((line) => !line.startsWith(`${tag}\t`));
  if (foreign !== undefined) throw new Error(`COPY of ${tag} received "${foreign.slice(0, 40)}"`);
  if (lines.length !== rows)
    throw new Error(`COPY of ${tag} got ${lines.length} lines, not ${rows}`);
}

async function countTag(tag: string): Promise<number> {
  const r = await direct.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${TABLE} WHERE tag = $1`,
    [tag],
  );
  return r.rows[0]?.n ?? -1;
}

describe.each(['session', 'transaction'] as const)('%s pooling: reset mid-COPY', (mode) => {
  test('FROM STDIN: the victim errors and nothing of its COPY is committed; the others copy everything', async () => {
    const p = await setup(mode);
    const ROWS = 4000;
    const victim = await client(p);
    const others = await Promise.all(Array.from({ length: 3 }, () => client(p)));
    const victimTag = `cin-victim-${mode}-${suffix}`;
    const rule = relayOf().armReset({
      marker: victimTag,
      onMessage: { direction: 'up', type: 'd', nth: 20, bytesInto: 7 },
    });
    const results = await Promise.all([
      outcome(() => copyIn(victim, victimTag, ROWS)),
      ...others.map((c, i) => outcome(() => copyIn(c, `cin-${mode}-${i}-${suffix}`, ROWS))),
    ]);
    await Promise.race([rule.fired, sleep(1000)]);
    const [v, ...rest] = results;
    note(`${mode} mid-COPY-in victim`, v);
    expect(v.ok).toBe(false);
    expect(v.message.length).toBeGreaterThan(5);
    expect(CONNECTION_LOST).toContain(v.code);
    for (const o of rest) expect(o, o.message).toMatchObject({ ok: true });
    await waitFor(
      'the victim COPY rolled back upstream',
      async () => (await countTag(victimTag)) === 0,
      5000,
    );
    for (let i = 0; i < others.length; i++)
      expect(await countTag(`cin-${mode}-${i}-${suffix}`)).toBe(ROWS);
    await victim.end();
    await backToBaseline(p, direct, mode === 'session' ? others.length : 0);
  }, 60_000);

  test('TO STDOUT: the victim errors; the others get exactly their own lines', async () => {
    const p = await setup(mode);
    const ROWS = 20_000;
    const victim = await client(p);
    const others = await Promise.all(Array.from({ length: 3 }, () => client(p)));
    const victimTag = `cout-victim-${mode}-${suffix}`;
    const rule = relayOf().armReset({
      marker: victimTag,
      onMessage: { direction: 'down', type: 'd', nth: 500, bytesInto: 6 },
    });
    const results = await Promise.all([
      outcome(() => copyOut(victim, victimTag, ROWS)),
      ...others.map((c, i) => outcome(() => copyOut(c, `cout-${mode}-${i}`, ROWS))),
    ]);
    await Promise.race([rule.fired, sleep(1000)]);
    const [v, ...rest] = results;
    note(`${mode} mid-COPY-out victim`, v);
    expect(v.ok).toBe(false);
    expect(CONNECTION_LOST).toContain(v.code);
    for (const o of rest) expect(o, o.message).toMatchObject({ ok: true });
    await victim.end();
    await backToBaseline(p, direct, mode === 'session' ? others.length : 0);
  }, 60_000);
});

// ---- reset mid-transaction ----------------------------------------------------------------------

describe('transaction pooling: reset mid-transaction', () => {
  test('the victim errors and its transaction is rolled back; others keep committing; pools back to baseline', async () => {
    const p = await setup('transaction');
    const victim = await client(p);
    const victimTag = `tx-victim-${suffix}`;
    let stop = false;
    const failures: string[] = [];
    let commits = 0;
    const loops = Array.from({ length: 3 }, async (_, i) => {
      const c = await client(p);
      for (let t = 0; !stop && t < 500; t++) {
        const tag = `tx-${i}-${t}-${suffix}`;
        const o = await outcome(async () => {
          await c.query('BEGIN');
          await c.query(`INSERT INTO ${TABLE} (tag, n) VALUES ($1, 1)`, [tag]);
          const r = await c.query<{ tag: string }>('SELECT $1::text AS tag', [tag]);
          if (r.rows[0]?.tag !== tag) throw new Error(`got ${JSON.stringify(r.rows)}`);
          await c.query('COMMIT');
        });
        if (!o.ok) failures.push(`${tag}: ${o.message}`);
        else commits++;
      }
    });
    await victim.query('BEGIN');
    await victim.query(`INSERT INTO ${TABLE} (tag, n) VALUES ($1, 1)`, [victimTag]);
    const rule = relayOf().armReset({ marker: `mark-${victimTag}`, afterDownBytes: 0 });
    const v = await outcome(() => victim.query(`SELECT 'mark-${victimTag}' AS m, pg_sleep(0.2)`));
    note('mid-transaction victim', v);
    expectConnectionLost(v);
    await rule.fired;
    const next = await outcome(() => victim.query('COMMIT'));
    expect(next.ok).toBe(false);
    await sleep(500);
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(commits).toBeGreaterThan(0);
    await waitFor(
      'the victim transaction rolled back',
      async () => (await countTag(victimTag)) === 0,
      5000,
    );
    for (const c of clients.splice(0)) await c.end();
    await backToBaseline(p, direct, 0);
  }, 60_000);
});
