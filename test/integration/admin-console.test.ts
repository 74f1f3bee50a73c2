/**
 * The admin console (virtual database `docfusion_admin`) through the real psql binary: SHOW
 * commands as tables, PAUSE/RESUME, SET log_level, a RELOAD that changes a pool size live,
 * refusal of non-admin users, and SHUTDOWN of a real CLI process. psql is required: without it
 * these tests fail, they never skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../../src/embedded-postgres.js';
import {
  directClient,
  endQuietly,
  errorsOf,
  sleep,
  startPoolProxy,
  upstreamPoolBackends,
  waitFor,
  type PoolProxy,
} from '../support/pool-proxy.js';
import { upstreamUrl } from '../support/proxy.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const upstream = new URL(upstreamUrl());
const ADMIN_USER = decodeURIComponent(upstream.username);
const ADMIN_PASSWORD = decodeURIComponent(upstream.password);

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program without blocking the event loop (the proxy runs in this process). */
function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** The psql binary; fails loudly when it is missing. */
function psqlBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v psql'], { encoding: 'utf8' });
  const file = found.stdout.trim();
  if (found.status !== 0 || file === '') {
    throw new Error(
      'psql is required for the admin console tests but was not found on PATH; install postgresql-client',
    );
  }
  return file;
}

const PSQL = psqlBinary();

/** psql against the proxy on `port` (no psqlrc, no PG* from the caller's environment). */
function psql(
  port: number,
  command: string,
  options: { user?: string; password?: string; database?: string } = {},
): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG'))),
    PGPASSWORD: options.password ?? ADMIN_PASSWORD,
    PGCONNECT_TIMEOUT: '20',
    LC_ALL: 'C',
  };
  return run(
    PSQL,
    [
      '-X',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      options.user ?? ADMIN_USER,
      '-d',
      options.database ?? 'docfusion_admin',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      command,
    ],
    env,
  );
}

/** psql that must succeed. */
async function psqlOk(port: number, command: string): Promise<string> {
  const result = await psql(port, command);
  if (result.code !== 0) {
    throw new Error(`psql -c "${command}" exited ${String(result.code)}: ${result.stderr}`);
  }
  return result.stdout;
}

/** psql's aligned table output: header names and rows, split on '|'. */
function parseTable(stdout: string): { header: string[]; rows: string[][]; footer: string } {
  const lines = stdout.split('\n');
  const rule = lines.findIndex((line) => /^-+(\+-+)*$/.test(line));
  if (rule < 1) throw new Error(`no table in psql output:\n${stdout}`);
  const split = (line: string): string[] => line.split('|').map((cell) => cell.trim());
  const header = split(lines[rule - 1] ?? '');
  const rows: string[][] = [];
  let i = rule + 1;
  for (; i < lines.length && !/^\(\d+ rows?\)$/.test(lines[i] ?? ''); i++) {
    rows.push(split(lines[i] ?? ''));
  }
  return { header, rows, footer: lines[i] ?? '' };
}

function column(table: { header: string[]; rows: string[][] }, name: string): string[] {
  const index = table.header.indexOf(name);
  if (index < 0) throw new Error(`no column ${name} in ${table.header.join(', ')}`);
  return table.rows.map((row) => row[index] ?? '');
}

// ---- SHOW, PAUSE/RESUME, SET ------------------------------------------------------------------

describe('admin console through psql', () => {
  const SECRET = `S3cret-${suffix}`;
  const EMBEDDED_SECRET = `Emb3dded-${suffix}`;
  const logLines: string[] = [];
  let proxy: PoolProxy;
  let client: pg.Client;

  beforeAll(async () => {
    proxy = await startPoolProxy({
      pool: { mode: 'transaction', size: 3 },
      databases: { df_secret_db: { dbname: 'docfusion', password: SECRET } },
      embedded: { password: EMBEDDED_SECRET },
      logLevel: 'info',
      logLines,
    });
    client = await proxy.connect({ application_name: 'df-admin-test-client' });
    await client.query('SELECT 1');
  });
  afterAll(async () => {
    await endQuietly(client);
    await proxy.stop();
  });

  test('SHOW POOLS prints one row per pool as a table', async () => {
    const table = parseTable(await psqlOk(proxy.port, 'SHOW POOLS'));
    expect(table.header).toEqual([
      'database',
      'user',
      'pool_mode',
      'pool_size',
      'cl_active',
      'cl_idle',
      'sv_active',
      'sv_idle',
      'sv_connecting',
      'cl_waiting',
      'maxwait_ms',
      'paused',
    ]);
    expect(table.footer).toBe('(1 row)');
    const row = Object.fromEntries(table.header.map((name, i) => [name, table.rows[0]?.[i]]));
    expect(row).toMatchObject({
      database: proxy.database,
      user: proxy.user,
      pool_mode: 'transaction',
      pool_size: '3',
      cl_waiting: '0',
      paused: 'false',
    });
  });

  test('SHOW CLIENTS lists the client and the psql session itself', async () => {
    const table = parseTable(await psqlOk(proxy.port, 'SHOW CLIENTS'));
    expect(table.header).toEqual(
      expect.arrayContaining(['id', 'user', 'database', 'application_name', 'state', 'pinned']),
    );
    const apps = column(table, 'application_name');
    expect(apps).toContain('df-admin-test-client');
    expect(apps).toContain('psql');
    const databases = column(table, 'database');
    expect(databases).toContain('docfusion_admin');
    expect(table.footer).toBe(`(${table.rows.length} rows)`);
  });

  test('SHOW SERVERS lists the upstream connections with their real backend pids', async () => {
    const table = parseTable(await psqlOk(proxy.port, 'SHOW SERVERS'));
    expect(table.header).toEqual(expect.arrayContaining(['database', 'user', 'pid', 'state']));
    expect(table.rows.length).toBeGreaterThan(0);
    const pids = column(table, 'pid').map(Number);
    const watcher = await directClient();
    try {
      const live = await watcher.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])',
        [pids],
      );
      expect(live.rows.map((r) => r.pid).sort()).toEqual([...pids].sort());
    } finally {
      await watcher.end();
    }
  });

  test('SHOW STATS, SHOW VERSION and SHOW HELP print tables', async () => {
    const stats = parseTable(await psqlOk(proxy.port, 'SHOW STATS'));
    expect(stats.header).toEqual(expect.arrayContaining(['database', 'user', 'total_acquired']));
    expect(Number(column(stats, 'total_acquired')[0])).toBeGreaterThan(0);
    const version = parseTable(await psqlOk(proxy.port, 'SHOW VERSION'));
    expect(version.header).toEqual(['version']);
    expect(version.rows[0]?.[0]).toMatch(/^DocFusionDB \d+\.\d+\.\d+/);
    const help = parseTable(await psqlOk(proxy.port, 'SHOW HELP'));
    const commands = column(help, 'command');
    for (const command of ['SHOW POOLS', 'SHOW CLIENTS', 'RELOAD', 'PAUSE [db]', 'SHUTDOWN']) {
      expect(commands).toContain(command);
    }
  });

  test('SHOW CONFIG prints the configuration without any secret', async () => {
    const out = await psqlOk(proxy.port, 'SHOW CONFIG');
    const table = parseTable(out);
    expect(table.header).toEqual(['key', 'value']);
    const keys = column(table, 'key');
    expect(keys).toEqual(expect.arrayContaining(['pool.mode', 'pool.size', 'timeouts.query_ms']));
    const values = new Map(table.rows.map((row) => [row[0] ?? '', row[1] ?? '']));
    expect(values.get('pool.mode')).toBe('transaction');
    expect(values.get('databases.df_secret_db.password')).toBe('***');
    expect(values.get('embedded.password')).toBe('***');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(EMBEDDED_SECRET);
    // The upstream URL's password.
    expect(out).not.toContain(`:${encodeURIComponent(ADMIN_PASSWORD)}@`);
    expect(out).toContain('***');
  });

  test('an unknown command is an error, and psql says so', async () => {
    const result = await psql(proxy.port, 'SHOW NONSENSE');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/ERROR: .*NONSENSE/);
  });

  test('PAUSE: a query issued meanwhile waits, and completes after RESUME', async () => {
    expect(await psqlOk(proxy.port, 'PAUSE')).toContain('PAUSE');
    let settled = false;
    const during = client.query<{ v: number }>('SELECT 42 AS v').finally(() => {
      settled = true;
    });
    try {
      await waitFor('the paused query to wait in the pool', async () => {
        const table = parseTable(await psqlOk(proxy.port, 'SHOW POOLS'));
        return column(table, 'cl_waiting')[0] === '1';
      });
      const pools = parseTable(await psqlOk(proxy.port, 'SHOW POOLS'));
      expect(column(pools, 'paused')).toEqual(['true']);
      await sleep(300);
      expect(settled).toBe(false);
    } finally {
      expect(await psqlOk(proxy.port, 'RESUME')).toContain('RESUME');
    }
    expect((await during).rows).toEqual([{ v: 42 }]);
    expect(errorsOf(client)).toEqual([]);
    const pools = parseTable(await psqlOk(proxy.port, 'SHOW POOLS'));
    expect(column(pools, 'paused')).toEqual(['false']);
  });

  test('SET log_level = debug takes effect at once; a bad level is refused', async () => {
    const isReady = (line: string): boolean => line.includes('upstream connection ready');
    // At info, opening an upstream connection logs nothing at debug level.
    const before = await proxy.connect({ database: 'postgres' });
    await before.end();
    expect(logLines.filter(isReady)).toEqual([]);
    expect(await psqlOk(proxy.port, 'SET log_level = debug')).toContain('SET');
    try {
      const after = await proxy.connect({ database: 'template1' });
      await after.end();
      expect(logLines.filter(isReady).length).toBeGreaterThan(0);
      const bad = await psql(proxy.port, 'SET log_level = loud');
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain('ERROR');
    } finally {
      await psqlOk(proxy.port, 'SET log_level = info');
    }
  });
});

// ---- users ----------------------------------------------------------------------------------------

describe('admin console access', () => {
  const ROLE = `df_nonadmin_${suffix}`;
  const ROLE_PASSWORD = `pw-${suffix}`;
  let proxy: PoolProxy;
  let direct: pg.Client;

  beforeAll(async () => {
    direct = await directClient();
    await direct.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    proxy = await startPoolProxy({ pool: { mode: 'transaction', size: 2 } });
  });
  afterAll(async () => {
    await proxy.stop();
    await direct.query(`DROP ROLE IF EXISTS ${ROLE}`);
    await direct.end();
  });

  test('a user that is not an admin is refused with a FATAL error (and can still use Postgres)', async () => {
    const refused = await psql(proxy.port, 'SHOW POOLS', { user: ROLE, password: ROLE_PASSWORD });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /FATAL: +user "df_nonadmin_[0-9a-f]+" is not a DocFusionDB admin/,
    );
    // Same credentials, ordinary database: accepted, so the refusal was the admin check.
    const ordinary = await psql(proxy.port, 'SELECT current_user', {
      user: ROLE,
      password: ROLE_PASSWORD,
      database: proxy.database,
    });
    expect(ordinary.code).toBe(0);
    expect(ordinary.stdout).toContain(ROLE);
  });

  test('an admin with a wrong password is refused', async () => {
    const refused = await psql(proxy.port, 'SHOW POOLS', { password: 'wrong-password' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/FATAL: +password authentication failed/);
  });
});

// ---- RELOAD -------------------------------------------------------------------------------------

describe('RELOAD', () => {
  let dir: string;
  let file: string;
  let proxy: PoolProxy;

  const yaml = (size: number): string =>
    [
      `upstream: ${JSON.stringify(upstreamUrl())}`,
      'listen: 127.0.0.1:0',
      'http:',
      '  enabled: false',
      'pool:',
      '  mode: transaction',
      `  size: ${size}`,
      '  max_client_wait_ms: 20000',
      'log:',
      '  level: silent',
      '',
    ].join('\n');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-reload-'));
    file = path.join(dir, 'docfusion.yaml');
    await writeFile(file, yaml(2));
    const load = () => loadConfig({ argv: ['--config', file], env: {}, cwd: dir }).config;
    proxy = await startPoolProxy({ base: load(), reloadConfig: load });
  });
  afterAll(async () => {
    await proxy.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Max number of the proxy's backends running `pg_sleep(0.5)` at once while `work` runs. */
  async function peakSleepers(work: () => Promise<void>): Promise<number> {
    const watcher = await directClient();
    let peak = 0;
    const state = { done: false };
    const poll = (async () => {
      while (!state.done) {
        const r = await watcher.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE query = 'SELECT pg_sleep(0.5)' AND state = 'active' AND pid <> pg_backend_pid()`,
        );
        peak = Math.max(peak, r.rows[0]?.n ?? 0);
        await sleep(20);
      }
    })();
    try {
      await work();
    } finally {
      state.done = true;
      await poll;
      await watcher.end();
    }
    return peak;
  }

  async function sleepers(clients: pg.Client[]): Promise<void> {
    await Promise.all(
      clients.map(async (c) => {
        await c.query('BEGIN');
        await c.query('SELECT pg_sleep(0.5)');
        await c.query('COMMIT');
      }),
    );
  }

  test('RELOAD after editing the file changes pool_size from 2 to 5 live, without dropping clients', async () => {
    const clients = await Promise.all([0, 1, 2, 3, 4].map(() => proxy.connect()));
    try {
      const before = parseTable(await psqlOk(proxy.port, 'SHOW POOLS'));
      expect(column(before, 'pool_size')).toEqual(['2']);
      // With 2 connections, 5 sleepers never run more than 2 at a time.
      const peakBefore = await peakSleepers(() => sleepers(clients));
      expect(peakBefore).toBeLessThanOrEqual(2);

      await writeFile(file, yaml(5));
      const reload = await psql(proxy.port, 'RELOAD');
      expect(reload.code).toBe(0);
      expect(reload.stdout).toContain('RELOAD');
      expect(reload.stderr).toContain('configuration reloaded');
      const after = parseTable(await psqlOk(proxy.port, 'SHOW POOLS'));
      expect(column(after, 'pool_size')).toEqual(['5']);

      // Now 5 transactions hold 5 upstream backends at the same time.
      const pids = new Map<number, number>();
      let inside = 0;
      const watcher = await directClient();
      let upstreamAtBarrier = 0;
      try {
        await Promise.all(
          clients.map(async (c, i) => {
            await c.query('BEGIN');
            const r = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
            pids.set(i, r.rows[0]?.pid ?? -1);
            inside++;
            await waitFor('all 5 transactions open at once', () => inside === 5, 15_000, 10);
            if (i === 0) upstreamAtBarrier = await upstreamPoolBackends(watcher);
            await c.query('SELECT pg_sleep(0.5)');
            await c.query('COMMIT');
          }),
        );
      } finally {
        await watcher.end();
      }
      expect(new Set(pids.values()).size).toBe(5);
      expect(upstreamAtBarrier).toBeGreaterThanOrEqual(5);
      const peakAfter = await peakSleepers(() => sleepers(clients));
      expect(peakAfter).toBeGreaterThan(2);
      // Nobody was dropped by the reload.
      for (const c of clients) {
        expect((await c.query<{ v: number }>('SELECT 1 AS v')).rows).toEqual([{ v: 1 }]);
        expect(errorsOf(c)).toEqual([]);
      }
    } finally {
      for (const c of clients) await endQuietly(c);
    }
  });
});

// ---- SHUTDOWN -------------------------------------------------------------------------------------

describe('SHUTDOWN', () => {
  test('SHUTDOWN from psql makes a running docfusiondb process exit with status 0', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...Object.fromEntries(
        Object.entries(process.env).filter(
          ([name]) => !name.startsWith('DOCFUSION_') && name !== 'DATABASE_URL',
        ),
      ),
      DOCFUSION_LOG_LEVEL: 'warn',
      DOCFUSION_POOL_MODE: 'transaction',
    };
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        '--upstream',
        upstreamUrl(),
        '--listen',
        `127.0.0.1:${port}`,
        '--http-listen',
        'off',
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => {
        resolve(code);
      });
    });
    try {
      await waitFor(
        'docfusiondb to accept admin connections',
        async () => {
          if (child.exitCode !== null) throw new Error(`docfusiondb exited early:\n${output}`);
          return (await psql(port, 'SHOW VERSION')).code === 0;
        },
        60_000,
        200,
      );
      const result = await psql(port, 'SHUTDOWN');
      expect(result.stdout + result.stderr).toContain('SHUTDOWN');
      const code = await Promise.race([exited, sleep(30_000).then(() => 'still running' as const)]);
      expect(code, output).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
