/**
 * JSON Merge Patch: the RFC 7396 examples for applyMergePatch, and Postgres as the oracle for
 * its SQL compilation (bulk update): both must agree on generated documents and patches.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compileMergePatch } from '../../../src/http-api/merge-patch-sql.js';
import { applyMergePatch, type JsonValue } from '../../../src/http-api/merge-patch.js';
import { upstreamUrl } from '../../support/proxy.js';

const RFC_EXAMPLES: [JsonValue, JsonValue, JsonValue][] = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [
    ['a', 'b'],
    ['c', 'd'],
    ['c', 'd'],
  ],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

describe('applyMergePatch', () => {
  test.each(RFC_EXAMPLES)('RFC 7396 appendix A: %j + %j', (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });
});

describe('compileMergePatch agrees with applyMergePatch (Postgres as the oracle)', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: upstreamUrl() });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  async function viaSql(target: JsonValue, patch: JsonValue): Promise<unknown> {
    const compiled = compileMergePatch('$1::jsonb', patch, 2);
    const result = await client.query<{ v: unknown }>(`SELECT ${compiled.sql} AS v`, [
      JSON.stringify(target),
      ...compiled.params,
    ]);
    return result.rows[0]?.v;
  }

  // Bulk update only takes object patches (a document stays an object).
  const objectPatches = RFC_EXAMPLES.filter(
    ([, patch]) => typeof patch === 'object' && patch !== null && !Array.isArray(patch),
  );
  test.each(objectPatches)('%j + %j', async (target, patch, expected) => {
    expect(await viaSql(target, patch)).toEqual(expected);
  });

  test('on generated documents and patches', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd e', "q'uote", 'ü');
    const scalar = fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.string({ maxLength: 5 }).filter((s) => !s.includes('\u0000')),
    );
    const value: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        scalar,
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(key, tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    const documents = fc.dictionary(key, value, { maxKeys: 4 });
    await fc.assert(
      fc.asyncProperty(documents, documents, async (target, patch) => {
        expect(await viaSql(target, patch)).toEqual(applyMergePatch(target, patch));
      }),
      { numRuns: 150 },
    );
  });
});
