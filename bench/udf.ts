/**
 * DocFusion functions on a generated document corpus: selective json_contains and
 * json_extract_path queries through DocFusionDB against their native JSONB SQL sent straight to
 * Postgres (interleaved, one run), the same queries evaluated in the proxy over Arrow batches
 * (SET docfusion.pushdown = off), json_schema_valid over 100k documents, and the planner's batch
 * building from DataRows (in-process).
 *
 *   npm run bench:udf -- [--docs 1000000] [--rounds 3] [--iterations 200]
 *
 * Targets: p50 proxy/direct ≤ 1.10 and p99 < 100 ms for every typical query; batch building
 * ≥ 1M narrow rows/s. A benchmark, not a test: it exits 0 when a target is missed (and says
 * MISS), non-zero only when it could not measure. See bench/lib/udf-report.ts for the tables.
 */
import pg from 'pg';
import { parseFlags, usage, UsageError } from './lib/args.js';
import {
  BATCH_ROWS,
  BATCH_VARIANTS,
  measureBatchVariant,
  narrowBatches,
} from './lib/batch-build.js';
import { errorMessage, runBench } from './lib/cleanup.js';
import { createProfiler, summarize, type Profiler } from './lib/cpu-profile.js';
import { ensureCorpus, GIN_INDEX, TABLE } from './lib/doc-corpus.js';
import { keptUpstreamDir, startKeptUpstream } from './lib/kept-upstream.js';
import { measurePlanCost } from './lib/plan-cost.js';
import { loadAverage, machineInfo, postgresVersion, type InfoEntry } from './lib/machine.js';
import { seededRandom } from './lib/percentile.js';
import { procCpuMs, procMemory } from './lib/proc.js';
import { buildProxy, startProxyProcess, type ProxyProcess } from './lib/proxy.js';
import { REPO_ROOT, writeResult } from './lib/results.js';
import {
  containsOffQuery,
  fetchDocsQuery,
  literalSql,
  QUERY_SHAPES,
  schemaOracle,
  schemaQuery,
  type QueryShape,
  type Statement,
} from './lib/udf-queries.js';
import {
  buildReport,
  type BatchSample,
  type OffSample,
  type OnSample,
  type ProfilePhase,
  type ReferenceSample,
  type ShapeFacts,
} from './lib/udf-report.js';

const DATABASE = 'docfusion_bench_udf';

const FLAGS = {
  docs: { default: 1_000_000, min: 1000, help: 'documents in the corpus (about 1 KB each)' },
  rounds: { default: 3, min: 1, help: 'rounds; each runs every measurement once' },
  iterations: {
    default: 200,
    min: 1,
    help: 'queries per shape and side per round, pushdown on (direct and proxy alternate)',
  },
  warmup: { default: 20, min: 0, help: 'unmeasured queries per shape and side before round 1' },
  'off-min': {
    default: 1,
    min: 1,
    help: 'pushdown-off queries per shape per round at least (more while under 1 s)',
  },
  'off-docs': {
    default: 100_000,
    min: 0,
    help: 'pushdown-off queries scan only id <= N (0 = the whole corpus)',
  },
  'schema-docs': { default: 100_000, min: 1, help: 'documents json_schema_valid checks' },
  'batch-ms': { default: 500, min: 10, help: 'milliseconds per batch-building measurement' },
  seed: { default: 1, min: 0, help: 'seed of the query values' },
  reload: { boolean: true, help: 'reload the corpus even when one of this size exists' },
  'path-ops': {
    boolean: true,
    help: 'GIN index with jsonb_path_ops (@> only) instead of the default jsonb_ops',
  },
  fresh: { boolean: true, help: 'remove the kept embedded Postgres directory first' },
  profile: {
    boolean: true,
    help: 'after the rounds, one more (unmeasured) round with CPU profiles of the proxy',
  },
  'skip-build': { boolean: true, help: 'use the existing dist/ instead of running npm run build' },
} as const;

const DESCRIPTION = `Selective json_contains / json_extract_path queries through DocFusionDB vs their native
JSONB SQL straight to Postgres (interleaved; p50, p99, p50 ratio; targets ratio <= 1.10 and
p99 < 100 ms), the same queries with SET docfusion.pushdown = off (rows/s of the Arrow path),
json_schema_valid rows/s, and the planner's RowBatch building Arrow vectors from DataRows
(in-process; target >= 1M rows/s). The corpus (generate_series, GIN index on doc) lives in the
database ${DATABASE} and is reused while its size matches. Upstream: $BENCH_DATABASE_URL, else
an embedded Postgres kept in ${keptUpstreamDir('bench-udf')} (remove it to reclaim the disk).
Report also written to bench/results/udf.md.`;

type Flags = NonNullable<ReturnType<typeof parseFlags<typeof FLAGS>>>;

/** node-postgres without type parsing: values as Postgres sent them, the same for both sides. */
const RAW = { getTypeParser: () => (value: unknown) => value } as unknown as pg.CustomTypesConfig;

interface Result {
  readonly ms: number;
  readonly rows: unknown[][];
}

async function run(client: pg.Client, statement: Statement | string): Promise<Result> {
  const { text, values } = typeof statement === 'string' ? { text: statement } : statement;
  const config: pg.QueryArrayConfig = { text, rowMode: 'array', types: RAW };
  if (values !== undefined) config.values = [...values];
  const started = performance.now();
  const result = await client.query(config);
  return { ms: performance.now() - started, rows: result.rows as unknown[][] };
}

function canonical(rows: readonly unknown[][], ordered: boolean): string {
  const lines = rows.map((row) => JSON.stringify(row));
  return (ordered ? lines : lines.sort()).join('\n');
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-udf' });
  await client.connect();
  return client;
}

async function main(argv: readonly string[]): Promise<number> {
  let flags: Flags | undefined;
  try {
    flags = parseFlags(argv, FLAGS);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:udf: ${error.message}\n\n`);
    process.stderr.write(usage('npm run bench:udf --', DESCRIPTION, FLAGS));
    return 2;
  }
  if (flags === undefined) {
    process.stdout.write(usage('npm run bench:udf --', DESCRIPTION, FLAGS));
    return 0;
  }
  const started = performance.now();
  const machine = machineInfo();

  log(
    `batch building: ${String(flags.rounds)} round(s) of ${String(BATCH_VARIANTS.length)} variants`,
  );
  const batchSamples = batchBench(flags);
  log('planning cost: the planner in-process, 200 statements per shape and round');
  const planSamples = await measurePlanCost(QUERY_SHAPES, flags.docs, flags.rounds, 200);

  if (flags['skip-build']) log('using the existing dist/ (--skip-build)');
  else {
    log('building DocFusionDB (npm run build)...');
    await buildProxy();
  }
  log('starting the upstream Postgres...');
  const upstream = await startKeptUpstream({
    dir: keptUpstreamDir('bench-udf'),
    fresh: flags.fresh,
  });
  const pgVersion = await postgresVersion(upstream.url);
  log(`upstream: ${upstream.source}, PostgreSQL ${pgVersion}`);
  const corpus = await ensureCorpus(upstream.url, DATABASE, flags.docs, {
    reload: flags.reload,
    opclass: flags['path-ops'] ? 'jsonb_path_ops' : 'jsonb_ops',
    log,
  });
  log(
    corpus.action === 'reused'
      ? `reused the corpus (it took ${corpus.loadSeconds.toFixed(1)} s to load on ${corpus.loadedAt})`
      : `${corpus.action === 'loaded' ? 'loaded the corpus' : 'rebuilt its GIN index'} in ${corpus.runSeconds.toFixed(1)} s`,
  );

  const profiler = flags.profile ? await createProfiler() : undefined;
  log('starting DocFusionDB as a separate process...');
  const proxy = await startProxyProcess({
    upstreamUrl: corpus.url,
    ...(profiler ? { nodeArgs: profiler.nodeArgs, env: profiler.env } : {}),
  });
  log(`proxy: pid ${String(proxy.process.pid)}, listening on ${proxy.host}:${String(proxy.port)}`);

  const direct = await connect(corpus.url);
  const viaProxy = await connect(proxy.via(corpus.url));
  const viaProxyOff = await connect(proxy.via(corpus.url));
  try {
    await viaProxyOff.query('SET docfusion.pushdown = off');
    const shown = await viaProxyOff.query<{ 'docfusion.pushdown': string }>(
      'SHOW docfusion.pushdown',
    );
    if (shown.rows[0]?.['docfusion.pushdown'] !== 'off') {
      throw new Error('SET docfusion.pushdown = off did not take effect through the proxy');
    }
    const clients = { direct, proxy: viaProxy, off: viaProxyOff };
    const measured = await measure(flags, clients, proxy, profiler);
    const proxyMemory = procMemory(proxy.process.pid);
    // The proxy logs every pushdown-off scan as a slow statement; anything else is news.
    const proxyOther = proxy.process
      .outputTail(64 * 1024)
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.includes('"msg":"slow statement"'));
    await Promise.all([direct.end(), viaProxy.end(), viaProxyOff.end()]);
    await proxy.stop();
    await upstream.stop();

    machine.push(['postgres', pgVersion], ['load average after the runs', loadAverage()]);
    const settings: InfoEntry[] = [
      [
        'corpus',
        `${flags.docs.toLocaleString('en-US')} documents in ${TABLE}(id int primary key, doc jsonb), ` +
          `avg ${corpus.avgTextBytes.toFixed(0)} bytes as text; table ${mib(corpus.tableBytes)}, ` +
          `GIN index ${GIN_INDEX} (${corpus.opclass}) ${mib(corpus.indexBytes)}; database ${DATABASE}`,
      ],
      [
        'corpus load',
        `${corpus.action === 'reused' ? `reused (loaded ${corpus.loadedAt})` : `${corpus.action} by this run in ${corpus.runSeconds.toFixed(1)} s`}; ` +
          `loading it all takes ${corpus.loadSeconds.toFixed(1)} s (${corpus.steps.map(([s, t]) => `${s} ${t.toFixed(1)} s`).join(', ')})`,
      ],
      [
        'rounds',
        `${String(flags.rounds)}; each: per shape ${String(flags.iterations)} queries direct and ` +
          `${String(flags.iterations)} through the proxy, alternating which goes first, then the ` +
          `pushdown-off runs; then the json_schema_valid runs (order rotated)`,
      ],
      ['warm-up', `${String(flags.warmup)} queries per shape and side`],
      [
        'pushdown off',
        offScope(flags) === undefined
          ? 'the same queries over the whole corpus'
          : `the same queries with AND id <= ${String(offScope(flags))} (a conjunct Postgres ` +
            'evaluates), so each scans that many documents; the full-table time is projected ' +
            'from the rows/s',
      ],
      [
        'clients',
        'one node-postgres connection each (direct, proxy, proxy with pushdown off), one query at ' +
          'a time, no type parsing; literal queries use the simple protocol, $1 queries the ' +
          'extended protocol (unnamed statements)',
      ],
      ['upstream', upstream.source],
      [
        'proxy',
        `node dist/src/cli.js (separate process), session pooling, DOCFUSION_LOG_LEVEL=warn; ` +
          `peak RSS ${(proxyMemory.hwmKiB / 1024).toFixed(0)} MiB`,
      ],
      ['batch building', `${String(BATCH_ROWS)}-row batches, in the bench process`],
    ];
    const report = buildReport({
      docs: flags.docs,
      schemaDocs: Math.min(flags['schema-docs'], flags.docs),
      shapes: QUERY_SHAPES,
      ...measured,
      batch: batchSamples,
      plan: planSamples,
      settings,
      machine,
      corpus,
      seconds: (performance.now() - started) / 1000,
    });
    process.stdout.write(`\n${report.text}`);
    if (proxyOther.length > 0) {
      process.stdout.write(
        `\nnote: the proxy logged ${String(proxyOther.length)} line(s) at warn or above besides ` +
          `slow statements; last:\n${proxyOther.slice(-5).join('\n')}\n`,
      );
    }
    if (profiler) process.stdout.write(`\nCPU profiles (.cpuprofile) kept in ${profiler.dir}\n`);
    const file = await writeResult('udf', report.markdown);
    process.stdout.write(`\nwritten to ${file}\n`);
    return 0;
  } catch (error) {
    throw new Error(`${errorMessage(error)}${proxyDied(proxy)}`);
  } finally {
    await Promise.allSettled([direct.end(), viaProxy.end(), viaProxyOff.end()]);
  }
}

interface Clients {
  readonly direct: pg.Client;
  readonly proxy: pg.Client;
  readonly off: pg.Client;
}

interface Measured {
  readonly on: OnSample[];
  readonly off: OffSample[];
  readonly reference: ReferenceSample[];
  readonly facts: Map<string, ShapeFacts>;
  readonly schemaCheck: string;
  readonly profiles: ProfilePhase[];
}

async function measure(
  flags: Flags,
  clients: Clients,
  proxy: ProxyProcess,
  profiler: Profiler | undefined,
): Promise<Measured> {
  const docs = flags.docs;
  const schemaDocs = Math.min(flags['schema-docs'], docs);
  const facts = new Map<string, ShapeFacts>();
  const randoms = new Map(
    QUERY_SHAPES.map((s, i) => [s.key, seededRandom(flags.seed * 1000 + i)] as const),
  );
  const next = (shape: QueryShape) => shape.make(randoms.get(shape.key) ?? Math.random, docs);
  const scope = offScope(flags);
  const nextOff = (shape: QueryShape) =>
    shape.make(randoms.get(shape.key) ?? Math.random, docs, scope);
  /** Rows the pushed query of a pushdown-off plan sends to the proxy, and that query. */
  /** Rows the pushed query of a pushdown-off plan sends to the proxy, that query and its plan. */
  const offInput = async (
    statement: Statement,
  ): Promise<{ rows: number; pushed: string | undefined; plan: string }> => {
    const explain = await run(clients.off, `EXPLAIN ${literalSql(statement)}`);
    const lines = explain.rows.map((r) => String(r[0]));
    const pushed = lines
      .map((line) => /^\s*Pushed SQL: (.*)$/.exec(line)?.[1])
      .find((sql) => sql !== undefined);
    if (pushed === undefined) return { rows: NaN, pushed, plan: planSummary(lines) };
    const count = await run(clients.direct, `SELECT count(*) FROM (${pushed}) s`);
    return { rows: Number(count.rows[0]?.[0]), pushed, plan: planSummary(lines) };
  };

  log('plans: EXPLAIN of each shape through the proxy (pushdown on and off) and direct');
  for (const shape of QUERY_SHAPES) {
    const instance = shape.make(seededRandom(flags.seed), docs);
    const explainOn = await run(clients.proxy, `EXPLAIN ${literalSql(instance.docfusion)}`);
    const explainDirect = await run(clients.direct, `EXPLAIN ${literalSql(instance.native)}`);
    const scoped = await offInput(shape.make(seededRandom(flags.seed), docs, scope).docfusion);
    const inputRowsFull =
      scope === undefined ? scoped.rows : (await offInput(instance.docfusion)).rows;
    facts.set(shape.key, {
      planOn: planSummary(explainOn.rows.map((r) => String(r[0]))),
      planDirect: planSummary(explainDirect.rows.map((r) => String(r[0]))),
      planOff: scoped.plan,
      verdicts: explainOn.rows
        .map((r) => String(r[0]))
        .filter((l) => /Exact|Inexact|Unsupported/.test(l))
        .map((l) => l.trim()),
      pushedOff: scoped.pushed ?? '(no residual plan: see EXPLAIN)',
      inputRowsOff: scoped.rows,
      inputRowsOffFull: inputRowsFull,
      checkedOn: 0,
      mismatchesOn: 0,
      checkedOff: 0,
      mismatchesOff: 0,
      proxyCpuMs: 0,
      proxyQueries: 0,
      rowsReturned: [],
    });
  }

  if (flags.warmup > 0) {
    log(`warm-up: ${String(flags.warmup)} queries per shape and side`);
    for (const shape of QUERY_SHAPES) {
      for (let i = 0; i < flags.warmup; i++) {
        const instance = next(shape);
        await run(clients.direct, instance.native);
        await run(clients.proxy, instance.docfusion);
      }
    }
  }

  const on: OnSample[] = [];
  const off: OffSample[] = [];
  const reference: ReferenceSample[] = [];
  let schemaCheck = 'not checked';
  const profiles: ProfilePhase[] = [];
  const rounds = flags.rounds + (profiler ? 1 : 0);
  for (let round = 1; round <= rounds; round++) {
    const profiling = profiler !== undefined && round > flags.rounds;
    const pid = proxy.process.pid;
    const phase = async (name: string, body: () => Promise<void>): Promise<void> => {
      if (!profiling) return body();
      await profiler.start(pid);
      await body();
      const file = await profiler.stop(pid);
      const existing = profiles.find((p) => p.name === name);
      if (existing) existing.files.push(file);
      else profiles.push({ name, files: [file], top: [] });
    };
    log(
      profiling ? 'profile round (not measured)' : `round ${String(round)}/${String(flags.rounds)}`,
    );
    for (const shape of QUERY_SHAPES) {
      const fact = facts.get(shape.key);
      if (fact === undefined) continue;
      // Pushdown on: direct and proxy interleaved, alternating which goes first.
      await phase(`pushdown on: ${shape.key}`, async () => {
        const cpuBefore = procCpuMs(pid);
        for (let i = 0; i < flags.iterations; i++) {
          const instance = next(shape);
          const proxyFirst = (i + round) % 2 === 1;
          const a = proxyFirst ? await run(clients.proxy, instance.docfusion) : undefined;
          const d = await run(clients.direct, instance.native);
          const p = a ?? (await run(clients.proxy, instance.docfusion));
          if (profiling) continue;
          on.push({ shape: shape.key, round, via: 'direct', ms: d.ms });
          on.push({ shape: shape.key, round, via: 'proxy', ms: p.ms });
          fact.rowsReturned.push(d.rows.length);
          fact.checkedOn++;
          if (canonical(d.rows, shape.ordered) !== canonical(p.rows, shape.ordered)) {
            fact.mismatchesOn++;
          }
        }
        if (!profiling) {
          fact.proxyCpuMs += procCpuMs(pid) - cpuBefore;
          fact.proxyQueries += flags.iterations;
        }
      });
      // The floor: the native SQL itself through the proxy (forwarded untouched, no planning),
      // interleaved with direct again. What any hop through the proxy costs this query.
      if (!profiling) {
        await phase(`floor: ${shape.key}`, async () => {
          for (let i = 0; i < flags.iterations; i++) {
            const instance = next(shape);
            const proxyFirst = (i + round) % 2 === 1;
            const a = proxyFirst ? await run(clients.proxy, instance.native) : undefined;
            const d = await run(clients.direct, instance.native);
            const f = a ?? (await run(clients.proxy, instance.native));
            on.push({ shape: shape.key, round, via: 'floor-direct', ms: d.ms });
            on.push({ shape: shape.key, round, via: 'floor', ms: f.ms });
          }
        });
      }
      // Pushdown off: the Arrow path in the proxy over the pushed scan.
      await phase('pushdown off (all shapes)', async () => {
        const began = performance.now();
        for (let n = 0; ; n++) {
          const enough = n >= flags['off-min'];
          if (enough && (performance.now() - began > 1000 || n >= flags.iterations || profiling)) {
            break;
          }
          const instance = nextOff(shape);
          const o = await run(clients.off, instance.docfusion);
          if (profiling) continue;
          off.push({ shape: shape.key, round, ms: o.ms });
          if (n === 0) {
            const d = await run(clients.direct, instance.native);
            fact.checkedOff++;
            if (canonical(d.rows, shape.ordered) !== canonical(o.rows, shape.ordered)) {
              fact.mismatchesOff++;
            }
          }
        }
      });
    }
    // json_schema_valid and its references over the first schemaDocs documents.
    await phase('json_schema_valid', async () => {
      const kinds = ['schema', 'contains-off', 'fetch-direct'] as const;
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round) % kinds.length] ?? 'schema';
        if (profiling && kind !== 'schema') continue;
        const result =
          kind === 'schema'
            ? await run(clients.proxy, schemaQuery(schemaDocs))
            : kind === 'contains-off'
              ? await run(clients.off, containsOffQuery(schemaDocs))
              : await run(clients.direct, fetchDocsQuery(schemaDocs));
        if (profiling) continue;
        reference.push({ kind, round, ms: result.ms, rows: schemaDocs });
        if (kind === 'schema' && round === 1) {
          const oracle = await run(clients.direct, schemaOracle(schemaDocs));
          const same = canonical(oracle.rows, false) === canonical(result.rows, false);
          schemaCheck = `${same ? 'same' : 'DIFFERENT'} invalid rows as the native check (${String(result.rows.length)} of ${schemaDocs.toLocaleString('en-US')})`;
        }
      }
    });
    const done = on.filter((s) => s.round === round).length / 2;
    if (!profiling)
      log(
        `  ${String(done)} queries per side, ${String(off.filter((s) => s.round === round).length)} pushdown-off queries`,
      );
  }
  for (const p of profiles) p.top = summarize(p.files, REPO_ROOT).slice(0, 15);
  // Every pushdown-on phase merged first, then each phase in the order it ran.
  const onPhases = profiles.filter((p) => p.name.startsWith('pushdown on'));
  if (onPhases.length > 1) {
    const files = onPhases.flatMap((p) => p.files);
    profiles.unshift({
      name: 'pushdown on (all shapes)',
      files,
      top: summarize(files, REPO_ROOT).slice(0, 15),
    });
  }
  return { on, off, reference, facts, schemaCheck, profiles };
}

/** Batch-building samples, variants rotated each round after one warm-up pass. */
function batchBench(flags: Flags): BatchSample[] {
  const batches = narrowBatches(100);
  // Warm-up: long enough for the JIT to settle (the first few hundred ms run slower).
  for (const variant of BATCH_VARIANTS) {
    measureBatchVariant(variant, batches, 3 * flags['batch-ms']);
  }
  const samples: BatchSample[] = [];
  let sink = 0;
  for (let round = 1; round <= flags.rounds; round++) {
    for (let k = 0; k < BATCH_VARIANTS.length; k++) {
      const variant = BATCH_VARIANTS[(k + round) % BATCH_VARIANTS.length];
      if (variant === undefined) continue;
      const result = measureBatchVariant(variant, batches, flags['batch-ms']);
      sink += result.sink;
      samples.push({ variant: variant.key, round, rowsPerSecond: result.rowsPerSecond });
    }
  }
  if (Number.isNaN(sink)) log('batch building produced NaN'); // keeps the results observable
  return samples;
}

/** "Limit > Sort > Bitmap Heap Scan on t > Bitmap Index Scan on i" from EXPLAIN lines. */
function planSummary(lines: readonly string[]): string {
  const start = lines.findIndex((l) => l.startsWith('Postgres plan of the pushed SQL'));
  const plan = start >= 0 ? lines.slice(start + 1) : lines;
  return plan
    .filter((l, i) => i === 0 || /^\s*->/.test(l))
    .map((l) =>
      l
        .replace(/^\s*->\s*/, '')
        .replace(/\s*\(cost=.*$/, '')
        .trim(),
    )
    .join(' > ');
}

/** The id bound of the pushdown-off queries, or undefined for the whole corpus. */
function offScope(flags: Flags): number | undefined {
  const n = flags['off-docs'];
  return n > 0 && n < flags.docs ? n : undefined;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function proxyDied(proxy: ProxyProcess): string {
  if (!proxy.process.hasExited()) return '';
  return `\nthe proxy process has exited; its last output:\n${proxy.process.outputTail(2000)}`;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

runBench(() => main(process.argv.slice(2)));
