import { describe, expect, it } from 'vitest';
import { FrameReader, type Frame } from '../../../protocol/frame-reader.js';
import * as fe from '../../../protocol/frontend-encoders.js';
import {
  decodeBind,
  decodeClose,
  decodeCopyFail,
  decodeDescribe,
  decodeExecute,
  decodeFunctionCall,
  decodeParse,
  decodePasswordMessage,
  decodeQuery,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  decodeStartupPacket,
  expectEmptyBody,
} from '../../../protocol/frontend-decoders.js';
import { FrontendCode } from '../../../protocol/message-codes.js';
import { PgError } from '../../../protocol/pg-error.js';

function frameOf(message: Buffer, untyped = false): Frame {
  const reader = new FrameReader({ maxMessageSize: 1 << 20, untyped });
  reader.push(message);
  const frame = reader.next();
  if (frame === null) throw new Error('no frame');
  expect(reader.next()).toBeNull();
  return frame;
}

function pgErrorOf(fn: () => unknown): PgError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PgError) return error;
    throw new Error(`expected a PgError, got ${String(error)}`);
  }
  throw new Error('expected a PgError, nothing was thrown');
}

describe('startup packets', () => {
  it('decodes a StartupMessage', () => {
    const frame = frameOf(
      fe.startupMessage({ user: 'alice', database: 'db', application_name: 'héllo ☃' }),
      true,
    );
    expect(frame.type).toBe(0);
    const packet = decodeStartupPacket(frame.body);
    expect(packet).toEqual({
      kind: 'startup',
      major: 3,
      minor: 0,
      params: new Map([
        ['user', 'alice'],
        ['database', 'db'],
        ['application_name', 'héllo ☃'],
      ]),
    });
  });

  it('decodes protocol 3.2 and _pq_ options', () => {
    const packet = decodeStartupPacket(
      frameOf(fe.startupMessage({ user: 'u', '_pq_.x': 'y' }, 2), true).body,
    );
    expect(packet.kind === 'startup' && packet.minor).toBe(2);
    expect(packet.kind === 'startup' && packet.params.get('_pq_.x')).toBe('y');
  });

  it('decodes SSLRequest, GSSENCRequest and CancelRequest', () => {
    expect(decodeStartupPacket(frameOf(fe.sslRequest(), true).body)).toEqual({
      kind: 'ssl-request',
    });
    expect(decodeStartupPacket(frameOf(fe.gssencRequest(), true).body)).toEqual({
      kind: 'gssenc-request',
    });
    for (const key of [Buffer.from([1, 2, 3, 4]), Buffer.alloc(32, 7), Buffer.alloc(256, 9)]) {
      expect(decodeStartupPacket(frameOf(fe.cancelRequest(-5, key), true).body)).toEqual({
        kind: 'cancel',
        processId: -5,
        secretKey: key,
      });
    }
  });

  it('rejects cancel keys shorter than 4 or longer than 256 bytes', () => {
    for (const length of [0, 3, 257]) {
      const body = frameOf(fe.cancelRequest(1, Buffer.alloc(length)), true).body;
      expect(pgErrorOf(() => decodeStartupPacket(body)).code).toBe('08P01');
    }
  });

  it('answers an unsupported major version with FATAL 0A000', () => {
    for (const major of [1, 2, 4, 1234]) {
      const body = Buffer.alloc(4);
      body.writeUInt32BE(((major << 16) | 0) >>> 0);
      const err = pgErrorOf(() => decodeStartupPacket(body));
      expect(err.code).toBe('0A000');
      expect(err.severity).toBe('FATAL');
      expect(err.message).toMatch(/unsupported frontend protocol/);
    }
  });

  it('requires a user (28000)', () => {
    const err = pgErrorOf(() =>
      decodeStartupPacket(frameOf(fe.startupMessage({ database: 'db' }), true).body),
    );
    expect(err.code).toBe('28000');
    expect(err.severity).toBe('FATAL');
    expect(
      pgErrorOf(() => decodeStartupPacket(frameOf(fe.startupMessage({ user: '' }), true).body))
        .code,
    ).toBe('28000');
  });

  it('rejects a missing terminator, trailing bytes and invalid UTF-8 with 08P01', () => {
    const good = frameOf(fe.startupMessage({ user: 'u' }), true).body;
    const noTerminator = good.subarray(0, good.length - 1);
    const trailing = Buffer.concat([good, Buffer.from('x\0')]);
    const badUtf8 = Buffer.from(good);
    badUtf8[good.indexOf('u', 8)] = 0xff; // the value 'u'
    const versionOnly = good.subarray(0, 4);
    for (const body of [noTerminator, trailing, badUtf8, versionOnly]) {
      expect(pgErrorOf(() => decodeStartupPacket(body)).code).toBe('08P01');
    }
    const sslWithTrailing = Buffer.concat([frameOf(fe.sslRequest(), true).body, Buffer.alloc(1)]);
    expect(pgErrorOf(() => decodeStartupPacket(sslWithTrailing)).code).toBe('08P01');
  });
});

describe('typed messages round trip', () => {
  it('Query', () => {
    const frame = frameOf(fe.query("SELECT 'ünïcode' -- ☃"));
    expect(frame.type).toBe(FrontendCode.Query);
    expect(decodeQuery(frame.body)).toEqual({ sql: "SELECT 'ünïcode' -- ☃" });
    expect(decodeQuery(frameOf(fe.query('')).body)).toEqual({ sql: '' });
  });

  it('Parse', () => {
    const frame = frameOf(fe.parse('stmt', 'SELECT $1, $2', [23, 0xffffffff]));
    expect(frame.type).toBe(FrontendCode.Parse);
    expect(decodeParse(frame.body)).toEqual({
      name: 'stmt',
      sql: 'SELECT $1, $2',
      paramTypes: [23, 0xffffffff],
    });
    expect(decodeParse(frameOf(fe.parse('', 'SELECT 1')).body).paramTypes).toEqual([]);
  });

  it('Bind with text, binary and null parameters', () => {
    const binary = Buffer.from([0, 0, 0, 42]);
    const frame = frameOf(
      fe.bind({
        portal: 'p',
        statement: 's',
        params: ['text', binary, null, ''],
        resultFormats: [1],
      }),
    );
    expect(frame.type).toBe(FrontendCode.Bind);
    expect(decodeBind(frame.body)).toEqual({
      portal: 'p',
      statement: 's',
      paramFormats: [0, 1, 0, 0],
      params: [Buffer.from('text'), binary, null, Buffer.alloc(0)],
      resultFormats: [1],
    });
    expect(decodeBind(frameOf(fe.bind({ params: ['a', null] })).body)).toEqual({
      portal: '',
      statement: '',
      paramFormats: [],
      params: [Buffer.from('a'), null],
      resultFormats: [],
    });
    const one = decodeBind(frameOf(fe.bind({ params: ['a', 'b'], paramFormats: [0] })).body);
    expect(one.paramFormats).toEqual([0]);
  });

  it('Bind rejects bad format codes (22023) and mismatched format counts (08P01)', () => {
    const badCode = frameOf(fe.bind({ params: ['a'], paramFormats: [2] })).body;
    expect(pgErrorOf(() => decodeBind(badCode)).code).toBe('22023');
    const badResult = frameOf(fe.bind({ resultFormats: [0, -1] })).body;
    expect(pgErrorOf(() => decodeBind(badResult)).code).toBe('22023');
    const mismatch = frameOf(fe.bind({ params: ['a', 'b', 'c'], paramFormats: [0, 1] })).body;
    expect(pgErrorOf(() => decodeBind(mismatch)).code).toBe('08P01');
  });

  it('Bind rejects value lengths below -1 and counts beyond the body', () => {
    const body = Buffer.from(frameOf(fe.bind({ params: ['abcd'] })).body);
    // portal \0, statement \0, int16 0 formats, int16 1 param, int32 length
    body.writeInt32BE(-2, 6);
    expect(pgErrorOf(() => decodeBind(body)).code).toBe('08P01');
    body.writeInt32BE(1000, 6);
    expect(pgErrorOf(() => decodeBind(body)).code).toBe('08P01');
    body.writeUInt16BE(0xffff, 4);
    expect(pgErrorOf(() => decodeBind(body)).code).toBe('08P01');
  });

  it('Describe and Close', () => {
    expect(decodeDescribe(frameOf(fe.describe('S', 'stmt')).body)).toEqual({
      target: 'S',
      name: 'stmt',
    });
    expect(decodeDescribe(frameOf(fe.describe('P')).body)).toEqual({ target: 'P', name: '' });
    expect(decodeClose(frameOf(fe.close('P', 'portal')).body)).toEqual({
      target: 'P',
      name: 'portal',
    });
    expect(decodeClose(frameOf(fe.close('S', 's')).body)).toEqual({ target: 'S', name: 's' });
    const bad = Buffer.from(frameOf(fe.describe('S', 'x')).body);
    bad[0] = 0x58;
    expect(pgErrorOf(() => decodeDescribe(bad)).code).toBe('08P01');
    expect(pgErrorOf(() => decodeClose(bad)).code).toBe('08P01');
  });

  it('Execute', () => {
    expect(decodeExecute(frameOf(fe.execute('p', 10)).body)).toEqual({ portal: 'p', maxRows: 10 });
    expect(decodeExecute(frameOf(fe.execute()).body)).toEqual({ portal: '', maxRows: 0 });
  });

  it('CopyFail, CopyData, CopyDone, Sync, Flush, Terminate', () => {
    expect(decodeCopyFail(frameOf(fe.copyFail('boom')).body)).toEqual({ message: 'boom' });
    const data = frameOf(fe.copyData(Buffer.from('1\tx\n')));
    expect(data.type).toBe(FrontendCode.CopyData);
    expect(data.body.toString()).toBe('1\tx\n');
    const empties: [Buffer, number][] = [
      [fe.copyDone(), FrontendCode.CopyDone],
      [fe.sync(), FrontendCode.Sync],
      [fe.flush(), FrontendCode.Flush],
      [fe.terminate(), FrontendCode.Terminate],
    ];
    for (const [message, code] of empties) {
      const frame = frameOf(message);
      expect(frame.type).toBe(code);
      expect(() => {
        expectEmptyBody(frame.body, 'Sync message');
      }).not.toThrow();
    }
    expect(
      pgErrorOf(() => {
        expectEmptyBody(Buffer.alloc(1), 'Sync message');
      }).code,
    ).toBe('08P01');
  });

  it('FunctionCall', () => {
    const frame = frameOf(fe.functionCall(1234, ['x', Buffer.from([1]), null], undefined, 1));
    expect(frame.type).toBe(FrontendCode.FunctionCall);
    expect(decodeFunctionCall(frame.body)).toEqual({
      functionOid: 1234,
      argFormats: [0, 1, 0],
      args: [Buffer.from('x'), Buffer.from([1]), null],
      resultFormat: 1,
    });
  });

  it('PasswordMessage, SASLInitialResponse, SASLResponse', () => {
    const pw = frameOf(fe.passwordMessage('md5abc'));
    expect(pw.type).toBe(FrontendCode.Password);
    expect(decodePasswordMessage(pw.body)).toEqual({ password: 'md5abc' });
    const data = Buffer.from('n,,n=*,r=abc');
    expect(
      decodeSASLInitialResponse(frameOf(fe.saslInitialResponse('SCRAM-SHA-256', data)).body),
    ).toEqual({
      mechanism: 'SCRAM-SHA-256',
      data,
    });
    expect(decodeSASLInitialResponse(frameOf(fe.saslInitialResponse('X', null)).body)).toEqual({
      mechanism: 'X',
      data: null,
    });
    expect(decodeSASLResponse(frameOf(fe.saslResponse('c=biws')).body).data.toString()).toBe(
      'c=biws',
    );
  });
});

describe('malformed bodies', () => {
  type Decoder = (body: Buffer) => unknown;
  const cases: [string, Decoder, Buffer][] = [
    [
      'startup',
      decodeStartupPacket,
      frameOf(fe.startupMessage({ user: 'u', database: 'd' }), true).body,
    ],
    ['cancel', decodeStartupPacket, frameOf(fe.cancelRequest(7, Buffer.alloc(4, 1)), true).body],
    ['ssl', decodeStartupPacket, frameOf(fe.sslRequest(), true).body],
    ['query', decodeQuery, frameOf(fe.query('SELECT 1')).body],
    ['parse', decodeParse, frameOf(fe.parse('s', 'SELECT $1', [23, 25])).body],
    [
      'bind',
      decodeBind,
      frameOf(
        fe.bind({
          portal: 'p',
          statement: 's',
          params: ['ab', Buffer.from([1]), null],
          resultFormats: [0, 1],
        }),
      ).body,
    ],
    ['describe', decodeDescribe, frameOf(fe.describe('S', 'name')).body],
    ['execute', decodeExecute, frameOf(fe.execute('p', 5)).body],
    ['close', decodeClose, frameOf(fe.close('P', 'name')).body],
    ['copyFail', decodeCopyFail, frameOf(fe.copyFail('why')).body],
    ['functionCall', decodeFunctionCall, frameOf(fe.functionCall(99, ['a', null], [0], 0)).body],
    ['password', decodePasswordMessage, frameOf(fe.passwordMessage('secret')).body],
    [
      'saslInitial',
      decodeSASLInitialResponse,
      frameOf(fe.saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=x')).body,
    ],
  ];

  it.each(cases)('%s: every truncation throws 08P01', (_name, decode, body) => {
    expect(() => decode(body)).not.toThrow();
    for (let length = 0; length < body.length; length++) {
      const err = pgErrorOf(() => decode(Buffer.from(body.subarray(0, length))));
      expect(err.code, `truncated at ${length}`).toBe('08P01');
    }
  });

  // A cancel key may legitimately grow to 256 bytes (protocol 3.2), so a trailing byte is valid.
  const fixedLength = cases.filter(([name]) => name !== 'cancel');
  it.each(fixedLength)('%s: a trailing byte throws 08P01', (_name, decode, body) => {
    expect(pgErrorOf(() => decode(Buffer.concat([body, Buffer.from([0])]))).code).toBe('08P01');
  });

  it.each(cases)('%s: replacing any NUL throws a PgError', (_name, decode, body) => {
    for (let i = 0; i < body.length; i++) {
      if (body[i] !== 0) continue;
      const mutated = Buffer.from(body);
      mutated[i] = 0x41;
      try {
        decode(mutated);
      } catch (error) {
        expect(error).toBeInstanceOf(PgError);
      }
    }
  });

  it('a missing NUL terminator throws 08P01', () => {
    const noNul = Buffer.from('SELECT 1');
    expect(pgErrorOf(() => decodeQuery(noNul)).code).toBe('08P01');
    expect(pgErrorOf(() => decodePasswordMessage(noNul)).code).toBe('08P01');
    expect(pgErrorOf(() => decodeCopyFail(noNul)).code).toBe('08P01');
  });

  it('SQL that is not UTF-8 throws 22021 (a non-fatal ERROR, like Postgres)', () => {
    const err = pgErrorOf(() => decodeQuery(Buffer.from([0x53, 0xc3, 0x28, 0])));
    expect(err.code).toBe('22021');
    expect(err.severity).toBe('ERROR');
  });

  it('SASLInitialResponse with a negative or oversized length throws 08P01', () => {
    const body = Buffer.from(frameOf(fe.saslInitialResponse('M', 'abc')).body);
    body.writeInt32BE(-2, 2);
    expect(pgErrorOf(() => decodeSASLInitialResponse(body)).code).toBe('08P01');
    body.writeInt32BE(4, 2);
    expect(pgErrorOf(() => decodeSASLInitialResponse(body)).code).toBe('08P01');
  });
});
