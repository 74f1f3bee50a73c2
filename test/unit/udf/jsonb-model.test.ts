import { describe, expect, it } from 'vitest';
import { PgError } from '../../../protocol/pg-error.js';
import { jsonbContains } from '../../../udf/jsonb/contains.js';
import { JsonNumber } from '../../../udf/jsonb/json-number.js';
import { isJsonObject, jsonTypeOf } from '../../../udf/jsonb/json-value.js';
import { compareKeys, makeObject, utf8Length } from '../../../udf/jsonb/key-order.js';
import { MAX_JSON_DEPTH, parseJson } from '../../../udf/jsonb/parse-json.js';
import { mergePatch } from '../../../udf/jsonb/merge-patch.js';
import { getPath, parseArrayIndex } from '../../../udf/jsonb/path.js';
import { quoteJsonString, serializeJsonb } from '../../../udf/jsonb/serialize.js';
import { toPlainJson } from '../../../udf/jsonb/to-plain.js';

const canonical = (text: string): string => serializeJsonb(parseJson(text));

function errorOf(text: string): PgError {
  try {
    parseJson(text);
  } catch (error) {
    if (error instanceof PgError) return error;
    throw error;
  }
  throw new Error(`${text} parsed`);
}

describe('parseJson numbers', () => {
  it('normalises numbers as Postgres numeric does', () => {
    const cases: [string, string][] = [
      ['1e2', '100'],
      ['1.50e1', '15.0'],
      ['-0', '0'],
      ['-0.0', '0.0'],
      ['1E-2', '0.01'],
      ['0.10', '0.10'],
      ['0e-5', '0.00000'],
      ['0.000001e6', '1'],
      ['100e-2', '1.00'],
      ['-12.3400e-1', '-1.23400'],
      ['1.0e+3', '1000'],
      ['1e-20', '0.00000000000000000001'],
      ['123456789012345678901234567890.5', '123456789012345678901234567890.5'],
      ['0e1073741823', '0'],
    ];
    for (const [input, output] of cases) expect(canonical(input)).toBe(output);
  });

  it('compares numbers by value', () => {
    const n = (text: string): JsonNumber => {
      const value = parseJson(text);
      if (!(value instanceof JsonNumber)) throw new Error('not a number');
      return value;
    };
    expect(n('1.0').equals(n('1'))).toBe(true);
    expect(n('-0.00').equals(n('0'))).toBe(true);
    expect(n('1e2').equals(n('100.000'))).toBe(true);
    expect(n('1.01').equals(n('1.1'))).toBe(false);
    expect(n('10').equals(n('1'))).toBe(false);
  });

  it('converts to bigint only for integral values in range, never rounding', () => {
    const int = (text: string): bigint | null => JsonNumber.fromLexeme(text).toInt64();
    expect(int('1.0')).toBe(1n);
    expect(int('1e2')).toBe(100n);
    expect(int('-0.0')).toBe(0n);
    expect(int('1.5')).toBeNull();
    expect(int('9223372036854775807')).toBe(9223372036854775807n);
    expect(int('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(int('9223372036854775808')).toBeNull();
    expect(int('-9223372036854775809')).toBeNull();
    expect(int('1e30')).toBeNull();
  });

  it('converts to double as float8 does, NULL where float8 would fail', () => {
    const float = (text: string): number | null => JsonNumber.fromLexeme(text).toFloat64();
    expect(float('1.5')).toBe(1.5);
    expect(float('1.7976931348623157e308')).toBe(Number.MAX_VALUE);
    expect(float('1.7976931348623158e308')).toBe(Number.MAX_VALUE);
    expect(float('1.7976931348623159e308')).toBeNull();
    expect(float('1e-320')).toBe(1e-320);
    expect(float('3e-324')).toBe(5e-324);
    expect(float('2e-324')).toBeNull();
    expect(float('0e-10')).toBe(0);
  });

  it('raises 22003 beyond numeric limits', () => {
    for (const text of [
      '1e131072',
      '1e-16384',
      '0e-16384',
      '1.5e-16383',
      '1e1073741824',
      '0e1073741824',
    ]) {
      expect(errorOf(text)).toMatchObject({
        code: '22003',
        message: 'value overflows numeric format',
      });
    }
    expect(canonical('1e-16383')).toBe(`0.${'0'.repeat(16382)}1`);
  });
});

describe('parseJson strings, objects and errors', () => {
  it('decodes escapes and surrogate pairs, and keeps astral characters', () => {
    expect(parseJson('"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"')).toBe('é😀/\b\f\n\r\t"\\');
    expect(parseJson('"\\uD834\\uDD1E 𝄞"')).toBe('𝄞 𝄞');
  });

  it('keeps the last of duplicate keys and orders keys as jsonb does', () => {
    expect(canonical('{"b": 1, "a": 2, "b": 3}')).toBe('{"a": 2, "b": 3}');
    expect(canonical('{"bb": 1, "a": 2, "c": 3, "aaa": []}')).toBe(
      '{"a": 2, "c": 3, "bb": 1, "aaa": []}',
    );
    // U+FFFF sorts before U+1F600 bytewise (UTF-8), although not in UTF-16 order.
    expect(canonical('{"😀": 1, "\\uffffa": 2}')).toBe('{"\uffffa": 2, "😀": 1}');
    const value = parseJson('{"z": 1, "a": {"y": 2, "x": 3}}');
    expect(isJsonObject(value) ? [...value.keys()] : null).toEqual(['a', 'z']);
  });

  it('rejects \\u0000 as jsonb does (22P05) and lone surrogates (22P02)', () => {
    expect(errorOf('"a\\u0000"')).toMatchObject({
      code: '22P05',
      message: 'unsupported Unicode escape sequence',
    });
    expect(errorOf('"\\ud800"').detail).toBe(
      'Unicode low surrogate must follow a high surrogate (character offset 7).',
    );
    expect(errorOf('"\\ud800\\ud800"').detail).toBe(
      'Unicode high surrogate must not follow a high surrogate (character offset 7).',
    );
    expect(errorOf('"\\udc00"').detail).toBe(
      'Unicode low surrogate must follow a high surrogate (character offset 1).',
    );
  });

  it('reports errors as 22P02 naming the token and its character offset', () => {
    const cases: [string, string][] = [
      ['', 'The input string ended unexpectedly (character offset 0).'],
      ['{"a": 1,}', 'Expected string, but found "}" (character offset 8).'],
      ['[1 2]', 'Expected "," or "]", but found "2" (character offset 3).'],
      ['{"a" 1}', 'Expected ":", but found "1" (character offset 5).'],
      ['{1: 2}', 'Expected string or "}", but found "1" (character offset 1).'],
      ['{"a": 1 "b": 2}', 'Expected "," or "}", but found ""b"" (character offset 8).'],
      ['[1]]', 'Expected end of input, but found "]" (character offset 3).'],
      ['[01]', 'Token "01" is invalid (character offset 1).'],
      ['1.e5', 'Token "1.e5" is invalid (character offset 0).'],
      ['"abc', 'Token ""abc" is invalid (character offset 0).'],
      ['"a\\qb"', 'Escape sequence "\\q" is invalid (character offset 2).'],
      ['"\\u12g4"', '"\\u" must be followed by four hexadecimal digits (character offset 1).'],
      ['"😀\t"', 'Character with value 0x09 must be escaped (character offset 2).'],
      ['ñandú', 'Token "ñandú" is invalid (character offset 0).'],
    ];
    for (const [input, detail] of cases) {
      expect(errorOf(input)).toMatchObject({
        code: '22P02',
        message: 'invalid input syntax for type json',
        detail,
      });
    }
  });

  it('accepts only JSON whitespace', () => {
    expect(canonical(' \t\n\r[ 1 ,\n2 ] ')).toBe('[1, 2]');
    expect(errorOf('\u000b1').code).toBe('22P02');
    expect(errorOf('\u00a01').code).toBe('22P02');
  });

  it(`accepts nesting up to ${MAX_JSON_DEPTH} levels and raises 54001 beyond`, () => {
    const deep = `${'['.repeat(MAX_JSON_DEPTH)}1${']'.repeat(MAX_JSON_DEPTH)}`;
    const value = parseJson(deep);
    expect(serializeJsonb(value)).toBe(deep);
    expect(jsonbContains(value, value)).toBe(true);
    expect(errorOf(`[${deep}]`).code).toBe('54001');
    const objects = `${'{"a": '.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}`;
    const object = parseJson(objects);
    expect(serializeJsonb(object)).toBe(objects);
    expect(jsonbContains(object, object)).toBe(true);
    expect(serializeJsonb(mergePatch(object, object))).toBe(objects);
    expect(toPlainJson(object)).toBeTypeOf('object');
  });
});

describe('serializeJsonb', () => {
  it('prints jsonb spacing and escapes as Postgres does', () => {
    expect(canonical('{"a":[1,{"b":null}],"c":{}, "d": [], "e": true}')).toBe(
      '{"a": [1, {"b": null}], "c": {}, "d": [], "e": true}',
    );
    expect(quoteJsonString('\u0001\u001f\u007f"\\/\b\f\n\r\té😀')).toBe(
      '"\\u0001\\u001f\u007f\\"\\\\/\\b\\f\\n\\r\\té😀"',
    );
    expect(canonical('"\\u001F"')).toBe('"\\u001f"');
  });

  it('sorts objects built with makeObject', () => {
    expect(
      serializeJsonb(
        makeObject([
          ['bb', true],
          ['a', null],
          ['bb', false],
        ]),
      ),
    ).toBe('{"a": null, "bb": false}');
  });
});

describe('key order', () => {
  it('compares by UTF-8 length, then bytewise', () => {
    expect(utf8Length('aé😀\uffff')).toBe(1 + 2 + 4 + 3);
    const keys = ['b', 'aa', '', 'é', '😀', '\uffffa', 'a', 'ab', 'Z'];
    expect([...keys].sort(compareKeys)).toEqual([
      '',
      'Z',
      'a',
      'b',
      'aa',
      'ab',
      'é',
      '\uffffa',
      '😀',
    ]);
  });
});

describe('jsonbContains', () => {
  const contains = (doc: string, pattern: string): boolean =>
    jsonbContains(parseJson(doc), parseJson(pattern));

  it('follows the documented @> rules', () => {
    expect(contains('{"a": 1, "b": {"c": [1, 2, 2]}}', '{"b": {"c": [2, 1, 1]}}')).toBe(true);
    expect(contains('[1, 2, 3]', '[3, 1, 3]')).toBe(true);
    expect(contains('[1, [2, 3]]', '[[3]]')).toBe(true);
    expect(contains('[1, [2, 3]]', '[3]')).toBe(false);
    expect(contains('["a", 1]', '"a"')).toBe(true);
    expect(contains('"a"', '"a"')).toBe(true);
    expect(contains('"a"', '["a"]')).toBe(false);
    expect(contains('[["a"]]', '"a"')).toBe(false);
    expect(contains('{"a": [1]}', '{"a": 1}')).toBe(false);
    expect(contains('{"a": 1}', '[]')).toBe(false);
    expect(contains('[]', '{}')).toBe(false);
    expect(contains('{"a": 1}', '{}')).toBe(true);
    expect(contains('[1.0]', '[1]')).toBe(true);
    expect(contains('1.50', '1.5')).toBe(true);
    expect(contains('["1"]', '[1]')).toBe(false);
    expect(contains('[null]', 'null')).toBe(true);
    expect(contains('{"a": {"b": 1}}', '{"a": [{"b": 1}]}')).toBe(false);
  });
});

describe('getPath', () => {
  const doc = parseJson('{"a": [10, 20, {"b": null}], "": "empty"}');

  it('follows #> rules for keys, indexes and scalars', () => {
    expect(getPath(doc, [])).toBe(doc);
    expect(getPath(doc, [''])).toBe('empty');
    expect(getPath(doc, ['a', '2', 'b'])).toBeNull();
    expect(getPath(doc, ['a', '2', 'c'])).toBeUndefined();
    expect(getPath(doc, ['a', '-3'])).toBeInstanceOf(JsonNumber);
    expect(getPath(doc, ['a', '-4'])).toBeUndefined();
    expect(getPath(doc, ['a', '0', '0'])).toBeUndefined();
    expect(getPath(parseJson('5'), ['0'])).toBeUndefined();
    expect(jsonTypeOf(getPath(doc, ['a']) ?? null)).toBe('array');
  });

  it('reads array indexes as strtol does', () => {
    expect(parseArrayIndex('1')).toBe(1);
    expect(parseArrayIndex(' \t\n\u000b\f\r+1')).toBe(1);
    expect(parseArrayIndex('-0')).toBe(-0);
    expect(parseArrayIndex('007')).toBe(7);
    expect(parseArrayIndex('1 ')).toBeUndefined();
    expect(parseArrayIndex('1.0')).toBeUndefined();
    expect(parseArrayIndex('0x1')).toBeUndefined();
    expect(parseArrayIndex('')).toBeUndefined();
    expect(parseArrayIndex('+-1')).toBeUndefined();
    expect(parseArrayIndex('\u00a01')).toBeUndefined();
    expect(parseArrayIndex('2147483647')).toBe(2147483647);
    expect(parseArrayIndex('2147483648')).toBeUndefined();
    expect(parseArrayIndex('-2147483648')).toBeUndefined();
    expect(parseArrayIndex('99999999999999999999')).toBeUndefined();
  });
});
