import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { RowBatch } from '../../../planner/row-batch.js';
import * as be from '../../../protocol/backend-encoders.js';

/** DataRow bodies (after the type byte and length) as the executor keeps them. */
function bodies(rows: readonly (readonly (string | null)[])[]): Buffer[] {
  return rows.map((row) => Buffer.from(be.dataRow([...row]).subarray(5)));
}

const value = fc.option(
  fc.oneof(
    fc.constant(''),
    fc.string({ maxLength: 8 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ minLength: 33, maxLength: 200 }),
  ),
  { nil: null },
);

describe('RowBatch', () => {
  test('columns as Utf8 vectors, strings and raw bytes equal what the rows carried', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 4 })
          .chain((width) =>
            fc.array(fc.array(value, { minLength: width, maxLength: width }), { maxLength: 60 }),
          ),
        (rows) => {
          const width = rows[0]?.length ?? 1;
          const batch = new RowBatch(bodies(rows), width);
          expect(batch.length).toBe(rows.length);
          for (let c = 0; c < width; c++) {
            const want = rows.map((row) => row[c] ?? null);
            const vector = batch.vector(c);
            expect(vector.length).toBe(rows.length);
            expect(vector.nullCount).toBe(want.filter((v) => v === null).length);
            expect(batch.textColumn(c)).toEqual(want);
            expect(rows.map((_, r) => batch.raw(r, c)?.toString('utf8') ?? null)).toEqual(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a column past the ones a row carries reads as empty, not as another column', () => {
    const batch = new RowBatch(bodies([['a'], ['b', 'c']]), 2);
    expect(batch.textColumn(0)).toEqual(['a', 'b']);
    expect(batch.textColumn(1)).toEqual(['', 'c']);
  });
});
