/**
 * pgbench (Debian's postgresql-15 package) through DocFusionDB, in session and in transaction
 * pool mode: `pgbench -i -s 1`, then TPC-B-like runs of a few seconds with 4 clients in each
 * query mode (`-M simple|extended|prepared`), and a custom script using pgbench's pipeline mode.
 * A run passes when pgbench exits 0, reports no failed transactions and processed some. Each
 * feature is one test and one result in the compatibility matrix. Without pgbench these tests
 * fail (run test/clients/pgbench/install.sh); they never skip.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type pg from 'pg';
import { defaultConfig } from '../../src/config.js';
import { recordCompat, type CompatResult } from '../support/compat.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const INSTALL_HINT = 'run test/clients/pgbench/install.sh (as root)';
/** Debian 12 ships pgbench in the server package; /usr/bin/pgbench is a wrapper for it. */
const DEBIAN_PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const TXN = 'txn-pool.';
const CLIENTS = 4;
const SECONDS = 3;
const PGBENCH_TABLES = [
  'pgbench_accounts',
  'pgbench_branches',
  'pgbench_tellers',
  'pgbench_history',
];

type Mode = 'session' | 'transaction';

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

const upstream = new URL(upstreamUrl());
const ADMIN_USER = decodeURIComponent(upstream.username);
const ADMIN_PASSWORD = decodeURIComponent(upstream.password);
const DB = upstream.pathname.slice(1);

let pgbenchPath = '';
let pgbenchVersion = '';
let toolProblem = '';
let tmp = '';
let admin: pg.Client | undefined;
let proxy: TestProxy | undefined;
let txnProxy: TestProxy | undefined;
const results = new Map<Mode, Map<string, CompatResult>>([
  ['session', new Map()],
  ['transaction', new Map()],
]);
const expected = new Map<Mode, string[]>([
  ['session', []],
  ['transaction', []],
]);

/** Run a program without blocking the event loop (the proxy runs in this process). */
function run(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      });
    });
  });
}

function env(): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG')) clean[key] = value;
  }
  return { ...clean, PGPASSWORD: ADMIN_PASSWORD, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
}

function pgbench(
  p: TestProxy | undefined,
  args: readonly string[],
  timeoutMs = 120_000,
): Promise<Run> {
  if (pgbenchPath === '') throw new Error(`pgbench is not installed: ${INSTALL_HINT}`);
  if (p === undefined) throw new Error('proxy not started');
  return run(
    pgbenchPath,
    ['-h', '127.0.0.1', '-p', String(p.port), '-U', ADMIN_USER, ...args, DB],
    env(),
    timeoutMs,
  );
}

function show(r: Run): string {
  const tail = (text: string): string => text.split('\n').slice(-40).join('\n');
  return `exit ${r.code ?? `signal ${r.signal ?? '?'}`} after ${r.ms} ms\nstdout:\n${tail(r.stdout)}\nstderr (tail):\n${tail(r.stderr)}`;
}

/** The summary pgbench prints after a run, checked the way the compatibility matrix needs. */
function expectCleanRun(r: Run): number {
  expect(r.code, show(r)).toBe(0);
  const processed = /number of transactions actually processed: (\d+)/.exec(r.stdout);
  expect(processed, `no transaction count in the output:\n${show(r)}`).not.toBeNull();
  const count = Number(processed?.[1] ?? 0);
  expect(count, show(r)).toBeGreaterThan(0);
  const failed = /number of failed transactions: (\d+)/.exec(r.stdout);
  if (failed !== null) expect(Number(failed[1]), show(r)).toBe(0);
  // pgbench reports client errors on stderr ("client 2 script 0 aborted in command 4 …").
  expect(r.stderr, show(r)).not.toMatch(/\b(error|aborted|FATAL)\b/i);
  return count;
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').trim().slice(0, 400);
}

function feature(mode: Mode, name: string, body: () => Promise<void>, timeoutMs = 120_000): void {
  expected.get(mode)?.push(name);
  test(
    name,
    async () => {
      const record = results.get(mode);
      try {
        await body();
        record?.set(name, { feature: name, pass: true });
      } catch (error) {
        record?.set(name, { feature: name, pass: false, detail: oneLine(error) });
        throw error;
      }
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  const which = await run('sh', ['-c', 'command -v pgbench'], process.env, 10_000).catch(
    () => undefined,
  );
  if (existsSync(DEBIAN_PGBENCH)) pgbenchPath = DEBIAN_PGBENCH;
  else if (which?.code === 0 && which.stdout.trim() !== '') pgbenchPath = which.stdout.trim();
  if (pgbenchPath === '') {
    toolProblem = `pgbench not found (neither ${DEBIAN_PGBENCH} nor on PATH)`;
  } else {
    const version = await run(pgbenchPath, ['--version'], process.env, 10_000);
    if (version.code !== 0) toolProblem = `pgbench --version failed: ${show(version)}`;
    pgbenchVersion = version.stdout.trim().replace(/^pgbench \(PostgreSQL\)\s*/, '');
  }
  if (toolProblem !== '') throw new Error(`${toolProblem}: ${INSTALL_HINT}`);

  tmp = await mkdtemp(path.join(os.tmpdir(), 'docfusion-pgbench-'));
  // pgbench's pipeline mode (\startpipeline … \endpipeline) needs -M extended or prepared.
  await writeFile(
    path.join(tmp, 'pipeline.sql'),
    [
      '\\set aid random(1, 100000 * :scale)',
      '\\set bid random(1, 1 * :scale)',
      '\\set delta random(-5000, 5000)',
      '\\startpipeline',
      'BEGIN;',
      'UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;',
      'SELECT abalance FROM pgbench_accounts WHERE aid = :aid;',
      'UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;',
      'END;',
      '\\endpipeline',
      '',
    ].join('\n'),
  );
  admin = await adminClient();
  proxy = await startProxy();
  // startProxy merges only some sections key by key; `pool` is replaced whole. Fewer upstream
  // connections than pgbench clients, so transactions are multiplexed.
  txnProxy = await startProxy({ pool: { ...defaultConfig().pool, mode: 'transaction', size: 3 } });
}, 120_000);

afterAll(async () => {
  const all: CompatResult[] = [];
  for (const mode of ['session', 'transaction'] as const) {
    const prefix = mode === 'session' ? '' : TXN;
    const got = results.get(mode) ?? new Map<string, CompatResult>();
    for (const name of expected.get(mode) ?? []) {
      const result = got.get(name) ?? {
        feature: name,
        pass: false,
        detail: toolProblem !== '' ? `${toolProblem}: ${INSTALL_HINT}` : 'did not run',
      };
      all.push({ ...result, feature: `${prefix}${name}` });
    }
  }
  recordCompat({
    client: 'pgbench',
    version: pgbenchVersion !== '' ? pgbenchVersion : 'not installed',
    results: all,
  });
  await Promise.all([proxy, txnProxy].map((p) => p?.stop(500) ?? Promise.resolve()));
  if (admin !== undefined) {
    await admin.query(`DROP TABLE IF EXISTS ${PGBENCH_TABLES.join(', ')}`);
    await admin.end();
  }
  if (tmp !== '') await rm(tmp, { recursive: true, force: true });
});

function suite(mode: Mode): void {
  describe(`pgbench, ${mode} pool mode`, () => {
    const target = (): TestProxy | undefined => (mode === 'session' ? proxy : txnProxy);

    feature(mode, 'init', async () => {
      const r = await pgbench(target(), ['-i', '-s', '1', '-q']);
      expect(r.code, show(r)).toBe(0);
      expect(r.stderr, show(r)).toContain('done in');
      const counts = await admin?.query<{ accounts: number; branches: number; tellers: number }>(
        `SELECT (SELECT count(*) FROM pgbench_accounts)::int AS accounts,
                (SELECT count(*) FROM pgbench_branches)::int AS branches,
                (SELECT count(*) FROM pgbench_tellers)::int AS tellers`,
      );
      expect(counts?.rows[0]).toEqual({ accounts: 100_000, branches: 1, tellers: 10 });
    });

    for (const protocol of ['simple', 'extended', 'prepared'] as const) {
      feature(mode, `run-${protocol}`, async () => {
        const r = await pgbench(target(), [
          '-n',
          '-c',
          String(CLIENTS),
          '-j',
          '2',
          '-T',
          String(SECONDS),
          '-M',
          protocol,
        ]);
        expectCleanRun(r);
        expect(r.stdout).toContain(`query mode: ${protocol}`);
        expect(r.stdout).toContain(`number of clients: ${CLIENTS}`);
      });
    }

    feature(mode, 'run-select-only-prepared', async () => {
      const r = await pgbench(target(), [
        '-n',
        '-S',
        '-c',
        String(CLIENTS),
        '-j',
        '2',
        '-T',
        '2',
        '-M',
        'prepared',
      ]);
      expectCleanRun(r);
    });

    feature(mode, 'run-pipeline', async () => {
      const r = await pgbench(target(), [
        '-n',
        '-f',
        path.join(tmp, 'pipeline.sql'),
        '-c',
        String(CLIENTS),
        '-j',
        '2',
        '-T',
        '2',
        '-M',
        'extended',
      ]);
      expectCleanRun(r);
    });

    feature(mode, 'run-connect-per-transaction', async () => {
      // -C: a new connection (startup + SCRAM) for every transaction.
      const r = await pgbench(target(), ['-n', '-C', '-c', '2', '-t', '25', '-M', 'simple']);
      const count = expectCleanRun(r);
      expect(count).toBe(50);
    });
  });
}

suite('session');
suite('transaction');
