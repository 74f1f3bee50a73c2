import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/embedded-postgres.js';
import {
  runCommand,
  startProcess,
  viaHostPort,
  waitForHttp,
  waitForTcp,
  type ManagedProcess,
} from './process.js';
import { REPO_ROOT } from './results.js';

/**
 * DocFusionDB as a separate process, built from this checkout (`npm run build` → dist/), so a
 * bench measures the real server and not code sharing the bench's event loop.
 */

export const CLI_ENTRY = path.join(REPO_ROOT, 'dist', 'src', 'cli.js');

/** `npm run build`; throws with the compiler's output when it fails. */
export async function buildProxy(): Promise<void> {
  await runCommand('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, timeoutMs: 300_000 });
  if (!existsSync(CLI_ENTRY)) throw new Error(`npm run build did not produce ${CLI_ENTRY}`);
}

export interface ProxyProcessOptions {
  /** Upstream admin URL (given to the proxy as DATABASE_URL, the env form of --upstream). */
  readonly upstreamUrl: string;
  /** DOCFUSION_LOG_LEVEL (default warn). */
  readonly logLevel?: string;
  /** More CLI flags, e.g. ['--auth', 'trust'] or ['--config', file]. */
  readonly extraArgs?: readonly string[];
  /** Extra environment variables. */
  readonly env?: NodeJS.ProcessEnv;
  /** Extra `node` flags, e.g. ['--max-old-space-size=512'] or ['--cpu-prof']. */
  readonly nodeArgs?: readonly string[];
  /**
   * Start through `bash -c 'ulimit -n N && exec node …'` so the proxy may hold N file
   * descriptors (the process id stays node's). Default: inherit this process's limit.
   */
  readonly openFilesLimit?: number;
  readonly startTimeoutMs?: number;
}

export interface ProxyProcess {
  readonly host: string;
  readonly port: number;
  readonly httpPort: number;
  readonly process: ManagedProcess;
  /** `url` with its host and port replaced by the proxy's (same user, password, database). */
  via(url: string): string;
  /** SIGTERM and wait for exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts `DATABASE_URL=<upstream> node dist/src/cli.js --listen 127.0.0.1:<free> --http-listen
 * 127.0.0.1:<free>` and waits until /healthz answers and the client port accepts connections.
 * Call buildProxy() first. Stopped at cleanup if still running.
 */
export async function startProxyProcess(options: ProxyProcessOptions): Promise<ProxyProcess> {
  if (!existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} is missing: run npm run build first`);
  const host = '127.0.0.1';
  const port = await freePort();
  let httpPort = await freePort();
  while (httpPort === port) httpPort = await freePort();
  const args = [
    ...(options.nodeArgs ?? []),
    CLI_ENTRY,
    '--listen',
    `${host}:${port}`,
    '--http-listen',
    `${host}:${httpPort}`,
    ...(options.extraArgs ?? []),
  ];
  const limit = options.openFilesLimit;
  const [file, argv] =
    limit === undefined
      ? [process.execPath, args]
      : ['bash', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, ...args]];
  const child = startProcess(file, argv, {
    name: 'docfusiondb',
    cwd: REPO_ROOT,
    // The upstream goes in DATABASE_URL (what --upstream sets) so its password stays out of `ps`.
    env: {
      ...process.env,
      DATABASE_URL: options.upstreamUrl,
      DOCFUSION_LOG_LEVEL: options.logLevel ?? 'warn',
      ...options.env,
    },
  });
  const wait = { timeoutMs: options.startTimeoutMs ?? 30_000, process: child };
  try {
    await waitForHttp(`http://${host}:${httpPort}/healthz`, wait);
    await waitForTcp(host, port, wait);
  } catch (error) {
    await child.stop(2000);
    throw error;
  }
  return {
    host,
    port,
    httpPort,
    process: child,
    via: (url) => viaHostPort(url, host, port),
    stop: (timeoutMs = 15_000) => child.stop(timeoutMs),
  };
}
