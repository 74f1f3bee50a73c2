/**
 * `npm run profile -- [--session] [--extended] [--seconds N] [--clients N] [--top N]`
 *
 * Where the proxy spends its CPU on the relay path: DocFusionDB (built dist/) runs under
 * `node --cpu-prof` while `pgbench -S` runs through it (transaction pooling unless --session;
 * simple protocol unless --extended), then the .cpuprofile is summarised: the functions with the
 * most self time, and self time per file. Not a benchmark (no ratio, no target); a tool to find
 * what a benchmark's numbers are made of. `--keep` leaves the .cpuprofile in .tmp/.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseFlags, usage, UsageError } from './lib/args.js';
import { onCleanup, runBench } from './lib/cleanup.js';
import { findPgbench, pgbenchInit, pgbenchInstallHint, runPgbench } from './lib/pgbench.js';
import { buildProxy, startProxyProcess } from './lib/proxy.js';
import { REPO_ROOT } from './lib/results.js';
import { startUpstream } from './lib/upstream.js';

const FLAGS = {
  seconds: { default: 10, min: 1, help: 'seconds of pgbench under the profiler' },
  clients: { default: 16, min: 1, help: 'pgbench clients (-c)' },
  jobs: { default: 2, min: 1, help: 'pgbench threads (-j)' },
  'pool-size': { default: 20, min: 1, help: 'pool.size' },
  top: { default: 30, min: 1, help: 'functions to list' },
  session: { boolean: true, help: 'session pooling (default: transaction pooling)' },
  extended: { boolean: true, help: 'pgbench -M extended (default: -M simple)' },
  keep: { boolean: true, help: 'copy the .cpuprofile to .tmp/' },
  'skip-build': { boolean: true, help: 'use the existing dist/' },
} as const;

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

/** Self time per function (name, file:line) and per file, largest first. */
export function summarise(profile: CpuProfile): { functions: SelfTime[]; files: SelfTime[] } {
  const byNode = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byNode.set(node.id, node);
  const perFunction = new Map<string, number>();
  const perFile = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i] ?? -1);
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    if (!node) continue;
    total += delta;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = shortUrl(url);
    const name = `${functionName || '(anonymous)'} ${file === '' ? '' : `${file}:${lineNumber + 1}`}`;
    perFunction.set(name, (perFunction.get(name) ?? 0) + delta);
    const fileKey = file === '' ? `(${functionName})` : file.replace(/:\d+$/, '');
    perFile.set(fileKey, (perFile.get(fileKey) ?? 0) + delta);
  }
  const sorted = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .map(([name, ms]) => ({ name, ms, share: total > 0 ? ms / total : 0 }))
      .sort((a, b) => b.ms - a.ms);
  return { functions: sorted(perFunction), files: sorted(perFile) };
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const local = url.replace(/^file:\/\//, '');
  if (local.startsWith(REPO_ROOT)) return path.relative(REPO_ROOT, local);
  return local.replace(/^.*node_modules\//, 'node_modules/');
}

function format(rows: readonly SelfTime[], limit: number): string {
  return rows
    .slice(0, limit)
    .map(
      (r) =>
        `${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`,
    )
    .join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(argv, FLAGS);
  if (!flags) {
    process.stdout.write(
      usage('npm run profile --', 'CPU profile of the proxy under pgbench -S.', FLAGS),
    );
    return 0;
  }
  const pgbench = await findPgbench();
  if (!pgbench) throw new UsageError(pgbenchInstallHint());
  if (!flags['skip-build']) await buildProxy();
  const upstream = await startUpstream();
  onCleanup('stop upstream', () => upstream.stop());
  await pgbenchInit(pgbench, upstream.url, { scale: 1 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-profile-'));
  onCleanup('remove profile directory', () => rm(dir, { recursive: true, force: true }));
  const mode = flags.session ? 'session' : 'transaction';
  const proxy = await startProxyProcess({
    upstreamUrl: upstream.url,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    env: { DOCFUSION_POOL_MODE: mode, DOCFUSION_POOL_SIZE: String(flags['pool-size']) },
  });
  const protocol = flags.extended ? 'extended' : 'simple';
  process.stderr.write(`profiling: pgbench -S -M ${protocol}, ${mode} pooling\n`);
  await runPgbench(pgbench, proxy.via(upstream.url), {
    protocol,
    clients: flags.clients,
    jobs: flags.jobs,
    seconds: 2,
  });
  const result = await runPgbench(pgbench, proxy.via(upstream.url), {
    protocol,
    clients: flags.clients,
    jobs: flags.jobs,
    seconds: flags.seconds,
  });
  await proxy.stop(10_000);
  const file = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile written in ${dir}`);
  const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
  const { functions, files } = summarise(profile);
  const out = [
    `pgbench -S -M ${protocol}, ${mode} pooling, ${flags.clients} clients: ${result.tps.toFixed(0)} tps (warm-up included in the profile)`,
    '',
    'self time by function:',
    format(functions, flags.top),
    '',
    'self time by file:',
    format(files, 20),
  ].join('\n');
  process.stdout.write(`${out}\n`);
  if (flags.keep) {
    const kept = path.join(REPO_ROOT, '.tmp', `profile-${mode}-${protocol}.cpuprofile`);
    await mkdir(path.dirname(kept), { recursive: true });
    await copyFile(path.join(dir, file), kept);
    process.stderr.write(`profile kept in ${kept}\n`);
  }
  return 0;
}

runBench(() => main(process.argv.slice(2)));
