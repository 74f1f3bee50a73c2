import { describe, expect, test } from 'vitest';
import { mentionsDocfusion, routeQuery } from '../../src/router.js';

/** A Query message body: the SQL text, NUL-terminated. */
const body = (sql: string): Buffer => Buffer.from(`${sql}\0`, 'utf8');
const local = (setting: string) => ({ kind: 'local', command: { kind: 'show', setting } });
const passthrough = { kind: 'passthrough' };

describe('routeQuery', () => {
  test.each([
    ['SHOW docfusion.version', 'version'],
    ['show docfusion.version', 'version'],
    ['SHOW DOCFUSION.VERSION', 'version'],
    ['ShOw DocFusion.Pool_Mode', 'pool_mode'],
    ['SHOW docfusion.version;', 'version'],
    ['SHOW docfusion.version ;', 'version'],
    ['  SHOW   docfusion.version  ', 'version'],
    ['\n\tSHOW\tdocfusion.version;\n', 'version'],
    ['SHOW\r\ndocfusion.x\r\n', 'x'],
  ])('%j → local SHOW %s', (sql, setting) => {
    expect(routeQuery(body(sql))).toEqual(local(setting));
  });

  test.each([
    ['SELECT 1'],
    [''],
    ['SHOW search_path'],
    ['SHOW docfusion'],
    ['SHOW docfusion.'],
    ['SHOW docfusion.version; SELECT 1'],
    ['SHOW docfusion.version;;'],
    ['SHOW docfusion.ver sion'],
    ['SHOW docfusion . version'],
    ['SHOWdocfusion.version'],
    ['SET docfusion.version = 1'],
    ["SELECT 'SHOW docfusion.version'"],
    ['SELECT json_extract_path(doc) FROM docfusion_docs'],
    ['-- SHOW docfusion.version'],
    ['EXPLAIN SHOW docfusion.version'],
    ['SHOW other.docfusion'],
  ])('%j → passthrough', (sql) => {
    expect(routeQuery(body(sql))).toEqual(passthrough);
  });

  test('a body without any mention is passed through without decoding (invalid UTF-8 is fine)', () => {
    const bytes = Buffer.concat([
      Buffer.from('SELECT '),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from([0]),
    ]);
    expect(routeQuery(bytes)).toEqual(passthrough);
  });

  test('an empty body (not even the NUL) is passthrough', () => {
    expect(routeQuery(Buffer.alloc(0))).toEqual(passthrough);
  });
});

describe('mentionsDocfusion', () => {
  const NEEDLE = 'docfusion';
  const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

  test('at the very start, the very end, and as the whole buffer', () => {
    expect(mentionsDocfusion(ascii('docfusion'))).toBe(true);
    expect(mentionsDocfusion(ascii('docfusion and more'))).toBe(true);
    expect(mentionsDocfusion(ascii('select from docfusion'))).toBe(true);
    expect(mentionsDocfusion(ascii('xdocfusionx'))).toBe(true);
  });

  test('truncated at either edge: no match', () => {
    expect(mentionsDocfusion(ascii('ocfusion'))).toBe(false);
    expect(mentionsDocfusion(ascii('docfusio'))).toBe(false);
    expect(mentionsDocfusion(ascii('select docfusio'))).toBe(false);
    expect(mentionsDocfusion(ascii('ocfusion select'))).toBe(false);
    expect(mentionsDocfusion(Buffer.alloc(0))).toBe(false);
    expect(mentionsDocfusion(ascii('d'))).toBe(false);
  });

  test('a partial match right before the real one does not hide it', () => {
    expect(mentionsDocfusion(ascii('docdocfusion'))).toBe(true);
    expect(mentionsDocfusion(ascii('docfusiodocfusion'))).toBe(true);
    expect(mentionsDocfusion(ascii('ddocfusion'))).toBe(true);
  });

  test('every letter-case combination matches', () => {
    for (let mask = 0; mask < 1 << NEEDLE.length; mask++) {
      const word = Array.from({ length: NEEDLE.length }, (_, i) =>
        (mask >> i) & 1 ? NEEDLE.charAt(i).toUpperCase() : NEEDLE.charAt(i),
      ).join('');
      expect(mentionsDocfusion(ascii(`x ${word} y`))).toBe(true);
    }
  });

  test('each position matches only its letter in either case, never another byte', () => {
    for (let position = 0; position < NEEDLE.length; position++) {
      const letter = NEEDLE.charCodeAt(position);
      for (let byte = 0; byte < 256; byte++) {
        const buffer = Buffer.from(`(${NEEDLE})`, 'latin1');
        buffer[position + 1] = byte;
        const expected = byte === letter || byte === letter - 0x20;
        if (mentionsDocfusion(buffer) !== expected) {
          throw new Error(
            `position ${position}, byte 0x${byte.toString(16)}: expected ${expected}`,
          );
        }
      }
    }
  });

  test('UTF-8 look-alikes do not match', () => {
    expect(mentionsDocfusion(Buffer.from('docfusıon', 'utf8'))).toBe(false); // dotless i
    expect(mentionsDocfusion(Buffer.from('ｄocfusion', 'utf8'))).toBe(false); // fullwidth d
  });
});
