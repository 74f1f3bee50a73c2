import { describe, expect, test } from 'vitest';
import { FrameReader, type Frame } from '../../protocol/frame-reader.js';
import * as fe from '../../protocol/frontend-encoders.js';
import {
  decodeBind,
  decodeClose,
  decodeDescribe,
  decodeParse,
} from '../../protocol/frontend-decoders.js';
import { FrontendCode } from '../../protocol/message-codes.js';
import {
  ClientStatements,
  ConnectionStatements,
  parseFrame,
  renameBind,
  statementTargetFrame,
  upstreamStatementName,
} from '../../src/prepared-statements.js';

/** Exactly one whole frame in `bytes`, with a correct length word. */
function frameOf(bytes: Buffer): Frame {
  const reader = new FrameReader({ maxMessageSize: 1 << 24 });
  reader.push(bytes);
  const frame = reader.next();
  if (frame === null) throw new Error('no whole frame');
  expect(reader.next()).toBeNull();
  expect(reader.buffered).toBe(0);
  expect(bytes.readInt32BE(1)).toBe(bytes.length - 1);
  return frame;
}

/** Postgres truncates identifiers (statement names too) to NAMEDATALEN - 1 = 63 bytes. */
const NAMEDATALEN = 64;

describe('upstreamStatementName', () => {
  test('stable: the same text and parameter types give the same name', () => {
    const a = upstreamStatementName('SELECT $1::int', [23]);
    expect(upstreamStatementName('SELECT $1::int', [23])).toBe(a);
    expect(upstreamStatementName('SELECT $1::int', Object.freeze([23]))).toBe(a);
  });

  test('a valid, untruncated Postgres identifier', () => {
    for (const sql of ['', 'SELECT 1', 'x'.repeat(100_000), "SELECT 'é✓𝄞'"]) {
      const name = upstreamStatementName(sql, [25, 1043]);
      expect(name).toMatch(/^[a-z_][a-z0-9_]*$/);
      expect(Buffer.byteLength(name)).toBeLessThan(NAMEDATALEN);
    }
  });

  test('distinct by text (also by whitespace and letter case)', () => {
    const texts = ['SELECT 1', 'SELECT  1', 'select 1', 'SELECT 1 ', 'SELECT 2', ''];
    const names = texts.map((sql) => upstreamStatementName(sql, []));
    expect(new Set(names).size).toBe(texts.length);
  });

  test('distinct by parameter types, including ambiguous joins', () => {
    const variants: number[][] = [[], [0], [23], [20], [23, 23], [2, 3], [23, 0], [0, 23], [1, 23]];
    const names = variants.map((types) => upstreamStatementName('SELECT $1', types));
    expect(new Set(names).size).toBe(variants.length);
    // Would collide if the types were concatenated without a separator ("123").
    expect(upstreamStatementName('q', [1, 23])).not.toBe(upstreamStatementName('q', [12, 3]));
  });

  test('text and types do not bleed into each other', () => {
    expect(upstreamStatementName('SELECT 1', [23])).not.toBe(
      upstreamStatementName('SELECT 123', []),
    );
    expect(upstreamStatementName('a', [])).not.toBe(upstreamStatementName('a\u0000', []));
  });

  test('no collisions over many distinct statements', () => {
    const names = new Set<string>();
    for (let i = 0; i < 5000; i++) names.add(upstreamStatementName(`SELECT ${i}`, [i % 7]));
    expect(names.size).toBe(5000);
  });
});

describe('ClientStatements', () => {
  test('define/get/delete/clear/size', () => {
    const statements = new ClientStatements();
    expect(statements.size).toBe(0);
    expect(statements.get('s1')).toBeUndefined();
    const s1 = statements.define('s1', 'SELECT $1', [23]);
    expect(s1).toEqual({
      sql: 'SELECT $1',
      paramTypes: [23],
      upstreamName: upstreamStatementName('SELECT $1', [23]),
    });
    expect(statements.get('s1')).toBe(s1);
    statements.define('s2', 'SELECT 2', []);
    expect(statements.size).toBe(2);
    expect(statements.delete('s1')).toBe(true);
    expect(statements.delete('s1')).toBe(false);
    expect(statements.get('s1')).toBeUndefined();
    expect(statements.size).toBe(1);
    statements.clear();
    expect(statements.size).toBe(0);
    expect(statements.get('s2')).toBeUndefined();
  });

  test('two client names for the same statement share one upstream name', () => {
    const statements = new ClientStatements();
    const a = statements.define('a', 'SELECT $1', [23]);
    const b = statements.define('b', 'SELECT $1', [23]);
    expect(a.upstreamName).toBe(b.upstreamName);
    const c = statements.define('c', 'SELECT $1', [20]);
    expect(c.upstreamName).not.toBe(a.upstreamName);
  });

  test('two clients defining the same name independently do not interfere', () => {
    const one = new ClientStatements();
    const two = new ClientStatements();
    one.define('s', 'SELECT 1', []);
    two.define('s', 'SELECT 2', []);
    expect(one.get('s')?.sql).toBe('SELECT 1');
    expect(two.get('s')?.sql).toBe('SELECT 2');
  });

  test('redefining a name replaces it', () => {
    const statements = new ClientStatements();
    statements.define('s', 'SELECT 1', []);
    const again = statements.define('s', 'SELECT 2', []);
    expect(statements.get('s')).toBe(again);
    expect(statements.size).toBe(1);
  });
});

describe('ConnectionStatements (LRU)', () => {
  const withNames = (...names: string[]): ConnectionStatements => {
    const cache = new ConnectionStatements();
    for (const name of names) cache.add(name);
    return cache;
  };

  test('has/add/delete/clear/size', () => {
    const cache = withNames('a', 'b');
    expect(cache.has('a')).toBe(true);
    expect(cache.has('z')).toBe(false);
    expect(cache.size).toBe(2);
    cache.add('a'); // no duplicate
    expect(cache.size).toBe(2);
    cache.delete('a');
    expect(cache.has('a')).toBe(false);
    cache.delete('nope');
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  test('evictionsFor names what must go so one more fits, least recently used first', () => {
    const cache = withNames('a', 'b', 'c');
    expect(cache.evictionsFor(10)).toEqual([]);
    expect(cache.evictionsFor(4)).toEqual([]); // 3 + 1 fits in 4
    expect(cache.evictionsFor(3)).toEqual(['a']);
    expect(cache.evictionsFor(2)).toEqual(['a', 'b']);
    expect(cache.evictionsFor(1)).toEqual(['a', 'b', 'c']);
    // Only names: the cache is unchanged until the caller deletes them.
    expect(cache.size).toBe(3);
  });

  test('touch makes a name most recently used; touching an unknown name adds nothing', () => {
    const cache = withNames('a', 'b', 'c');
    cache.touch('a');
    expect(cache.evictionsFor(3)).toEqual(['b']);
    cache.touch('b');
    expect(cache.evictionsFor(2)).toEqual(['c', 'a']);
    cache.touch('zzz');
    expect(cache.has('zzz')).toBe(false);
    expect(cache.size).toBe(3);
  });

  test('add of a present name also makes it most recently used', () => {
    const cache = withNames('a', 'b', 'c');
    cache.add('a');
    expect(cache.evictionsFor(3)).toEqual(['b']);
  });

  test('the usual cycle keeps the size at most max', () => {
    const max = 3;
    const cache = new ConnectionStatements();
    for (let i = 0; i < 20; i++) {
      for (const name of cache.evictionsFor(max)) cache.delete(name);
      cache.add(`s${i}`);
      expect(cache.size).toBeLessThanOrEqual(max);
    }
    expect(['s17', 's18', 's19'].every((name) => cache.has(name))).toBe(true);
  });
});

describe('frames', () => {
  test('parseFrame is a Parse under the upstream name with text and types', () => {
    const statements = new ClientStatements();
    const statement = statements.define('client_name', "SELECT $1::int, $2, 'é✓𝄞'", [23, 0]);
    const frame = frameOf(parseFrame(statement));
    expect(frame.type).toBe(FrontendCode.Parse);
    expect(decodeParse(frame.body)).toEqual({
      name: statement.upstreamName,
      sql: statement.sql,
      paramTypes: [23, 0],
    });
  });

  test('parseFrame with no types, and with OIDs above 2^31 (unsigned on the wire)', () => {
    const statements = new ClientStatements();
    const none = frameOf(parseFrame(statements.define('a', 'SELECT 1', [])));
    expect(decodeParse(none.body).paramTypes).toEqual([]);
    const big = frameOf(parseFrame(statements.define('b', 'SELECT $1', [4294967295, 2147483648])));
    expect(decodeParse(big.body).paramTypes).toEqual([4294967295, 2147483648]);
  });

  test('parseFrame equals what the frontend encoder writes for the same Parse', () => {
    const statements = new ClientStatements();
    const statement = statements.define('x', 'SELECT $1::text || $2', [25, 25]);
    expect(parseFrame(statement)).toEqual(
      fe.parse(statement.upstreamName, statement.sql, statement.paramTypes),
    );
  });

  test('parseFrame of a long multi-byte statement has the right length', () => {
    const statements = new ClientStatements();
    const sql = `SELECT '${'𝄞'.repeat(20_000)}'`;
    const frame = frameOf(parseFrame(statements.define('long', sql, [])));
    expect(decodeParse(frame.body).sql).toBe(sql);
  });

  const bindCases: [string, fe.BindOptions][] = [
    [
      'named portal, mixed formats, text/binary/NULL params, result formats',
      {
        portal: 'portal_1',
        statement: 'client_stmt',
        params: ['héllo', Buffer.from([0, 1, 2, 255, 0]), null, ''],
        paramFormats: [0, 1, 0, 0],
        resultFormats: [1, 0],
      },
    ],
    ['unnamed portal, no params', { portal: '', statement: 's' }],
    ['one format code for all', { statement: 'abc', params: ['1', '2'], paramFormats: [1] }],
    ['zero-length client name', { portal: 'p', statement: '', params: [null] }],
  ];

  test.each(bindCases)('renameBind keeps everything but the statement name: %s', (_, options) => {
    const original = frameOf(fe.bind(options));
    const upstreamName = upstreamStatementName('SELECT $1', []);
    const renamed = frameOf(renameBind(original.body, upstreamName));
    expect(renamed.type).toBe(FrontendCode.Bind);
    const before = decodeBind(original.body);
    const after = decodeBind(renamed.body);
    expect(after).toEqual({ ...before, statement: upstreamName });
    // Byte for byte: portal name before, and everything after the statement name.
    const portalLength = Buffer.byteLength(options.portal ?? '') + 1;
    const statementLength = Buffer.byteLength(options.statement ?? '') + 1;
    expect(renamed.body.subarray(0, portalLength)).toEqual(original.body.subarray(0, portalLength));
    expect(renamed.body.subarray(portalLength + upstreamName.length + 1)).toEqual(
      original.body.subarray(portalLength + statementLength),
    );
  });

  test('renameBind output equals the encoder writing the upstream name directly', () => {
    const options: fe.BindOptions = {
      portal: 'p',
      statement: 'mine',
      params: ['1', Buffer.from([9])],
      resultFormats: [1],
    };
    const upstreamName = upstreamStatementName('x', []);
    expect(renameBind(frameOf(fe.bind(options)).body, upstreamName)).toEqual(
      fe.bind({ ...options, statement: upstreamName }),
    );
  });

  test('renameBind works on a body that is a view into a larger buffer', () => {
    const bytes = Buffer.concat([
      fe.sync(),
      fe.bind({ portal: 'q', statement: 's', params: ['v'] }),
    ]);
    const reader = new FrameReader({ maxMessageSize: 1 << 20 });
    reader.push(bytes);
    reader.next(); // Sync
    const bind = reader.next();
    if (!bind) throw new Error('no bind');
    const renamed = frameOf(renameBind(bind.body, 'up'));
    expect(decodeBind(renamed.body)).toMatchObject({ portal: 'q', statement: 'up' });
  });

  test.each([
    [FrontendCode.Describe, decodeDescribe],
    [FrontendCode.Close, decodeClose],
  ] as const)(
    'statementTargetFrame(%i) targets the statement by its upstream name',
    (type, decode) => {
      const upstreamName = upstreamStatementName('SELECT 1', []);
      const bytes = statementTargetFrame(type, upstreamName);
      const frame = frameOf(bytes);
      expect(frame.type).toBe(type);
      expect(decode(frame.body)).toEqual({ target: 'S', name: upstreamName });
      const encoded =
        type === FrontendCode.Describe
          ? fe.describe('S', upstreamName)
          : fe.close('S', upstreamName);
      expect(bytes).toEqual(encoded);
    },
  );
});
