import {
  Binary,
  Bool,
  Int32,
  Int64,
  RecordBatch,
  Float64,
  List,
  Utf8,
  makeData,
  makeVector,
  tableFromArrays,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { PgError } from '../../../protocol/pg-error.js';
import {
  PG,
  type DocFusionFunction,
  type KernelArg,
  type PgType,
  type Value,
} from '../../../udf/function.js';
import type { JsonValue } from '../../../udf/jsonb/json-value.js';
import { evaluateKernel, vectorValue } from '../../../udf/kernel.js';
import { registerAll } from '../../../udf/registry.js';
import { jsonArg } from '../../../udf/support/json-args.js';

const functions = registerAll();

function fn(name: string): DocFusionFunction {
  const found = functions.get(name);
  if (found === undefined) throw new Error(`${name} is not registered`);
  return found;
}

const text = (values: readonly (string | null)[]): Vector => vectorFromArray(values, new Utf8());
const column = (vector: Vector): KernelArg => ({ kind: 'vector', vector });
const constant = (value: Value): KernelArg => ({ kind: 'constant', value });

/** Runs a registered function over kernel arguments, binding the constants. */
function run(name: string, args: readonly KernelArg[], length: number): Vector {
  const f = fn(name);
  const scalar = f.bind(args.map((arg) => (arg.kind === 'constant' ? arg.value : undefined)));
  return evaluateKernel(f, scalar, args, length);
}

const values = (vector: Vector): Value[] =>
  Array.from({ length: vector.length }, (_, i) => vectorValue(vector, i));

/** A test function that records its calls and what jsonArg gave it for the document. */
function recorder(returns: PgType, result: (args: readonly Value[]) => Value) {
  const calls: Value[][] = [];
  const parsed: JsonValue[] = [];
  const f: DocFusionFunction = {
    name: 'test_recorder',
    params: ['document'],
    variadic: 'key',
    minArgs: 1,
    returns,
    volatility: 'immutable',
    signature: 'test_recorder(doc jsonb [, key text ...])',
    summary: 'Records its calls.',
    bind: () => (args) => {
      calls.push([...args]);
      parsed.push(jsonArg(args[0] ?? null));
      return result(args);
    },
  };
  return { f, calls, parsed };
}

describe('evaluateKernel output vectors', () => {
  const docs = text([
    '{"a": {"b": [1, 2]}, "n": 7, "f": 1.5, "t": true}',
    null,
    '[10, "x"]',
    '{"a": null}',
  ]);

  it('builds Utf8 for text, with nulls in the validity bitmap', () => {
    const out = run('json_extract_path', [column(docs), constant('a')], 4);
    expect(out.type).toBeInstanceOf(Utf8);
    expect(out.nullCount).toBe(3);
    expect(values(out)).toEqual(['{"b": [1, 2]}', null, null, null]);
  });

  it('builds Bool, Int64 (bigint), Int32, Float64 and List<Utf8>', () => {
    const exists = run('json_exists', [column(docs), constant('a')], 4);
    expect(exists.type).toBeInstanceOf(Bool);
    expect(values(exists)).toEqual([true, null, false, true]);

    const int = run('json_get_int', [column(docs), constant('n')], 4);
    expect(int.type).toBeInstanceOf(Int64);
    expect(values(int)).toEqual([7n, null, null, null]);

    const length = run('json_array_length', [column(docs)], 4);
    expect(length.type).toBeInstanceOf(Int32);
    expect(values(length)).toEqual([null, null, 2, null]);

    const float = run('json_get_float', [column(docs), constant('f')], 4);
    expect(float.type).toBeInstanceOf(Float64);
    expect(values(float)).toEqual([1.5, null, null, null]);

    const keys = run('json_keys', [column(docs)], 4);
    expect(keys.type).toBeInstanceOf(List);
    expect(String(keys.type)).toBe('List<Utf8>');
    expect(values(keys)).toEqual([['a', 'f', 'n', 't'], null, null, ['a']]);
    expect(keys.nullCount).toBe(2);
  });

  it('builds jsonb results as canonical text', () => {
    const out = run('json_merge_patch', [column(docs), constant('{"n": null, "z": [1.0]}')], 4);
    expect(values(out)).toEqual([
      '{"a": {"b": [1, 2]}, "f": 1.5, "t": true, "z": [1.0]}',
      null,
      '{"z": [1.0]}',
      '{"a": null, "z": [1.0]}',
    ]);
  });

  it('handles empty batches and multi-byte text', () => {
    expect(run('json_typeof', [column(text([]))], 0).length).toBe(0);
    const out = run('json_extract_path', [column(text(['{"é": "😀 ñ"}'])), constant('é')], 1);
    expect(values(out)).toEqual(['😀 ñ']);
  });

  it('lets key arguments come from a column, row by row', () => {
    const out = run(
      'json_extract_path',
      [column(text(['[1, 2]', '{"k": 3}', '[4]'])), column(text(['-1', 'k', null]))],
      3,
    );
    expect(values(out)).toEqual(['2', '3', null]);
  });
});

describe('evaluateKernel strictness and the constant fast path', () => {
  it('does not call the function for rows with a NULL argument', () => {
    const { f, calls } = recorder(PG.bool, () => true);
    const out = evaluateKernel(
      f,
      f.bind([undefined, undefined]),
      [column(text(['1', null, '2'])), column(text(['a', 'b', null]))],
      3,
    );
    expect(values(out)).toEqual([true, null, null]);
    expect(calls).toEqual([['1', 'a']]);
  });

  it('calls the function once when every argument is constant', () => {
    const { f, calls } = recorder(PG.int4, () => 42);
    const out = evaluateKernel(f, f.bind(['[1]', 'k']), [constant('[1]'), constant('k')], 1000);
    expect(calls).toHaveLength(1);
    expect(out.length).toBe(1000);
    expect(out.nullCount).toBe(0);
    expect(vectorValue(out, 999)).toBe(42);
  });

  it('gives an all-NULL vector without calling the function for a NULL constant', () => {
    const { f, calls } = recorder(PG.text, () => 'x');
    const out = evaluateKernel(
      f,
      f.bind([undefined, null]),
      [column(text(['{}', '{}'])), constant(null)],
      2,
    );
    expect(calls).toHaveLength(0);
    expect(values(out)).toEqual([null, null]);
    expect(out.nullCount).toBe(2);
  });

  it('parses a constant pattern once, in bind', () => {
    const docs = text(['{"a": 1}', '{"a": 2}', '[1]']);
    expect(values(run('json_contains', [column(docs), constant('{"a": 1}')], 3))).toEqual([
      true,
      false,
      false,
    ]);
    expect(() => fn('json_contains').bind([undefined, '{"a":'])).toThrow(PgError);
  });

  it('propagates a PgError from a row and leaves nothing primed behind', () => {
    const docs = text(['{"a": 1}', '{"a": ']);
    expect(() => run('json_typeof', [column(docs)], 2)).toThrow(
      /invalid input syntax for type json/,
    );
    expect(() => jsonArg('{"a": ')).toThrow(PgError);
  });

  it('rejects a function result of the wrong type as an internal error', () => {
    const { f } = recorder(PG.int8, () => 'not a bigint');
    expect(() => evaluateKernel(f, f.bind([undefined]), [column(text(['1']))], 1)).toThrow(
      /declared bigint returned string/,
    );
  });
});

describe('evaluateKernel document cache', () => {
  it('parses each document once for several functions over the same column', () => {
    const docs = text(['{"a": [1]}', '{"a": {"b": 2}}', '[]']);
    const first = recorder(PG.bool, () => true);
    const second = recorder(PG.bool, () => false);
    evaluateKernel(first.f, first.f.bind([undefined]), [column(docs)], 3);
    evaluateKernel(second.f, second.f.bind([undefined]), [column(docs)], 3);
    expect(second.parsed).toHaveLength(3);
    second.parsed.forEach((value, i) => {
      expect(value).toBe(first.parsed[i]);
    });
  });

  it('shares the parse between vectors taken from the same batch column, chunk by chunk', () => {
    const table = tableFromArrays({ doc: ['{"x": 1}', '{"x": 2}'] });
    const more = tableFromArrays({ doc: ['{"x": 3}'] });
    const batches: RecordBatch[] = [...table.batches, ...more.batches];
    const chunks = batches.flatMap((batch) => batch.getChildAt(0)?.data ?? []);
    const a = makeVector(chunks);
    const b = makeVector(chunks);
    expect(a).not.toBe(b);
    const first = recorder(PG.bool, () => true);
    const second = recorder(PG.bool, () => true);
    evaluateKernel(first.f, first.f.bind([undefined]), [column(a)], 3);
    evaluateKernel(second.f, second.f.bind([undefined]), [column(b)], 3);
    expect(second.parsed.map((value, i) => value === first.parsed[i])).toEqual([true, true, true]);
    expect(second.calls.map(([doc]) => doc)).toEqual(['{"x": 1}', '{"x": 2}', '{"x": 3}']);
  });

  it('does not share parses between different columns with equal text', () => {
    const first = recorder(PG.bool, () => true);
    const second = recorder(PG.bool, () => true);
    evaluateKernel(first.f, first.f.bind([undefined]), [column(text(['{"x": 1}']))], 1);
    evaluateKernel(second.f, second.f.bind([undefined]), [column(text(['{"x": 1}']))], 1);
    expect(second.parsed[0]).not.toBe(first.parsed[0]);
    expect(second.parsed[0]).toEqual(first.parsed[0]);
  });
});

describe('vectorValue', () => {
  it('reads every kernel output type and common inputs back as Values', () => {
    expect(values(vectorFromArray([1n, null, -5n], new Int64()))).toEqual([1n, null, -5n]);
    expect(values(vectorFromArray([true, null, false], new Bool()))).toEqual([true, null, false]);
    expect(values(makeVector(new Float64Array([1.5, -0])))).toEqual([1.5, -0]);
    expect(values(makeVector(new Int32Array([3, 4])))).toEqual([3, 4]);
    const bytes = new TextEncoder().encode('{"a":1}');
    const binary = makeVector(
      makeData({
        type: new Binary(),
        length: 1,
        nullCount: 0,
        valueOffsets: new Int32Array([0, bytes.length]),
        data: bytes,
      }),
    );
    expect(values(binary)).toEqual(['{"a":1}']);
  });

  it('accepts documents from a Binary column in the kernel', () => {
    const bytes = new TextEncoder().encode('{"a": "b"}');
    const binary = makeVector(
      makeData({
        type: new Binary(),
        length: 1,
        nullCount: 0,
        valueOffsets: new Int32Array([0, bytes.length]),
        data: bytes,
      }),
    );
    expect(values(run('json_extract_path', [column(binary), constant('a')], 1))).toEqual(['b']);
  });
});
