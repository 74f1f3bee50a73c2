import { describe, expect, test } from 'vitest';
import { copyField, leaveToPostgres } from '../../src/http-api/import-loader.js';
import {
  JsonArraySplitter,
  NdjsonSplitter,
  type ImportItem,
} from '../../src/http-api/import-reader.js';

const texts = (items: readonly ImportItem[]): (string | number)[] =>
  items.map((item) => (item.kind === 'item' ? item.bytes.toString('utf8') : -item.number));

describe('import items', () => {
  test('NDJSON: blank lines skipped (Unicode whitespace too), numbers kept, any chunking', () => {
    const body = Buffer.from('{"a":1}\r\n\n  \n\u00a0\u2028\n {"b":2} \n{"c":"é"}');
    for (const size of [1, 2, 3, 7, body.length]) {
      const splitter = new NdjsonSplitter(1024);
      const items: ImportItem[] = [];
      for (let at = 0; at < body.length; at += size) {
        items.push(...splitter.push(body.subarray(at, at + size)));
      }
      items.push(...splitter.end());
      expect(items.map((item) => item.number)).toEqual([1, 5, 6]);
      expect(texts(items)).toEqual(['{"a":1}\r', ' {"b":2} ', '{"c":"é"}']);
    }
  });

  test('JSON array: a blank element is an item (reported as invalid JSON later)', () => {
    const splitter = new JsonArraySplitter(1024);
    const items = [...splitter.push(Buffer.from('[ {"a":"]"} , , {"b":[1]} ]')), ...splitter.end()];
    expect(texts(items)).toEqual(['{"a":"]"} ', '', '{"b":[1]} ']);
  });

  test('copyField escapes backslash, newline, CR and tab for COPY text, nothing else', () => {
    const plain = Buffer.from('{"a":"é x"}');
    expect(copyField(plain)).toBe(plain);
    const text = '{"a":"x\\"y\\\\z",\t"b":\r\n1}';
    const escaped = copyField(Buffer.from(text)).toString('utf8');
    expect(escaped).toBe('{"a":"x\\\\"y\\\\\\\\z",\\t"b":\\r\\n1}');
    // COPY's unescaping gives the text back.
    const unescaped = escaped.replace(/\\(.)/g, (_, c: string) =>
      c === 't' ? '\t' : c === 'r' ? '\r' : c === 'n' ? '\n' : c,
    );
    expect(unescaped).toBe(text);
  });

  test('only plain-looking UTF-8 objects without \\u0000 are left to Postgres', () => {
    const left = (text: string | Buffer): boolean =>
      leaveToPostgres(typeof text === 'string' ? Buffer.from(text) : text);
    expect(left('{"a":1}')).toBe(true);
    expect(left('{"a": 1,}')).toBe(true); // Postgres refuses it; checked here on retry
    expect(left(' {"a":1}')).toBe(false);
    expect(left('{"a":1}\r')).toBe(false);
    expect(left('[1]')).toBe(false);
    expect(left('"x"')).toBe(false);
    expect(left('{"a":"\\u0000"}')).toBe(false);
    expect(left(Buffer.from([0x7b, 0xff, 0x7d]))).toBe(false);
    expect(left('')).toBe(false);
  });
});
