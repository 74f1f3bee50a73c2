/**
 * psycopg2 and psycopg 3 through DocFusionDB: test/clients/python/docfusion_psycopg.py runs a
 * scripted session per driver (logins with SCRAM, md5 and cleartext users, many types, binary
 * results, prepared statements, transactions, savepoints, errors, COPY, cancel, server-side
 * cursors, pipeline mode, LISTEN/NOTIFY, catalog queries, startup options, transaction pooling)
 * and prints one RESULT line per feature; each feature is one test here. The drivers are
 * Debian's (test/clients/python/install.sh) and run with /usr/bin/python3: the python3 on PATH
 * may be a pyenv shim that cannot see them. A missing driver fails these tests, never skips them.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultConfig } from '../../src/config.js';
import { parseClientOutput, recordCompat, type CompatResult } from '../support/compat.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.resolve('test/clients/python/docfusion_psycopg.py');
const INSTALL = 'test/clients/python/install.sh';

type Driver = 'psycopg2' | 'psycopg3';
const DRIVERS: readonly Driver[] = ['psycopg2', 'psycopg3'];

/** The features each driver's run must report, in the script's order. */
const FEATURES: Record<Driver, readonly string[]> = {
  psycopg2: [
    'login-scram',
    'login-md5',
    'login-cleartext',
    'login-wrong-password',
    'simple-query',
    'param-types',
    'sql-prepare',
    'transaction-rollback',
    'savepoint',
    'error-recovery',
    'copy',
    'cancel',
    'named-cursor',
    'listen-notify',
    'metadata',
    'startup-options',
    'txpool-basic',
    'txpool-concurrency',
  ],
  psycopg3: [
    'login-scram',
    'login-md5',
    'login-cleartext',
    'login-wrong-password',
    'simple-query',
    'param-types',
    'binary-results',
    'prepared-statements',
    'transaction-rollback',
    'savepoint',
    'error-recovery',
    'copy',
    'cancel',
    'named-cursor',
    'pipeline',
    'listen-notify',
    'metadata',
    'startup-options',
    'txpool-basic',
    'txpool-concurrency',
    'txpool-prepared',
  ],
};

const suffix = randomBytes(4).toString('hex');
const SCRAM_ROLE = `df_py_scram_${suffix}`;
const SCRAM_PASSWORD = 'py-scram pa$$ word';
const MD5_ROLE = `df_py_md5_${suffix}`;
const MD5_PASSWORD = 'py-md5-password';

const upstream = new URL(upstreamUrl());
const ADMIN_USER = decodeURIComponent(upstream.username);
const ADMIN_PASSWORD = decodeURIComponent(upstream.password);
const DB = upstream.pathname.slice(1);

interface ProgramRun {
  readonly code: number | string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program without blocking the event loop (the proxies run in this process). */
function runProgram(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<ProgramRun> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code =
          error === null ? 0 : typeof error.code === 'number' ? error.code : (error.code ?? null);
        const note = error?.killed ? `\n(killed after ${timeoutMs} ms)` : '';
        resolve({
          code,
          stdout,
          stderr: stderr + (error && code !== 0 ? `\n${error.message}` : '') + note,
        });
      },
    );
  });
}

/** A libpq key=value connection string (values quoted, so spaces and quotes are safe). */
function libpqDsn(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}='${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`)
    .join(' ');
}

function proxyDsn(proxy: TestProxy, user: string, password: string): string {
  return libpqDsn({
    host: '127.0.0.1',
    port: proxy.port,
    user,
    password,
    dbname: DB,
    sslmode: 'disable',
  });
}

// ---- an upstream that accepts the md5 role ------------------------------------------------------

/**
 * Postgres refuses an md5-stored role when pg_hba.conf says scram-sha-256 (as the embedded
 * cluster's does), and the proxy logs in upstream as the client's role. Prepend md5 lines for
 * MD5_ROLE to the upstream's pg_hba.conf (restored afterwards). Returns a note when impossible.
 */
let restoreHba: (() => Promise<void>) | undefined;

async function directLoginWorks(user: string, password: string): Promise<boolean> {
  const client = new pg.Client({
    host: upstream.hostname,
    port: Number(upstream.port),
    database: DB,
    user,
    password,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function allowMd5Upstream(admin: pg.Client): Promise<string | undefined> {
  if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return undefined;
  const hbaFile =
    (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0]?.hba_file ?? '';
  try {
    await access(hbaFile, constants.R_OK | constants.W_OK);
  } catch {
    return `the upstream's pg_hba.conf (${hbaFile}) is not writable here, so it cannot accept md5 for ${MD5_ROLE}`;
  }
  const original = await readFile(hbaFile, 'utf8');
  await writeFile(
    hbaFile,
    `host all ${MD5_ROLE} 127.0.0.1/32 md5\nhost all ${MD5_ROLE} ::1/128 md5\n${original}`,
  );
  restoreHba = async () => {
    await writeFile(hbaFile, original);
    await admin.query('SELECT pg_reload_conf()');
  };
  await admin.query('SELECT pg_reload_conf()');
  for (let i = 0; i < 50; i++) {
    if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return `the upstream still refuses md5 for ${MD5_ROLE} after editing ${hbaFile}`;
}

// ---- the run -----------------------------------------------------------------------------------

interface DriverOutcome {
  /** Why the program could not run at all (missing interpreter or driver). */
  readonly problem?: string;
  readonly run?: ProgramRun;
  readonly version: string;
  readonly results: CompatResult[];
}

let admin: pg.Client;
let proxies: TestProxy[] = [];
let md5Note: string | undefined;
const outcomes = new Map<Driver, DriverOutcome>();

async function missingDriver(driver: Driver): Promise<string | undefined> {
  const module = driver === 'psycopg2' ? 'psycopg2' : 'psycopg';
  const probe = await runProgram(PYTHON, ['-c', `import ${module}`], process.env, 30_000);
  if (probe.code === 0) return undefined;
  return (
    `${driver} is not usable with ${PYTHON} (exit ${String(probe.code)}: ${probe.stderr.trim().split('\n').pop() ?? ''}); ` +
    `install it with ${INSTALL} (Debian packages python3-psycopg2 python3-psycopg)`
  );
}

beforeAll(async () => {
  admin = await adminClient();
  await admin.query(`SET password_encryption = 'scram-sha-256'`);
  await admin.query(`CREATE ROLE ${SCRAM_ROLE} LOGIN PASSWORD '${SCRAM_PASSWORD}'`);
  await admin.query(`SET password_encryption = 'md5'`);
  await admin.query(`CREATE ROLE ${MD5_ROLE} LOGIN PASSWORD '${MD5_PASSWORD}'`);
  await admin.query('RESET password_encryption');
  md5Note = await allowMd5Upstream(admin);

  const [main, transactionPool, md5, cleartext] = await Promise.all([
    startProxy(),
    startProxy({ pool: { ...defaultConfig().pool, mode: 'transaction', size: 3 } }),
    startProxy({ auth: { method: 'md5' } }),
    startProxy({ auth: { method: 'password' } }),
  ]);
  proxies = [main, transactionPool, md5, cleartext];
  const config = {
    dsn: proxyDsn(main, ADMIN_USER, ADMIN_PASSWORD),
    direct_dsn: libpqDsn({
      host: upstream.hostname,
      port: upstream.port,
      user: ADMIN_USER,
      password: ADMIN_PASSWORD,
      dbname: DB,
      sslmode: 'disable',
    }),
    tx_dsn: proxyDsn(transactionPool, ADMIN_USER, ADMIN_PASSWORD),
    scram_dsn: proxyDsn(main, SCRAM_ROLE, SCRAM_PASSWORD),
    scram_user: SCRAM_ROLE,
    md5_dsn: proxyDsn(md5, MD5_ROLE, MD5_PASSWORD),
    md5_user: MD5_ROLE,
    password_dsn: proxyDsn(cleartext, SCRAM_ROLE, SCRAM_PASSWORD),
    password_user: SCRAM_ROLE,
    suffix,
  };
  const env = {
    ...process.env,
    DF_CONFIG: JSON.stringify(config),
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
  // Both drivers at once: they use their own tables and channels.
  await Promise.all(
    DRIVERS.map(async (driver) => {
      const problem = await missingDriver(driver);
      if (problem !== undefined) {
        outcomes.set(driver, { problem, version: 'not installed', results: [] });
        return;
      }
      const run = await runProgram(PYTHON, [SCRIPT, driver], env, 240_000);
      const { version, results } = parseClientOutput(run.stdout);
      outcomes.set(driver, { run, version, results });
      recordCompat({ client: driver, version, results });
    }),
  );
}, 300_000);

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.stop()));
  await restoreHba?.();
  for (const role of [SCRAM_ROLE, MD5_ROLE]) {
    await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
  }
  await admin.end();
});

function outcomeOf(driver: Driver): DriverOutcome & { run: ProgramRun } {
  const outcome = outcomes.get(driver);
  if (outcome === undefined) throw new Error(`${driver} did not run (see beforeAll)`);
  if (outcome.problem !== undefined || outcome.run === undefined) {
    throw new Error(outcome.problem ?? `${driver} did not run`);
  }
  return { ...outcome, run: outcome.run };
}

describe.each(DRIVERS)('%s', (driver) => {
  test('the program ran to the end and reported every feature', () => {
    const { run, version, results } = outcomeOf(driver);
    expect(run.code, `exit status; stderr:\n${run.stderr.slice(-4000)}`).toBe(0);
    expect(version).not.toBe('unknown');
    expect(results.map((result) => result.feature)).toEqual(FEATURES[driver]);
  });

  test.each(FEATURES[driver])('%s', (feature) => {
    const { run, results } = outcomeOf(driver);
    const result = results.find((r) => r.feature === feature);
    expect(
      result,
      `${feature} was not reported; stderr:\n${run.stderr.slice(-4000)}`,
    ).toBeDefined();
    const hint = feature === 'login-md5' && md5Note !== undefined ? ` (${md5Note})` : '';
    expect(result?.pass, `${driver} ${feature}: ${result?.detail ?? ''}${hint}`).toBe(true);
  });
});
