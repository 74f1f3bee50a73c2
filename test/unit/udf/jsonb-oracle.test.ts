import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonbContains } from '../../../udf/jsonb/contains.js';
import { parseJson } from '../../../udf/jsonb/parse-json.js';
import { serializeJsonb } from '../../../udf/jsonb/serialize.js';
import { PgError } from '../../../protocol/pg-error.js';
import {
  derivedPattern,
  documentJson,
  json,
  numberLexeme,
  render,
} from './support/json-arbitraries.js';
import { connectOracle, serverVersion } from './support/oracle.js';

/**
 * Postgres is the oracle: random documents and patterns go to the real server in one query
 * per run, and parseJson + serializeJsonb must print what `::jsonb::text` prints, jsonbContains
 * must answer what `@>` answers.
 */
let client: pg.Client;
let version = 0;

beforeAll(async () => {
  client = await connectOracle();
  version = await serverVersion(client);
});

afterAll(async () => {
  await client.end();
});

/** UDF_PROPERTY_RUNS=200 for a longer soak; a handful of batches keeps the file at seconds. */
const RUNS = { numRuns: Number(process.env.UDF_PROPERTY_RUNS ?? 6) };

describe('jsonb model against Postgres', () => {
  it('prints every document exactly as ::jsonb::text and answers @> exactly as Postgres', async () => {
    const docAndPattern = documentJson.chain((doc) =>
      derivedPattern(doc).map((pattern) => [doc, pattern] as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(docAndPattern, { minLength: 40, maxLength: 60 }), async (cases) => {
        const docs = cases.map(([doc]) => render(doc));
        const patterns = cases.map(([, pattern]) => render(pattern));
        const result = await client.query<{ contains: boolean; doc: string; pattern: string }>(
          `SELECT d::jsonb @> p::jsonb AS contains, d::jsonb::text AS doc, p::jsonb::text AS pattern
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(d, p, n) ORDER BY n`,
          [docs, patterns],
        );
        const ours = cases.map((_, i) => {
          const doc = parseJson(docs[i] ?? '');
          const pattern = parseJson(patterns[i] ?? '');
          return {
            contains: jsonbContains(doc, pattern),
            doc: serializeJsonb(doc),
            pattern: serializeJsonb(pattern),
          };
        });
        expect(ours).toEqual(result.rows);
      }),
      RUNS,
    );
  });

  it('agrees with @> on unrelated random values (scalars, arrays and objects at the top)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(json, json), { minLength: 40, maxLength: 60 }),
        async (cases) => {
          const docs = cases.map(([doc]) => render(doc));
          const patterns = cases.map(([, pattern]) => render(pattern));
          const result = await client.query<{ contains: boolean }>(
            `SELECT d::jsonb @> p::jsonb AS contains
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(d, p, n) ORDER BY n`,
            [docs, patterns],
          );
          const ours = cases.map((_, i) => ({
            contains: jsonbContains(parseJson(docs[i] ?? ''), parseJson(patterns[i] ?? '')),
          }));
          expect(ours).toEqual(result.rows);
        },
      ),
      RUNS,
    );
  });

  it('canonicalises numbers as numeric does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(numberLexeme, { minLength: 80, maxLength: 120 }),
        async (lexemes) => {
          const result = await client.query<{ text: string }>(
            `SELECT x::jsonb::text AS text FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n`,
            [lexemes],
          );
          expect(lexemes.map((x) => ({ text: serializeJsonb(parseJson(x)) }))).toEqual(result.rows);
        },
      ),
      RUNS,
    );
  });

  it('rejects numbers beyond numeric limits exactly where Postgres does', async () => {
    const edges = [
      '1e131071',
      '9e131071',
      '1e131072',
      '0.1e131072',
      '1e-16383',
      '1e-16384',
      '0e-16383',
      '0e-16384',
      '1.5e-16383',
      '0e131072',
      '0e1073741823',
      '0e1073741824',
      '1e1073741824',
      '1e-1073741824',
      '1e99999999999999999999',
      `1${'0'.repeat(131071)}`,
      `1${'0'.repeat(131072)}`,
      `0.${'0'.repeat(16382)}1`,
      `0.${'0'.repeat(16383)}1`,
    ];
    const result = await client
      .query<{ ok: boolean; len: number | null }>(
        `SELECT pg_input_is_valid(x, 'jsonb') AS ok,
              CASE WHEN pg_input_is_valid(x, 'jsonb') THEN length(x::jsonb::text) END AS len
         FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n`,
        [edges],
      )
      .catch((error: unknown) => {
        if (version < 160000) return undefined; // pg_input_is_valid arrived in Postgres 16
        throw error;
      });
    if (result === undefined) return;
    const ours = edges.map((x) => {
      try {
        return { ok: true, len: serializeJsonb(parseJson(x)).length };
      } catch (error) {
        expect(error).toBeInstanceOf(PgError);
        expect(error).toMatchObject({ code: '22003', message: 'value overflows numeric format' });
        return { ok: false, len: null };
      }
    });
    expect(ours).toEqual(result.rows);
  });
});
