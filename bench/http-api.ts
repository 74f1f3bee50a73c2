/**
 * The HTTP API against node-postgres on the same machine in the same run: single-document
 * insert and get (latency), bulk insert and NDJSON import (documents/s of ~1 KB), and /v1/query.
 * Targets (issue 7): import ≥ 50k documents/s; single-document operations within 1.5× of direct
 * node-postgres latency. The proxy runs in this process (as the tests start it).
 *
 * Two floors are measured in the same run, so a missed target can be read against them: the
 * HTTP round trip alone (GET /healthz: Node's HTTP client and server, no auth, no Postgres)
 * beside node-postgres's `SELECT 1`, and direct COPY with as many parallel streams as the
 * import uses (api.import_parallel) — what Postgres itself takes on this machine.
 *
 *   npm run bench:http -- [--ops 2000] [--import-docs 100000] [--rounds 3]
 *
 * A benchmark, not a test: it exits 0 when a target is missed (and says MISSED).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import pino from 'pino';
import { defaultConfig } from '../src/config.js';
import type { DocFusionConfig } from '../src/config-types.js';
import { hashApiKey } from '../src/http-api/auth.js';
import { startDocFusion } from '../src/run.js';
import { DocFusionClient } from '../sdk/client.js';
import { parseFlags, usage, UsageError } from './lib/args.js';
import { errorMessage, onCleanup, runBench } from './lib/cleanup.js';
import { writeResult } from './lib/results.js';
import { median } from './lib/stats.js';
import { formatNumber, markdownTable, textTable, type Column, type Row } from './lib/table.js';
import { startUpstream } from './lib/upstream.js';

const FLAGS = {
  ops: { default: 2000, min: 10, help: 'single-document operations per round and target' },
  'import-docs': { default: 100_000, min: 1000, help: 'documents per import round' },
  rounds: { default: 3, min: 1, help: 'rounds (the median is reported)' },
};
const IMPORT_TARGET = 50_000;
const LATENCY_TARGET = 1.5;
const KEY = 'bench-key-0123456789abcdef0123456789abcdef';
const PADDING = 'p'.repeat(1000);

function doc(i: number): Record<string, unknown> {
  return { i, kind: i % 7 === 0 ? 'seven' : 'other', tags: ['a', 'b'], padding: PADDING };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * ms per operation of each side, measured in alternating slices of 50 operations, so that a
 * burst of other work on the machine (autovacuum, another benchmark) falls on both sides alike.
 */
async function interleaved(
  ops: number,
  http: (i: number) => Promise<void>,
  pg: (i: number) => Promise<void>,
): Promise<{ http: number; pg: number }> {
  let httpMs = 0;
  let pgMs = 0;
  for (let from = 0; from < ops; from += 50) {
    const to = Math.min(ops, from + 50);
    httpMs += await timed(async () => {
      for (let i = from; i < to; i++) await http(i);
    });
    pgMs += await timed(async () => {
      for (let i = from; i < to; i++) await pg(i);
    });
  }
  return { http: httpMs / ops, pg: pgMs / ops };
}

async function quiesce(client: pg.Client): Promise<void> {
  await client.query('VACUUM ANALYZE bench_docs, bench_import');
  // Needs a superuser (the embedded cluster's is); skipped on an upstream without one.
  await client.query('CHECKPOINT').catch(() => undefined);
}

async function main(): Promise<number> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2), FLAGS);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(
        `${error.message}\n${usage('npm run bench:http --', 'HTTP API vs node-postgres', FLAGS)}`,
      );
      return 2;
    }
    throw error;
  }
  if (flags === undefined) {
    process.stdout.write(usage('npm run bench:http --', 'HTTP API vs node-postgres', FLAGS));
    return 0;
  }
  const upstream = await startUpstream();
  onCleanup('upstream', () => upstream.stop());
  const base = defaultConfig();
  const config: DocFusionConfig = {
    ...base,
    upstream: upstream.url,
    listen: { host: '127.0.0.1', port: 0 },
    http: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
    api: {
      ...base.api,
      rateLimit: { max: 1_000_000_000, windowMs: 60_000 },
      bodyLimit: 8 * 1024 * 1024,
      keys: [
        { name: 'bench', hash: hashApiKey(KEY), role: 'admin', collections: null, rateLimit: null },
      ],
    },
    log: { ...base.log, level: 'warn' },
  };
  const running = await startDocFusion(config, pino({ level: 'warn' }));
  onCleanup('proxy', () => running.stop(1000));
  const http = new DocFusionClient({
    baseUrl: `http://127.0.0.1:${running.http?.address().port ?? 0}`,
    token: KEY,
  });
  onCleanup('sdk', () => http.close());
  const direct = new pg.Client({ connectionString: upstream.url });
  await direct.connect();
  onCleanup('client', () => direct.end());
  const streams = config.api.importParallel;
  const copyClients = [direct];
  for (let i = 1; i < streams; i++) {
    const extra = new pg.Client({ connectionString: upstream.url });
    await extra.connect();
    onCleanup(`copy client ${String(i)}`, () => extra.end());
    copyClients.push(extra);
  }
  await http.createCollection('bench_docs');
  await http.createCollection('bench_import');

  const results = new Map<string, { http: number[]; pg: number[] }>();
  const record = (name: string, target: 'http' | 'pg', value: number): void => {
    const entry = results.get(name) ?? { http: [], pg: [] };
    entry[target].push(value);
    results.set(name, entry);
  };
  const floorName = 'floor: GET /healthz | SELECT 1 (ms/op)';
  const copyName = `floor: COPY, ${String(streams)} streams (docs/s)`;
  // Warm-up, not recorded: the HTTP path (Fastify, undici, the API) has far more code for the
  // JIT to compile than node-postgres, and a cold first round would count that against it.
  const warm: number[] = [];
  for (let i = 0; i < 1000; i++) {
    warm.push((await http.insert('bench_docs', doc(i))).id);
    await direct.query('INSERT INTO bench_docs (doc) VALUES ($1::jsonb) RETURNING id', [
      JSON.stringify(doc(i)),
    ]);
  }
  for (const id of warm) {
    await http.get('bench_docs', id);
    await (await http.send('GET', '/healthz')).text();
    await direct.query('SELECT doc FROM bench_docs WHERE id = $1', [id]);
  }
  for (let round = 0; round < flags.rounds; round++) {
    // Start each round quiet: without this, autovacuum (the GIN pending list of the imported
    // documents) and checkpoints of the previous round's imports run during the next round's
    // single-document loops and take CPU from both sides, the HTTP side (more CPU) the most.
    await quiesce(direct);
    const ids: number[] = [];
    const insert = await interleaved(
      flags.ops,
      async (i) => {
        ids.push((await http.insert('bench_docs', doc(i))).id);
      },
      async (i) => {
        await direct.query(
          'INSERT INTO bench_docs (doc) VALUES ($1::jsonb) RETURNING id, version, created_at, updated_at, doc',
          [JSON.stringify(doc(i))],
        );
      },
    );
    record('insert one (ms/op)', 'http', insert.http);
    record('insert one (ms/op)', 'pg', insert.pg);
    const get = await interleaved(
      flags.ops,
      async (i) => {
        await http.get('bench_docs', ids[i] ?? 1);
      },
      async (i) => {
        await direct.query(
          'SELECT id, version, created_at, updated_at, doc FROM bench_docs WHERE id = $1',
          [ids[i] ?? 1],
        );
      },
    );
    record('get one (ms/op)', 'http', get.http);
    record('get one (ms/op)', 'pg', get.pg);
    const floor = await interleaved(
      flags.ops,
      async () => {
        await (await http.send('GET', '/healthz')).text();
      },
      async () => {
        await direct.query('SELECT 1');
      },
    );
    record(floorName, 'http', floor.http);
    record(floorName, 'pg', floor.pg);
    const batch = Array.from({ length: 1000 }, (_, i) => doc(i));
    record(
      'bulk insert (docs/s)',
      'http',
      (10 * 1000) /
        ((await timed(async () => {
          for (let b = 0; b < 10; b++) await http.bulkInsert('bench_docs', batch);
        })) /
          1000),
    );
    record(
      'bulk insert (docs/s)',
      'pg',
      (10 * 1000) /
        ((await timed(async () => {
          for (let b = 0; b < 10; b++) {
            await direct.query(
              'INSERT INTO bench_docs (doc) SELECT value FROM jsonb_array_elements($1::jsonb)',
              [JSON.stringify(batch)],
            );
          }
        })) /
          1000),
    );
    const docs = flags['import-docs'];
    async function* ndjson(from = 0, to = docs): AsyncGenerator<Uint8Array> {
      for (let start = from; start < to; start += 5000) {
        const lines: string[] = [];
        for (let i = start; i < Math.min(to, start + 5000); i++) lines.push(JSON.stringify(doc(i)));
        yield Buffer.from(`${lines.join('\n')}\n`);
        await Promise.resolve();
      }
    }
    record(
      'import NDJSON (docs/s)',
      'http',
      docs /
        ((await timed(async () => {
          const result = await http.import('bench_import', ndjson());
          if (result.inserted !== docs) throw new Error(`import inserted ${result.inserted}`);
        })) /
          1000),
    );
    record(
      'import NDJSON (docs/s)',
      'pg',
      docs /
        ((await timed(async () => {
          // node-postgres with pg-copy-streams: COPY of the same documents, no validation.
          const copy = direct.query(copyFrom('COPY bench_import (doc) FROM STDIN'));
          await pipeline(Readable.from(ndjson()), copy);
        })) /
          1000),
    );
    record(
      copyName,
      'pg',
      docs /
        ((await timed(async () => {
          // The same documents split over `streams` connections, one COPY each, side by side.
          await Promise.all(
            copyClients.map((client, i) =>
              pipeline(
                Readable.from(
                  ndjson(Math.floor((docs * i) / streams), Math.floor((docs * (i + 1)) / streams)),
                ),
                client.query(copyFrom('COPY bench_import (doc) FROM STDIN')),
              ),
            ),
          );
        })) /
          1000),
    );
    record(
      'query with contains (ms/op)',
      'http',
      (await timed(async () => {
        for (let i = 0; i < 200; i++)
          await http.query(`SELECT count(*) FROM bench_docs WHERE doc @> $1::jsonb`, [
            { kind: 'seven' },
          ]);
      })) / 200,
    );
    record(
      'query with contains (ms/op)',
      'pg',
      (await timed(async () => {
        for (let i = 0; i < 200; i++)
          await direct.query(`SELECT count(*) FROM bench_docs WHERE doc @> $1::jsonb`, [
            JSON.stringify({ kind: 'seven' }),
          ]);
      })) / 200,
    );
  }

  const columns: Column[] = [
    { header: 'operation' },
    { header: 'HTTP API', align: 'right' },
    { header: 'node-postgres', align: 'right' },
    { header: 'ratio', align: 'right' },
    { header: 'target' },
  ];
  const rows: Row[] = [];
  for (const [name, entry] of results) {
    const h = entry.http.length > 0 ? median(entry.http) : Number.NaN;
    const p = entry.pg.length > 0 ? median(entry.pg) : Number.NaN;
    const latency = name.includes('ms/op');
    const ratio = latency ? h / p : p / h;
    let target = '';
    if (name.startsWith('insert one') || name.startsWith('get one')) {
      target =
        ratio <= LATENCY_TARGET ? `met (≤ ${LATENCY_TARGET}×)` : `MISSED (≤ ${LATENCY_TARGET}×)`;
    } else if (name.startsWith('import')) {
      target = h >= IMPORT_TARGET ? `met (≥ ${IMPORT_TARGET})` : `MISSED (≥ ${IMPORT_TARGET})`;
    } else if (name === copyName) {
      target = `Postgres alone; ≥ ${IMPORT_TARGET}: ${p >= IMPORT_TARGET ? 'reachable' : 'out of reach'}`;
    }
    const digits = latency ? 3 : 0;
    rows.push([
      name,
      Number.isNaN(h) ? '—' : formatNumber(h, digits),
      Number.isNaN(p) ? '—' : formatNumber(p, digits),
      Number.isNaN(ratio) ? '—' : `${ratio.toFixed(2)}×`,
      target,
    ]);
  }
  const floor = results.get(floorName);
  const get = results.get('get one (ms/op)');
  const best =
    floor && get
      ? `The HTTP round trip alone takes ${formatNumber(median(floor.http), 3)} ms, so the best a get can do is node-postgres's ${formatNumber(median(get.pg), 3)} ms plus that: ${((median(get.pg) + median(floor.http)) / median(get.pg)).toFixed(2)}× (target ${String(LATENCY_TARGET)}×).\n`
      : '';
  process.stdout.write(`${textTable(columns, rows)}${best}`);
  const file = await writeResult(
    'http-api',
    `# HTTP API vs node-postgres\n\nUpstream: ${upstream.source}. ${flags.rounds} rounds, medians; ratio = HTTP cost / node-postgres cost. Documents of ~1 KB. Rows marked "floor" measure what the API cannot go below on this machine.\n\n${markdownTable(columns, rows)}\n${best}`,
  );
  process.stdout.write(`written to ${file}\n`);
  return 0;
}

runBench(async () => {
  try {
    return await main();
  } catch (error) {
    process.stderr.write(`bench:http failed: ${errorMessage(error)}\n`);
    return 1;
  }
});
