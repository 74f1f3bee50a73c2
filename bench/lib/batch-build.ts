import { makeBuilder, Utf8 } from 'apache-arrow';
import { RowBatch } from '../../planner/row-batch.js';
import * as be from '../../protocol/backend-encoders.js';

/**
 * In-process micro-benchmark of batch building: the planner's RowBatch (planner/row-batch.ts)
 * turning DataRow bodies as they come from Postgres into Arrow Utf8 vectors (offsets, one data
 * buffer and a validity bitmap through `makeData`), for narrow rows of two short text columns,
 * in batches of the residual executor's size. Beside it, for information, the variants around
 * it and the per-row Arrow builder the design notes measured against.
 */

export const BATCH_ROWS = 1024;

export interface BatchVariant {
  readonly key: string;
  readonly title: string;
  /** The figure the target applies to. */
  readonly gated: boolean;
  /** Processes one batch; returns something derived from the result (kept, so work is not skipped). */
  run(bodies: readonly Buffer[]): number;
}

/** `count` batches of narrow DataRow bodies: ("user<n>", one of four statuses), some NULLs. */
export function narrowBatches(count: number): Buffer[][] {
  const statuses = ['active', 'inactive', 'pending', 'banned'];
  const batches: Buffer[][] = [];
  let n = 0;
  for (let b = 0; b < count; b++) {
    const rows: Buffer[] = [];
    for (let r = 0; r < BATCH_ROWS; r++, n++) {
      const frame = be.dataRow([`user${String(n)}`, n % 97 === 0 ? null : (statuses[n % 4] ?? '')]);
      // The body after the type byte and length, copied out as the executor keeps it.
      rows.push(Buffer.from(frame.subarray(5)));
    }
    batches.push(rows);
  }
  return batches;
}

export const BATCH_VARIANTS: readonly BatchVariant[] = [
  {
    key: 'vectors',
    title: 'RowBatch: column offsets + 2 Utf8 vectors (makeData)',
    gated: true,
    run(bodies) {
      const batch = new RowBatch(bodies, 2);
      return batch.vector(0).length + batch.vector(1).nullCount;
    },
  },
  {
    key: 'offsets',
    title: 'RowBatch: column offsets only',
    gated: false,
    run(bodies) {
      return new RowBatch(bodies, 2).length;
    },
  },
  {
    key: 'copy-vectors',
    title: 'executor path: copy each body (Buffer.from) + RowBatch + 2 vectors',
    gated: false,
    run(bodies) {
      const copies = bodies.map((body) => Buffer.from(body));
      const batch = new RowBatch(copies, 2);
      return batch.vector(0).length + batch.vector(1).nullCount;
    },
  },
  {
    key: 'strings',
    title: 'RowBatch + textColumn() of both columns (JS strings, as the executor reads them)',
    gated: false,
    run(bodies) {
      const batch = new RowBatch(bodies, 2);
      return batch.textColumn(0).length + batch.textColumn(1).length;
    },
  },
  {
    key: 'builder',
    title: 'reference: apache-arrow Builder, one append per value (Utf8, nullValues)',
    gated: false,
    run(bodies) {
      const a = makeBuilder({ type: new Utf8(), nullValues: [null] });
      const b = makeBuilder({ type: new Utf8(), nullValues: [null] });
      for (const body of bodies) {
        let offset = 2;
        for (const builder of [a, b]) {
          const length = body.readInt32BE(offset);
          offset += 4;
          if (length < 0) builder.append(null);
          else {
            builder.append(body.toString('utf8', offset, offset + length));
            offset += length;
          }
        }
      }
      return a.finish().toVector().length + b.finish().toVector().nullCount;
    },
  },
];

/**
 * Rows per second of `variant` over `batches`, repeated until at least `minMs` have passed.
 * Synchronous: nothing else runs on this event loop meanwhile.
 */
export function measureBatchVariant(
  variant: BatchVariant,
  batches: readonly (readonly Buffer[])[],
  minMs: number,
): { rowsPerSecond: number; sink: number } {
  let rows = 0;
  let sink = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    for (const bodies of batches) {
      sink += variant.run(bodies);
      rows += bodies.length;
    }
    elapsed = performance.now() - started;
  } while (elapsed < minMs);
  return { rowsPerSecond: (rows / elapsed) * 1000, sink };
}
