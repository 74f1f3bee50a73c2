/**
 * Go clients through DocFusionDB: pgx v4 (test/clients/go/pgx) and lib/pq with database/sql
 * (test/clients/go/libpq), built here in GOPATH mode against Debian's packages, without
 * network (test/clients/go/install.sh installs golang-go and the libraries). Each program runs a
 * scripted session (TLS negotiation, Grafana-style time-series queries, many parameter types in
 * binary formats, the statement cache, batches, transactions, COPY, cancel, errors,
 * LISTEN/NOTIFY, transaction pooling) and prints one RESULT line per feature; each feature is
 * one test here. A missing toolchain or library fails these tests, never skips them.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultConfig } from '../../src/config.js';
import { parseClientOutput, recordCompat, type CompatResult } from '../support/compat.js';
import { startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';
import { makeTestCertificate, type TestCertificate } from '../support/tls-cert.js';

const GO_DIR = path.resolve('test/clients/go');
const INSTALL = 'test/clients/go/install.sh';

interface Program {
  /** Client name in docs/compatibility.md. */
  readonly client: string;
  /** Directory under test/clients/go, and the binary's name. */
  readonly dir: string;
  /** The Debian package whose version the program reports. */
  readonly debianPackage: string;
  readonly features: readonly string[];
}

const PROGRAMS: readonly Program[] = [
  {
    client: 'pgx-v4',
    dir: 'pgx',
    debianPackage: 'golang-github-jackc-pgx-v4-dev',
    features: [
      'connect-sslmode-prefer',
      'connect-sslmode-disable',
      'connect-tls',
      'grafana-timeseries',
      'param-types',
      'statement-cache',
      'batch',
      'transaction-rollback',
      'copy-from',
      'cancel-context',
      'error-recovery',
      'listen-notify',
      'txpool',
      'txpool-concurrency',
    ],
  },
  {
    client: 'lib-pq',
    dir: 'libpq',
    debianPackage: 'golang-github-lib-pq-dev',
    features: [
      'sslmode-default-without-tls',
      'sslmode-disable',
      'sslmode-require-tls',
      'params',
      'transaction',
      'error-recovery',
      'copy-in',
      'cancel',
      'listener',
      'txpool',
    ],
  },
];

interface ProgramRun {
  readonly code: number | string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program without blocking the event loop (the proxies run in this process). */
function runProgram(
  file: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<ProgramRun> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        env: options.env,
        cwd: options.cwd,
        timeout: options.timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        killSignal: 'SIGKILL',
      },
      (error, stdout, stderr) => {
        const code =
          error === null ? 0 : typeof error.code === 'number' ? error.code : (error.code ?? null);
        const note = error?.killed ? `\n(killed after ${options.timeoutMs} ms)` : '';
        resolve({
          code,
          stdout,
          stderr: stderr + (error && code !== 0 ? `\n${error.message}` : '') + note,
        });
      },
    );
  });
}

/** Offline GOPATH-mode builds against Debian's /usr/share/gocode. */
function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: '/usr/share/gocode',
    GOFLAGS: '',
    GOPROXY: 'off',
    GOTOOLCHAIN: 'local',
    // Kept between runs (outside the repository) so rebuilds are incremental.
    GOCACHE: path.join(os.tmpdir(), 'docfusion-go-build-cache'),
  };
}

function tail(text: string, chars = 4000): string {
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

interface Outcome {
  readonly problem?: string;
  readonly run?: ProgramRun;
  readonly version: string;
  readonly results: CompatResult[];
}

const suffix = randomBytes(4).toString('hex');
let proxies: TestProxy[] = [];
let certificate: TestCertificate | undefined;
let binDir: string | undefined;
const outcomes = new Map<string, Outcome>();

beforeAll(async () => {
  const go = await runProgram('go', ['version'], { env: goEnv(), timeoutMs: 30_000 });
  if (go.code !== 0) {
    const problem = `the Go toolchain is not usable (go version: exit ${String(go.code)}, ${go.stderr.trim().split('\n').pop() ?? ''}); install it with ${INSTALL}`;
    for (const program of PROGRAMS)
      outcomes.set(program.client, { problem, version: 'not installed', results: [] });
    return;
  }
  binDir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-go-clients-'));
  await mkdir(goEnv().GOCACHE ?? '', { recursive: true });
  const build = await runProgram(
    'go',
    ['build', '-o', `${binDir}${path.sep}`, ...PROGRAMS.map((program) => `./${program.dir}`)],
    { env: goEnv(), cwd: GO_DIR, timeoutMs: 480_000 },
  );
  if (build.code !== 0) {
    const problem = `go build failed (exit ${String(build.code)}); are the Debian packages from ${INSTALL} installed?\n${tail(build.stderr)}`;
    for (const program of PROGRAMS)
      outcomes.set(program.client, { problem, version: 'not built', results: [] });
    return;
  }

  certificate = await makeTestCertificate('localhost');
  const [main, withTls, transactionPool] = await Promise.all([
    startProxy(),
    startProxy({ tls: { cert: certificate.certFile, key: certificate.keyFile } }),
    startProxy({ pool: { ...defaultConfig().pool, mode: 'transaction', size: 3 } }),
  ]);
  proxies = [main, withTls, transactionPool];
  const config = JSON.stringify({
    url: main.url(),
    tls_url: withTls.url(),
    tx_url: transactionPool.url(),
    direct_url: upstreamUrl(),
    suffix,
  });
  const dir = binDir;
  await Promise.all(
    PROGRAMS.map(async (program) => {
      const dpkg = await runProgram('dpkg-query', ['-W', '-f=${Version}', program.debianPackage], {
        env: process.env,
        timeoutMs: 30_000,
      });
      const run = await runProgram(path.join(dir, program.dir), [], {
        env: {
          ...process.env,
          DF_CONFIG: config,
          DF_VERSION: dpkg.code === 0 ? dpkg.stdout.trim() : 'unknown',
        },
        timeoutMs: 240_000,
      });
      const { version, results } = parseClientOutput(run.stdout);
      outcomes.set(program.client, { run, version, results });
      recordCompat({ client: program.client, version, results });
    }),
  );
}, 900_000);

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.stop()));
  await certificate?.remove();
  if (binDir !== undefined) await rm(binDir, { recursive: true, force: true });
});

function outcomeOf(client: string): Outcome & { run: ProgramRun } {
  const outcome = outcomes.get(client);
  if (outcome === undefined) throw new Error(`${client} did not run (see beforeAll)`);
  if (outcome.problem !== undefined || outcome.run === undefined) {
    throw new Error(outcome.problem ?? `${client} did not run`);
  }
  return { ...outcome, run: outcome.run };
}

describe.each(PROGRAMS)('$client', (program) => {
  test('the program ran to the end and reported every feature', () => {
    const { run, version, results } = outcomeOf(program.client);
    expect(run.code, `exit status; stderr:\n${tail(run.stderr)}`).toBe(0);
    expect(version).not.toBe('unknown');
    expect(results.map((result) => result.feature)).toEqual(program.features);
  });

  test.each(program.features)('%s', (feature) => {
    const { run, results } = outcomeOf(program.client);
    const result = results.find((r) => r.feature === feature);
    expect(result, `${feature} was not reported; stderr:\n${tail(run.stderr)}`).toBeDefined();
    expect(result?.pass, `${program.client} ${feature}: ${result?.detail ?? ''}`).toBe(true);
  });
});
