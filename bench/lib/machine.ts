import os from 'node:os';
import pg from 'pg';

/** Facts about the machine and software a benchmark ran on, printed beside every result table. */

export type InfoEntry = readonly [string, string];

/** The 1/5/15-minute load averages, e.g. "1.20 / 0.80 / 0.50". */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

/**
 * CPU, cores, memory, OS, Node, the current load average and the date; `extra` entries are
 * appended. Call it before measuring, so the load average shows what else was running.
 */
export function machineInfo(extra: readonly InfoEntry[] = []): InfoEntry[] {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown';
  return [
    ['date', new Date().toISOString()],
    ['cpu', model],
    ['cores', `${os.availableParallelism()} available (${cpus.length} online)`],
    ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['os', `${os.type()} ${os.release()} (${os.arch()})`],
    ['node', process.version],
    ['load average (1/5/15 min)', loadAverage()],
    ...extra,
  ];
}

/** The server's version (`SHOW server_version`) of the Postgres at `url`. */
export async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}
