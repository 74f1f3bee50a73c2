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
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import fc from 'fast-check';
import pg from 'pg';
import pino from 'pino';
import { defaultConfig } from '../../src/config.js';
import type { DocFusionConfig, PoolMode } from '../../src/config-types.js';
import { startDocFusion, type RunningDocFusion } from '../../src/run.js';
import { canonicalScripts, recordClientScripts } from './fuzz-corpus.js';
import {
  caseArb,
  materialize,
  toJson,
  type CorpusEnv,
  type FuzzCase,
  type Materialized,
  type Script,
  type Target,
} from './fuzz-cases.js';
import { runCase, type CaseResult, type DriverTarget } from './fuzz-driver.js';

export interface FuzzHarnessOptions {
  /** Admin URL of the real Postgres. */
  readonly upstreamUrl: string;
  /** Fuzz sockets at once per proxy. Default 4. */
  readonly concurrency?: number;
  /** Weight of `linger` endings against 100 for the others. Default 2. */
  readonly lingerWeight?: number;
  /** Record real client sessions into the corpus. Default true. */
  readonly record?: boolean;
  /**
   * `detect` (default): nothing held back. `avoid`: steer clear of the known pooled-connection
   * poisoning bug (proxy-fuzz.test.ts) so a bounded run can look for other problems: cases end
   * every open extended-protocol batch with a Sync, and the transaction pool health-checks every
   * connection it hands out (server_check_delay 0), which replaces a poisoned one; at the end of
   * a batch the harness cycles the idle connections through that check.
   */
  readonly knownBugs?: 'avoid' | 'detect';
  /** Proxy log level (default FUZZ_LOG_LEVEL or silent). */
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

const LEAK_MARKER = 'cAnArY~';
const SETTLE_MS = 8000;

interface TargetRuntime {
  readonly name: Target;
  /** Keeps the control under the fuzz proxy's short client idle timeout. */
  readonly keepalive: NodeJS.Timeout;
  readonly running: RunningDocFusion;
  readonly port: number;
  readonly control: pg.Client;
  readonly controlErrors: Error[];
  readonly driver: DriverTarget;
  readonly limit: Semaphore;
}

class Semaphore {
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
  readonly timing = { cases: 0, checks: 0 };
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
    const concurrency = options.concurrency ?? 4;
    const make = async (name: Target, mode: PoolMode): Promise<TargetRuntime> => {
      const running = await startProxy(options, mode, concurrency + 3);
      const port = running.proxy.address().port;
      const controlErrors: Error[] = [];
      const control = new pg.Client({
        host: '127.0.0.1',
        port,
        user,
        password,
        database,
        application_name: 'fz-control',
      });
      control.on('error', (error) => controlErrors.push(error));
      await control.connect();
      let pinging = false;
      const keepalive = setInterval(() => {
        if (pinging) return;
        pinging = true;
        control
          .query('SELECT 1')
          .catch((error: unknown) => controlErrors.push(error as Error))
          .finally(() => {
            pinging = false;
          });
      }, FUZZ_LIMITS.clientIdleMs / 3);
      const runtime: TargetRuntime = {
        name,
        keepalive,
        running,
        port,
        control,
        controlErrors,
        limit: new Semaphore(concurrency),
        driver: {
          port,
          user,
          password,
          database,
          functionOid: env.functionOid,
          leakMarker: LEAK_MARKER,
          syncBeforeEnd: options.knownBugs === 'avoid',
          maxMessageSize: FUZZ_LIMITS.maxMessageSize,
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
      caseArb(this.corpus, this.env, { lingerWeight: this.options.lingerWeight ?? 2 }),
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
    loop.disable();
    const stalledMs = Math.round(loop.max / 1e6);
    this.maxLoopDelayMs = Math.max(this.maxLoopDelayMs, stalledMs);
    if (stalledMs >= FUZZ_LIMITS.clientIdleMs) {
      // The proxies share this process: a stall this long fires every idle timer at once.
      failures.push({
        index: -1,
        message: `the event loop stalled for ${stalledMs} ms during the batch`,
      });
    }
    for (const message of await this.checkInvariants()) failures.push({ index: -1, message });
    this.timing.checks += Date.now() - casesDone;
    return { cases, results, failures };
  }

  private count(key: string): void {
    this.stats.set(key, (this.stats.get(key) ?? 0) + 1);
  }

  // ---- canaries ------------------------------------------------------------------------------

  /** Per proxy, a client running tagged queries until stopped; returns what went wrong. */
  private startCanaries(): { stop: () => Promise<string[]> } {
    let stopping = false;
    const failures: string[] = [];
    const runs = (Object.values(this.targets) as TargetRuntime[]).map(async (t) => {
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

  async checkInvariants(): Promise<string[]> {
    const problems: string[] = [];
    for (const t of Object.values(this.targets) as TargetRuntime[]) {
      if (!t.running.proxy.listening) problems.push(`${t.name} proxy stopped listening`);
      const value = randomInt(-1e9, 1e9);
      try {
        const r = await withTimeout(
          t.control.query<{ n: number }>('SELECT $1::int AS n', [value]),
          5000,
          'control query',
        );
        if (r.rows.length !== 1 || r.rows[0]?.n !== value) {
          problems.push(`${t.name} control got ${JSON.stringify(r.rows)} for ${value}`);
        }
      } catch (error) {
        problems.push(`${t.name} control query failed: ${String(error)}`);
      }
      if (t.controlErrors.length > 0)
        problems.push(`${t.name} control emitted: ${t.controlErrors.map(String).join('; ')}`);
    }
    if (this.options.knownBugs === 'avoid') await this.healIdle();
    const deadline = Date.now() + SETTLE_MS;
    let last: string[] = [];
    for (;;) {
      last = await this.poolProblems();
      if (last.length === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return [...problems, ...last];
  }

  /** Known-bug avoidance: take every idle transaction-pool connection through the health check. */
  private async healIdle(): Promise<void> {
    for (const pool of this.targets.transaction.running.proxy.pools.all()) {
      const idle = pool.stats().idle;
      const taken = await Promise.all(
        Array.from({ length: idle }, () =>
          withTimeout(pool.acquire(), 5000, 'health-check acquire').catch(() => undefined),
        ),
      );
      for (const connection of taken) if (connection) pool.release(connection, true);
    }
  }

  private async poolProblems(): Promise<string[]> {
    const out: string[] = [];
    const pooled = new Map<number, string>();
    for (const t of Object.values(this.targets) as TargetRuntime[]) {
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
    const desc = `session #${session.id} ${session.state} busy=${session.busy} waiting=${session.waiting} tx=${String.fromCharCode(session.txStatus)} pinned=${session.pinned ?? '-'}`;
    if (session.state !== 'ready') return `${desc}: still in startup past limits.startupTimeoutMs`;
    if (!session.busy) return `${desc}: idle, yet not closed by the idle timeouts`;
    const pid = session.upstreamPid;
    if (pid === undefined) return `${desc}: busy without an upstream connection`;
    const r = await this.admin.query<{
      state: string | null;
      wait_event: string | null;
      query: string;
    }>('SELECT state, wait_event, left(query, 60) AS query FROM pg_stat_activity WHERE pid = $1', [
      pid,
    ]);
    const row = r.rows[0];
    if (!row) return `${desc}: its upstream backend ${pid} is gone`;
    // Postgres itself waits here for the client (an unsynced batch, COPY FROM STDIN): no timeout applies.
    if (row.state === 'active' && row.wait_event === 'ClientRead') {
      this.count(`linger:waiting-for-client`);
      return undefined;
    }
    return `${desc}: upstream ${pid} is '${row.state}' (${row.wait_event ?? '-'}) with ${row.query}`;
  }

  async stop(): Promise<void> {
    const pids = new Set<number>();
    for (const t of Object.values(this.targets) as TargetRuntime[]) {
      clearInterval(t.keepalive);
      for (const pool of t.running.proxy.pools.all()) {
        for (const { connection } of pool.connections()) pids.add(connection.processId);
      }
      await t.control.end().catch(() => undefined);
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
    await this.admin.query(`DROP TABLE IF EXISTS ${this.env.table}`).catch(() => undefined);
    await this.admin.end().catch(() => undefined);
  }
}

async function startProxy(
  options: FuzzHarnessOptions,
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
      ...(options.knownBugs === 'avoid' && mode === 'transaction'
        ? { serverCheckDelayMs: 0, maxClientWaitMs: 1000 }
        : {}),
    },
    log: { ...base.log, level },
  };
  return startDocFusion(config, pino({ level }));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

// ---- the property --------------------------------------------------------------------------------

export interface FuzzRunOptions {
  readonly cases: number;
  readonly seed?: number;
  /** fast-check path of one batch to replay. */
  readonly path?: string;
  /** Cases per batch (per fast-check run). Default 8. */
  readonly batchSize?: number;
  /** Stop (without failing) after this long; the report says how many cases ran. */
  readonly timeLimitMs?: number;
  /** Called after each batch. */
  readonly onBatch?: (done: number, total: number) => void;
}

export interface FuzzRunReport {
  readonly seed: number;
  readonly path: string | undefined;
  readonly casesRun: number;
  readonly failed: boolean;
  readonly failure: BatchReport | undefined;
  readonly elapsedMs: number;
  readonly corpusSize: number;
  readonly stats: ReadonlyMap<string, number>;
}

export async function runFuzz(h: FuzzHarness, options: FuzzRunOptions): Promise<FuzzRunReport> {
  const batchSize = options.batchSize ?? 8;
  const numRuns = Math.max(1, Math.ceil(options.cases / batchSize));
  const started = Date.now();
  const before = h.casesRun;
  let failure: BatchReport | undefined;
  let batches = 0;
  const details = await fc.check(
    fc.asyncProperty(h.batchArb(batchSize), async (batch) => {
      const report = await h.runBatch(batch.map((c) => h.materialize(c)));
      options.onBatch?.(++batches, numRuns);
      if (report.failures.length > 0) {
        failure = report;
        return false;
      }
      return true;
    }),
    {
      numRuns,
      endOnFailure: true,
      ...(options.timeLimitMs === undefined
        ? {}
        : { interruptAfterTimeLimit: options.timeLimitMs, markInterruptAsFailure: false }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.path === undefined ? {} : { path: options.path }),
    },
  );
  if (details.failed && failure === undefined && details.errorInstance) {
    failure = {
      cases: [],
      results: [],
      failures: [{ index: -1, message: String(details.errorInstance) }],
    };
  }
  return {
    seed: details.seed,
    path: details.counterexamplePath ?? undefined,
    casesRun: h.casesRun - before,
    failed: details.failed,
    failure,
    elapsedMs: Date.now() - started,
    corpusSize: h.corpus.length,
    stats: h.stats,
  };
}

const HEX_LIMIT = 8192;

/** A reproducer: seed and path, the failures, and the hex of each implicated input. */
export function formatFailure(report: FuzzRunReport, replayFile?: string): string {
  const lines = [
    `FUZZ FAILURE: seed ${report.seed}, path ${report.path ?? '?'} (after ${report.casesRun} cases)`,
    `  replay the batch: npm run fuzz -- --seed ${report.seed} --path ${report.path ?? '?'}`,
  ];
  if (replayFile) lines.push(`  replay the exact inputs: npm run fuzz -- --replay ${replayFile}`);
  const failure = report.failure;
  if (!failure) return lines.join('\n');
  for (const f of failure.failures) {
    const c = f.index >= 0 ? failure.cases[f.index] : undefined;
    lines.push(
      `  - ${c ? `case ${f.index} [${c.target}] ${c.name} (ending ${c.ending})` : 'batch'}: ${f.message}`,
    );
  }
  const implicated = new Set(failure.failures.map((f) => f.index));
  for (const [i, c] of failure.cases.entries()) {
    if (!implicated.has(i) && !implicated.has(-1)) continue;
    const sent = failure.results[i]?.sent ?? Buffer.alloc(0);
    const hex = sent.toString('hex');
    lines.push(
      `  case ${i} [${c.target}] ${c.name}, chunking ${JSON.stringify(c.chunking)}, ending ${c.ending}, byte edits ${JSON.stringify(c.bytes.map((b) => ({ ...b, ...(b.op === 'insert' ? { bytes: b.bytes.toString('hex') } : {}) })))}`,
      `    sent ${sent.length} bytes: ${hex.length > HEX_LIMIT ? `${hex.slice(0, HEX_LIMIT)}… (truncated; full input in the replay file)` : hex}`,
    );
  }
  return lines.join('\n');
}

/** Write the failing batch's exact inputs (materialized cases) for `npm run fuzz -- --replay`. */
export async function writeReplayFile(
  report: FuzzRunReport,
  dir = '.tmp/fuzz-failures',
): Promise<string | undefined> {
  if (!report.failure) return undefined;
  await mkdir(dir, { recursive: true });
  const file = path.join(
    dir,
    `seed-${report.seed}-path-${(report.path ?? 'x').replaceAll(':', '_')}.json`,
  );
  await writeFile(
    file,
    JSON.stringify(
      {
        seed: report.seed,
        path: report.path,
        failures: report.failure.failures,
        cases: report.failure.cases.map(toJson),
        sentHex: report.failure.results.map((r) => r?.sent.toString('hex') ?? null),
      },
      null,
      1,
    ),
  );
  return file;
}

export function formatStats(report: FuzzRunReport): string {
  const entries = [...report.stats.entries()].sort((a, b) => b[1] - a[1]);
  return `${report.casesRun} cases in ${(report.elapsedMs / 1000).toFixed(1)} s (seed ${report.seed}, corpus ${report.corpusSize} scripts); outcomes: ${entries
    .slice(0, 20)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`;
}
