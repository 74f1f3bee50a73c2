/**
 * `npm run fuzz -- --cases N --seed S [--path P] [--batch B] [--concurrency C] [--replay FILE]`
 *
 * The protocol fuzzer (proxy-fuzz.ts) outside vitest: starts its own embedded Postgres (or uses
 * TEST_DATABASE_URL), runs N cases, prints a summary, and on failure a reproducer (seed, path,
 * hex of the inputs, a replay file) and exits 1. On failure it also replays each case of the
 * failing batch alone on fresh proxies, to name the culprit.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startEmbeddedPostgres, type RunningEmbedded } from '../../src/embedded-postgres.js';
import { fromJson, type Materialized } from './fuzz-cases.js';
import {
  FuzzHarness,
  formatFailure,
  formatStats,
  runFuzz,
  writeReplayFile,
  type BatchReport,
} from './proxy-fuzz.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '5000' },
    seed: { type: 'string' },
    path: { type: 'string' },
    batch: { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '8' },
    linger: { type: 'string', default: '2' },
    replay: { type: 'string' },
    'no-record': { type: 'boolean', default: false },
    'no-isolate': { type: 'boolean', default: false },
  },
});

async function main(): Promise<number> {
  let embedded: RunningEmbedded | undefined;
  let dir: string | undefined;
  let url = process.env.TEST_DATABASE_URL ?? '';
  if (url === '') {
    dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-fuzz-'));
    embedded = await startEmbeddedPostgres({
      dataDir: dir,
      port: 0,
      user: 'docfusion',
      password: 'docfusion',
      database: 'docfusion',
      logger: pino({ level: 'warn' }),
    });
    url = embedded.url;
  }
  const harnessOptions = {
    upstreamUrl: url,
    concurrency: Number(values.concurrency),
    lingerWeight: Number(values.linger),
    record: !values['no-record'],
  };
  let harness: FuzzHarness | undefined;
  try {
    harness = await FuzzHarness.start(harnessOptions);
    if (values.replay !== undefined) {
      const file = JSON.parse(await readFile(values.replay, 'utf8')) as { cases: unknown[] };
      const cases = file.cases.map(fromJson);
      await harness.stop();
      harness = undefined;
      return (await isolate(cases, harnessOptions)) ? 1 : 0;
    }
    const cases = Number(values.cases);
    console.log(
      `fuzzing ${cases} cases against ${url.replace(/:[^:@/]*@/, ':***@')} (corpus ${harness.corpus.length} scripts)`,
    );
    let lastPrint = Date.now();
    const report = await runFuzz(harness, {
      cases,
      batchSize: Number(values.batch),
      ...(values.seed === undefined ? {} : { seed: Number(values.seed) }),
      ...(values.path === undefined ? {} : { path: values.path }),
      onBatch: (done, total) => {
        if (Date.now() - lastPrint > 10_000) {
          lastPrint = Date.now();
          console.log(`  ${done}/${total} batches`);
        }
      },
    });
    console.log(formatStats(report));
    console.log(
      `time (ms): ${JSON.stringify(harness.timing)}, max event-loop stall ${harness.maxLoopDelayMs} ms`,
    );
    if (!report.failed) return 0;
    const file = await writeReplayFile(report);
    console.log(formatFailure(report, file));
    if (!values['no-isolate'] && report.failure) {
      await harness.stop();
      harness = undefined;
      await isolate(report.failure.cases, harnessOptions);
    }
    return 1;
  } finally {
    await harness?.stop();
    await embedded?.stop('immediate');
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

/** Run the cases together, then each alone, every time on fresh proxies; print which fail. */
async function isolate(cases: readonly Materialized[], options: HarnessOptions): Promise<boolean> {
  const runs: [string, readonly Materialized[]][] = [['together', cases]];
  if (cases.length > 1) {
    for (const [i, c] of cases.entries())
      runs.push([`case ${i} alone (${c.target} ${c.name})`, [c]]);
  }
  let failed = false;
  for (const [title, batch] of runs) {
    const fresh = await FuzzHarness.start({ ...options, record: false });
    try {
      const report = await fresh.runBatch(batch);
      printBatch(title, report);
      failed ||= report.failures.length > 0;
    } finally {
      await fresh.stop();
    }
  }
  return failed;
}

type HarnessOptions = Parameters<typeof FuzzHarness.start>[0];

function printBatch(title: string, report: BatchReport): void {
  if (report.failures.length === 0) {
    console.log(`${title}: ok`);
    return;
  }
  console.log(`${title}: FAILED`);
  for (const f of report.failures)
    console.log(`  - ${f.index >= 0 ? `case ${f.index}` : 'batch'}: ${f.message}`);
}

main().then(
  (code) => {
    process.exit(code);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
