import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { findOnPath, isExecutable, runCommand, runCommandResult } from './process.js';

/** pgbench: finding it, initialising its tables, running a workload and reading its report. */

export interface Pgbench {
  readonly path: string;
  /** e.g. "pgbench (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" */
  readonly version: string;
}

const POSTGRES_LIB = '/usr/lib/postgresql';

/**
 * pgbench from $PGBENCH, then PATH, then /usr/lib/postgresql/<version>/bin (newest first). Each
 * candidate must answer `--version`: Debian's /usr/bin/pgbench is a wrapper script that exists
 * even when no server package carrying the real binary is installed.
 */
export async function findPgbench(): Promise<Pgbench | undefined> {
  const candidates: string[] = [];
  const fromEnv = process.env.PGBENCH;
  if (fromEnv !== undefined && fromEnv !== '') candidates.push(fromEnv);
  const onPath = findOnPath('pgbench');
  if (onPath !== undefined) candidates.push(onPath);
  if (existsSync(POSTGRES_LIB)) {
    const versions = readdirSync(POSTGRES_LIB).sort((a, b) =>
      b.localeCompare(a, 'en', { numeric: true }),
    );
    for (const v of versions) candidates.push(path.join(POSTGRES_LIB, v, 'bin', 'pgbench'));
  }
  for (const candidate of candidates) {
    if (!isExecutable(candidate)) continue;
    const result = await runCommandResult(candidate, ['--version'], { timeoutMs: 10_000 }).catch(
      () => undefined,
    );
    if (result?.code === 0 && result.stdout.includes('pgbench')) {
      return { path: candidate, version: result.stdout.trim() };
    }
  }
  return undefined;
}

/** What to tell the user when findPgbench() found nothing. */
export function pgbenchInstallHint(): string {
  return [
    'pgbench was not found (looked at $PGBENCH, PATH and /usr/lib/postgresql/*/bin).',
    'Install the package that carries it:',
    '  Debian 12:      apt-get install postgresql-15',
    '                  (pgbench ships with the server package, in /usr/lib/postgresql/15/bin;',
    '                  /usr/bin/pgbench from postgresql-client-common is only a wrapper)',
    '  Debian/Ubuntu:  the postgresql-NN package matching your Postgres major version',
    '  other systems:  postgresql-contrib or postgresql-client, depending on the distribution',
    '                  (e.g. dnf provides "*/bin/pgbench")',
    'Where it is installed, `dpkg -S /usr/lib/postgresql/*/bin/pgbench` names its package',
    "(not `dpkg -S $(readlink -f $(which pgbench))`: that names the wrapper's package).",
    'Or point PGBENCH at a pgbench binary. The bench installs nothing itself.',
  ].join('\n');
}

export interface LibpqTarget {
  /** The connection URI without its password, passed as pgbench's DBNAME argument. */
  readonly dbname: string;
  /** Environment for the client (PGPASSWORD when the URL has a password). */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Splits a postgres:// URL into a password-free URI (safe in `ps` output and messages) and a
 * libpq environment carrying the password as PGPASSWORD.
 */
export function libpqTarget(url: string, baseEnv: NodeJS.ProcessEnv = process.env): LibpqTarget {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  const env: NodeJS.ProcessEnv = { ...baseEnv };
  delete env.PGPASSWORD;
  if (password !== '') env.PGPASSWORD = password;
  return { dbname: parsed.toString(), env };
}

export interface PgbenchInitOptions {
  readonly scale: number;
  /** Extra arguments, e.g. ['--unlogged-tables']. */
  readonly extraArgs?: readonly string[];
}

/** `pgbench -i -s <scale>`: (re)creates the pgbench tables in the database at `url`. */
export async function pgbenchInit(
  pgbench: Pgbench,
  url: string,
  options: PgbenchInitOptions,
): Promise<void> {
  const target = libpqTarget(url);
  await runCommand(
    pgbench.path,
    ['-i', '-q', '-s', String(options.scale), ...(options.extraArgs ?? []), target.dbname],
    { env: target.env },
  );
}

export type PgbenchProtocol = 'simple' | 'extended' | 'prepared';

export interface PgbenchRunOptions {
  readonly protocol: PgbenchProtocol;
  readonly clients: number;
  readonly jobs: number;
  readonly seconds: number;
  /** A builtin script (`-b`): select-only (= -S), simple-update (= -N), tpcb-like (default). */
  readonly builtin?: 'select-only' | 'simple-update' | 'tpcb-like';
  /** Extra arguments, e.g. ['-C'] to reconnect per transaction, or ['-f', 'script.sql']. */
  readonly extraArgs?: readonly string[];
}

export interface PgbenchResult {
  /** Transactions per second, without initial connection time. */
  readonly tps: number;
  readonly transactions: number | undefined;
  readonly failed: number | undefined;
  readonly latencyAvgMs: number | undefined;
  readonly initialConnectMs: number | undefined;
  /** pgbench's full report. */
  readonly output: string;
}

/** The pgbench arguments for a run (without the DBNAME). */
export function pgbenchRunArgs(options: PgbenchRunOptions): string[] {
  return [
    '-n',
    '-b',
    options.builtin ?? 'select-only',
    '-M',
    options.protocol,
    '-c',
    String(options.clients),
    '-j',
    String(options.jobs),
    '-T',
    String(options.seconds),
    ...(options.extraArgs ?? []),
  ];
}

/** Runs one timed pgbench workload against `url` and returns its parsed report. */
export async function runPgbench(
  pgbench: Pgbench,
  url: string,
  options: PgbenchRunOptions,
): Promise<PgbenchResult> {
  const target = libpqTarget(url);
  const result = await runCommand(pgbench.path, [...pgbenchRunArgs(options), target.dbname], {
    env: target.env,
    // A hung run must not hang the bench: allow connection setup and a generous margin.
    timeoutMs: (options.seconds + 60) * 1000,
  });
  const parsed = parsePgbenchReport(`${result.stdout}\n${result.stderr}`);
  if (parsed.failed !== undefined && parsed.failed > 0) {
    throw new Error(
      `pgbench reported ${parsed.failed} failed transactions:\n${result.stderr.trim()}`,
    );
  }
  return parsed;
}

/** Reads pgbench's final report (PostgreSQL 10 to 17 wording). Throws when it has no TPS. */
export function parsePgbenchReport(output: string): PgbenchResult {
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(output);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  // 14+: "tps = 123.45 (without initial connection time)"; older: "(excluding connections establishing)".
  const tps =
    num(
      /^tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/m,
    ) ?? num(/^tps = ([\d.]+)/m);
  if (tps === undefined || !Number.isFinite(tps)) {
    throw new Error(`no "tps = ..." line in pgbench output:\n${output.trim()}`);
  }
  return {
    tps,
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
    latencyAvgMs: num(/^latency average = ([\d.]+) ms/m),
    initialConnectMs: num(/^initial connection time = ([\d.]+) ms/m),
    output,
  };
}
