/**
 * psqlODBC (Debian's odbc-postgresql) through unixODBC — the path of Excel, Tableau and Power BI —
 * through DocFusionDB: a pyodbc program (test/clients/odbc/docfusion_odbc.py, run with Debian's
 * /usr/bin/python3) and unixODBC's isql, against proxies in session and in transaction pool mode.
 * The program prints `RESULT <feature> PASS|FAIL` lines; each feature is one test here. Without
 * pyodbc, isql or the driver these tests fail (run test/clients/odbc/install.sh); they never skip.
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

const INSTALL_HINT = 'run test/clients/odbc/install.sh (as root)';
/** Debian's interpreter: the `python3` on PATH may be a pyenv shim that cannot see python3-pyodbc. */
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.resolve('test/clients/odbc/docfusion_odbc.py');
const suffix = randomBytes(4).toString('hex');
const SCRAM_ROLE = `df_odbc_scram_${suffix}`;
const SCRAM_PASSWORD = 'odbc-scram-pw';
const MD5_ROLE = `df_odbc_md5_${suffix}`;
const MD5_PASSWORD = 'odbc-md5-password';

/** Features the program reports in every pool mode (keep in step with docfusion_odbc.py). */
const COMMON_FEATURES = [
  'login-scram',
  'login-wrong-password',
  'startup-parameters',
  'simple-query',
  'parameterised-types',
  'transaction',
  'error-recovery',
  'statement-level-rollback',
  'transaction-level-rollback',
  'executemany',
  'cancel',
  'metadata-tables',
  'metadata-columns',
  'metadata-primary-keys',
  'metadata-foreign-keys',
  'metadata-type-info',
  'declare-fetch',
  'server-side-prepare',
  'isql-dsn',
  'isql-dsnless',
] as const;
const SESSION_FEATURES = [...COMMON_FEATURES, 'login-md5'];
/** Results of the transaction-pool run are recorded with this prefix. */
const TXN = 'txn-pool.';

interface Run {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program without blocking the event loop (the proxy runs in this process). */
function run(file: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string; signal?: string }) | null;
        resolve({
          code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
          signal: failure?.signal ?? null,
          stdout,
          stderr: failure !== null && typeof failure.code === 'string' ? failure.message : stderr,
        });
      },
    );
  });
}

function describeRun(r: Run): string {
  const tail = r.stderr.split('\n').slice(-40).join('\n');
  return `exit ${r.code ?? `signal ${r.signal ?? '?'}`}\nstdout:\n${r.stdout}\nstderr (tail):\n${tail}`;
}

interface ModeRun {
  readonly run: Run;
  readonly version: string;
  readonly results: CompatResult[];
}

let toolchainProblem = '';
let proxy: TestProxy | undefined;
let md5Proxy: TestProxy | undefined;
let txnProxy: TestProxy | undefined;
const runs = new Map<'session' | 'transaction', ModeRun>();

const upstream = new URL(upstreamUrl());
const ADMIN_USER = decodeURIComponent(upstream.username);
const ADMIN_PASSWORD = decodeURIComponent(upstream.password);
const DB = upstream.pathname.slice(1);

/** pg_hba lines added for the md5 role (the embedded Postgres asks every host for SCRAM). */
const HBA_LINES = [`host all ${MD5_ROLE} 127.0.0.1/32 md5`, `host all ${MD5_ROLE} ::1/128 md5`];
let hbaFile = '';

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

/**
 * An md5-hashed role can log in upstream only where pg_hba says md5 (Postgres refuses it under
 * scram-sha-256), and the proxy logs in upstream as the client's own role. Allow it for our role.
 */
async function allowMd5Upstream(admin: pg.Client): Promise<void> {
  if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return;
  const file = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0]?.hba_file ?? '';
  await access(file, constants.R_OK | constants.W_OK);
  hbaFile = file;
  await writeFile(file, `${HBA_LINES.join('\n')}\n${await readFile(file, 'utf8')}`);
  await admin.query('SELECT pg_reload_conf()');
  for (let i = 0; i < 50; i++) {
    if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the md5 role ${MD5_ROLE} cannot log in to the upstream directly`);
}

async function restoreHba(admin: pg.Client): Promise<void> {
  if (hbaFile === '') return;
  const lines = (await readFile(hbaFile, 'utf8')).split('\n');
  await writeFile(hbaFile, lines.filter((line) => !HBA_LINES.includes(line)).join('\n'));
  await admin.query('SELECT pg_reload_conf()');
}

async function runProgram(
  mode: 'session' | 'transaction',
  target: TestProxy,
  extra: readonly string[],
): Promise<ModeRun> {
  const result = await run(
    PYTHON,
    [
      SCRIPT,
      'host=127.0.0.1',
      `port=${target.port}`,
      `database=${DB}`,
      `user=${ADMIN_USER}`,
      `password=${ADMIN_PASSWORD}`,
      `prefix=df_odbc_${suffix}_${mode.slice(0, 1)}`,
      `pool=${mode}`,
      `poolSize=${target.config.pool.size}`,
      `scramUser=${SCRAM_ROLE}`,
      `scramPassword=${SCRAM_PASSWORD}`,
      ...extra,
    ],
    300_000,
  );
  return { run: result, ...parseClientOutput(result.stdout) };
}

beforeAll(async () => {
  const pyodbc = await run(
    PYTHON,
    ['-c', 'import pyodbc; print(pyodbc.version); print(pyodbc.drivers())'],
    60_000,
  );
  const isql = await run('isql', ['--version'], 60_000);
  if (pyodbc.code !== 0) {
    toolchainProblem = `${PYTHON} cannot import pyodbc (${pyodbc.stderr.trim()})`;
  } else if (!pyodbc.stdout.includes('PostgreSQL Unicode')) {
    toolchainProblem = `the ODBC driver "PostgreSQL Unicode" (psqlODBC) is not registered (drivers: ${pyodbc.stdout.trim()})`;
  } else if (isql.code !== 0) {
    toolchainProblem = `isql (unixODBC) not found or broken (${isql.stderr.trim()})`;
  }
  if (toolchainProblem !== '') throw new Error(`${toolchainProblem}: ${INSTALL_HINT}`);

  const admin = await adminClient();
  try {
    await admin.query(`SET password_encryption = 'scram-sha-256'`);
    await admin.query(`CREATE ROLE ${SCRAM_ROLE} LOGIN PASSWORD '${SCRAM_PASSWORD}'`);
    await admin.query(`SET password_encryption = 'md5'`);
    await admin.query(`CREATE ROLE ${MD5_ROLE} LOGIN PASSWORD '${MD5_PASSWORD}'`);
    await admin.query(`RESET password_encryption`);
    // Where the upstream cannot be opened to md5 (an external TEST_DATABASE_URL), login-md5 fails.
    await allowMd5Upstream(admin).catch((error: unknown) => {
      console.warn(`login-md5 will fail: ${String(error)}`);
    });
  } finally {
    await admin.end();
  }

  proxy = await startProxy();
  md5Proxy = await startProxy({ auth: { method: 'md5' } });
  // startProxy merges only some sections key by key; `pool` is replaced whole.
  txnProxy = await startProxy({
    pool: { ...defaultConfig().pool, mode: 'transaction', size: 3 },
  });
}, 300_000);

afterAll(async () => {
  const session = runs.get('session');
  const transaction = runs.get('transaction');
  if (session !== undefined || transaction !== undefined) {
    recordCompat({
      client: 'psqlodbc',
      version: session?.version ?? transaction?.version ?? 'unknown',
      results: [
        ...(session?.results ?? []),
        ...(transaction?.results ?? []).map((r) => ({ ...r, feature: `${TXN}${r.feature}` })),
      ],
    });
  } else if (toolchainProblem !== '') {
    recordCompat({
      client: 'psqlodbc',
      version: 'not installed',
      results: [{ feature: 'install', pass: false, detail: toolchainProblem }],
    });
  }
  await Promise.all([proxy, md5Proxy, txnProxy].map((p) => p?.stop(500) ?? Promise.resolve()));
  if (toolchainProblem === '') {
    const admin = await adminClient();
    try {
      for (const mode of ['s', 't']) {
        for (const table of ['child', 'parent', 'types', 'items']) {
          await admin.query(`DROP TABLE IF EXISTS df_odbc_${suffix}_${mode}_${table} CASCADE`);
        }
      }
      await restoreHba(admin);
      for (const role of [SCRAM_ROLE, MD5_ROLE]) await admin.query(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await admin.end();
    }
  }
});

function suite(mode: 'session' | 'transaction', features: readonly string[]): void {
  describe(`psqlODBC, ${mode} pool mode`, () => {
    let modeRun: ModeRun | undefined;

    beforeAll(async () => {
      const target = mode === 'session' ? proxy : txnProxy;
      if (target === undefined) throw new Error('proxy not started');
      const extra =
        mode === 'session' && md5Proxy !== undefined
          ? [`md5Port=${md5Proxy.port}`, `md5User=${MD5_ROLE}`, `md5Password=${MD5_PASSWORD}`]
          : [];
      modeRun = await runProgram(mode, target, extra);
      runs.set(mode, modeRun);
    }, 400_000);

    function current(): ModeRun {
      if (modeRun === undefined) throw new Error('the psqlODBC program did not run');
      return modeRun;
    }

    test('the program exits 0 and reports every feature', () => {
      const r = current();
      expect(r.run.code, describeRun(r.run)).toBe(0);
      expect(r.version).not.toBe('unknown');
      expect(r.results.length).toBeGreaterThanOrEqual(features.length);
      expect(
        r.results.map((result) => result.feature).sort(),
        'reported features (a `setup` result means the program could not prepare its tables)',
      ).toEqual([...features].sort());
    });

    test.each(features)('%s', (feature) => {
      const r = current();
      const result = r.results.find((candidate) => candidate.feature === feature);
      expect(result, `no RESULT line for ${feature}:\n${describeRun(r.run)}`).toBeDefined();
      expect(result?.pass, `${feature}: ${result?.detail ?? ''}`).toBe(true);
    });
  });
}

suite('session', SESSION_FEATURES);
suite('transaction', [...COMMON_FEATURES, 'pool-multiplexing']);
