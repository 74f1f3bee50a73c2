/**
 * ruby-pg through DocFusionDB: test/clients/ruby/docfusion_pg.rb runs a scripted session (logins
 * with SCRAM, md5 and cleartext users, exec, exec_params with many types, binary results,
 * prepare/exec_prepared, transactions, errors, COPY in and out, cancel from a thread,
 * LISTEN/wait_for_notify, single-row mode, pipeline mode, catalog queries, startup options,
 * transaction pooling) and prints one RESULT line per feature; each feature is one test here.
 * ruby and ruby-pg are Debian's (test/clients/ruby/install.sh). Missing, the tests fail.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { defaultConfig } from '../../src/config.js';
import { parseClientOutput, recordCompat, type CompatResult } from '../support/compat.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const RUBY = 'ruby';
const SCRIPT = path.resolve('test/clients/ruby/docfusion_pg.rb');
const INSTALL = 'test/clients/ruby/install.sh';
const CLIENT = 'ruby-pg';

/**
 * The features the run must report, in the script's order. `pipeline` is there because the
 * installed ruby-pg (>= 1.3 on libpq >= 14) has PG::Connection#enter_pipeline_mode; the script
 * only runs it where that API exists, and this list says it must.
 */
const FEATURES: readonly string[] = [
  'login-scram',
  'login-md5',
  'login-cleartext',
  'login-wrong-password',
  'exec',
  'exec-params-types',
  'binary-results',
  'prepared-statements',
  'transaction-rollback',
  'error-recovery',
  'copy',
  'cancel',
  'listen-notify',
  'single-row-mode',
  'pipeline',
  'metadata',
  'startup-options',
  'txpool-basic',
  'txpool-prepared',
];

const suffix = randomBytes(4).toString('hex');
const SCRAM_ROLE = `df_rb_scram_${suffix}`;
const SCRAM_PASSWORD = 'rb-scram pa$$ word';
const MD5_ROLE = `df_rb_md5_${suffix}`;
const MD5_PASSWORD = 'rb-md5-password';

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

let admin: pg.Client;
let proxies: TestProxy[] = [];
let md5Note: string | undefined;
let problem: string | undefined;
let run: ProgramRun | undefined;
let results: CompatResult[] = [];
let version = 'unknown';

beforeAll(async () => {
  const probe = await runProgram(RUBY, ['-rpg', '-e', 'print PG::VERSION'], process.env, 30_000);
  if (probe.code !== 0) {
    problem =
      `ruby with ruby-pg is not usable (exit ${String(probe.code)}: ${probe.stderr.trim().split('\n').pop() ?? ''}); ` +
      `install it with ${INSTALL} (Debian packages ruby ruby-pg)`;
    return;
  }
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
  run = await runProgram(
    RUBY,
    [SCRIPT],
    { ...process.env, DF_CONFIG: JSON.stringify(config) },
    240_000,
  );
  ({ version, results } = parseClientOutput(run.stdout));
  recordCompat({ client: CLIENT, version, results });
}, 300_000);

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.stop()));
  await restoreHba?.();
  if (problem !== undefined) return;
  for (const role of [SCRAM_ROLE, MD5_ROLE]) await admin.query(`DROP ROLE IF EXISTS ${role}`);
  await admin.end();
});

function ran(): ProgramRun {
  if (problem !== undefined) throw new Error(problem);
  if (run === undefined) throw new Error(`${CLIENT} did not run (see beforeAll)`);
  return run;
}

test('ruby-pg: the program ran to the end and reported every feature', () => {
  const { code, stderr } = ran();
  expect(code, `exit status; stderr:\n${stderr.slice(-4000)}`).toBe(0);
  expect(version).not.toBe('unknown');
  expect(results.map((result) => result.feature)).toEqual(FEATURES);
});

test.each(FEATURES)('ruby-pg: %s', (feature) => {
  const { stderr } = ran();
  const result = results.find((r) => r.feature === feature);
  expect(result, `${feature} was not reported; stderr:\n${stderr.slice(-4000)}`).toBeDefined();
  const hint = feature === 'login-md5' && md5Note !== undefined ? ` (${md5Note})` : '';
  expect(result?.pass, `${CLIENT} ${feature}: ${result?.detail ?? ''}${hint}`).toBe(true);
});
