import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { parseScramVerifier } from '../../protocol/scram.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without anything DocFusionDB reads, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('DOCFUSION_') && k !== 'DATABASE_URL') env[k] = v;
  }
  return { ...env, ...extra };
}

interface RunOptions {
  readonly env?: Record<string, string>;
  readonly stdin?: string;
  /** Called with each stdout chunk and the child, e.g. to signal it once it is ready. */
  readonly onStdout?: (all: string, child: ReturnType<typeof spawn>) => void;
  /** `npx tsx src/cli.ts` as a user would; `node --import tsx` when signals must reach it. */
  readonly direct?: boolean;
}

function runCli(args: readonly string[], options: RunOptions = {}): Promise<Result> {
  const [command, prefix] = options.direct
    ? [process.execPath, ['--import', 'tsx', 'src/cli.ts']]
    : ['npx', ['tsx', 'src/cli.ts']];
  const child = spawn(command, [...prefix, ...args], {
    cwd: repo,
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    options.onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`docfusiondb ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, 45_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('docfusiondb CLI', () => {
  it('--print-config shows environment values, redacted', async () => {
    const r = await runCli(['--print-config', '--log-level', 'warn'], {
      env: {
        DOCFUSION_LISTEN: '[::1]:7000',
        DATABASE_URL: 'postgres://app:s3cret-url@db.example:5433/app',
        DOCFUSION_PASSWORD: 'hunter2-embedded',
        DOCFUSION_LOG_LEVEL: 'debug',
        DOCFUSION_AUTH: 'md5',
        DOCFUSION_HTTP_LISTEN: 'off',
      },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('s3cret-url');
    expect(r.stdout).not.toContain('hunter2-embedded');
    expect(r.stdout).toContain('listen: "[::1]:7000"');
    const printed = parse(r.stdout) as Record<string, Record<string, unknown> | string>;
    expect(printed.listen).toBe('[::1]:7000');
    expect(printed.upstream).toBe('postgres://app:***@db.example:5433/app');
    expect(printed.embedded).toMatchObject({ password: '***' });
    expect(printed.auth).toMatchObject({ method: 'md5' });
    expect(printed.http).toMatchObject({ enabled: false });
    expect(printed.log).toEqual({ level: 'warn', slow_statement_ms: 1000 }); // the flag beats DOCFUSION_LOG_LEVEL
  });

  it('--print-config with a config file', async () => {
    const r = await runCli(['--print-config'], {
      env: { DOCFUSION_CONFIG: 'config/example.yaml' },
    });
    expect(r.code).toBe(0);
    const printed = parse(r.stdout) as Record<string, Record<string, unknown> | string>;
    expect(printed.listen).toBe('0.0.0.0:6432');
    expect(printed.databases).toHaveProperty('analytics');
  });

  it('exits 2 naming an unknown flag', async () => {
    const r = await runCli(['--lisen', '127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('docfusiondb: --lisen: unknown option (see docfusiondb --help)\n');
  });

  it('exits 2 naming a bad environment variable', async () => {
    const r = await runCli([], { env: { DOCFUSION_AUTH: 'foo' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'docfusiondb: DOCFUSION_AUTH: expected one of trust, password, md5, scram-sha-256, got "foo"\n',
    );
  });

  it('--help lists every flag and environment variable', async () => {
    const r = await runCli(['--help'], { direct: true });
    expect(r.code).toBe(0);
    for (const word of [
      '--config',
      '--listen',
      '--upstream',
      '--data-dir',
      '--http-listen',
      '--auth',
      '--log-level',
      '--print-config',
      'DOCFUSION_CONFIG',
      'DOCFUSION_LISTEN',
      'DATABASE_URL',
      'DOCFUSION_DATA_DIR',
      'DOCFUSION_HTTP_LISTEN',
      'DOCFUSION_AUTH',
      'DOCFUSION_PASSWORD',
      'DOCFUSION_LOG_LEVEL',
      'hash-password',
    ]) {
      expect(r.stdout).toContain(word);
    }
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version'], { direct: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^docfusiondb \d+\.\d+\.\d+/);
  });

  it('hash-password reads stdin and exits', async () => {
    const r = await runCli(['hash-password'], { stdin: 'pw\n', direct: true });
    expect(r.code).toBe(0);
    expect(parseScramVerifier(r.stdout.trim())).not.toBeNull();
  });

  it('exits 1 with a fatal log line and a one-line message when the server cannot start', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as net.AddressInfo;
    try {
      const r = await runCli(
        ['--listen', `127.0.0.1:${port}`, '--http-listen', 'off', '--log-level', 'warn'],
        { env: { DATABASE_URL: inject('upstreamUrl') }, direct: true },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^docfusiondb: .*EADDRINUSE.*\n$/);
      const fatal = r.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => entry.level === 'fatal');
      expect(fatal).toMatchObject({ service: 'docfusiondb', err: { code: 'EADDRINUSE' } });
      expect(r.stdout).not.toMatch(/docfusion:[^@]*@/); // no upstream password logged
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  it('starts, logs JSON, and exits 0 after SIGTERM', async () => {
    let signalled = false;
    const r = await runCli(['--listen', '127.0.0.1:0', '--http-listen', 'off'], {
      env: { DATABASE_URL: inject('upstreamUrl'), DOCFUSION_LOG_LEVEL: 'info' },
      direct: true,
      onStdout: (all, child) => {
        if (!signalled && all.includes('accepting connections')) {
          signalled = true;
          // runServer installs its signal handlers just after this line is logged.
          setTimeout(() => child.kill('SIGTERM'), 500);
        }
      },
    });
    expect(signalled).toBe(true);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ level: 'info', service: 'docfusiondb' });
    expect(typeof lines[0]?.time).toBe('string');
  });
});
