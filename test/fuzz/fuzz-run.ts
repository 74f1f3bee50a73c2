/**
 * The fuzzer's property and its report: batches of cases under fast-check (seeded, with a path
 * to replay one batch), then a summary, and for a failure a reproducer — seed, path, what went
 * wrong, the hex of every implicated input — and a replay file with the exact inputs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { toJson } from './fuzz-cases.js';
import type { BatchReport, FuzzHarness } from './proxy-fuzz.js';

export interface FuzzRunOptions {
  readonly cases: number;
  readonly seed?: number;
  /** fast-check path of one batch to replay. */
  readonly path?: string;
  /** Cases per batch (per fast-check run). Default 16. */
  readonly batchSize?: number;
  /** Stop (without failing) after this long; the report says how many cases ran. */
  readonly timeLimitMs?: number;
  /** Called after each batch. */
  readonly onBatch?: (done: number, total: number) => void;
}

export interface FuzzRunReport {
  readonly seed: number;
  readonly path: string | undefined;
  readonly casesRun: number;
  readonly failed: boolean;
  readonly failure: BatchReport | undefined;
  readonly elapsedMs: number;
  readonly corpusSize: number;
  readonly stats: ReadonlyMap<string, number>;
}

export async function runFuzz(h: FuzzHarness, options: FuzzRunOptions): Promise<FuzzRunReport> {
  const batchSize = options.batchSize ?? 16;
  const numRuns = Math.max(1, Math.ceil(options.cases / batchSize));
  const started = Date.now();
  const before = h.casesRun;
  let failure: BatchReport | undefined;
  let batches = 0;
  const details = await fc.check(
    fc.asyncProperty(h.batchArb(batchSize), async (batch) => {
      const report = await h.runBatch(batch.map((c) => h.materialize(c)));
      options.onBatch?.(++batches, numRuns);
      if (report.failures.length > 0) {
        failure = report;
        return false;
      }
      return true;
    }),
    {
      numRuns,
      endOnFailure: true,
      ...(options.timeLimitMs === undefined
        ? {}
        : {
            plugins: [fc.interruptAfterTimeLimit(options.timeLimitMs, { failOnInterrupt: false })],
          }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.path === undefined ? {} : { path: options.path }),
    },
  );
  if (details.failed && failure === undefined) {
    const error = details.errorInstance;
    const message = error instanceof Error ? (error.stack ?? error.message) : JSON.stringify(error);
    failure = { cases: [], results: [], failures: [{ index: -1, message }] };
  }
  return {
    seed: details.seed,
    path: details.counterexamplePath ?? undefined,
    casesRun: h.casesRun - before,
    failed: details.failed,
    failure,
    elapsedMs: Date.now() - started,
    corpusSize: h.corpus.length,
    stats: h.stats,
  };
}

const HEX_LIMIT = 8192;

/** A reproducer: seed and path, the failures, and the hex of each implicated input. */
export function formatFailure(report: FuzzRunReport, replayFile?: string): string {
  const lines = [
    `FUZZ FAILURE: seed ${report.seed}, path ${report.path ?? '?'} (after ${report.casesRun} cases)`,
    `  replay the batch: npm run fuzz -- --seed ${report.seed} --path ${report.path ?? '?'}`,
  ];
  if (replayFile) lines.push(`  replay the exact inputs: npm run fuzz -- --replay ${replayFile}`);
  const failure = report.failure;
  if (!failure) return lines.join('\n');
  const firstFailureLine = lines.length;
  for (const f of failure.failures) {
    const c = f.index >= 0 ? failure.cases[f.index] : undefined;
    lines.push(
      `  - ${c ? `case ${f.index} [${c.target}] ${c.name} (ending ${c.ending})` : 'batch'}: ${f.message}`,
    );
  }
  const failureLines = lines.slice(firstFailureLine);
  const implicated = new Set(failure.failures.map((f) => f.index));
  for (const [i, c] of failure.cases.entries()) {
    if (!implicated.has(i) && !implicated.has(-1)) continue;
    const sent = failure.results[i]?.sent ?? Buffer.alloc(0);
    const notes = failure.results[i]?.notes.join(' ') ?? '';
    const hex = sent.toString('hex');
    lines.push(
      `  case ${i} [${c.target}] ${c.name}, chunking ${JSON.stringify(c.chunking)}, ending ${c.ending}, byte edits ${JSON.stringify(c.bytes.map((b) => ({ ...b, ...(b.op === 'insert' ? { bytes: b.bytes.toString('hex') } : {}) })))}`,
      `    outcome: ${notes || '-'}`,
      `    sent ${sent.length} bytes: ${hex.length > HEX_LIMIT ? `${hex.slice(0, HEX_LIMIT)}… (truncated; full input in the replay file)` : hex}`,
    );
  }
  // Again at the end: a log cut to its tail (CI) still shows what failed.
  lines.push('what failed (as above):', ...failureLines);
  return lines.join('\n');
}

/** Write the failing batch's exact inputs (materialized cases) for `npm run fuzz -- --replay`. */
export async function writeReplayFile(
  report: FuzzRunReport,
  dir = '.tmp/fuzz-failures',
): Promise<string | undefined> {
  if (!report.failure) return undefined;
  await mkdir(dir, { recursive: true });
  const file = path.join(
    dir,
    `seed-${report.seed}-path-${(report.path ?? 'x').replaceAll(':', '_')}.json`,
  );
  await writeFile(
    file,
    JSON.stringify(
      {
        seed: report.seed,
        path: report.path,
        failures: report.failure.failures,
        cases: report.failure.cases.map(toJson),
        sentHex: report.failure.results.map((r) => r?.sent.toString('hex') ?? null),
      },
      null,
      1,
    ),
  );
  return file;
}

export function formatStats(report: FuzzRunReport): string {
  const entries = [...report.stats.entries()].sort((a, b) => b[1] - a[1]);
  // The most frequent outcomes, plus every linger and stall count.
  const shown = entries.filter(([k], i) => i < 16 || /^(linger|stalled|startup-timeout)/.test(k));
  const seconds = (report.elapsedMs / 1000).toFixed(1);
  return `${report.casesRun} cases in ${seconds} s (seed ${report.seed}, corpus ${report.corpusSize} scripts); outcomes: ${shown
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`;
}
