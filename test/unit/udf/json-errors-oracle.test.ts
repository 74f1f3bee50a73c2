import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgError } from '../../../protocol/pg-error.js';
import { parseJson } from '../../../udf/jsonb/parse-json.js';
import { serializeJsonb } from '../../../udf/jsonb/serialize.js';
import { json, render } from './support/json-arbitraries.js';
import { connectOracle, serverVersion } from './support/oracle.js';

/**
 * Error parity with `::jsonb`, through pg_input_error_info (Postgres 16+): the same inputs are
 * rejected with the same SQLSTATE, message and detail (ours adds the character offset).
 */
let client: pg.Client;
let supported = false;

beforeAll(async () => {
  client = await connectOracle();
  supported = (await serverVersion(client)) >= 160000;
});

afterAll(async () => {
  await client.end();
});

interface Outcome {
  readonly text: string | null;
  readonly code: string | null;
  readonly message: string | null;
  readonly detail: string | null;
}

async function postgresOutcomes(inputs: readonly string[]): Promise<Outcome[]> {
  const result = await client.query<Outcome>(
    `SELECT CASE WHEN e.sql_error_code IS NULL THEN x::jsonb::text END AS text,
            e.sql_error_code AS code, e.message, e.detail
       FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n), pg_input_error_info(x, 'jsonb') AS e
      ORDER BY n`,
    [inputs],
  );
  return result.rows;
}

function ourOutcome(input: string): Outcome {
  try {
    return { text: serializeJsonb(parseJson(input)), code: null, message: null, detail: null };
  } catch (error) {
    if (!(error instanceof PgError)) throw error;
    const detail = error.detail?.replace(/ \(character offset \d+\)\.$/, '.') ?? null;
    return { text: null, code: error.code, message: error.message, detail };
  }
}

const CORPUS = [
  '',
  '   ',
  'tru',
  'truex',
  'tru$',
  '01',
  '-01',
  '-',
  '-a',
  '-.5',
  '1.',
  '1.e5',
  '.5',
  '+1',
  '1e',
  '1e+',
  '1e+x',
  '1.5x',
  '123abc',
  '[1,]',
  '[1 2]',
  '[}',
  '[,',
  '[1,,2]',
  '{"a":1,}',
  '{"a" 1}',
  '{"a":}',
  '{1:2}',
  '{,}',
  '{"a":1 "b":2}',
  '{"a",',
  '{"a":1,"b"}',
  '[',
  '{',
  '{"a"',
  '"abc',
  '"abc\\',
  '"a\\qb"',
  '"\\x"',
  '"\\é"',
  '"\\😀"',
  '"\\u12"',
  '"\\u12g4"',
  '"\\u000g"',
  '"\\ud800"',
  '"\\ud800x"',
  '"\\udc00"',
  '"\\ud800\\ud800"',
  '"\\ud800\\u0041"',
  '"\\ud800\\n"',
  '"\\uDC00\\uD800"',
  '"\\u0000"',
  '"a\\u0000b"',
  '"\\ud800\\u0000"',
  '[1]]',
  '1 2',
  '"a":1',
  '@',
  'nul',
  'null1',
  '[true false]',
  '{"a":1}}',
  '"é',
  'ñandú',
  '"a\tb"',
  '"a\nb"',
  '"\u0001"',
  '"\u001f"',
  '\u00a0 1',
  '\ufeff1',
  '[1]\u00a0',
  '1\u000b',
  '1\f',
  '{"a":tru}',
  '[1, 01]',
  '1$',
  '["a"}',
  '{"a":[}',
  '😀',
  '"\\ud83d\\ude00"',
  '"\\u00e9"',
  '{"a":1,"a":2}',
  '[1e999999999 2]',
  '1e999999999 x',
  '[1E800000000.000]',
  '{"a":1e-99999}',
];

describe('JSON syntax errors against Postgres', () => {
  it('rejects the corpus as ::jsonb does, with the same SQLSTATE, message and detail', async () => {
    if (!supported) return;
    const expected = await postgresOutcomes(CORPUS);
    expect(CORPUS.map(ourOutcome)).toEqual(expected);
  });

  it('accepts and rejects mutated documents as ::jsonb does', async () => {
    if (!supported) return;
    const noise = fc.constantFrom(
      ...Array.from('{}[],:"\\ -+.eE0123456789tfnrlu\u0000\u0001\t\né😀a'),
    );
    const edit = fc.tuple(fc.nat(), fc.nat({ max: 2 }), fc.string({ unit: noise, maxLength: 3 }));
    const mutated = fc
      .tuple(json, fc.array(edit, { minLength: 1, maxLength: 3 }))
      .map(([doc, edits]) => {
        // Edit code points, not UTF-16 units: a lone surrogate cannot reach Postgres.
        const text = Array.from(render(doc));
        for (const [at, remove, insert] of edits) {
          text.splice(at % (text.length + 1), remove, ...Array.from(insert));
        }
        return text.join('').replaceAll('\u0000', '\\u0000');
      });
    await fc.assert(
      fc.asyncProperty(fc.array(mutated, { minLength: 60, maxLength: 100 }), async (inputs) => {
        expect(inputs.map(ourOutcome)).toEqual(await postgresOutcomes(inputs));
      }),
      { numRuns: Number(process.env.UDF_PROPERTY_RUNS ?? 6) },
    );
  });

  it('puts the character offset of the offending token in the detail', () => {
    const offsetOf = (input: string): string | undefined => {
      try {
        parseJson(input);
      } catch (error) {
        if (error instanceof PgError) return error.detail;
      }
      return undefined;
    };
    expect(offsetOf('{"a": tru}')).toBe('Token "tru" is invalid (character offset 6).');
    expect(offsetOf('["😀😀", 01]')).toBe('Token "01" is invalid (character offset 7).');
    expect(offsetOf('[1, 2')).toBe('The input string ended unexpectedly (character offset 5).');
    expect(offsetOf('"ab\\u0000"')).toBe(
      '\\u0000 cannot be converted to text (character offset 3).',
    );
  });
});
