import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/embedded-postgres.js';
import { errorMessage, onCleanup } from './cleanup.js';
import {
  findOnPath,
  isExecutable,
  runCommand,
  runCommandResult,
  startProcess,
  waitForTcp,
  type ManagedProcess,
  viaHostPort,
} from './process.js';

/**
 * PgBouncer for comparisons: finding (or, as root, installing) it and running it as a separate
 * process with a configuration written to a temporary directory.
 */

export interface Pgbouncer {
  readonly path: string;
  /** e.g. "PgBouncer 1.18.0" */
  readonly version: string;
  /** [major, minor, patch], [0, 0, 0] when the version could not be read. */
  readonly numbers: readonly [number, number, number];
}

const SYSTEM_PATHS = [
  '/usr/sbin/pgbouncer',
  '/usr/bin/pgbouncer',
  '/usr/local/sbin/pgbouncer',
  '/usr/local/bin/pgbouncer',
];

/** pgbouncer from $PGBOUNCER, then PATH, then the usual system paths; each must answer --version. */
export async function findPgbouncer(): Promise<Pgbouncer | undefined> {
  const candidates: string[] = [];
  const fromEnv = process.env.PGBOUNCER;
  if (fromEnv !== undefined && fromEnv !== '') candidates.push(fromEnv);
  const onPath = findOnPath('pgbouncer');
  if (onPath !== undefined) candidates.push(onPath);
  candidates.push(...SYSTEM_PATHS);
  for (const candidate of candidates) {
    if (!isExecutable(candidate)) continue;
    const result = await runCommandResult(candidate, ['--version'], { timeoutMs: 10_000 }).catch(
      () => undefined,
    );
    const text = `${result?.stdout ?? ''}${result?.stderr ?? ''}`;
    if (result?.code === 0 && /pgbouncer/i.test(text)) {
      const firstLine = text.trim().split('\n')[0] ?? text.trim();
      const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(firstLine);
      const numbers: [number, number, number] =
        m === null ? [0, 0, 0] : [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
      return { path: candidate, version: firstLine, numbers };
    }
  }
  return undefined;
}

/** What to tell the user when pgbouncer is missing and the bench may not install it. */
export function pgbouncerInstallHint(): string {
  return [
    'pgbouncer was not found (looked at $PGBOUNCER, PATH and /usr/sbin, /usr/bin, /usr/local).',
    'Install it, then run the bench again:',
    '  Debian/Ubuntu:  sudo apt-get install -y pgbouncer   (Debian 12 ships 1.18)',
    '  Fedora/RHEL:    sudo dnf install pgbouncer',
    '  macOS:          brew install pgbouncer',
    'Run as root, the bench installs the Debian package itself. Or point PGBOUNCER at a binary.',
    'On a machine with systemd the package may start its own service on port 6432 (the bench',
    'uses its own instance on a free port): `systemctl disable --now pgbouncer` stops it.',
  ].join('\n');
}

/**
 * findPgbouncer(), and when it is missing and this process is root, `apt-get install -y
 * pgbouncer` (after `apt-get update` if the first attempt fails). Undefined when it is still
 * missing: the caller prints pgbouncerInstallHint().
 */
export async function ensurePgbouncer(
  log: (message: string) => void,
): Promise<Pgbouncer | undefined> {
  const found = await findPgbouncer();
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0 || findOnPath('apt-get') === undefined) return undefined;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): Promise<unknown> =>
    runCommand('apt-get', ['install', '-y', '--no-install-recommends', 'pgbouncer'], {
      env,
      timeoutMs: 600_000,
    });
  log('pgbouncer not found; running as root: apt-get install -y pgbouncer ...');
  try {
    await install();
  } catch (error) {
    log(`apt-get install failed (${errorMessage(error).split('\n')[0] ?? ''}); apt-get update ...`);
    await runCommand('apt-get', ['update'], { env, timeoutMs: 600_000 });
    await install();
  }
  return findPgbouncer();
}

/** PgBouncer ≥ 1.21 tracks protocol-level prepared statements in transaction mode. */
export function supportsPreparedStatements(pgbouncer: Pgbouncer): boolean {
  const [major, minor] = pgbouncer.numbers;
  return major > 1 || (major === 1 && minor >= 21);
}

export interface PgbouncerOptions {
  /** Upstream URL; clients use its user, password and database through PgBouncer. */
  readonly upstreamUrl: string;
  readonly poolMode: 'session' | 'transaction' | 'statement';
  /** default_pool_size. */
  readonly poolSize: number;
  readonly maxClientConn: number;
  /** max_prepared_statements; written only when the version supports it (≥ 1.21). */
  readonly maxPreparedStatements?: number;
  /** More `key = value` lines for the [pgbouncer] section. */
  readonly extraSettings?: Readonly<Record<string, string>>;
}

export interface PgbouncerProcess {
  readonly host: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** The generated pgbouncer.ini (it holds no secret: those are in the auth file). */
  readonly config: string;
  /** What the auth file holds for the user, for the report. */
  readonly authSecret: 'SCRAM verifier from pg_authid' | 'plain password';
  /** Whether max_prepared_statements was written. */
  readonly preparedStatements: boolean;
  /** `url` with host and port replaced by PgBouncer's. */
  via(url: string): string;
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts `pgbouncer <dir>/pgbouncer.ini` in the foreground (as `-u postgres` when root, since
 * PgBouncer refuses to run as root), listening on 127.0.0.1:<free port> with one database entry
 * for the upstream's database. Clients authenticate with SCRAM-SHA-256 against an auth file
 * holding the user's verifier read from pg_authid (so PgBouncer logs in upstream with the keys
 * from the client's proof, as DocFusionDB does), or the plain password when pg_authid is not
 * readable. Stopped, and its directory removed, at cleanup.
 */
export async function startPgbouncer(
  pgbouncer: Pgbouncer,
  options: PgbouncerOptions,
): Promise<PgbouncerProcess> {
  const upstream = new URL(options.upstreamUrl);
  const user = decodeURIComponent(upstream.username);
  const password = decodeURIComponent(upstream.password);
  const database = decodeURIComponent(upstream.pathname.replace(/^\//, '')) || user;
  const verifier = await scramVerifier(options.upstreamUrl);
  const secret = verifier ?? password;

  const host = '127.0.0.1';
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-pgbouncer-'));
  const removeDir = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const unregisterDir = onCleanup('remove PgBouncer directory', removeDir);

  const prepared =
    options.maxPreparedStatements !== undefined && supportsPreparedStatements(pgbouncer);
  const quote = (s: string): string => `"${s.replaceAll('"', '""')}"`;
  const settings: Record<string, string> = {
    listen_addr: host,
    listen_port: String(port),
    unix_socket_dir: '',
    auth_type: 'scram-sha-256',
    auth_file: path.join(dir, 'userlist.txt'),
    pool_mode: options.poolMode,
    default_pool_size: String(options.poolSize),
    min_pool_size: '0',
    reserve_pool_size: '0',
    max_client_conn: String(options.maxClientConn),
    // The same timeouts as DocFusionDB's defaults (pool.* in config/default.yaml).
    server_idle_timeout: '600',
    server_lifetime: '3600',
    server_check_delay: '30',
    query_wait_timeout: '120',
    ignore_startup_parameters: 'extra_float_digits',
    log_connections: '0',
    log_disconnections: '0',
    log_stats: '0',
    ...(prepared ? { max_prepared_statements: String(options.maxPreparedStatements) } : {}),
    ...options.extraSettings,
  };
  const config = [
    '[databases]',
    `${database} = host=${upstream.hostname} port=${upstream.port || '5432'} dbname=${database}`,
    '',
    '[pgbouncer]',
    ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
  const iniFile = path.join(dir, 'pgbouncer.ini');
  const authFile = path.join(dir, 'userlist.txt');
  await writeFile(iniFile, config, { mode: 0o600 });
  await writeFile(authFile, `${quote(user)} ${quote(secret)}\n`, { mode: 0o600 });

  const root = process.getuid?.() === 0;
  if (root) {
    const { uid, gid } = await systemUser('postgres');
    for (const file of [dir, iniFile, authFile]) await chown(file, uid, gid);
  }
  const child = startProcess(pgbouncer.path, root ? ['-u', 'postgres', iniFile] : [iniFile], {
    name: 'pgbouncer',
  });
  try {
    await waitForTcp(host, port, { process: child, timeoutMs: 15_000 });
  } catch (error) {
    await child.stop(2000);
    unregisterDir();
    await removeDir();
    throw error;
  }
  const stop = async (timeoutMs = 10_000): Promise<void> => {
    await child.stop(timeoutMs);
    unregisterDir();
    await removeDir();
  };
  return {
    host,
    port,
    process: child,
    config,
    authSecret: verifier === undefined ? 'plain password' : 'SCRAM verifier from pg_authid',
    preparedStatements: prepared,
    via: (url) => viaHostPort(url, host, port),
    stop,
  };
}

/** The user's SCRAM verifier from pg_authid (needs a superuser), else undefined. */
async function scramVerifier(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ rolpassword: string | null }>(
      'SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = current_user',
    );
    const secret = result.rows[0]?.rolpassword;
    return secret?.startsWith('SCRAM-SHA-256$') === true ? secret : undefined;
  } catch {
    return undefined; // not a superuser: fall back to the plain password
  } finally {
    await client.end();
  }
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const uid = Number((await runCommand('id', ['-u', name])).stdout.trim());
  const gid = Number((await runCommand('id', ['-g', name])).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`no system user ${name}`);
  return { uid, gid };
}
