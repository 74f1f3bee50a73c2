import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDecimal } from '../../../planner/decimal-sum.js';
import { orderOf } from '../../../planner/value-order.js';
import { OID } from '../../../planner/wire-values.js';
import { json, numberLexeme, render } from '../udf/support/json-arbitraries.js';
import { connectOracle } from '../udf/support/oracle.js';

/**
 * Postgres is the oracle for the orders the proxy sorts, compares, groups and de-duplicates by
 * (planner/value-order.ts): random values go to the server in one query per run, sorted by
 * `ORDER BY x::type, n` and compared pairwise with `<` and `=`.
 */
let client: pg.Client;

beforeAll(async () => {
  client = await connectOracle();
  // The proxy compares strings by code point (the C collation; docs/planner.md).
  const { rows } = await client.query<{ collate: string }>(
    'SELECT datcollate AS collate FROM pg_database WHERE datname = current_database()',
  );
  expect(rows[0]?.collate).toMatch(/^(C|POSIX|C\.UTF-?8)$/i);
});

afterAll(async () => {
  await client.end();
});

const RUNS = { numRuns: Number(process.env.UDF_PROPERTY_RUNS ?? 6) };

/** Small values collide often, so ties and near-ties (1 vs 1.0, [] vs 1) are exercised. */
const small = fc.constantFrom(
  '1',
  '1.0',
  '[]',
  '[1]',
  '[1.00]',
  '{}',
  '{"v": 1}',
  '{"v": 1.0}',
  '{"a": 1, "b": 2}',
  '{"b": 1, "aa": 2}',
  '"a"',
  '""',
  'null',
  'true',
  'false',
  '[null]',
  '[[]]',
  '[{}]',
  '-0',
  '2',
);
const jsonText = fc.oneof(json.map(render), small);

interface Verdicts {
  readonly order: number[];
  readonly less: boolean[];
  readonly equal: boolean[];
}

/** Postgres's order of `values` as `type` (ties by position), and `<`/`=` of neighbours. */
async function postgresVerdicts(values: readonly string[], type: string): Promise<Verdicts> {
  const sorted = await client.query<{ n: string }>(
    `SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY x::${type}, n`,
    [values],
  );
  const pairs = await client.query<{ less: boolean; equal: boolean }>(
    `SELECT a::${type} < b::${type} AS less, a::${type} = b::${type} AS equal
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(a, b, n) ORDER BY n`,
    [values.slice(0, -1), values.slice(1)],
  );
  return {
    order: sorted.rows.map((row) => Number(row.n) - 1),
    less: pairs.rows.map((row) => row.less),
    equal: pairs.rows.map((row) => row.equal),
  };
}

function ourVerdicts(values: readonly string[], oid: number): Verdicts {
  const order = orderOf(oid);
  const prepared = values.map((value) => order.prepare(value));
  const sorted = values
    .map((_, i) => i)
    .sort((a, b) => order.comparePrepared(prepared[a] ?? '', prepared[b] ?? '') || a - b);
  const neighbours = values.slice(0, -1).map((a, i) => [a, values[i + 1] ?? ''] as const);
  return {
    order: sorted,
    less: neighbours.map(([a, b]) => order.compare(a, b) < 0),
    equal: neighbours.map(([a, b]) => order.key(a) === order.key(b)),
  };
}

describe('value orders against Postgres', () => {
  it('orders and equates jsonb as jsonb does (kinds, sizes, storage-order keys, numbers by value)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(jsonText, { minLength: 40, maxLength: 60 }), async (values) => {
        expect(ourVerdicts(values, OID.jsonb)).toEqual(await postgresVerdicts(values, 'jsonb'));
      }),
      RUNS,
    );
  });

  it('orders and equates numeric exactly, NaN and the infinities included', async () => {
    const special = fc.constantFrom('NaN', 'Infinity', '-Infinity', '0.000', '-0', '1.10');
    const long = fc
      .tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 25 }))
      .map(([mantissa, scale]) => formatDecimal(mantissa, scale));
    const numeric = fc.oneof(numberLexeme, special, long);
    await fc.assert(
      fc.asyncProperty(fc.array(numeric, { minLength: 40, maxLength: 60 }), async (values) => {
        expect(ourVerdicts(values, OID.numeric)).toEqual(await postgresVerdicts(values, 'numeric'));
      }),
      RUNS,
    );
  });

  it('equates double precision as float8 does (-0 = 0, NaN = NaN)', async () => {
    const float = fc.oneof(
      fc.constantFrom('0', '-0', 'NaN', 'Infinity', '-Infinity', '1.5', '1.50', '1e300'),
      fc.double({ noDefaultInfinity: true, noNaN: true }).map(String),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(float, { minLength: 40, maxLength: 60 }), async (values) => {
        const numbers = values.map(Number);
        const ours = ourVerdicts(values, OID.float8);
        const theirs = await postgresVerdicts(values, 'float8');
        expect(ours.equal).toEqual(theirs.equal);
        expect(
          numbers
            .slice(0, -1)
            .map((a, i) => orderOf(OID.float8).compare(a, numbers[i + 1] ?? 0) < 0),
        ).toEqual(theirs.less);
      }),
      RUNS,
    );
  });
});
