/**
 * The protocol fuzzer as a library: a harness that starts two proxies (session and transaction
 * pooling, small pools, low timeouts) in front of a real Postgres, builds the corpus (canonical
 * sessions + sessions recorded from node-postgres and postgres.js), and runs batches of fuzz
 * cases (fuzz-cases.ts, fuzz-driver.ts) under fast-check. After every batch it checks:
 *   - the proxies still listen, and a control client per proxy gets the right row back for
 *     `SELECT $1::int` with a random value;
 *   - canary clients that ran during the batch (sharing the fuzzed pools, reconnecting in session
 *     mode) got exactly their own rows and no error, and no fuzz socket saw a canary's row;
 *   - within a bound, only the control sessions are left; every pool has no waiter, nothing
 *     connecting, only the control's lease active, idle ≤ size; every client backend upstream
 *     belongs to a pool (no leaked connection), every pooled connection exists upstream, and
 *     every idle pooled connection is `idle` upstream (not in a transaction, not in COPY).
 * Used by proxy-fuzz.test.ts (bounded budget in `npm test`) and run-fuzz.ts (`npm run fuzz`).
 *
 * Modules: fuzz-cases.ts (input model, edits, replay files), fuzz-generators.ts (fast-check
 * generators), fuzz-scripts.ts and fuzz-recorder.ts (the corpus), fuzz-driver.ts (one case on a
 * socket and its per-case checks), fuzz-proxies.ts (the fuzzed proxies), fuzz-run.ts (the
 * property and the reproducer).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import fc from 'fast-check';
import pg from 'pg';
import type { DocFusionConfig, PoolMode } from '../../src/config-types.js';
import type { RunningDocFusion } from '../../src/run.js';
import {
  Control,
  FUZZ_LIMITS,
  IDLE_TIMEOUT,
  Semaphore,
  startProxy,
  withTimeout,
} from './fuzz-proxies.js';
import { recordClientScripts } from './fuzz-recorder.js';
import { canonicalScripts } from './fuzz-scripts.js';
import { caseArb, type CorpusEnv } from './fuzz-generators.js';
import {
  materialize,
  type FuzzCase,
  type Materialized,
  type Script,
  type Target,
} from './fuzz-cases.js';
import { runCase, type CaseResult, type DriverTarget } from './fuzz-driver.js';

export interface FuzzHarnessOptions {
  /** Admin URL of the real Postgres. */
  readonly upstreamUrl: string;
  /** Fuzz sockets at once per proxy. Default 8. */
  readonly concurrency?: number;
  /** Weight of `linger` endings against 100 for the others. Default 1. */
  readonly lingerWeight?: number;
  /** Record real client sessions into the corpus. Default true. */
  readonly record?: boolean;
  /** Proxy log level (default FUZZ_LOG_LEVEL or silent). */
  readonly logLevel?: DocFusionConfig['log']['level'];
}

const LEAK_MARKER = 'cAnArY~';
const SETTLE_MS = 8000;

interface TargetRuntime {
  readonly name: Target;
  readonly running: RunningDocFusion;
  readonly port: number;
  readonly control: Control;
  readonly driver: DriverTarget;
  readonly limit: Semaphore;
}

export interface CaseFailure {
  /** Index of the case in its batch; -1 for a batch-level invariant. */
  readonly index: number;
  readonly message: string;
}

export interface BatchReport {
  readonly cases: readonly Materialized[];
  readonly results: readonly (CaseResult | undefined)[];
  readonly failures: readonly CaseFailure[];
}

export class FuzzHarness {
  readonly stats = new Map<string, number>();
  casesRun = 0;
  /** Milliseconds spent running cases and checking invariants. */
  readonly timing = { cases: 0, checks: 0, canaries: 0, controls: 0, settle: 0 };
  /** Longest event-loop stall seen in a batch (the proxies run in this process). */
  maxLoopDelayMs = 0;
  private constructor(
    readonly options: FuzzHarnessOptions,
    readonly env: CorpusEnv,
    readonly user: string,
    readonly password: string,
    readonly database: string,
    private readonly admin: pg.Client,
    readonly targets: Record<Target, TargetRuntime>,
    readonly corpus: Script[],
  ) {}

  static async start(options: FuzzHarnessOptions): Promise<FuzzHarness> {
    const url = new URL(options.upstreamUrl);
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    const database = url.pathname.slice(1);
    const admin = new pg.Client({
      connectionString: options.upstreamUrl,
      application_name: 'docfusiondb-fuzz-checker',
    });
    admin.on('error', () => undefined);
    await admin.connect();
    const table = `fuzz_t_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE TABLE ${table} (a int, b text)`);
    const oid = await admin.query<{ oid: number }>(`SELECT 'int4pl'::regproc::oid::int AS oid`);
    const env: CorpusEnv = { table, functionOid: oid.rows[0]?.oid ?? 177 };
    const concurrency = options.concurrency ?? 8;
    const make = async (name: Target, mode: PoolMode): Promise<TargetRuntime> => {
      const running = await startProxy(options, mode, concurrency + 3);
      const port = running.proxy.address().port;
      const control = await Control.connect({
        host: '127.0.0.1',
        port,
        user,
        password,
        database,
        application_name: 'fz-control',
      });
      const runtime: TargetRuntime = {
        name,
        running,
        port,
        control,
        limit: new Semaphore(concurrency),
        driver: {
          port,
          user,
          password,
          database,
          functionOid: env.functionOid,
          leakMarker: LEAK_MARKER,
          bounds: {
            preLoginMs: FUZZ_LIMITS.startupTimeoutMs + 1500,
            loggedInMs:
              Math.max(FUZZ_LIMITS.clientIdleMs, FUZZ_LIMITS.idleInTransactionMs) +
              FUZZ_LIMITS.queryMs +
              1500,
          },
          inspect: (localPort) => harness.inspect(runtime, localPort),
        },
      };
      return runtime;
    };
    const targets = {
      session: await make('session', 'session'),
      transaction: await make('transaction', 'transaction'),
    };
    const corpus = canonicalScripts(env);
    if (options.record ?? true) {
      const recorded = await recordClientScripts(
        { port: targets.session.port, user, password, database },
        env,
      );
      corpus.push(...recorded);
    }
    const harness: FuzzHarness = new FuzzHarness(
      options,
      env,
      user,
      password,
      database,
      admin,
      targets,
      corpus,
    );
    return harness;
  }

  /** fast-check arbitrary of one batch. */
  batchArb(size: number): fc.Arbitrary<FuzzCase[]> {
    return fc.array(
      caseArb(this.corpus, this.env, { lingerWeight: this.options.lingerWeight ?? 1 }),
      {
        minLength: size,
        maxLength: size,
      },
    );
  }

  materialize(c: FuzzCase): Materialized {
    return materialize(c, this.corpus);
  }

  /** Run cases concurrently (bounded per proxy) with canaries, then check the invariants. */
  async runBatch(cases: readonly Materialized[]): Promise<BatchReport> {
    const failures: CaseFailure[] = [];
    const batchStart = Date.now();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const canaries = this.startCanaries();
    const results = await Promise.all(
      cases.map(async (c, index) => {
        const target = this.targets[c.target];
        try {
          const started = Date.now();
          const result = await target.limit.run(() => runCase(target.driver, c));
          const ms = Date.now() - started;
          const key = `ms:${c.ending}`;
          this.stats.set(key, (this.stats.get(key) ?? 0) + ms);
          for (const message of result.failures) failures.push({ index, message });
          for (const note of result.notes) this.count(note);
          return result;
        } catch (error) {
          failures.push({ index, message: `driver error: ${String(error)}` });
          return undefined;
        }
      }),
    );
    this.casesRun += cases.length;
    const casesDone = Date.now();
    this.timing.cases += casesDone - batchStart;
    for (const message of await canaries.stop()) failures.push({ index: -1, message });
    this.timing.canaries += Date.now() - casesDone;
    loop.disable();
    const stalledMs = Math.round(loop.max / 1e6);
    this.maxLoopDelayMs = Math.max(this.maxLoopDelayMs, stalledMs);
    // The proxies share this process: on a loaded machine a stall as long as the idle timeouts
    // fires them for every client at once. Those timeouts are artifacts, not findings.
    const stalled = stalledMs >= FUZZ_LIMITS.clientIdleMs - 150;
    if (stalled) {
      this.count('stalled-batches');
      for (let i = failures.length - 1; i >= 0; i--) {
        if (IDLE_TIMEOUT.test(failures[i]?.message ?? '')) failures.splice(i, 1);
      }
    }
    for (const message of await this.checkInvariants(stalled)) {
      failures.push({ index: -1, message });
    }
    this.timing.checks += Date.now() - casesDone;
    return { cases, results, failures };
  }

  private allTargets(): TargetRuntime[] {
    return [this.targets.session, this.targets.transaction];
  }

  private count(key: string): void {
    this.stats.set(key, (this.stats.get(key) ?? 0) + 1);
  }

  // ---- canaries ------------------------------------------------------------------------------

  /** Per proxy, a client running tagged queries until stopped; returns what went wrong. */
  private startCanaries(): { stop: () => Promise<string[]> } {
    let stopping = false;
    const failures: string[] = [];
    const runs = this.allTargets().map(async (t) => {
      let client: pg.Client | undefined;
      const errors: Error[] = [];
      const config = {
        host: '127.0.0.1',
        port: t.port,
        user: this.user,
        password: this.password,
        database: this.database,
        application_name: 'fz-canary',
        query_timeout: 10_000,
        connectionTimeoutMillis: 10_000,
      };
      try {
        for (let i = 0; !stopping || i === 0; i++) {
          if (!client) {
            client = new pg.Client(config);
            client.on('error', (error) => errors.push(error));
            await client.connect();
          }
          const tag = `${LEAK_MARKER}${t.name}:${i}:${randomInt(1e9)}`;
          if (t.name === 'transaction') await client.query('BEGIN');
          const extended = await client.query<{ v: string; n: number }>(
            'SELECT $1::text AS v, n FROM generate_series(1, 3) AS n',
            [tag],
          );
          const simple = await client.query<{ v: string }>(`SELECT '${tag}'::text AS v`);
          if (t.name === 'transaction') await client.query('COMMIT');
          const rows = JSON.stringify([...extended.rows, ...simple.rows]);
          const expected = JSON.stringify([
            { v: tag, n: 1 },
            { v: tag, n: 2 },
            { v: tag, n: 3 },
            { v: tag },
          ]);
          if (rows !== expected)
            failures.push(`canary on ${t.name} got ${rows.slice(0, 300)}, expected ${expected}`);
          if (t.name === 'session' && i % 2 === 1) {
            // Reconnect: take a connection another (fuzz) client may have used.
            await client.end();
            client = undefined;
          }
        }
      } catch (error) {
        failures.push(`canary on ${t.name} failed: ${String(error)}`);
      } finally {
        if (client) await client.end().catch(() => undefined);
      }
      if (errors.length > 0)
        failures.push(`canary on ${t.name} emitted errors: ${errors.map(String).join('; ')}`);
    });
    return {
      stop: async () => {
        stopping = true;
        await Promise.all(runs);
        return failures;
      },
    };
  }

  // ---- invariants ----------------------------------------------------------------------------

  /**
   * A control killed by the idle timeout while this process was stalled (seen by the batch's
   * loop monitor, or by the control's own keepalive ticks when the stall fell between batches)
   * is an artifact: it gets a new connection. Any other control error stays a finding.
   */
  private async recoverStarvedControls(stalled: boolean): Promise<void> {
    for (const t of this.allTargets()) await this.recoverStarvedControl(t, stalled);
  }

  /** Whether the control was starved, killed by the idle timeout, and reconnected. */
  private async recoverStarvedControl(t: TargetRuntime, stalled: boolean): Promise<boolean> {
    const starved = t.control.consumeStarvation();
    const errors = t.control.errors;
    if (errors.length === 0 || !(stalled || starved)) return false;
    if (
      !errors.some((e) => IDLE_TIMEOUT.test(String(e))) ||
      !errors.every(
        (e) => IDLE_TIMEOUT.test(String(e)) || /not queryable|terminated/.test(String(e)),
      )
    ) {
      return false;
    }
    this.count('control-reconnects');
    await t.control.reconnect();
    return true;
  }

  async checkInvariants(stalled = false): Promise<string[]> {
    await this.recoverStarvedControls(stalled);
    const problems: string[] = [];
    let mark = Date.now();
    const lap = (key: 'controls' | 'settle'): void => {
      this.timing[key] += Date.now() - mark;
      mark = Date.now();
    };
    for (const t of this.allTargets()) {
      if (!t.running.proxy.listening) problems.push(`${t.name} proxy stopped listening`);
      const value = randomInt(-1e9, 1e9);
      const ask = (): Promise<pg.QueryResult<{ n: number }>> =>
        withTimeout(
          t.control.client.query<{ n: number }>('SELECT $1::int AS n', [value]),
          5000,
          'control query',
        );
      try {
        let r: pg.QueryResult<{ n: number }>;
        try {
          r = await ask();
        } catch (error) {
          // Starved (and cut by the idle timeout) while this check ran: once more, reconnected.
          if (!(await this.recoverStarvedControl(t, false))) throw error;
          r = await ask();
        }
        if (r.rows.length !== 1 || r.rows[0]?.n !== value) {
          problems.push(`${t.name} control got ${JSON.stringify(r.rows)} for ${value}`);
        }
      } catch (error) {
        problems.push(`${t.name} control query failed: ${String(error)}`);
      }
      if (t.control.errors.length > 0)
        problems.push(`${t.name} control emitted: ${t.control.errors.map(String).join('; ')}`);
    }
    lap('controls');
    const settle = async (ms: number): Promise<string[]> => {
      const deadline = Date.now() + ms;
      const started = Date.now();
      let first: string[] | undefined;
      for (;;) {
        const now = await this.poolProblems();
        first ??= now;
        if (now.length === 0 && process.env.FUZZ_DEBUG_SETTLE && Date.now() - started > 50) {
          console.log(`settled after ${Date.now() - started} ms: ${first.join(' | ')}`);
        }
        if (now.length === 0 || Date.now() > deadline) return now;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const last = await settle(SETTLE_MS);
    lap('settle');
    return [...problems, ...last];
  }

  private async poolProblems(): Promise<string[]> {
    const out: string[] = [];
    const pooled = new Map<number, string>();
    for (const t of this.allTargets()) {
      const sessions = [...t.running.proxy.sessions];
      if (sessions.length !== 1) {
        out.push(
          `${t.name}: ${sessions.length} sessions open, expected only the control: ` +
            sessions
              .slice(0, 5)
              .map(
                (s) =>
                  `#${s.id} ${s.state} busy=${s.busy} waiting=${s.waiting} tx=${String.fromCharCode(s.txStatus)} app=${s.applicationName}`,
              )
              .join(', '),
        );
      }
      for (const pool of t.running.proxy.pools.all()) {
        const s = pool.stats();
        const controlPool = s.database === this.database && s.user === this.user;
        const expectedActive = t.name === 'session' && controlPool ? 1 : 0;
        if (
          s.active !== expectedActive ||
          s.waiting !== 0 ||
          s.connecting !== 0 ||
          s.idle > s.size
        ) {
          out.push(
            `${t.name} pool ${pool.name}: active ${s.active} (expected ${expectedActive}), idle ${s.idle}/${s.size}, waiting ${s.waiting}, connecting ${s.connecting}`,
          );
        }
        for (const { connection, state } of pool.connections()) {
          pooled.set(connection.processId, `${t.name}/${pool.name}:${state}`);
        }
      }
    }
    const r = await this.admin.query<{
      pid: number;
      state: string | null;
      app: string;
      query: string;
    }>(
      `SELECT pid, state, application_name AS app, left(query, 80) AS query FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename = current_user
          AND application_name NOT LIKE 'docfusiondb-%'`,
    );
    const upstream = new Set<number>();
    for (const row of r.rows) {
      upstream.add(row.pid);
      const where = pooled.get(row.pid);
      if (where === undefined) {
        out.push(
          `upstream backend ${row.pid} (${row.state}, app '${row.app}', ${row.query}) belongs to no pool: leaked`,
        );
      } else if (where.endsWith(':idle') && row.state !== 'idle') {
        out.push(
          `idle pooled connection ${row.pid} (${where}) is '${row.state}' upstream (${row.query})`,
        );
      }
    }
    for (const [pid, where] of pooled) {
      if (!upstream.has(pid)) out.push(`pool connection ${pid} (${where}) does not exist upstream`);
    }
    return out;
  }

  /** A lingering socket outlived its bound: is the proxy waiting where Postgres would? */
  async inspect(t: TargetRuntime, localPort: number): Promise<string | undefined> {
    const session = [...t.running.proxy.sessions].find((s) => s.remote.endsWith(`:${localPort}`));
    if (!session) return `the proxy has no session for this socket (yet kept it open)`;
    const desc = `session #${session.id} ${session.state} busy=${session.busy} batch=${session.inBatch} waiting=${session.waiting} tx=${String.fromCharCode(session.txStatus)} pinned=${session.pinned ?? '-'}`;
    if (session.state !== 'ready') return `${desc}: still in startup past limits.startupTimeoutMs`;
    // With an extended-protocol batch open (no Sync yet), Postgres sends no ReadyForQuery and
    // arms no idle timeout: then it must be waiting for the client, checked below.
    if (!session.busy && !session.inBatch)
      return `${desc}${session.admin ? ' (admin console)' : ''}: idle, yet not closed by the idle timeouts`;
    const pid = session.upstreamPid;
    if (pid === undefined) return `${desc}: busy (or in a batch) without an upstream connection`;
    const r = await this.admin.query<{
      state: string | null;
      wait_event: string | null;
      query: string;
    }>('SELECT state, wait_event, left(query, 60) AS query FROM pg_stat_activity WHERE pid = $1', [
      pid,
    ]);
    const row = r.rows[0];
    if (!row) return `${desc}: its upstream backend ${pid} is gone`;
    // Postgres itself waits here for the client (an unsynced batch, COPY FROM STDIN): no timeout
    // applies. A batch whose first message failed (before any statement ran) leaves the backend
    // in its previous state, 'idle', skipping up to the Sync.
    if (row.wait_event === 'ClientRead' && (row.state === 'active' || session.inBatch)) {
      this.count(session.inBatch ? 'linger:waiting-for-client-batch' : 'linger:waiting-for-client');
      return undefined;
    }
    return `${desc}: upstream ${pid} is '${row.state}' (${row.wait_event ?? '-'}) with ${row.query}`;
  }

  async stop(): Promise<void> {
    const pids = new Set<number>();
    for (const t of this.allTargets()) {
      t.control.stop();
      for (const pool of t.running.proxy.pools.all()) {
        for (const { connection } of pool.connections()) pids.add(connection.processId);
      }
      await t.control.client.end().catch(() => undefined);
      await t.running.stop(500);
    }
    // Wait until the proxies' upstream connections are gone, so a next harness starts clean.
    for (let i = 0; i < 100; i++) {
      const r = await this.admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1::int[])',
        [[...pids]],
      );
      if ((r.rows[0]?.n ?? 0) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Connections a proxy leaked outlive its shutdown: end them so the next harness starts clean.
    await this.admin
      .query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1::int[])', [
        [...pids],
      ])
      .catch(() => undefined);
    await this.admin.query(`DROP TABLE IF EXISTS ${this.env.table}`).catch(() => undefined);
    await this.admin.end().catch(() => undefined);
  }
}

export { FUZZ_LIMITS } from './fuzz-proxies.js';
export {
  formatFailure,
  formatStats,
  runFuzz,
  writeReplayFile,
  type FuzzRunOptions,
  type FuzzRunReport,
} from './fuzz-run.js';
