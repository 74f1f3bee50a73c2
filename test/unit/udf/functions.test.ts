import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgError } from '../../../protocol/pg-error.js';
import type { DocFusionFunction, Value } from '../../../udf/function.js';
import { acceptsArgCount, lookupFunction, registerAll } from '../../../udf/registry.js';
import { connectOracle } from './support/oracle.js';

const functions = registerAll();

function fn(name: string): DocFusionFunction {
  const found = functions.get(name);
  if (found === undefined) throw new Error(`${name} is not registered`);
  return found;
}

/** Calls a function once, with every argument unknown at bind time (or all constant). */
function call(name: string, args: readonly Value[], constant = false): Value {
  const f = fn(name);
  return f.bind(constant ? args : args.map(() => undefined))(args);
}

function pgError(action: () => unknown): PgError {
  try {
    action();
  } catch (error) {
    if (error instanceof PgError) return error;
    throw error;
  }
  throw new Error('expected a PgError');
}

describe('registry', () => {
  it('registers every function once, by its lower-case name', () => {
    expect([...functions.keys()].sort()).toEqual([
      'json_array_length',
      'json_contains',
      'json_exists',
      'json_extract_path',
      'json_get_bool',
      'json_get_float',
      'json_get_int',
      'json_keys',
      'json_merge_patch',
      'json_multi_contains',
      'json_schema_valid',
      'json_typeof',
    ]);
    for (const [name, f] of functions) {
      expect(f.name).toBe(name);
      expect(f.signature.startsWith(`${name}(`)).toBe(true);
      expect(f.summary.length).toBeGreaterThan(20);
      expect(f.volatility).toBe('immutable');
    }
  });

  it('has a pushdown for everything but json_schema_valid and json_merge_patch', () => {
    const proxyOnly = [...functions.values()]
      .filter((f) => f.pushdown === undefined)
      .map((f) => f.name);
    expect(proxyOnly.sort()).toEqual(['json_merge_patch', 'json_schema_valid']);
  });

  it('looks names up as Postgres folds identifiers and checks argument counts', () => {
    expect(lookupFunction('JSON_Contains')?.name).toBe('json_contains');
    expect(lookupFunction('JSON_Contains', true)).toBeUndefined();
    expect(lookupFunction('json_contains', true)?.name).toBe('json_contains');
    expect(acceptsArgCount(fn('json_extract_path'), 1)).toBe(false);
    expect(acceptsArgCount(fn('json_extract_path'), 5)).toBe(true);
    expect(acceptsArgCount(fn('json_typeof'), 1)).toBe(true);
    expect(acceptsArgCount(fn('json_contains'), 3)).toBe(false);
  });
});

describe('docs/functions.md', () => {
  const docs = readFileSync(new URL('../../../docs/functions.md', import.meta.url), 'utf8');

  it('documents every function with its signature and its pushdown SQL', () => {
    for (const f of functions.values()) {
      expect(docs).toContain(`## ${f.name}\n\n\`${f.signature}\` → \`${f.returns.name}\``);
      if (f.pushdown === undefined) {
        expect(docs).toContain(
          `${f.signature}\` → \`${f.returns.name}\` — **runs only in the proxy**`,
        );
        continue;
      }
      const args =
        f.variadic === undefined
          ? ['doc', 'pattern']
          : f.minArgs === 2
            ? ['doc', 'k1', 'k2']
            : ['doc', 'k1'];
      expect(docs).toContain(`\`\`\`sql\n${f.pushdown(args)}\n\`\`\``);
    }
  });
});

describe('json_extract_path', () => {
  const doc = '{"a": {"b": [10, "x", {"c": null}, 1.50]}, "s": "text", "t": true}';
  it('follows keys and array indexes as #>> does', () => {
    expect(call('json_extract_path', [doc, 'a', 'b', '0'])).toBe('10');
    expect(call('json_extract_path', [doc, 'a', 'b', '-1'])).toBe('1.50');
    expect(call('json_extract_path', [doc, 'a', 'b', ' +1'])).toBe('x');
    expect(call('json_extract_path', [doc, 'a', 'b', '-5'])).toBeNull();
    expect(call('json_extract_path', [doc, 'a', 'b', '1.0'])).toBeNull();
    expect(call('json_extract_path', [doc, 'a', 'b', '2'])).toBe('{"c": null}');
    expect(call('json_extract_path', [doc, 'a', 'b', '2', 'c'])).toBeNull();
    expect(call('json_extract_path', [doc, 's'])).toBe('text');
    expect(call('json_extract_path', [doc, 't'])).toBe('true');
    expect(call('json_extract_path', [doc, 's', '0'])).toBeNull();
    expect(call('json_extract_path', ['[1]', '0', '0'])).toBeNull();
    expect(call('json_extract_path', ['5', '0'])).toBeNull();
  });

  it('is strict and accepts non-text keys as their text', () => {
    expect(call('json_extract_path', [null, 'a'])).toBeNull();
    expect(call('json_extract_path', [doc, null])).toBeNull();
    expect(call('json_extract_path', ['[7, 8]', 1])).toBe('8');
    expect(call('json_extract_path', ['[7, 8]', 1n], true)).toBe('8');
  });

  it('reports invalid documents as ::jsonb does', () => {
    expect(pgError(() => call('json_extract_path', ['{"a":', 'a']))).toMatchObject({
      code: '22P02',
      message: 'invalid input syntax for type json',
    });
    expect(pgError(() => fn('json_extract_path').bind(['{x', undefined]))).toMatchObject({
      code: '22P02',
    });
  });
});

describe('json_multi_contains', () => {
  it('is true when every top-level pair is contained', () => {
    const doc = '{"a": 1, "b": {"c": [1, 2, 3]}, "d": "x"}';
    expect(call('json_multi_contains', [doc, '{"a": 1.0, "b": {"c": [3, 1]}}'])).toBe(true);
    expect(call('json_multi_contains', [doc, '{"a": 1, "d": "y"}'])).toBe(false);
    expect(call('json_multi_contains', [doc, '{}'])).toBe(true);
    expect(call('json_multi_contains', ['[1]', '{}'])).toBe(false);
    expect(call('json_multi_contains', ['"a"', '{}'])).toBe(false);
  });

  it('raises 22023 for a pattern that is not an object, at bind time when it is constant', () => {
    expect(pgError(() => fn('json_multi_contains').bind([undefined, '[1]']))).toMatchObject({
      code: '22023',
      message: 'json_multi_contains: pattern must be a JSON object, got array',
    });
    expect(pgError(() => call('json_multi_contains', ['{}', '"a"']))).toMatchObject({
      code: '22023',
      message: 'json_multi_contains: pattern must be a JSON object, got string',
    });
    // Strict: a NULL document gives NULL without looking at the pattern.
    expect(call('json_multi_contains', [null, '[1]'])).toBeNull();
  });
});

describe('json_schema_valid', () => {
  const schema = JSON.stringify({
    type: 'object',
    properties: { id: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
    required: ['id'],
    additionalProperties: false,
  });

  it('validates documents against a JSON Schema 2020-12', () => {
    expect(call('json_schema_valid', ['{"id": 1, "tags": ["a"]}', schema])).toBe(true);
    expect(call('json_schema_valid', ['{"id": 1.0}', schema], true)).toBe(true);
    expect(call('json_schema_valid', ['{"id": 1.5}', schema])).toBe(false);
    expect(call('json_schema_valid', ['{"id": 1, "x": 2}', schema])).toBe(false);
    expect(call('json_schema_valid', ['[]', schema])).toBe(false);
    expect(call('json_schema_valid', ['{"__proto__": 1, "id": 2}', schema])).toBe(false);
    expect(call('json_schema_valid', ['{"anything": 1}', 'true'])).toBe(true);
    expect(call('json_schema_valid', ['{"anything": 1}', 'false'])).toBe(false);
    expect(call('json_schema_valid', [null, schema])).toBeNull();
  });

  it('uses 2020-12 keywords (prefixItems, dependentRequired, unevaluatedProperties)', () => {
    const tuple = '{"prefixItems": [{"type": "number"}, {"type": "string"}], "items": false}';
    expect(call('json_schema_valid', ['[1, "a"]', tuple])).toBe(true);
    expect(call('json_schema_valid', ['[1, "a", 2]', tuple])).toBe(false);
    const dependent = '{"dependentRequired": {"a": ["b"]}}';
    expect(call('json_schema_valid', ['{"a": 1}', dependent])).toBe(false);
    const unevaluated = '{"properties": {"a": {}}, "unevaluatedProperties": false}';
    expect(call('json_schema_valid', ['{"a": 1, "b": 2}', unevaluated])).toBe(false);
  });

  it('accepts two schemas with the same $id and ignores unknown formats and keywords', () => {
    expect(
      call('json_schema_valid', ['"x"', '{"$id": "https://example.com/s", "type": "string"}']),
    ).toBe(true);
    expect(
      call('json_schema_valid', ['"x"', '{"$id": "https://example.com/s", "type": "number"}']),
    ).toBe(false);
    expect(call('json_schema_valid', ['"x"', '{"format": "no-such-format", "x-note": 1}'])).toBe(
      true,
    );
  });

  it('raises 22023 with ajv message for an invalid schema, 22P02 for a schema that is not JSON', () => {
    const invalid = pgError(() => fn('json_schema_valid').bind([undefined, '{"type": "bogus"}']));
    expect(invalid.code).toBe('22023');
    expect(invalid.message).toMatch(/^invalid JSON Schema: schema is invalid: data\/type must be/);
    expect(
      pgError(() => call('json_schema_valid', ['1', '{"$ref": "https://example.com/missing"}'])),
    ).toMatchObject({
      code: '22023',
      message: expect.stringContaining("can't resolve reference") as unknown,
    });
    expect(pgError(() => call('json_schema_valid', ['1', '[]']))).toMatchObject({ code: '22023' });
    expect(pgError(() => call('json_schema_valid', ['1', '{"type":']))).toMatchObject({
      code: '22P02',
    });
  });
});

describe('json_merge_patch', () => {
  // RFC 7396, Appendix A.
  const cases: [string, string, string][] = [
    ['{"a":"b"}', '{"a":"c"}', '{"a": "c"}'],
    ['{"a":"b"}', '{"b":"c"}', '{"a": "b", "b": "c"}'],
    ['{"a":"b"}', '{"a":null}', '{}'],
    ['{"a":"b","b":"c"}', '{"a":null}', '{"b": "c"}'],
    ['{"a":["b"]}', '{"a":"c"}', '{"a": "c"}'],
    ['{"a":"c"}', '{"a":["b"]}', '{"a": ["b"]}'],
    ['{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a": {"b": "d"}}'],
    ['{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a": [1]}'],
    ['["a","b"]', '["c","d"]', '["c", "d"]'],
    ['{"a":"b"}', '["c"]', '["c"]'],
    ['{"a":"foo"}', 'null', 'null'],
    ['{"a":"foo"}', '"bar"', '"bar"'],
    ['{"e":null}', '{"a":1}', '{"a": 1, "e": null}'],
    ['[1,2]', '{"a":"b","c":null}', '{"a": "b"}'],
    ['{}', '{"a":{"bb":{"ccc":null}}}', '{"a": {"bb": {}}}'],
  ];

  it('applies the RFC 7396 examples and prints canonical jsonb', () => {
    for (const [doc, patch, result] of cases) {
      expect(call('json_merge_patch', [doc, patch])).toBe(result);
      expect(call('json_merge_patch', [doc, patch], true)).toBe(result);
    }
  });

  it('keeps jsonb key order and number forms, and does not touch its inputs', () => {
    expect(call('json_merge_patch', ['{"bb": 1, "a": 1.50}', '{"c": 1e2, "a": null}'])).toBe(
      '{"c": 100, "bb": 1}',
    );
  });
});

describe('pushdown SQL on Postgres with $n parameters', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = await connectOracle();
  });

  afterAll(async () => {
    await client.end();
  });

  it('runs every pushdown with untyped parameters and agrees with the kernel', async () => {
    const doc = '{"a": {"b": [1, 2.0, "3", true, null, {"k": 1}]}, "n": 9223372036854775807}';
    const paths = [
      [],
      ['a'],
      ['a', 'b'],
      ['a', 'b', '1'],
      ['a', 'b', '-1'],
      ['a', 'b', '4'],
      ['n'],
      ['zz'],
    ];
    for (const f of functions.values()) {
      if (f.pushdown === undefined) continue;
      if (f.variadic === undefined) continue;
      for (const path of paths) {
        if (path.length + 1 < f.minArgs) continue;
        const args = ['$1::jsonb', ...path.map((_, i) => `$${i + 2}`)];
        const result = await client.query<{ r: Value }>(`SELECT ${f.pushdown(args)} AS r`, [
          doc,
          ...path,
        ]);
        expect({ f: f.name, path, r: result.rows[0]?.r ?? null }).toEqual({
          f: f.name,
          path,
          r: call(f.name, [doc, ...path]),
        });
      }
    }
    const contains = await client.query<{ a: boolean; b: boolean }>(
      `SELECT ${fn('json_contains').pushdown?.(['$1::jsonb', '$2::jsonb']) ?? ''} AS a,
              ${fn('json_multi_contains').pushdown?.(['$1::jsonb', '$2::jsonb']) ?? ''} AS b`,
      [doc, '{"a": {"b": [2]}}'],
    );
    expect(contains.rows[0]).toEqual({ a: true, b: true });
  });

  it('json_multi_contains pushdown raises 22023 for a non-object pattern, and is NULL for a NULL pattern', async () => {
    const sql = `SELECT ${fn('json_multi_contains').pushdown?.(['$1::jsonb', '$2::jsonb']) ?? ''} AS r`;
    for (const pattern of ['[1]', '1', '"a"', 'null', 'true']) {
      const error = await client.query(sql, ['{"a": 1}', pattern]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: '22023' });
      const ours = pgError(() => call('json_multi_contains', ['{"a": 1}', pattern]));
      expect((error as Error).message).toContain(ours.message);
    }
    const nullDoc = await client.query<{ r: boolean | null }>(sql, [null, '{}']);
    expect(nullDoc.rows[0]?.r).toBeNull();
    const nullPattern = await client.query<{ r: boolean | null }>(sql, ['{}', null]);
    expect(nullPattern.rows[0]?.r).toBeNull();
    const empty = await client.query<{ r: boolean | null }>(sql, ['[1]', '{}']);
    expect(empty.rows[0]?.r).toBe(false);
  });

  it('keeps json_contains and json_multi_contains GIN-indexable', async () => {
    await client.query('BEGIN');
    try {
      await client.query('CREATE TEMP TABLE udf_gin (doc jsonb)');
      await client.query(
        `INSERT INTO udf_gin SELECT jsonb_build_object('id', g, 'k', g % 10) FROM generate_series(1, 2000) g`,
      );
      await client.query('CREATE INDEX ON udf_gin USING gin (doc)');
      await client.query('ANALYZE udf_gin');
      await client.query('SET LOCAL enable_seqscan = off');
      for (const name of ['json_contains', 'json_multi_contains']) {
        const where = fn(name).pushdown?.(['doc', `'{"k": 3}'::jsonb`]) ?? '';
        const plan = await client.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN SELECT * FROM udf_gin WHERE ${where}`,
        );
        expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toMatch(/Bitmap Index Scan/);
        const count = await client.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM udf_gin WHERE ${where}`,
        );
        expect(count.rows[0]?.n).toBe('200');
        // A $n pattern in a generic plan (what extended-protocol clients get) too.
        await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
        const param = fn(name).pushdown?.(['doc', '$1::jsonb']) ?? '';
        await client.query(
          `PREPARE udf_gin_${name} AS SELECT count(*)::text AS n FROM udf_gin WHERE ${param}`,
        );
        const generic = await client.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN EXECUTE udf_gin_${name}('{"k": 3}')`,
        );
        expect(generic.rows.map((row) => row['QUERY PLAN']).join('\n')).toMatch(
          /Bitmap Index Scan/,
        );
        const executed = await client.query<{ n: string }>(`EXECUTE udf_gin_${name}('{"k": 3}')`);
        expect(executed.rows[0]?.n).toBe('200');
        await client.query(`DEALLOCATE udf_gin_${name}`);
      }
    } finally {
      await client.query('ROLLBACK');
    }
  });
});
