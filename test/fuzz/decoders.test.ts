import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as bd from '../../protocol/backend-decoders.js';
import { FrameReader, MAX_STARTUP_PACKET } from '../../protocol/frame-reader.js';
import * as fe from '../../protocol/frontend-encoders.js';
import * as fd from '../../protocol/frontend-decoders.js';
import { PgError } from '../../protocol/pg-error.js';
import {
  ScramServerSession,
  makeScramVerifier,
  parseClientFinalMessage,
  parseClientFirstMessage,
} from '../../protocol/scram.js';

type Decoder = (body: Buffer) => unknown;

/** Calls `fn`; anything thrown must be a PgError (never RangeError, TypeError...). */
function onlyPgError(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof PgError)) throw error;
  }
}

const frontend: [string, Decoder, Buffer][] = [
  [
    'startup',
    fd.decodeStartupPacket,
    fe.startupMessage({ user: 'u', database: 'd' }, 2).subarray(4),
  ],
  ['cancel', fd.decodeStartupPacket, fe.cancelRequest(1, Buffer.alloc(8, 1)).subarray(4)],
  ['ssl', fd.decodeStartupPacket, fe.sslRequest().subarray(4)],
  ['query', fd.decodeQuery, fe.query('SELECT 1').subarray(5)],
  ['parse', fd.decodeParse, fe.parse('s', 'SELECT $1, $2', [23, 25]).subarray(5)],
  [
    'bind',
    fd.decodeBind,
    fe
      .bind({ statement: 's', params: ['a', Buffer.from([1, 2]), null], resultFormats: [1] })
      .subarray(5),
  ],
  ['describe', fd.decodeDescribe, fe.describe('S', 'n').subarray(5)],
  ['execute', fd.decodeExecute, fe.execute('p', 3).subarray(5)],
  ['close', fd.decodeClose, fe.close('P', 'n').subarray(5)],
  ['copyFail', fd.decodeCopyFail, fe.copyFail('x').subarray(5)],
  ['functionCall', fd.decodeFunctionCall, fe.functionCall(5, ['a', null]).subarray(5)],
  ['password', fd.decodePasswordMessage, fe.passwordMessage('pw').subarray(5)],
  [
    'saslInitial',
    fd.decodeSASLInitialResponse,
    fe.saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc').subarray(5),
  ],
  ['saslResponse', fd.decodeSASLResponse, fe.saslResponse('c=biws').subarray(5)],
];

const backend: [string, Decoder][] = [
  ['authentication', bd.decodeAuthentication],
  ['errorFields', bd.decodeErrorFields],
  ['parameterStatus', bd.decodeParameterStatus],
  ['backendKeyData', bd.decodeBackendKeyData],
  ['readyForQuery', bd.decodeReadyForQuery],
  ['commandComplete', bd.decodeCommandComplete],
  ['rowDescription', bd.decodeRowDescription],
  ['dataRow', bd.decodeDataRow],
  ['parameterDescription', bd.decodeParameterDescription],
  ['negotiateProtocolVersion', bd.decodeNegotiateProtocolVersion],
];

/** A valid body with a few random edits: overwritten bytes, truncation, insertion. */
function mutated(base: Buffer): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant('int' as const),
      at: fc.nat(),
      value: fc.constantFrom(-1, -2, 0, 1, 0x7fff, 0xffff, 0x7fffffff, -0x80000000),
    }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let buf = Buffer.from(base);
    for (const e of edits) {
      const at = buf.length === 0 ? 0 : e.at % (buf.length + 1);
      if (e.kind === 'set' && at < buf.length) buf[at] = e.value;
      else if (e.kind === 'cut') buf = buf.subarray(0, at);
      else if (e.kind === 'insert')
        buf = Buffer.concat([buf.subarray(0, at), e.bytes, buf.subarray(at)]);
      else if (e.kind === 'int' && at + 4 <= buf.length) buf.writeInt32BE(e.value, at);
      else if (e.kind === 'int' && at + 2 <= buf.length) buf.writeUInt16BE(e.value & 0xffff, at);
    }
    return buf;
  });
}

const randomBody = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));

describe('fuzz: decoders only ever throw PgError', () => {
  it.each(frontend)('frontend %s: random and mutated bodies', (_name, decode, base) => {
    expect(() => decode(base)).not.toThrow();
    fc.assert(
      fc.property(fc.oneof(randomBody, mutated(base)), (body) => {
        onlyPgError(() => decode(body));
      }),
      { numRuns: 300 },
    );
  });

  it.each(backend)('backend %s: random bodies', (_name, decode) => {
    fc.assert(
      fc.property(randomBody, (body) => {
        onlyPgError(() => decode(body));
      }),
      { numRuns: 100 },
    );
  });

  it('SCRAM message parsers and the server session', () => {
    const verifier = makeScramVerifier('pw', 4096);
    const scramText = fc.oneof(
      randomBody,
      fc.string({ maxLength: 40 }).map((s) => Buffer.from(s)),
      fc
        .array(
          fc.constantFrom('n', 'y', 'p', ',', '=', 'r', 'c', 'a', 'm', 'biws', 'abc', 'p=AAAA'),
          { maxLength: 12 },
        )
        .map((a) => Buffer.from(a.join(''))),
    );
    fc.assert(
      fc.property(scramText, scramText, (first, final) => {
        onlyPgError(() => parseClientFirstMessage(first));
        onlyPgError(() => parseClientFinalMessage(final));
        onlyPgError(() => new ScramServerSession().start(first, verifier));
        const server = new ScramServerSession();
        server.start(Buffer.from('n,,n=,r=abc'), verifier);
        onlyPgError(() => server.finish(final));
      }),
      { numRuns: 300 },
    );
  });
});

describe('fuzz: FrameReader', () => {
  const max = 256;
  it('only throws PgError and never returns a frame over the limit', () => {
    // Headers with plausible, edge and absurd lengths followed by random bytes, in random chunks.
    const length = fc.oneof(
      fc.integer({ min: -8, max: max + 8 }),
      fc.constantFrom(0x7fffffff, -0x80000000, MAX_STARTUP_PACKET, MAX_STARTUP_PACKET + 1),
    );
    const piece = fc
      .tuple(fc.integer({ min: 0, max: 255 }), length, fc.uint8Array({ maxLength: 300 }))
      .map(([type, len, body]) => {
        const header = Buffer.alloc(5);
        header[0] = type;
        header.writeInt32BE(len, 1);
        return Buffer.concat([header, body]);
      });
    const stream = fc.oneof(
      fc.array(piece, { minLength: 1, maxLength: 5 }).map((p) => Buffer.concat(p)),
      fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(
        stream,
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        (all, cuts, untyped, skipType) => {
          // With skipType the stream starts at the length word: a plausible startup packet.
          const bytes = untyped && skipType ? all.subarray(1) : all;
          const reader = new FrameReader({ maxMessageSize: max, untyped });
          const points = [...cuts.map((c) => c % (bytes.length + 1)), bytes.length].sort(
            (a, b) => a - b,
          );
          let first = untyped;
          let prev = 0;
          try {
            for (const p of points) {
              reader.push(bytes.subarray(prev, p));
              prev = p;
              for (let f = reader.next(); f !== null; f = reader.next()) {
                const header = first ? 4 : 5;
                expect(f.raw.length).toBeLessThanOrEqual(first ? MAX_STARTUP_PACKET : max);
                expect(f.body.length).toBe(f.raw.length - header);
                first = false;
              }
            }
          } catch (error) {
            if (!(error instanceof PgError)) throw error;
            expect(error.code).toBe('08P01');
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('valid streams with random chunking and headers survive', () => {
    const message = fc.oneof(
      fc.string({ maxLength: 100 }).map((s) => fe.query(s.replaceAll('\0', ''))),
      fc.constant(fe.sync()),
      fc.uint8Array({ maxLength: 200 }).map((a) => fe.copyData(a)),
    );
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, cuts) => {
          const all = Buffer.concat(messages);
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
          const reader = new FrameReader({ maxMessageSize: 1024 });
          const out: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, all.length]) {
            reader.push(all.subarray(prev, p));
            prev = p;
            for (let f = reader.next(); f !== null; f = reader.next()) out.push(f.raw);
          }
          expect(Buffer.concat(out).equals(all)).toBe(true);
          expect(out.length).toBe(messages.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
