import { Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DocFusionFunction, Value } from '../../../udf/function.js';
import { evaluateKernel, vectorValue } from '../../../udf/kernel.js';
import { registerAll } from '../../../udf/registry.js';
import {
  EDGE_NUMBERS,
  derivedPath,
  derivedPattern,
  documentJson,
  json,
  render,
} from './support/json-arbitraries.js';
import { connectOracle } from './support/oracle.js';

/**
 * ReadySet-style: for every function with a pushdown, the Arrow kernel (and the scalar with
 * constant arguments) must give exactly what Postgres gives running the pushdown SQL on the
 * same documents and keys: missing keys, array indexes in every spelling, JSON nulls, SQL
 * NULL documents and keys, numbers vs numeric strings, unicode.
 */
let client: pg.Client;

beforeAll(async () => {
  client = await connectOracle();
});

afterAll(async () => {
  await client.end();
});

const RUNS = { numRuns: Number(process.env.UDF_PROPERTY_RUNS ?? 6) };
const functions = registerAll();
const pathFunctions = [...functions.values()].filter((fn) => fn.variadic === 'key');
const pairFunctions = ['json_contains', 'json_multi_contains'].map((name) => functions.get(name));

/** One row: argument values (null = SQL NULL). */
type Row = readonly (string | null)[];

function textVector(values: readonly (string | null)[]): Vector {
  return vectorFromArray(values, new Utf8());
}

/** The kernel over vectors, and the scalar bound with every argument constant. */
function evaluate(
  fn: DocFusionFunction,
  rows: readonly Row[],
  width: number,
): { kernel: Value[]; scalar: Value[] } {
  const columns = Array.from({ length: width }, (_, i) =>
    textVector(rows.map((row) => row[i] ?? null)),
  );
  const vector = evaluateKernel(
    fn,
    fn.bind(columns.map(() => undefined)),
    columns.map((column) => ({ kind: 'vector', vector: column }) as const),
    rows.length,
  );
  const kernel = rows.map((_, i) => vectorValue(vector, i));
  const scalar = rows.map((row) => fn.bind(row)(row));
  return { kernel, scalar };
}

/** Postgres running each function's pushdown over the rows, one query for all functions. */
async function postgres(
  fns: readonly DocFusionFunction[],
  rows: readonly Row[],
  width: number,
): Promise<Value[][]> {
  const columns = Array.from({ length: width }, (_, i) => `c${i}`);
  const sqlArgs = columns.map((column, i) =>
    i === 0 || (i === 1 && !fns[0]?.variadic) ? `(t.${column})::jsonb` : `t.${column}`,
  );
  const select = fns
    .map((fn, i) => `${fn.pushdown?.(sqlArgs) ?? 'NULL'} AS r${i}`)
    .join(',\n       ');
  const arrays = columns.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const sql = `SELECT ${select}\n  FROM unnest(${arrays}) WITH ORDINALITY AS t(${columns.join(', ')}, n) ORDER BY n`;
  const params = columns.map((_, i) => rows.map((row) => row[i] ?? null));
  const result = await client.query<Record<string, Value>>(sql, params);
  return result.rows.map((row) => fns.map((_, i) => row[`r${i}`] ?? null));
}

/** A document with a path into it; sometimes SQL NULL in place of the document or a key. */
const pathCase = documentJson.chain((doc) =>
  fc.tuple(derivedPath(doc), fc.nat({ max: 19 })).map(([path, nulls]): Row => {
    const row: (string | null)[] = [render(doc), ...path];
    if (nulls === 0) row[0] = null;
    else if (nulls === 1 && row.length > 1) row[row.length - 1] = null;
    return row;
  }),
);

describe('each function against its pushdown SQL on Postgres', () => {
  it('path helpers: json_extract_path, json_exists, json_typeof, json_array_length, json_get_*, json_keys', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(pathCase, { minLength: 60, maxLength: 100 }), async (cases) => {
        for (let keys = 0; keys <= 3; keys++) {
          const rows = cases.filter((row) => row.length === keys + 1);
          if (rows.length === 0) continue;
          const fns = pathFunctions.filter((fn) => keys + 1 >= fn.minArgs);
          const expected = await postgres(fns, rows, keys + 1);
          fns.forEach((fn, f) => {
            const want = expected.map((row) => row[f] ?? null);
            const { kernel, scalar } = evaluate(fn, rows, keys + 1);
            expect({ fn: fn.name, rows, result: kernel }).toEqual({
              fn: fn.name,
              rows,
              result: want,
            });
            expect({ fn: fn.name, rows, result: scalar }).toEqual({
              fn: fn.name,
              rows,
              result: want,
            });
          });
        }
      }),
      RUNS,
    );
  });

  it('path helpers on every edge number and value kind, at the top and under a key', async () => {
    const values = [
      ...EDGE_NUMBERS,
      '"1"',
      '"1.5"',
      '"true"',
      'true',
      'false',
      'null',
      '[]',
      '[1, "a", null]',
      '{}',
      '{"b": 1, "a": 2, "aa": 3}',
      '"\\u00e9\\ud83d\\ude00"',
    ];
    const rows: Row[] = [...values.map((v) => [v]), ...values.map((v) => [`{"k": ${v}}`, 'k'])];
    for (const width of [1, 2]) {
      const group = rows.filter((row) => row.length === width);
      const fns = pathFunctions.filter((fn) => width >= fn.minArgs);
      const expected = await postgres(fns, group, width);
      fns.forEach((fn, f) => {
        const want = expected.map((row) => row[f] ?? null);
        const { kernel, scalar } = evaluate(fn, group, width);
        expect({ fn: fn.name, result: kernel }).toEqual({ fn: fn.name, result: want });
        expect({ fn: fn.name, result: scalar }).toEqual({ fn: fn.name, result: want });
      });
    }
  });

  it('json_contains and json_multi_contains on object patterns', async () => {
    const objectPattern = json.filter((pattern) => pattern.kind === 'object');
    const pairCase = documentJson.chain((doc) =>
      fc
        .tuple(
          fc.oneof(
            derivedPattern(doc).filter((p) => p.kind === 'object'),
            objectPattern,
          ),
          fc.nat({ max: 19 }),
        )
        .map(([pattern, nulls]): Row => [
          nulls === 0 ? null : render(doc),
          nulls === 1 ? null : render(pattern),
        ]),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pairCase, { minLength: 60, maxLength: 100 }), async (rows) => {
        const fns = pairFunctions.filter((fn) => fn !== undefined);
        const expected = await postgres(fns, rows, 2);
        fns.forEach((fn, f) => {
          const want = expected.map((row) => row[f] ?? null);
          const { kernel, scalar } = evaluate(fn, rows, 2);
          expect({ fn: fn.name, rows, result: kernel }).toEqual({
            fn: fn.name,
            rows,
            result: want,
          });
          expect({ fn: fn.name, rows, result: scalar }).toEqual({
            fn: fn.name,
            rows,
            result: want,
          });
        });
      }),
      RUNS,
    );
  });

  it('json_contains with any pattern, including scalars and arrays at the top level', async () => {
    const fn = functions.get('json_contains');
    if (fn === undefined) throw new Error('json_contains is not registered');
    const pairCase = documentJson.chain((doc) =>
      derivedPattern(doc).map((pattern): Row => [render(doc), render(pattern)]),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pairCase, { minLength: 60, maxLength: 100 }), async (rows) => {
        const expected = (await postgres([fn], rows, 2)).map((row) => row[0] ?? null);
        expect(evaluate(fn, rows, 2).kernel).toEqual(expected);
      }),
      RUNS,
    );
  });
});
