/**
 * The real psql binary through the proxy. Each command also runs straight against Postgres and
 * the outputs must be identical. psql is required: without it these tests fail, they never skip.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type pg from 'pg';
import { adminClient, startProxy, type TestProxy } from '../support/proxy.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program without blocking the event loop (the proxy runs in this process). */
function run(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  input?: string,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // psql may exit before reading all of it
      child.stdin.end(input);
    }
  });
}

let psqlPath: string | undefined;
let psqlMissing = '';
let psqlMajor = 0;
let serverMajor = 0;
let proxy: TestProxy;
let direct: pg.Client;
let tmp: string;
let password = '';
let proxyUrl = '';
let directUrl = '';

/** The psql binary, or a failure naming what is missing. */
function psqlBinary(): string {
  if (psqlPath === undefined) {
    throw new Error(
      `psql is required for these tests but was not found on PATH (${psqlMissing}); install postgresql-client`,
    );
  }
  return psqlPath;
}

beforeAll(async () => {
  const which = await run('sh', ['-c', 'command -v psql'], process.env).catch((error: unknown) => ({
    code: 1,
    stdout: '',
    stderr: String(error),
  }));
  if (which.code === 0 && which.stdout.trim() !== '') psqlPath = which.stdout.trim();
  else psqlMissing = `which psql: exit ${which.code ?? 'signal'} ${which.stderr.trim()}`;

  if (psqlPath !== undefined) {
    const version = await run(psqlPath, ['--version'], process.env);
    psqlMajor = Number(/\(PostgreSQL\) (\d+)/.exec(version.stdout)?.[1] ?? 0);
  }

  proxy = await startProxy();
  direct = await adminClient();
  const server = await direct.query<{ server_version_num: string }>('SHOW server_version_num');
  serverMajor = Math.floor(Number(server.rows[0]?.server_version_num ?? 0) / 10000);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'docfusion-psql-'));
  const admin = new URL(proxy.upstreamUrl);
  password = decodeURIComponent(admin.password);
  const withoutPassword = (url: string): string => {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  };
  proxyUrl = withoutPassword(proxy.url());
  directUrl = withoutPassword(proxy.upstreamUrl);

  await direct.query('DROP TABLE IF EXISTS ps_items, ps_copy_src, ps_copy_dst');
  await direct.query(`CREATE TABLE ps_items (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL CHECK (name <> ''),
      doc jsonb DEFAULT '{}'::jsonb,
      price numeric(12, 2),
      created timestamptz NOT NULL DEFAULT now()
    )`);
  await direct.query('CREATE INDEX ps_items_doc_idx ON ps_items USING gin (doc)');
  await direct.query("COMMENT ON TABLE ps_items IS 'items for the psql test, ünïcode 🎉'");
  await direct.query(
    'CREATE TABLE ps_copy_src (id int PRIMARY KEY, txt text, v numeric, flag bool)',
  );
  await direct.query('CREATE TABLE ps_copy_dst (LIKE ps_copy_src)');
  await direct.query(`INSERT INTO ps_copy_src
      SELECT g,
             CASE WHEN g % 9 = 0 THEN E'tab\\there \\\\ back' ELSE 'psql ' || g || ' ñ日本🎉' END,
             CASE WHEN g % 4 = 0 THEN NULL ELSE g / 7.0 END,
             g % 2 = 0
      FROM generate_series(1, 10000) g`);
});

afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS ps_items, ps_copy_src, ps_copy_dst');
  await direct.end();
  await rm(tmp, { recursive: true, force: true });
  await proxy.stop();
});

/** Environment for psql: none of the caller's PG* settings, the password by PGPASSWORD. */
function psqlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && key !== 'PSQLRC' && key !== 'PAGER') env[key] = value;
  }
  return { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', PSQL_PAGER: '', PAGER: '' };
}

function psql(target: 'proxy' | 'direct', args: readonly string[], input?: string): Promise<Run> {
  return run(
    psqlBinary(),
    ['-X', ...args, target === 'proxy' ? proxyUrl : directUrl],
    psqlEnv(),
    input,
  );
}

/** Run the same psql invocation through the proxy and directly; both must succeed identically. */
async function same(args: readonly string[], input?: string): Promise<Run> {
  const viaProxy = await psql('proxy', args, input);
  const viaDirect = await psql('direct', args, input);
  expect(viaProxy).toEqual(viaDirect);
  return viaProxy;
}

describe('psql', () => {
  test('psql is installed', () => {
    expect(psqlBinary()).toMatch(/psql$/);
  });

  test('SELECT output is identical to direct Postgres', async () => {
    const r = await same([
      '-v',
      'ON_ERROR_STOP=1',
      '-A',
      '-t',
      '-c',
      "SELECT 1 AS one, 'héllo 🎉' AS t, NULL::int AS n, 2.50::numeric AS x, current_user AS u",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('1|héllo 🎉||2.50|docfusion\n');
    expect(r.stderr).toBe('');
  });

  test('aligned multi-row output is identical to direct Postgres', async () => {
    const r = await same([
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      "SELECT g, repeat('ü', g) AS pad FROM generate_series(1, 50) g",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(50 rows)');
  });

  test('\\d tablename describes the table as direct Postgres does', async () => {
    const r = await same(['-v', 'ON_ERROR_STOP=1', '-c', '\\d ps_items']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Table "public.ps_items"');
    expect(r.stdout).toContain('ps_items_doc_idx');
    expect(r.stdout).toContain('ps_items_pkey');
  });

  test('\\d+ tablename describes the table as direct Postgres does', async () => {
    const r = await same(['-v', 'ON_ERROR_STOP=1', '-c', '\\d+ ps_items']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Table "public.ps_items"');
    expect(r.stdout).toContain('ps_items_name_check');
    expect(r.stdout).toMatch(/Access method: heap/);
  });

  test('\\dt lists the tables as direct Postgres does', async () => {
    const r = await same(['-v', 'ON_ERROR_STOP=1', '-c', '\\dt']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ps_items');
    expect(r.stdout).toContain('ps_copy_src');
  });

  test('\\l lists the databases as direct Postgres does', async () => {
    const r = await same(['-v', 'ON_ERROR_STOP=1', '-c', '\\l']);
    if (psqlMajor < 16 && serverMajor >= 17) {
      // psql before 16 asks for pg_database.daticulocale, which Postgres 17 renamed: \l fails the
      // same way directly (compared above). List the databases with plain SQL as well.
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('column d.daticulocale does not exist');
      const names = await same([
        '-v',
        'ON_ERROR_STOP=1',
        '-A',
        '-t',
        '-c',
        'SELECT datname FROM pg_database ORDER BY 1',
      ]);
      expect(names.stdout.split('\n')).toEqual(expect.arrayContaining(['docfusion', 'template1']));
      return;
    }
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('List of databases');
    expect(r.stdout).toContain('docfusion');
    expect(r.stdout).toContain('template1');
  });

  test('\\copy TO a file and \\copy FROM it round-trips 10,000 rows identically', async () => {
    const out1 = path.join(tmp, 'out1.tsv');
    const out2 = path.join(tmp, 'out2.tsv');
    const oracle = path.join(tmp, 'direct.tsv');
    const ordered = (table: string): string =>
      `(SELECT id, txt, v, flag FROM ${table} ORDER BY id)`;

    const exported = await psql('proxy', [
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy ${ordered('ps_copy_src')} TO '${out1}'`,
    ]);
    expect(exported).toEqual({ code: 0, stdout: 'COPY 10000\n', stderr: '' });
    const imported = await psql('proxy', [
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy ps_copy_dst FROM '${out1}'`,
    ]);
    expect(imported).toEqual({ code: 0, stdout: 'COPY 10000\n', stderr: '' });
    const again = await psql('proxy', [
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy ${ordered('ps_copy_dst')} TO '${out2}'`,
    ]);
    expect(again.code).toBe(0);
    const viaDirect = await psql('direct', [
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy ${ordered('ps_copy_src')} TO '${oracle}'`,
    ]);
    expect(viaDirect.code).toBe(0);

    const [first, second, expected] = await Promise.all([
      readFile(out1),
      readFile(out2),
      readFile(oracle),
    ]);
    expect(first.equals(expected)).toBe(true);
    expect(second.equals(expected)).toBe(true);
    expect(first.toString('utf8').split('\n').length).toBe(10_001);
    expect(first.toString('utf8')).toContain('tab\\there \\\\ back');

    const diff = await direct.query(
      '(SELECT * FROM ps_copy_src EXCEPT ALL SELECT * FROM ps_copy_dst) UNION ALL (SELECT * FROM ps_copy_dst EXCEPT ALL SELECT * FROM ps_copy_src)',
    );
    expect(diff.rowCount).toBe(0);
  });

  test('an error stops the script with exit code 3 under ON_ERROR_STOP', async () => {
    const script = "SELECT 1/0;\nSELECT 'after the error';\n";
    const r = await same(['-v', 'ON_ERROR_STOP=1', '-A', '-t'], script);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ERROR:  division by zero');
    expect(r.stdout).not.toContain('after the error');
  });

  test('without ON_ERROR_STOP the statement after an error still runs', async () => {
    const script = "SELECT 1/0;\nSELECT 'after the error';\n";
    const r = await same(['-A', '-t'], script);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('ERROR:  division by zero');
    expect(r.stdout).toBe('after the error\n');
  });
});
