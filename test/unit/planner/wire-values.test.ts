/**
 * The proxy's own value encoders against Postgres: float8 text output, numeric binary, avg's
 * numeric division scale, text[] and other arrays in text and binary. Postgres is the oracle.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { DecimalSum, divideDecimal, formatDecimal } from '../../../planner/decimal-sum.js';
import {
  encodeBinary,
  encodeText,
  float8Text,
  numericBinary,
  OID,
} from '../../../planner/wire-values.js';

let client: pg.Client;

/** Raw values: text as strings, binary as Buffers. */
const RAW = { getTypeParser: () => (value: unknown) => value } as unknown as pg.CustomTypesConfig;

beforeAll(async () => {
  client = new pg.Client({ connectionString: inject('upstreamUrl') });
  await client.connect();
});

afterAll(async () => {
  await client.end();
});

async function pgText(sql: string, values: unknown[]): Promise<string[]> {
  const result = await client.query({ text: sql, values, rowMode: 'array', types: RAW });
  return result.rows.map((row: unknown[]) => String(row[0]));
}

/** DecimalSum's sum and average of `items` are Postgres's sum(numeric) and avg(numeric). */
async function expectSumAndAverage(items: readonly string[]): Promise<void> {
  const want = await pgText(
    "SELECT concat_ws('|', sum(v)::text, avg(v)::text) FROM unnest($1::numeric[]) AS v",
    [items],
  );
  const sum = new DecimalSum();
  for (const item of items) sum.add(item);
  expect(`${sum.sumText()}|${sum.averageText(BigInt(items.length))}`).toBe(want[0]);
}

/** Postgres's binary send format of each value, via its *_send function (bytea as hex). */
async function pgSend(sql: string, values: unknown[]): Promise<string[]> {
  return pgText(sql, values);
}

describe('float8 text output', () => {
  test('matches float8out for edge values and random doubles', async () => {
    const edges = [
      0,
      -0,
      1,
      -1,
      0.1,
      1e-4,
      1e-5,
      123456789012345,
      1e15,
      1e16,
      1.5e300,
      5e-324,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      2 ** 53,
      1 / 3,
      -2.5e-7,
      Infinity,
      -Infinity,
      NaN,
    ];
    const random = fc.sample(fc.double(), { numRuns: 2000, seed: 20261128 });
    const values = [...edges, ...random];
    const want = await pgText('SELECT v::float8::text FROM unnest($1::float8[]) AS v', [
      values.map((v) =>
        Number.isNaN(v)
          ? 'NaN'
          : v === Infinity
            ? 'Infinity'
            : v === -Infinity
              ? '-Infinity'
              : float8Text(v),
      ),
    ]);
    expect(values.map((v) => float8Text(v))).toEqual(want);
  });

  test('matches float8out at extra_float_digits 0 and below (%.{15 + n}g)', async () => {
    const values = [
      ...[0, -0, 1, 0.1, 1 / 3, 1e-4, 1e-5, 1e15, 1e16, 123456.5, 2 ** 53 + 2, 5e-324],
      ...[Number.MAX_VALUE, -2.5e-7, 99999.95, 0.000123456789, 1e100, NaN, Infinity, -Infinity],
      // Exactly half way at some precision: printf rounds these to even.
      ...[0.5, 1.5, 2.5, -2.5, 12.5, 0.125, 0.375, 1000000000000005, 1000000000000015, 9.5, 99.5],
      ...fc.sample(fc.double(), { numRuns: 500, seed: 20261128 }),
    ];
    for (const digits of [0, -1, -3, -12, -13, -14, -15]) {
      await client.query(`SET extra_float_digits = ${String(digits)}`);
      try {
        const want = await pgText('SELECT v::text FROM unnest($1::float8[]) AS v', [
          values.map((v) => float8Text(v)),
        ]);
        expect(values.map((v) => float8Text(v, digits))).toEqual(want);
      } finally {
        await client.query('RESET extra_float_digits');
      }
    }
  });
});

describe('numeric', () => {
  test('binary send format matches numeric_send', async () => {
    const values = [
      '0',
      '0.00',
      '1',
      '-1',
      '10000',
      '12345.6789',
      '-0.0001',
      '100000000.5',
      '3.14159265358979323846',
      '-987654321987654321',
      '1.5000000000000000',
      '0.000012345',
      'NaN',
      'Infinity',
      '-Infinity',
    ];
    const want = await pgSend(
      "SELECT encode(numeric_send(v::numeric), 'hex') FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i) ORDER BY i",
      [values],
    );
    expect(values.map((v) => numericBinary(v).toString('hex'))).toEqual(want);
  });

  test('avg over integers: the division scale Postgres picks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), {
          minLength: 1,
          maxLength: 6,
        }),
        async (items) => {
          const [want] = await pgText('SELECT avg(v)::text FROM unnest($1::bigint[]) AS v', [
            items.map(String),
          ]);
          const sum = items.reduce((a, b) => a + b, 0n);
          expect(divideDecimal(sum, 0, BigInt(items.length))).toBe(want);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('sum and avg over numeric: exact, at the scales Postgres prints', async () => {
    const decimal = fc
      .tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.integer({ min: 0, max: 12 }))
      .map(([mantissa, scale]) => formatDecimal(mantissa, scale));
    await fc.assert(
      fc.asyncProperty(fc.array(decimal, { minLength: 1, maxLength: 6 }), expectSumAndAverage),
      { numRuns: 150 },
    );
  });

  test('sum and avg over numeric: NaN and infinities as Postgres adds them', async () => {
    const cases = [
      ['1.5', 'NaN'],
      ['Infinity', '2'],
      ['-Infinity', '2.25'],
      ['Infinity', '-Infinity'],
      ['0.000', '0'],
      ['1e3', '2.5E-2'],
    ];
    for (const items of cases) await expectSumAndAverage(items);
  });
});

describe('arrays', () => {
  test('text[] in text and binary, with quoting and NULLs', async () => {
    const values: (string | null)[] = [
      'a',
      'with space',
      'quote"',
      'back\\slash',
      '',
      'NULL',
      null,
      'ü{}',
      ',',
    ];
    const [text] = await pgText('SELECT $1::text[]::text', [values]);
    expect(encodeText(OID.textArray, values)).toBe(text);
    const [binary] = await pgSend("SELECT encode(array_send($1::text[]), 'hex')", [values]);
    expect(encodeBinary(OID.textArray, values).toString('hex')).toBe(binary);
    const [empty] = await pgSend("SELECT encode(array_send('{}'::text[]), 'hex')", []);
    expect(encodeBinary(OID.textArray, []).toString('hex')).toBe(empty);
  });

  test('bigint[] and jsonb in binary', async () => {
    const [ints] = await pgSend("SELECT encode(array_send($1::bigint[]), 'hex')", [
      ['1', '-2', null, '9007199254740993'],
    ]);
    expect(encodeBinary(1016, ['1', '-2', null, '9007199254740993']).toString('hex')).toBe(ints);
    const [doc] = await pgSend(`SELECT encode(jsonb_send('{"a": [1, 2]}'::jsonb), 'hex')`, []);
    expect(encodeBinary(OID.jsonb, '{"a": [1, 2]}').toString('hex')).toBe(doc);
    const [float] = await pgSend("SELECT encode(float8send(-2.5e-7), 'hex')", []);
    expect(encodeBinary(OID.float8, -2.5e-7).toString('hex')).toBe(float);
  });
});
