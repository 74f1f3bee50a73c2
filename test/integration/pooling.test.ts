/**
 * Upstream pooling through real clients against a real Postgres: transaction pooling under load
 * (isolation and the upstream connection bound), protocol-level prepared statements across
 * transactions, session state replayed per client, pinning, cancel racing the end of a statement,
 * the session-mode reset, and the client timeouts.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as fe from '../../protocol/frontend-encoders.js';
import {
  adminRows,
  codeOf,
  directClient,
  endQuietly,
  errorsOf,
  extendedQuery,
  sendCancel,
  sleep,
  startPoolProxy,
  upstreamPoolBackends,
  waitFor,
  type PoolProxy,
} from '../support/pool-proxy.js';
import { RawClient, summarize } from '../support/raw-client.js';

const suffix = randomBytes(4).toString('hex');
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

let direct: pg.Client;
beforeAll(async () => {
  direct = await directClient();
});
afterAll(async () => {
  await direct.end();
});

async function pidOf(client: pg.Client): Promise<number> {
  const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const pid = r.rows[0]?.pid;
  if (pid === undefined) throw new Error('no pid');
  return pid;
}

async function setting(client: pg.Client, name: string): Promise<string> {
  const r = await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name]);
  return r.rows[0]?.v ?? '<none>';
}

/**
 * A new client in an open transaction on upstream backend `pid` (clients are opened until one
 * lands there; the others commit and leave). Fails when no client lands on it.
 */
async function holdBackend(proxy: PoolProxy, pid: number, tries: number): Promise<pg.Client> {
  const others: pg.Client[] = [];
  try {
    for (let i = 0; i < tries; i++) {
      const client = await proxy.connect();
      await client.query('BEGIN');
      if ((await pidOf(client)) === pid) return client;
      others.push(client);
    }
    throw new Error(`no client landed on upstream backend ${pid} in ${tries} tries`);
  } finally {
    for (const other of others) {
      await other.query('COMMIT');
      await other.end();
    }
  }
}

// ---- 1. load ------------------------------------------------------------------------------------

describe('transaction pooling under load', () => {
  const TABLE = `df_pool_rows_${suffix}`;
  let proxy: PoolProxy;

  beforeAll(async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 10 },
      limits: { maxClientConnections: 300 },
    });
    await direct.query(`CREATE TABLE ${TABLE} (who int NOT NULL, k int NOT NULL, note text)`);
  });
  afterAll(async () => {
    await proxy.stop();
    await direct.query(`DROP TABLE IF EXISTS ${TABLE}`);
  });

  test('200 clients x 10 transactions over 10 connections: only own rows, at most 10 upstream backends', async () => {
    const CLIENTS = 200;
    const ROUNDS = 10;
    const watcher = await directClient();
    let maxBackends = 0;
    let samples = 0;
    const state = { done: false };
    const poll = (async () => {
      while (!state.done) {
        const n = await upstreamPoolBackends(watcher);
        maxBackends = Math.max(maxBackends, n);
        samples++;
        await sleep(5);
      }
    })();
    const failures: string[] = [];
    const pids = new Set<number>();
    const clientsPerPid = new Map<number, Set<number>>();
    try {
      await Promise.all(
        range(CLIENTS).map(async (id) => {
          const client = await proxy.connect();
          try {
            for (let k = 0; k < ROUNDS; k++) {
              await client.query('BEGIN');
              await client.query(`INSERT INTO ${TABLE} (who, k, note) VALUES ($1, $2, $3)`, [
                id,
                k,
                `client ${id} row ${k}`,
              ]);
              const pid = await pidOf(client);
              pids.add(pid);
              if (!clientsPerPid.has(pid)) clientsPerPid.set(pid, new Set());
              clientsPerPid.get(pid)?.add(id);
              // Extended protocol: every row of mine, in order.
              const mine = await client.query<{ who: number; k: number; note: string }>(
                `SELECT who, k, note FROM ${TABLE} WHERE who = $1 ORDER BY k`,
                [id],
              );
              // Simple protocol: the count, tagged with the client id.
              const count = await client.query<{ n: number; me: number }>(
                `SELECT count(*)::int AS n, ${id} AS me FROM ${TABLE} WHERE who = ${id}`,
              );
              await client.query('COMMIT');
              const expected = range(k + 1).map((j) => ({
                who: id,
                k: j,
                note: `client ${id} row ${j}`,
              }));
              if (JSON.stringify(mine.rows) !== JSON.stringify(expected)) {
                failures.push(`client ${id} round ${k}: rows ${JSON.stringify(mine.rows)}`);
              }
              const c = count.rows[0];
              if (c?.n !== k + 1 || c.me !== id) {
                failures.push(`client ${id} round ${k}: count ${JSON.stringify(count.rows)}`);
              }
            }
          } catch (error) {
            failures.push(`client ${id}: ${String(error)}`);
          } finally {
            await endQuietly(client);
          }
        }),
      );
    } finally {
      state.done = true;
      await poll;
      await watcher.end();
    }
    expect(failures).toEqual([]);
    expect(samples).toBeGreaterThan(0);
    expect(maxBackends).toBeGreaterThan(0);
    expect(maxBackends).toBeLessThanOrEqual(10);
    expect(pids.size).toBeLessThanOrEqual(10);
    // Sharing: some backend served many different clients.
    expect(Math.max(...[...clientsPerPid.values()].map((s) => s.size))).toBeGreaterThan(10);
    const total = await direct.query<{ n: number; clients: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT who)::int AS clients FROM ${TABLE}`,
    );
    expect(total.rows[0]).toEqual({ n: CLIENTS * ROUNDS, clients: CLIENTS });
  });
});

// ---- 2. prepared statements ------------------------------------------------------------------

describe('protocol-level prepared statements in transaction mode', () => {
  let proxy: PoolProxy;
  const pools: postgres.Sql[] = [];

  beforeAll(async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 3, maxClientWaitMs: 20_000 },
      auth: { method: 'trust' },
    });
  });
  afterAll(async () => {
    for (const sql of pools) await sql.end({ timeout: 5 });
    await proxy.stop();
  });

  test('postgres.js (prepare: true, max 8): 500 parameterised queries of varied types across 100 transactions', async () => {
    const sql = postgres(proxy.url(), { max: 8, prepare: true, onnotice: () => undefined });
    pools.push(sql);
    const failures: string[] = [];
    const check = (i: number, got: unknown, want: unknown): void => {
      if (JSON.stringify(got) !== JSON.stringify(want))
        failures.push(`query ${i}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    };
    await Promise.all(
      range(100).map((t) =>
        sql.begin(async (tx) => {
          for (let j = 0; j < 5; j++) {
            const i = t * 5 + j;
            switch (i % 9) {
              case 0: {
                const [r] = await tx`SELECT ${i}::int + 1 AS v`;
                check(i, r?.v, i + 1);
                break;
              }
              case 1: {
                const [r] = await tx`SELECT ${`text ${i} ü`}::text || '!' AS v`;
                check(i, r?.v, `text ${i} ü!`);
                break;
              }
              case 2: {
                const [r] = await tx`SELECT ${i % 2 === 0}::bool AS b, ${i + 0.5}::float8 * 2 AS f`;
                check(i, [r?.b, r?.f], [i % 2 === 0, 2 * i + 1]);
                break;
              }
              case 3: {
                const [r] =
                  await tx`SELECT jsonb_build_object('i', ${i}::int, 'tag', ${'x'}::text) ->> 'i' AS v`;
                check(i, r?.v, String(i));
                break;
              }
              case 4: {
                const big = (BigInt(i) * 10_000_000_000n).toString();
                const [r] = await tx`SELECT (${big}::int8 + 1)::text AS v`;
                check(i, r?.v, (BigInt(big) + 1n).toString());
                break;
              }
              case 5: {
                const when = new Date(Date.UTC(2020, 0, 1 + (i % 28), 12));
                const [r] = await tx`SELECT ${when}::timestamptz + interval '1 hour' AS v`;
                check(
                  i,
                  (r?.v as Date | undefined)?.toISOString(),
                  new Date(when.getTime() + 3_600_000).toISOString(),
                );
                break;
              }
              case 6: {
                const [r] = await tx`SELECT ${Buffer.from([i % 256, 1, 2])}::bytea AS v`;
                check(i, [...((r?.v as Buffer | undefined) ?? [])], [i % 256, 1, 2]);
                break;
              }
              case 7: {
                const [r] =
                  await tx`SELECT ${null}::int IS NULL AS v, (${i * 4}::numeric / 4)::int AS q`;
                check(i, [r?.v, r?.q], [true, i]);
                break;
              }
              default: {
                const [r] = await tx`SELECT ${sql.array([i, i + 1])}::int[] AS v`;
                check(i, r?.v, [i, i + 1]);
                break;
              }
            }
          }
        }),
      ),
    );
    expect(failures).toEqual([]);
    // The statements really were prepared upstream under proxy names.
    const console = await proxy.adminConsole();
    const servers = await adminRows(console, 'SHOW SERVERS');
    await console.end();
    expect(servers.some((s) => Number(s.prepared_statements) > 0)).toBe(true);
  });

  test('node-postgres named queries: 6 clients, same names with different text, 20 transactions each', async () => {
    const failures: string[] = [];
    const pidsByClient = new Map<number, Set<number>>();
    await Promise.all(
      range(6).map(async (c) => {
        const client = await proxy.connect();
        const pids = new Set<number>();
        pidsByClient.set(c, pids);
        try {
          for (let t = 0; t < 20; t++) {
            await client.query('BEGIN');
            // The same statement name in every client, with text that differs per client.
            const mul = await client.query<{ v: number; pid: number }>({
              name: 'mul',
              text: `SELECT $1::int * ${c + 2} AS v, pg_backend_pid() AS pid`,
              values: [t],
            });
            const echo = await client.query<{ v: string }>({
              name: 'echo',
              text: 'SELECT $1::text AS v',
              values: [`client ${c} tx ${t}`],
            });
            const typed = await client.query<{ v: string }>({
              name: `typed_${c}`,
              text: 'SELECT ($1::date + $2::int)::text AS v',
              values: ['2024-02-27', t],
            });
            await client.query('COMMIT');
            pids.add(mul.rows[0]?.pid ?? -1);
            if (mul.rows[0]?.v !== t * (c + 2))
              failures.push(`client ${c} tx ${t}: mul ${JSON.stringify(mul.rows)}`);
            if (echo.rows[0]?.v !== `client ${c} tx ${t}`)
              failures.push(`client ${c} tx ${t}: echo ${JSON.stringify(echo.rows)}`);
            const day = new Date(Date.UTC(2024, 1, 27 + t)).toISOString().slice(0, 10);
            if (typed.rows[0]?.v !== day)
              failures.push(`client ${c} tx ${t}: typed ${JSON.stringify(typed.rows)}`);
          }
        } catch (error) {
          failures.push(`client ${c}: ${String(error)}`);
        } finally {
          await endQuietly(client);
        }
      }),
    );
    expect(failures).toEqual([]);
    // Named statements were used on more than one upstream connection by the same client.
    expect(Math.max(...[...pidsByClient.values()].map((p) => p.size))).toBeGreaterThan(1);
  });

  test('DEALLOCATE ALL (simple query, as Prisma) forgets the names; the client prepares them again', async () => {
    const raw = await RawClient.connect(proxy.port, { user: proxy.user, database: proxy.database });
    try {
      expect(
        await raw.roundTrip(
          fe.parse('s1', 'SELECT $1::int + 1 AS v'),
          fe.bind({ statement: 's1', params: ['1'] }),
          fe.execute(),
          fe.sync(),
        ),
      ).toEqual(['1', '2', 'D:2', 'C:SELECT 1', 'Z:I']);
      expect(await raw.roundTrip(fe.query('DEALLOCATE ALL'))).toEqual(['C:DEALLOCATE ALL', 'Z:I']);
      // As in Postgres: the old name is gone ...
      expect(
        await raw.roundTrip(fe.bind({ statement: 's1', params: ['1'] }), fe.execute(), fe.sync()),
      ).toEqual(['E:26000', 'Z:I']);
      // ... and can be prepared again, with other text, inside a transaction too.
      expect(await raw.roundTrip(fe.query('BEGIN'))).toEqual(['C:BEGIN', 'Z:T']);
      expect(
        await raw.roundTrip(
          fe.parse('s1', "SELECT $1::text || '-again' AS v"),
          fe.bind({ statement: 's1', params: ['x'] }),
          fe.execute(),
          fe.sync(),
        ),
      ).toEqual(['1', '2', 'D:x-again', 'C:SELECT 1', 'Z:T']);
      expect(await raw.roundTrip(fe.query('COMMIT'))).toEqual(['C:COMMIT', 'Z:I']);
      expect(
        await raw.roundTrip(fe.bind({ statement: 's1', params: ['y'] }), fe.execute(), fe.sync()),
      ).toEqual(['2', 'D:y-again', 'C:SELECT 1', 'Z:I']);
    } finally {
      raw.close();
    }
  });

  // Regression (fixed; the old behaviour): UpstreamLink.answerDeallocate answers the whole Query locally when it has one
  // DEALLOCATE effect, dropping the other statements.
  test('DEALLOCATE ALL followed by another statement in the same query runs both', async () => {
    const client = await proxy.connect();
    try {
      const results = (await client.query(
        'DEALLOCATE ALL; SELECT 42 AS answer',
      )) as unknown as pg.QueryResult[];
      expect(Array.isArray(results)).toBe(true);
      expect(results.map((r) => r.command)).toEqual(['DEALLOCATE', 'SELECT']);
      expect(results[1]?.rows).toEqual([{ answer: 42 }]);
    } finally {
      await endQuietly(client);
    }
  });

  test('postgres.js: DEALLOCATE ALL between transactions behaves exactly as against Postgres', async () => {
    /** Transactions of named statements, DEALLOCATE ALL in between; a log of what happened. */
    const scenario = async (url: string): Promise<string[]> => {
      const sql = postgres(url, { max: 1, prepare: true, onnotice: () => undefined });
      const log: string[] = [];
      const attempt = async (what: string, run: () => Promise<unknown>): Promise<void> => {
        try {
          log.push(`${what}: ${JSON.stringify(await run())}`);
        } catch (error) {
          log.push(`${what}: error ${(error as { code?: string }).code ?? String(error)}`);
        }
      };
      try {
        for (let round = 0; round < 3; round++) {
          await attempt(`tx ${round}`, () =>
            sql.begin(async (tx) => {
              const out: unknown[] = [];
              for (let i = 0; i < 3; i++) {
                out.push(...(await tx`SELECT ${i}::int * 3 AS v, ${`r${round}`}::text AS tag`));
              }
              return out;
            }),
          );
          await attempt(
            `dealloc ${round}`,
            async () => (await sql.unsafe('DEALLOCATE ALL').simple()).command,
          );
          // Outside a transaction postgres.js re-prepares after 26000 (what ORMs rely on).
          await attempt(`autocommit ${round}`, async () => [
            ...(await sql`SELECT ${round}::int * 3 AS v, ${'auto'}::text AS tag`),
          ]);
        }
      } finally {
        await sql.end({ timeout: 5 });
      }
      return log;
    };
    const viaProxy = await scenario(proxy.url());
    const viaDirect = await scenario(proxy.upstreamUrl);
    expect(viaProxy).toEqual(viaDirect);
    expect(viaProxy.filter((line) => line.startsWith('autocommit')).join()).not.toContain('error');
  });

  test('a Parse failing mid-pipeline: the error reaches that client only, its connection stays usable', async () => {
    const TABLE = `df_pipe_${suffix}`;
    await direct.query(`CREATE TABLE ${TABLE} (v int)`);
    const bystanderFailures: string[] = [];
    let stop = false;
    const bystanders = range(2).map(async (b) => {
      const client = await proxy.connect();
      try {
        for (let t = 0; !stop || t < 20; t++) {
          await client.query('BEGIN');
          const r = await client.query<{ v: string }>({
            name: 'bystander',
            text: 'SELECT $1::text AS v',
            values: [`b${b}-${t}`],
          });
          await client.query('COMMIT');
          if (r.rows[0]?.v !== `b${b}-${t}`) bystanderFailures.push(JSON.stringify(r.rows));
        }
      } catch (error) {
        bystanderFailures.push(`bystander ${b}: ${String(error)}`);
      } finally {
        await endQuietly(client);
      }
    });
    try {
      const pipelines = range(6).map(async (p) => {
        const raw = await RawClient.connect(proxy.port, {
          user: proxy.user,
          database: proxy.database,
        });
        try {
          for (let round = 0; round < 5; round++) {
            expect(
              await raw.roundTrip(
                fe.parse('ok1', 'SELECT $1::int AS v'),
                fe.bind({ statement: 'ok1', params: [String(p)] }),
                fe.execute(),
                fe.parse('bad', 'SELEC oops'),
                fe.bind({ statement: 'bad' }),
                fe.execute(),
                fe.parse('ok2', `INSERT INTO ${TABLE} VALUES (1)`),
                fe.bind({ statement: 'ok2' }),
                fe.execute(),
                fe.sync(),
              ),
            ).toEqual(['1', '2', `D:${p}`, 'C:SELECT 1', 'E:42601', 'Z:I']);
            // The statement before the error exists and works on whatever connection comes next.
            expect(
              await raw.roundTrip(
                fe.bind({ statement: 'ok1', params: ['7'] }),
                fe.execute(),
                fe.sync(),
              ),
            ).toEqual(['2', 'D:7', 'C:SELECT 1', 'Z:I']);
            expect(await raw.roundTrip(fe.query(`SELECT ${p} AS v`))).toEqual([
              'T',
              `D:${p}`,
              'C:SELECT 1',
              'Z:I',
            ]);
            expect(await raw.roundTrip(fe.close('S', 'ok1'), fe.sync())).toEqual(['3', 'Z:I']);
          }
        } finally {
          raw.close();
        }
      });
      await Promise.all(pipelines);
    } finally {
      stop = true;
      await Promise.all(bystanders);
      await direct.query(`DROP TABLE ${TABLE}`);
    }
    expect(bystanderFailures).toEqual([]);
  });

  // Regression (fixed; the old behaviour): a client statement name is defined at Parse time and kept when its Parse fails or is
  // skipped; a later Bind re-prepares it.
  test('after a failed pipeline, the failed and the skipped statement names do not exist (26000), as in Postgres', async () => {
    const TABLE = `df_pipe_skip_${suffix}`;
    await direct.query(`CREATE TABLE ${TABLE} (v int)`);
    const raw = await RawClient.connect(proxy.port, {
      user: proxy.user,
      database: proxy.database,
    });
    try {
      expect(
        await raw.roundTrip(
          fe.parse('bad', 'SELEC oops'),
          fe.parse('skipped', `INSERT INTO ${TABLE} VALUES (1)`),
          fe.sync(),
        ),
      ).toEqual(['E:42601', 'Z:I']);
      const bad = await raw.roundTrip(fe.bind({ statement: 'bad' }), fe.execute(), fe.sync());
      const skipped = await raw.roundTrip(
        fe.bind({ statement: 'skipped' }),
        fe.execute(),
        fe.sync(),
      );
      const rows = await direct.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE}`);
      expect({ bad, skipped, inserted: rows.rows[0]?.n }).toEqual({
        bad: ['E:26000', 'Z:I'],
        skipped: ['E:26000', 'Z:I'],
        inserted: 0,
      });
    } finally {
      raw.close();
      await direct.query(`DROP TABLE ${TABLE}`);
    }
  });

  test('a Parse failing mid-pipeline inside a transaction keeps the client in its failed transaction until ROLLBACK', async () => {
    const raw = await RawClient.connect(proxy.port, { user: proxy.user, database: proxy.database });
    try {
      expect(await raw.roundTrip(fe.query('BEGIN'))).toEqual(['C:BEGIN', 'Z:T']);
      expect(
        await raw.roundTrip(
          fe.parse('', 'SELECT pg_backend_pid()'),
          fe.bind(),
          fe.execute(),
          fe.parse('nope', 'SELECT * FROM df_no_such_table_at_all'),
          fe.bind({ statement: 'nope' }),
          fe.execute(),
          fe.sync(),
        ),
      ).toEqual([
        '1',
        '2',
        expect.stringMatching(/^D:\d+$/) as unknown as string,
        'C:SELECT 1',
        'E:42P01',
        'Z:E',
      ]);
      expect(await raw.roundTrip(fe.query('SELECT 1'))).toEqual(['E:25P02', 'Z:E']);
      expect(await raw.roundTrip(fe.query('ROLLBACK'))).toEqual(['C:ROLLBACK', 'Z:I']);
      expect(await raw.roundTrip(fe.query('SELECT 5'))).toEqual(['T', 'D:5', 'C:SELECT 1', 'Z:I']);
    } finally {
      raw.close();
    }
  });
});

// ---- cross-client effects on one shared connection -----------------------------------------

describe('one shared upstream connection (transaction mode, size 1)', () => {
  let proxy: PoolProxy;

  beforeAll(async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, maxClientWaitMs: 15_000 },
      auth: { method: 'trust' },
    });
  });
  afterAll(async () => {
    await proxy.stop();
  });

  // Found by the protocol fuzzer: frames Postgres answers with nothing left the connection
  // leased to an idle client (and its idle timers unarmed), so every other client waited.
  test('CopyDone, CopyFail and Flush outside COPY give the connection back', async () => {
    const raw = await RawClient.connect(proxy.port, { user: proxy.user, database: proxy.database });
    const neighbour = await proxy.connect();
    try {
      raw.send(fe.copyDone(), fe.flush(), fe.copyFail('not copying'));
      // With the only connection still leased to `raw`, this would wait maxClientWaitMs and fail.
      const result = await neighbour.query<{ one: number }>('SELECT 1 AS one');
      expect(result.rows).toEqual([{ one: 1 }]);
      expect(await raw.roundTrip(fe.query('SELECT 2'))).toEqual(['T', 'D:2', 'C:SELECT 1', 'Z:I']);
    } finally {
      raw.close();
      await endQuietly(neighbour);
    }
  });

  // Regression (fixed; the old behaviour): an unnamed-Parse DEALLOCATE ALL runs upstream but only the client's names are
  // forgotten, not the connection's statement cache.
  test("one client's DEALLOCATE ALL over the extended protocol does not break another client's prepared statements", async () => {
    const a = await proxy.connect();
    const b = await proxy.connect();
    try {
      const first = await b.query<{ v: number }>({
        name: 'b_stmt',
        text: 'SELECT $1::int + 100 AS v',
        values: [1],
      });
      expect(first.rows).toEqual([{ v: 101 }]);
      // postgres.js's sql.unsafe() and other drivers send it as an unnamed Parse/Bind/Execute.
      await a.query(extendedQuery('DEALLOCATE ALL'));
      // b only sends Bind now (node-postgres remembers it parsed b_stmt); the proxy must
      // prepare it again on the shared connection.
      const again = await b.query<{ v: number }>({
        name: 'b_stmt',
        text: 'SELECT $1::int + 100 AS v',
        values: [2],
      });
      expect(again.rows).toEqual([{ v: 102 }]);
    } finally {
      await endQuietly(a);
      await endQuietly(b);
    }
  });

  test('another client on the same connection never sees a prepared statement name of its neighbour', async () => {
    const a = await RawClient.connect(proxy.port, { user: proxy.user, database: proxy.database });
    const b = await RawClient.connect(proxy.port, { user: proxy.user, database: proxy.database });
    try {
      expect(await a.roundTrip(fe.parse('mine', 'SELECT 1 AS v'), fe.sync())).toEqual(['1', 'Z:I']);
      expect(await b.roundTrip(fe.bind({ statement: 'mine' }), fe.execute(), fe.sync())).toEqual([
        'E:26000',
        'Z:I',
      ]);
      expect(await a.roundTrip(fe.bind({ statement: 'mine' }), fe.execute(), fe.sync())).toEqual([
        '2',
        'D:1',
        'C:SELECT 1',
        'Z:I',
      ]);
    } finally {
      a.close();
      b.close();
    }
  });

  test('max_prepared_statements 3: the per-connection cache evicts (LRU) and re-prepares transparently', async () => {
    const small = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, maxPreparedStatements: 3 },
      auth: { method: 'trust' },
    });
    const clients = await Promise.all([0, 1].map(() => small.connect()));
    try {
      for (let round = 0; round < 3; round++) {
        for (const [c, client] of clients.entries()) {
          for (let i = 0; i < 8; i++) {
            // node-postgres parses each name once per client, then only binds it.
            const r = await client.query<{ v: string }>({
              name: `q${i}`,
              text: `SELECT $1::text || ' via q${i}' AS v`,
              values: [`c${c} r${round}`],
            });
            expect(r.rows).toEqual([{ v: `c${c} r${round} via q${i}` }]);
          }
        }
      }
      const prepared = await clients[0]?.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_prepared_statements',
      );
      expect(prepared?.rows[0]?.n).toBeLessThanOrEqual(3);
      const console = await small.adminConsole();
      const servers = await adminRows(console, 'SHOW SERVERS');
      await console.end();
      expect(servers.map((s) => Number(s.prepared_statements))).toEqual([
        expect.any(Number) as unknown as number,
      ]);
      expect(Number(servers[0]?.prepared_statements)).toBeLessThanOrEqual(3);
    } finally {
      for (const client of clients) await endQuietly(client);
      await small.stop();
    }
  });

  // KNOWN DIFFERENCE (docs/pooling.md): in transaction mode a Parse of a name the client already
  // has redefines it instead of failing with 42P05. psqlODBC relies on this leniency: it sends
  // `SAVEPOINT …; DEALLOCATE "_PLAN…"; RELEASE …` as one query, which fails upstream (the
  // statement lives under its proxy name), recovers with ROLLBACK TO, and parses the name again.
  test.fails(
    're-Parse of a name that is still prepared fails with 42P05, as in Postgres',
    async () => {
      const raw = await RawClient.connect(proxy.port, {
        user: proxy.user,
        database: proxy.database,
      });
      try {
        expect(await raw.roundTrip(fe.parse('dup', 'SELECT 1 AS v'), fe.sync())).toEqual([
          '1',
          'Z:I',
        ]);
        expect(await raw.roundTrip(fe.parse('dup', 'SELECT 2 AS v'), fe.sync())).toEqual([
          'E:42P05',
          'Z:I',
        ]);
        // The first definition is still the one in force.
        expect(await raw.roundTrip(fe.bind({ statement: 'dup' }), fe.execute(), fe.sync())).toEqual(
          ['2', 'D:1', 'C:SELECT 1', 'Z:I'],
        );
      } finally {
        raw.close();
      }
    },
  );
});

// ---- lease boundaries -----------------------------------------------------------------------------

describe('when a transaction-mode lease ends (size 2)', () => {
  const TABLE = `df_lease_${suffix}`;
  let proxy: PoolProxy;

  beforeAll(async () => {
    await direct.query(`CREATE TABLE ${TABLE} (id int, txt text)`);
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 2, maxClientWaitMs: 20_000 },
      auth: { method: 'trust' },
    });
  });
  afterAll(async () => {
    await proxy.stop();
    await direct.query(`DROP TABLE ${TABLE}`);
  });

  test('a failed transaction (status E) keeps its connection until ROLLBACK', async () => {
    const client = await proxy.connect();
    const neighbour = await proxy.connect();
    try {
      await client.query('BEGIN');
      const pid = await pidOf(client);
      expect(await codeOf(client.query('SELECT 1/0'))).toBe('22012');
      // Had the connection gone back to the pool, the neighbour would get it (most recently used)
      // and the client's next statement would run elsewhere, successfully.
      await neighbour.query('BEGIN');
      expect(await pidOf(neighbour)).not.toBe(pid);
      expect(await codeOf(client.query('SELECT 1'))).toBe('25P02');
      await client.query('ROLLBACK');
      await neighbour.query('COMMIT');
    } finally {
      await endQuietly(client);
      await endQuietly(neighbour);
    }
  });

  test('an extended-protocol batch stays on one connection until Sync, across Flush', async () => {
    const raw = await RawClient.connect(proxy.port, { user: proxy.user, database: proxy.database });
    const neighbour = await proxy.connect();
    try {
      raw.send(fe.parse('', 'SELECT pg_backend_pid()'), fe.bind(), fe.execute(), fe.flush());
      const first: string[] = [];
      while (!first.some((m) => m.startsWith('C:'))) {
        const frame = await raw.next();
        first.push(summarize({ type: String.fromCharCode(frame.type), body: frame.body }));
      }
      expect(first.slice(0, 2)).toEqual(['1', '2']);
      const pid = first[2];
      expect(pid).toMatch(/^D:\d+$/);
      // Meanwhile a neighbour takes a connection: not the one the open batch is on.
      await neighbour.query('BEGIN');
      expect(`D:${await pidOf(neighbour)}`).not.toBe(pid);
      expect(
        await raw.roundTrip(
          fe.parse('', 'SELECT pg_backend_pid()'),
          fe.bind(),
          fe.execute(),
          fe.sync(),
        ),
      ).toEqual(['1', '2', pid, 'C:SELECT 1', 'Z:I']);
      await neighbour.query('COMMIT');
    } finally {
      raw.close();
      await endQuietly(neighbour);
    }
  });

  test('COPY FROM STDIN and TO STDOUT keep their connection while other clients run', async () => {
    const load = range(3).map(async (b) => {
      const client = await proxy.connect();
      try {
        for (let t = 0; t < 30; t++) {
          await client.query('BEGIN');
          const r = await client.query<{ v: string }>('SELECT $1::text AS v', [`${b}/${t}`]);
          await client.query('COMMIT');
          expect(r.rows).toEqual([{ v: `${b}/${t}` }]);
        }
      } finally {
        await endQuietly(client);
      }
    });
    const copier = await proxy.connect();
    try {
      const rows = range(20_000).map((i) => `${i}\trow ${i} ${'x'.repeat(i % 50)}\n`);
      const chunks: Buffer[] = [];
      for (let i = 0; i < rows.length; i += 500)
        chunks.push(Buffer.from(rows.slice(i, i + 500).join('')));
      const sink = copier.query(copyFrom(`COPY ${TABLE} (id, txt) FROM STDIN`));
      await pipeline(Readable.from(chunks), sink);
      const out: Buffer[] = [];
      const source = copier.query(
        copyTo(`COPY (SELECT id, txt FROM ${TABLE} ORDER BY id) TO STDOUT`),
      );
      for await (const chunk of source) out.push(chunk as Buffer);
      expect(Buffer.concat(out).toString('utf8')).toBe(rows.join(''));
      await Promise.all(load);
    } finally {
      await endQuietly(copier);
    }
  });
});

// ---- 3. session state in transaction mode -----------------------------------------------------

describe('session state in transaction mode', () => {
  const SCHEMA = `df_sp_${suffix}`;
  let proxy: PoolProxy;
  let baseline: Settings;

  interface Settings {
    search_path: string;
    application_name: string;
    timezone: string;
    marker: string;
  }

  /** The settings a client sees, and which backend it saw them on (one transaction). */
  async function settings(client: pg.Client): Promise<Settings & { pid: number }> {
    const r = await client.query<Settings & { pid: number }>(
      `SELECT pg_backend_pid() AS pid, current_setting('search_path') AS search_path,
              current_setting('application_name') AS application_name,
              current_setting('TimeZone') AS timezone,
              coalesce(to_regclass('df_marker')::text, '-') AS marker`,
    );
    const row = r.rows[0];
    if (!row) throw new Error('no settings row');
    return row;
  }

  /** Check `client` from another backend than `pid` while `pid` is held by a neighbour. */
  async function whileHeld<T>(pid: number, run: (holder: pg.Client) => Promise<T>): Promise<T> {
    const holder = await holdBackend(proxy, pid, 3);
    try {
      return await run(holder);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
  }

  const withoutPid = (s: Settings & { pid: number }): Settings => ({
    search_path: s.search_path,
    application_name: s.application_name,
    timezone: s.timezone,
    marker: s.marker,
  });

  beforeAll(async () => {
    await direct.query(`CREATE SCHEMA ${SCHEMA}`);
    await direct.query(`CREATE TABLE ${SCHEMA}.df_marker (v text)`);
    proxy = await startPoolProxy({ pool: { mode: 'transaction', size: 3 } });
    const fresh = await proxy.connect();
    baseline = withoutPid(await settings(fresh));
    await fresh.end();
    expect(baseline.marker).toBe('-');
  });
  afterAll(async () => {
    await proxy.stop();
    await direct.query(`DROP SCHEMA ${SCHEMA} CASCADE`);
  });

  test('SET search_path / application_name / timezone follow the client to other connections and no one else', async () => {
    const a = await proxy.connect();
    try {
      await a.query(`SET search_path = ${SCHEMA}, public`);
      await a.query(`SET application_name = 'df-app-a'`);
      await a.query(`SET timezone = 'Asia/Tokyo'`);
      const mine = {
        search_path: `${SCHEMA}, public`,
        application_name: 'df-app-a',
        timezone: 'Asia/Tokyo',
        marker: 'df_marker',
      };
      const first = await settings(a);
      expect(withoutPid(first)).toEqual(mine);
      await whileHeld(first.pid, async (holder) => {
        // The neighbour on the connection a just used sees none of a's settings ...
        expect(withoutPid(await settings(holder))).toEqual(baseline);
        // ... and a, now on another connection, still sees all of them.
        const elsewhere = await settings(a);
        expect(elsewhere.pid).not.toBe(first.pid);
        expect(withoutPid(elsewhere)).toEqual(mine);
        const zoned = await a.query<{ t: string }>(
          `SELECT '2024-01-01 00:00:00+00'::timestamptz::text AS t`,
        );
        expect(zoned.rows[0]?.t).toBe('2024-01-01 09:00:00+09');
      });
      // A brand-new client sees the defaults.
      const b = await proxy.connect();
      expect(withoutPid(await settings(b))).toEqual(baseline);
      await b.end();
    } finally {
      await endQuietly(a);
    }
  });

  test('8 clients with their own settings interleaving 20 transactions each on 3 connections', async () => {
    const zones = [
      'UTC',
      'Asia/Tokyo',
      'Europe/Paris',
      'America/New_York',
      'Australia/Sydney',
      'Asia/Kolkata',
      'Africa/Cairo',
      'Pacific/Auckland',
    ];
    const failures: string[] = [];
    const pids = new Set<number>();
    await Promise.all(
      range(8).map(async (c) => {
        const client = await proxy.connect();
        try {
          await client.query(`SET application_name = 'df-client-${c}'`);
          await client.query(`SET timezone = '${zones[c] ?? 'UTC'}'`);
          if (c % 2 === 0) await client.query(`SET search_path = ${SCHEMA}, public`);
          for (let t = 0; t < 20; t++) {
            await client.query('BEGIN');
            const s = await settings(client);
            await client.query('SELECT pg_sleep(0.002)');
            await client.query('COMMIT');
            pids.add(s.pid);
            const want = {
              search_path: c % 2 === 0 ? `${SCHEMA}, public` : baseline.search_path,
              application_name: `df-client-${c}`,
              timezone: zones[c] ?? 'UTC',
              marker: c % 2 === 0 ? 'df_marker' : '-',
            };
            if (JSON.stringify(withoutPid(s)) !== JSON.stringify(want)) {
              failures.push(`client ${c} tx ${t} on ${s.pid}: ${JSON.stringify(withoutPid(s))}`);
            }
          }
        } catch (error) {
          failures.push(`client ${c}: ${String(error)}`);
        } finally {
          await endQuietly(client);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(pids.size).toBeGreaterThan(1);
  });

  test('SET LOCAL lasts until the end of its transaction only', async () => {
    const a = await proxy.connect();
    try {
      await a.query('BEGIN');
      await a.query(`SET LOCAL search_path = ${SCHEMA}`);
      await a.query(`SET LOCAL timezone = 'Asia/Tokyo'`);
      const inside = await settings(a);
      expect([inside.search_path, inside.timezone]).toEqual([SCHEMA, 'Asia/Tokyo']);
      await a.query('COMMIT');
      const after = await settings(a);
      expect(withoutPid(after)).toEqual(baseline);
      await whileHeld(after.pid, async () => {
        expect(withoutPid(await settings(a))).toEqual(baseline);
      });
    } finally {
      await endQuietly(a);
    }
  });

  test('a SET inside a rolled-back transaction does not persist', async () => {
    const a = await proxy.connect();
    try {
      await a.query('BEGIN');
      await a.query(`SET search_path = ${SCHEMA}`);
      expect((await settings(a)).search_path).toBe(SCHEMA);
      await a.query('ROLLBACK');
      const after = await settings(a);
      expect(withoutPid(after)).toEqual(baseline);
      await whileHeld(after.pid, async () => {
        expect(withoutPid(await settings(a))).toEqual(baseline);
      });
      // A transaction that failed: COMMIT rolls back.
      await a.query('BEGIN');
      await a.query(`SET timezone = 'Asia/Tokyo'`);
      expect(await codeOf(a.query('SELECT 1/0'))).toBe('22012');
      await a.query('COMMIT');
      const afterFailed = await settings(a);
      expect(withoutPid(afterFailed)).toEqual(baseline);
      await whileHeld(afterFailed.pid, async () => {
        expect(withoutPid(await settings(a))).toEqual(baseline);
      });
    } finally {
      await endQuietly(a);
    }
  });

  // Regression (fixed; the old behaviour): effects of a simple Query are applied when it completes, whether its own transaction
  // committed or not.
  test('a SET in a transaction sent as one multi-statement query and rolled back does not persist', async () => {
    const a = await proxy.connect();
    try {
      await a.query(`BEGIN; SET search_path = ${SCHEMA}; ROLLBACK`);
      const after = await settings(a);
      expect(withoutPid(after)).toEqual(baseline);
      await whileHeld(after.pid, async () => {
        expect(withoutPid(await settings(a))).toEqual(baseline);
      });
    } finally {
      await endQuietly(a);
    }
  });

  // Regression (fixed; the old behaviour): SETs were applied at COMMIT although ROLLBACK TO
  // SAVEPOINT undid them.
  test('a SET rolled back to a savepoint does not persist', async () => {
    const a = await proxy.connect();
    try {
      await a.query('BEGIN');
      await a.query('SAVEPOINT s');
      await a.query(`SET search_path = ${SCHEMA}`);
      await a.query('ROLLBACK TO SAVEPOINT s');
      await a.query('COMMIT');
      const after = await settings(a);
      expect(withoutPid(after)).toEqual(baseline);
      await whileHeld(after.pid, async () => {
        expect(withoutPid(await settings(a))).toEqual(baseline);
      });
    } finally {
      await endQuietly(a);
    }
  });

  test('RESET and RESET ALL, seen on other connections too', async () => {
    const a = await proxy.connect();
    try {
      await a.query(`SET search_path = ${SCHEMA}, public`);
      await a.query(`SET timezone = 'Asia/Tokyo'`);
      await a.query(`SET application_name = 'df-reset'`);
      await a.query('RESET search_path');
      const one = await settings(a);
      expect(withoutPid(one)).toEqual({
        ...baseline,
        timezone: 'Asia/Tokyo',
        application_name: 'df-reset',
      });
      await whileHeld(one.pid, async () => {
        expect(withoutPid(await settings(a))).toEqual({
          ...baseline,
          timezone: 'Asia/Tokyo',
          application_name: 'df-reset',
        });
      });
      await a.query('RESET ALL');
      const all = await settings(a);
      expect(withoutPid(all)).toEqual(baseline);
      await whileHeld(all.pid, async () => {
        expect(withoutPid(await settings(a))).toEqual(baseline);
      });
    } finally {
      await endQuietly(a);
    }
  });

  test('startup options=-c search_path=… applies in every transaction, on every connection', async () => {
    const a = await proxy.connect({
      options: `-c search_path=${SCHEMA},public -c timezone=Asia/Tokyo`,
    });
    try {
      const first = await settings(a);
      const want = {
        ...baseline,
        search_path: `${SCHEMA},public`,
        timezone: 'Asia/Tokyo',
        marker: 'df_marker',
      };
      expect(withoutPid(first)).toEqual(want);
      await whileHeld(first.pid, async (holder) => {
        expect(withoutPid(await settings(holder))).toEqual(baseline);
        expect(withoutPid(await settings(a))).toEqual(want);
      });
    } finally {
      await endQuietly(a);
    }
  });

  // Regression (fixed; the old behaviour): startup parameters are replayed as SETs and RESET forgets them.
  test('RESET returns to the value given at startup, as in Postgres', async () => {
    const scenario = async (config: pg.ClientConfig): Promise<string[]> => {
      const client = new pg.Client({
        ...config,
        options: `-c search_path=${SCHEMA},public`,
        application_name: 'df-startup-app',
      });
      await client.connect();
      try {
        await client.query('SET search_path = public');
        await client.query(`SET application_name = 'changed'`);
        await client.query('RESET search_path');
        const one = await setting(client, 'search_path');
        await client.query('RESET ALL');
        return [
          one,
          await setting(client, 'search_path'),
          await setting(client, 'application_name'),
        ];
      } finally {
        await client.end();
      }
    };
    const viaDirect = await scenario({ connectionString: proxy.upstreamUrl });
    expect(viaDirect).toEqual([`${SCHEMA},public`, `${SCHEMA},public`, 'df-startup-app']);
    expect(await scenario(proxy.clientConfig())).toEqual(viaDirect);
  });

  test('a SET that fails (simple query, alone or with a failing statement after it) is not replayed', async () => {
    const a = await proxy.connect();
    try {
      await a.query(`SET timezone = 'Asia/Tokyo'`);
      expect(await codeOf(a.query(`SET timezone = 'No/Such_Zone'`))).toBe('22023');
      // One implicit transaction: the error rolls the SET back.
      expect(await codeOf(a.query(`SET search_path = ${SCHEMA}; SELECT 1/0`))).toBe('22012');
      const after = await settings(a);
      expect([after.timezone, after.search_path]).toEqual(['Asia/Tokyo', baseline.search_path]);
      await whileHeld(after.pid, async () => {
        const elsewhere = await settings(a);
        expect([elsewhere.timezone, elsewhere.search_path]).toEqual([
          'Asia/Tokyo',
          baseline.search_path,
        ]);
      });
      expect(errorsOf(a)).toEqual([]);
    } finally {
      await endQuietly(a);
    }
  });

  // Regression (fixed; the old behaviour): the effect of an unnamed Parse is applied at ParseComplete, before Execute fails;
  // the bad SET is then replayed on the next connection and the session ends.
  test('a SET that fails over the extended protocol leaves the session usable with its old value', async () => {
    const a = await proxy.connect();
    try {
      await a.query(`SET timezone = 'Asia/Tokyo'`);
      expect(await codeOf(a.query(extendedQuery(`SET timezone = 'No/Such_Zone'`)))).toBe('22023');
      const after = await settings(a);
      expect(after.timezone).toBe('Asia/Tokyo');
      await whileHeld(after.pid, async () => {
        expect((await settings(a)).timezone).toBe('Asia/Tokyo');
      });
      expect(errorsOf(a)).toEqual([]);
    } finally {
      await endQuietly(a);
    }
  });
});

// ---- 4. pinning -----------------------------------------------------------------------------------

describe('pinning in transaction mode', () => {
  let proxy: PoolProxy;
  let console: pg.Client;

  beforeAll(async () => {
    proxy = await startPoolProxy({ pool: { mode: 'transaction', size: 4 } });
    console = await proxy.adminConsole();
  });
  afterAll(async () => {
    await console.end();
    await proxy.stop();
  });

  /**
   * Runs `rounds` transactions on `client`; before each, a neighbour opens a transaction on the
   * connection the client released last (the pool hands out the most recently used one first),
   * so an unpinned client moves. Returns the backend pid of each of the client's transactions.
   */
  async function pidsAcrossTransactions(
    client: pg.Client,
    rounds: number,
    each: (round: number) => Promise<void> = () => Promise.resolve(),
  ): Promise<number[]> {
    const pids: number[] = [];
    const neighbour = await proxy.connect();
    try {
      for (let round = 0; round < rounds; round++) {
        await neighbour.query('BEGIN');
        await neighbour.query('SELECT 1');
        await client.query('BEGIN');
        pids.push(await pidOf(client));
        await each(round);
        // The client's connection is released last: it is the next one handed out.
        await neighbour.query('COMMIT');
        await client.query('COMMIT');
      }
    } finally {
      await neighbour.end();
    }
    return pids;
  }

  async function pinnedReason(appName: string): Promise<string | null | undefined> {
    const rows = await adminRows(console, 'SHOW CLIENTS');
    return rows.find((row) => row.application_name === appName)?.pinned;
  }

  test('control: an unpinned client moves between connections and is not shown as pinned', async () => {
    const client = await proxy.connect({ application_name: 'df-pin-none' });
    try {
      const pids = await pidsAcrossTransactions(client, 4);
      expect(new Set(pids).size).toBeGreaterThan(1);
      expect(await pinnedReason('df-pin-none')).toBeNull();
    } finally {
      await client.end();
    }
  });

  test('CREATE TEMP TABLE pins: same backend in every transaction, the table stays visible', async () => {
    const client = await proxy.connect({ application_name: 'df-pin-temp' });
    try {
      await client.query('CREATE TEMP TABLE df_pin_temp (v int)');
      const pids = await pidsAcrossTransactions(client, 5, async (round) => {
        await client.query('INSERT INTO df_pin_temp VALUES ($1)', [round]);
      });
      expect(new Set(pids).size).toBe(1);
      const r = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM df_pin_temp');
      expect(r.rows[0]?.n).toBe(5);
      expect(await pinnedReason('df-pin-temp')).toBe('temporary table');
    } finally {
      await client.end();
    }
  });

  test('pg_advisory_lock pins: same backend, and the lock is held by it upstream', async () => {
    const client = await proxy.connect({ application_name: 'df-pin-lock' });
    const key = 4_200_000 + Math.floor(Math.random() * 1000);
    try {
      await client.query('SELECT pg_advisory_lock($1)', [key]);
      const pids = await pidsAcrossTransactions(client, 5);
      expect(new Set(pids).size).toBe(1);
      const holder = await direct.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted`,
        [key],
      );
      expect(holder.rows.map((r) => r.pid)).toEqual([pids[0]]);
      expect(await pinnedReason('df-pin-lock')).toBe('session advisory lock');
      await client.query('SELECT pg_advisory_unlock($1)', [key]);
    } finally {
      await client.end();
    }
  });

  test('a WITH HOLD cursor pins: same backend, FETCH continues across transactions', async () => {
    const client = await proxy.connect({ application_name: 'df-pin-cursor' });
    try {
      await client.query('BEGIN');
      await client.query(
        'DECLARE df_c CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 20) g',
      );
      await client.query('COMMIT');
      const fetched: number[] = [];
      const pids = await pidsAcrossTransactions(client, 5, async () => {
        const r = await client.query<{ g: number }>('FETCH 2 FROM df_c');
        fetched.push(...r.rows.map((row) => row.g));
      });
      expect(new Set(pids).size).toBe(1);
      expect(fetched).toEqual(range(10).map((i) => i + 1));
      expect(await pinnedReason('df-pin-cursor')).toBe('WITH HOLD cursor');
      await client.query('CLOSE df_c');
    } finally {
      await client.end();
    }
  });

  test('LISTEN pins, and NOTIFY from other clients (also inside transactions) is delivered', async () => {
    const listener = await proxy.connect({ application_name: 'df-pin-listen' });
    const notifier = await proxy.connect();
    const received: string[] = [];
    listener.on('notification', (n) => {
      received.push(`${n.channel}:${n.payload ?? ''}`);
    });
    try {
      await listener.query('LISTEN df_chan');
      const pids = await pidsAcrossTransactions(listener, 4, async (round) => {
        await notifier.query(`NOTIFY df_chan, 'round ${round}'`);
      });
      expect(new Set(pids).size).toBe(1);
      await notifier.query('BEGIN');
      await notifier.query(`SELECT pg_notify('df_chan', 'in a transaction')`);
      await notifier.query('COMMIT');
      await waitFor('5 notifications', () => received.length >= 5);
      expect(received).toEqual([
        'df_chan:round 0',
        'df_chan:round 1',
        'df_chan:round 2',
        'df_chan:round 3',
        'df_chan:in a transaction',
      ]);
      expect(await pinnedReason('df-pin-listen')).toBe('LISTEN');
    } finally {
      await listener.end();
      await notifier.end();
    }
  });
});

// ---- 7. cancel ------------------------------------------------------------------------------------

describe('cancel on a shared connection (transaction mode, size 1)', () => {
  let proxy: PoolProxy;

  beforeAll(async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, maxClientWaitMs: 20_000 },
    });
  });
  afterAll(async () => {
    await proxy.stop();
  });

  function keyOf(client: pg.Client): { pid: number; key: number } {
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    return { pid: processID, key: secretKey };
  }

  test('control: a cancel with the key of the client running the statement cancels it (57014)', async () => {
    const a = await proxy.connect();
    try {
      const { pid, key } = keyOf(a);
      const running = codeOf(a.query('SELECT pg_sleep(5)'));
      await waitFor('pg_sleep upstream', async () => {
        const r = await direct.query(
          `SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'`,
        );
        return r.rowCount === 1;
      });
      await sendCancel(proxy.port, pid, key);
      expect(await running).toBe('57014');
      expect((await a.query<{ v: number }>('SELECT 7 AS v')).rows).toEqual([{ v: 7 }]);
    } finally {
      await endQuietly(a);
    }
  });

  test('a cancel sent right after a short statement returned never cancels the next client (20 rounds)', async () => {
    const a = await proxy.connect();
    const b = await proxy.connect();
    try {
      const { pid, key } = keyOf(a);
      const outcomes: string[] = [];
      for (let round = 0; round < 20; round++) {
        const short = a.query<{ v: number }>('SELECT $1::int AS v', [round]);
        // Queued behind a's statement on the one connection; runs as soon as a's ends.
        const long = codeOf(b.query('SELECT pg_sleep(1), $1::int AS round', [round]));
        expect((await short).rows).toEqual([{ v: round }]);
        await sendCancel(proxy.port, pid, key);
        outcomes.push(await long);
      }
      expect(outcomes).toEqual(range(20).map(() => 'none'));
      expect(errorsOf(a)).toEqual([]);
      expect(errorsOf(b)).toEqual([]);
    } finally {
      await endQuietly(a);
      await endQuietly(b);
    }
  });

  test('a cancel racing the end of a statement hits that statement or nothing (20 rounds)', async () => {
    const a = await proxy.connect();
    const b = await proxy.connect();
    try {
      const { pid, key } = keyOf(a);
      const bOutcomes: string[] = [];
      const aOutcomes = new Set<string>();
      for (let round = 0; round < 20; round++) {
        const short = codeOf(a.query('SELECT pg_sleep(0.03)'));
        const long = codeOf(b.query('SELECT pg_sleep(0.3), $1::int AS round', [round]));
        await sleep((round * 7) % 60);
        await sendCancel(proxy.port, pid, key);
        aOutcomes.add(await short);
        bOutcomes.push(await long);
      }
      expect(bOutcomes).toEqual(range(20).map(() => 'none'));
      expect([...aOutcomes].every((code) => code === 'none' || code === '57014')).toBe(true);
      expect((await a.query<{ v: number }>('SELECT 1 AS v')).rows).toEqual([{ v: 1 }]);
    } finally {
      await endQuietly(a);
      await endQuietly(b);
    }
  });
});

// ---- 8. session mode ------------------------------------------------------------------------------

describe('session mode reset (size 1)', () => {
  const TABLE = `df_session_${suffix}`;
  let proxy: PoolProxy;

  beforeAll(async () => {
    await direct.query(`CREATE TABLE ${TABLE} (v int)`);
    proxy = await startPoolProxy({ pool: { mode: 'session', size: 1, maxClientWaitMs: 20_000 } });
  });
  afterAll(async () => {
    await proxy.stop();
    await direct.query(`DROP TABLE ${TABLE}`);
  });

  test("DISCARD ALL runs before the next client gets the connection: none of the last client's state survives", async () => {
    const fresh = await proxy.connect();
    const defaults = await setting(fresh, 'search_path');
    await fresh.end();
    const key = 4_300_000 + Math.floor(Math.random() * 1000);
    const a = await proxy.connect();
    await a.query('SET search_path = pg_catalog');
    await a.query(`SET application_name = 'df-leaky'`);
    await a.query('PREPARE df_p AS SELECT 1');
    await a.query('CREATE TEMP TABLE df_tmp (v int)');
    await a.query('SELECT pg_advisory_lock($1)', [key]);
    const pidA = await pidOf(a);
    await a.end();
    const b = await proxy.connect();
    try {
      expect(await pidOf(b)).toBe(pidA); // the same upstream connection, reused
      expect(await setting(b, 'search_path')).toBe(defaults);
      expect(await setting(b, 'application_name')).toBe('');
      expect(await codeOf(b.query('EXECUTE df_p'))).toBe('26000');
      expect((await b.query(`SELECT to_regclass('df_tmp') AS t`)).rows).toEqual([{ t: null }]);
      const locks = await direct.query(
        `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1`,
        [key],
      );
      expect(locks.rowCount).toBe(0);
    } finally {
      await b.end();
    }
  });

  test('a client that leaves inside a transaction: it is rolled back before the connection is reused', async () => {
    const a = await proxy.connect();
    await a.query('BEGIN');
    await a.query(`INSERT INTO ${TABLE} VALUES (1)`);
    const pidA = await pidOf(a);
    await a.end();
    const b = await proxy.connect();
    try {
      expect(await pidOf(b)).toBe(pidA);
      // Had the transaction survived, b would be inside it and see its own uncommitted row, and
      // its statement would not be the first of its transaction.
      const r = await b.query<{ n: number; fresh: boolean }>(
        `SELECT count(*)::int AS n, now() = statement_timestamp() AS fresh FROM ${TABLE}`,
      );
      expect(r.rows).toEqual([{ n: 0, fresh: true }]);
    } finally {
      await b.end();
    }
  });

  // KNOWN DIFFERENCE (docs/pooling.md): in session mode, startup parameters are applied to a
  // pooled connection with set_config, so a RESET returns to the server default instead.
  test.fails(
    'session mode: RESET returns to the value given at startup, as in Postgres',
    async () => {
      const scenario = async (config: pg.ClientConfig): Promise<string[]> => {
        const client = new pg.Client({ ...config, options: '-c search_path=pg_catalog,public' });
        await client.connect();
        try {
          await client.query('SET search_path = public');
          await client.query('RESET search_path');
          return [await setting(client, 'search_path')];
        } finally {
          await client.end();
        }
      };
      const viaDirect = await scenario({ connectionString: proxy.upstreamUrl });
      expect(viaDirect).toEqual(['pg_catalog,public']);
      expect(await scenario(proxy.clientConfig())).toEqual(viaDirect);
    },
  );
});

// ---- pool settings ---------------------------------------------------------------------------------

describe('pool settings', () => {
  test('waiting clients are served first come, first served', async () => {
    const proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, maxClientWaitMs: 20_000 },
    });
    const console = await proxy.adminConsole();
    const holder = await proxy.connect();
    const waiters = await Promise.all(range(5).map(() => proxy.connect()));
    try {
      await holder.query('BEGIN');
      const order: number[] = [];
      const runs: Promise<void>[] = [];
      for (const [i, waiter] of waiters.entries()) {
        runs.push(
          waiter.query('SELECT pg_sleep(0.02)').then(() => {
            order.push(i);
          }),
        );
        await waitFor(`waiter ${i} queued`, async () => {
          const pools = await adminRows(console, 'SHOW POOLS');
          return Number(pools[0]?.cl_waiting) === i + 1;
        });
      }
      await holder.query('COMMIT');
      await Promise.all(runs);
      expect(order).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await console.end();
      for (const client of [holder, ...waiters]) await endQuietly(client);
      await proxy.stop();
    }
  });

  test('max_client_wait_ms: a client that cannot get a connection in time gets 53300', async () => {
    const proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, maxClientWaitMs: 500 },
    });
    const holder = await proxy.connect();
    const waiter = await proxy.connect();
    try {
      await holder.query('BEGIN');
      const error = await waiter.query('SELECT 1').then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(error?.code).toBe('53300');
      expect(error?.message).toMatch(/no upstream connection became free within 500 ms/);
      // The holder is unaffected.
      await holder.query('COMMIT');
      expect((await holder.query<{ v: number }>('SELECT 3 AS v')).rows).toEqual([{ v: 3 }]);
    } finally {
      await endQuietly(holder);
      await endQuietly(waiter);
      await proxy.stop();
    }
  });

  test('server_lifetime_ms: old connections are replaced between transactions, invisibly', async () => {
    const proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, serverLifetimeMs: 300 },
    });
    const client = await proxy.connect();
    try {
      await client.query(`SET application_name = 'df-lifetime'`);
      const pids = new Set<number>();
      for (let i = 0; i < 12; i++) {
        await client.query('BEGIN');
        pids.add(await pidOf(client));
        expect(await setting(client, 'application_name')).toBe('df-lifetime');
        await client.query('COMMIT');
        await sleep(100);
      }
      expect(pids.size).toBeGreaterThan(1);
      expect(errorsOf(client)).toEqual([]);
    } finally {
      await endQuietly(client);
      await proxy.stop();
    }
  });

  test('min_idle: the pool keeps that many connections open once it exists', async () => {
    const proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 4, minIdle: 3 },
    });
    const client = await proxy.connect();
    const console = await proxy.adminConsole();
    try {
      await waitFor('3 idle upstream connections', async () => {
        const servers = await adminRows(console, 'SHOW SERVERS');
        return servers.filter((row) => row.state === 'idle').length >= 3;
      });
      const servers = await adminRows(console, 'SHOW SERVERS');
      expect(servers.length).toBeLessThanOrEqual(4);
    } finally {
      await console.end();
      await endQuietly(client);
      await proxy.stop();
    }
  });
});

// ---- 9. timeouts ----------------------------------------------------------------------------------

describe('timeouts', () => {
  test('query timeout: a long statement fails with 57014, the session stays usable', async () => {
    const proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 2 },
      timeouts: { queryMs: 500 },
    });
    const client = await proxy.connect();
    try {
      expect(await codeOf(client.query('SELECT pg_sleep(5)'))).toBe('57014');
      expect(await codeOf(client.query('SELECT pg_sleep(5), $1::int', [1]))).toBe('57014');
      // Short statements are untouched, repeatedly, and so is a transaction of several.
      for (let i = 0; i < 5; i++) {
        expect((await client.query<{ v: number }>('SELECT $1::int AS v', [i])).rows).toEqual([
          { v: i },
        ]);
      }
      await client.query('BEGIN');
      await client.query('SELECT pg_sleep(0.3)');
      await client.query('SELECT pg_sleep(0.3)');
      await client.query('COMMIT');
      expect(errorsOf(client)).toEqual([]);
    } finally {
      await endQuietly(client);
      await proxy.stop();
    }
  });

  test('idle-in-transaction timeout: FATAL 25P03, the transaction is rolled back and the connection reused', async () => {
    const TABLE = `df_idle_tx_${suffix}`;
    await direct.query(`CREATE TABLE ${TABLE} (v int)`);
    const proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 1, maxClientWaitMs: 5000 },
      timeouts: { idleInTransactionMs: 500 },
    });
    const idler = await proxy.connect();
    try {
      await idler.query('BEGIN');
      await idler.query(`INSERT INTO ${TABLE} VALUES (1)`);
      await waitFor('the idle-in-transaction FATAL', () => errorsOf(idler).length > 0, 10_000);
      expect((errorsOf(idler)[0] as { code?: string }).code).toBe('25P03');
      expect((errorsOf(idler)[0] as { severity?: string }).severity).toBe('FATAL');
      // The single upstream connection came back: another client gets it (no 53300 after 5 s).
      const other = await proxy.connect();
      const r = await other.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE}`);
      expect(r.rows).toEqual([{ n: 0 }]);
      // Clients that are idle outside a transaction are left alone.
      await sleep(800);
      expect((await other.query<{ v: number }>('SELECT 1 AS v')).rows).toEqual([{ v: 1 }]);
      await other.end();
    } finally {
      await endQuietly(idler);
      await proxy.stop();
      await direct.query(`DROP TABLE ${TABLE}`);
    }
  });

  test('client idle timeout: FATAL 57P05; a client running a long statement is not idle', async () => {
    const proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 2 },
      timeouts: { clientIdleMs: 500 },
    });
    const idle = await proxy.connect();
    const busy = await proxy.connect();
    try {
      const long = busy.query('SELECT pg_sleep(1.2) AS s');
      await waitFor('the idle-session FATAL', () => errorsOf(idle).length > 0, 10_000);
      expect((errorsOf(idle)[0] as { code?: string }).code).toBe('57P05');
      await long;
      expect(errorsOf(busy)).toEqual([]);
    } finally {
      await endQuietly(idle);
      await endQuietly(busy);
      await proxy.stop();
    }
  });
});
