import { PassThrough } from 'node:stream';
import { parse as pgParse, serialize as pgSerialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import * as be from '../../../protocol/backend-encoders.js';
import {
  decodeAuthentication,
  decodeBackendKeyData,
  decodeCommandComplete,
  decodeDataRow,
  decodeErrorFields,
  decodeNegotiateProtocolVersion,
  decodeParameterDescription,
  decodeParameterStatus,
  decodeReadyForQuery,
  decodeRowDescription,
} from '../../../protocol/backend-decoders.js';
import { FrameReader, type Frame } from '../../../protocol/frame-reader.js';
import * as fe from '../../../protocol/frontend-encoders.js';
import { BackendCode, TransactionStatus } from '../../../protocol/message-codes.js';
import { PgError } from '../../../protocol/pg-error.js';

function frameOf(message: Buffer): Frame {
  const reader = new FrameReader({ maxMessageSize: 1 << 20 });
  reader.push(message);
  const frame = reader.next();
  if (frame === null) throw new Error('no frame');
  expect(reader.buffered).toBe(0);
  return frame;
}

/** Decodes backend bytes with node-postgres's parser: what real clients see. */
async function pgMessages(...messages: Buffer[]): Promise<Record<string, unknown>[]> {
  const stream = new PassThrough();
  const out: Record<string, unknown>[] = [];
  const done = pgParse(stream, (msg) => out.push(msg as unknown as Record<string, unknown>));
  stream.end(Buffer.concat(messages));
  await done;
  return out;
}

const fields: be.FieldDescription[] = [
  {
    name: 'id',
    tableOid: 16384,
    columnAttr: 1,
    typeOid: 23,
    typeSize: 4,
    typeModifier: -1,
    format: 0,
  },
  {
    name: 'döc',
    tableOid: 0,
    columnAttr: 0,
    typeOid: 3802,
    typeSize: -1,
    typeModifier: -1,
    format: 1,
  },
  {
    name: '',
    tableOid: 0xffffffff,
    columnAttr: -1,
    typeOid: 0xfffffffe,
    typeSize: -2,
    typeModifier: 0x7fffffff,
    format: 0,
  },
];

describe('backend encoders → backend decoders', () => {
  it('Authentication requests', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const cases: [Buffer, unknown][] = [
      [be.authenticationOk(), { kind: 'ok' }],
      [be.authenticationCleartextPassword(), { kind: 'cleartext' }],
      [be.authenticationMD5Password(salt), { kind: 'md5', salt }],
      [
        be.authenticationSASL(['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS']),
        { kind: 'sasl', mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'] },
      ],
      [
        be.authenticationSASLContinue('r=abc,s=xyz,i=4096'),
        { kind: 'sasl-continue', data: Buffer.from('r=abc,s=xyz,i=4096') },
      ],
      [
        be.authenticationSASLFinal(Buffer.from('v=sig')),
        { kind: 'sasl-final', data: Buffer.from('v=sig') },
      ],
    ];
    for (const [message, expected] of cases) {
      const frame = frameOf(message);
      expect(frame.type).toBe(BackendCode.Authentication);
      expect(decodeAuthentication(frame.body)).toEqual(expected);
    }
    const gss = Buffer.from([0, 0, 0, 7]);
    expect(decodeAuthentication(gss)).toEqual({ kind: 'other', code: 7 });
  });

  it('ErrorResponse and NoticeResponse with every field', () => {
    const full: be.ErrorFields = {
      severity: 'ERROR',
      code: '42P01',
      message: 'relation "nope" does not exist',
      detail: 'détail',
      hint: 'a hint',
      position: 15,
      internalPosition: 3,
      internalQuery: 'SELECT 1',
      where: 'PL/pgSQL function f()',
      schema: 'public',
      table: 't',
      column: 'c',
      dataType: 'int4',
      constraint: 'pk',
      file: 'parse_relation.c',
      line: 1392,
      routine: 'parserOpenTable',
    };
    const frame = frameOf(be.errorResponse(full));
    expect(frame.type).toBe(BackendCode.ErrorResponse);
    const decoded = decodeErrorFields(frame.body);
    expect(decoded.code).toBe('42P01');
    expect(decoded.message).toBe(full.message);
    expect(decoded.severity).toBe('ERROR');
    expect([...decoded.keys()].join('')).toBe('SVCMDHPpqWstcdnFLR');
    expect(decoded.get('P')).toBe('15');
    expect(decoded.get('D')).toBe('détail');
    const notice = frameOf(
      be.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'hi', detail: undefined }),
    );
    expect(notice.type).toBe(BackendCode.NoticeResponse);
    expect([...decodeErrorFields(notice.body)]).toEqual([
      ['S', 'NOTICE'],
      ['V', 'NOTICE'],
      ['C', '00000'],
      ['M', 'hi'],
    ]);
  });

  it('errorFromPgError', () => {
    const err = new PgError('28P01', 'password authentication failed for user "x"', {
      severity: 'FATAL',
      hint: 'h',
      position: 2,
    });
    const decoded = decodeErrorFields(frameOf(be.errorFromPgError(err)).body);
    expect(Object.fromEntries(decoded)).toEqual({
      S: 'FATAL',
      V: 'FATAL',
      C: '28P01',
      M: err.message,
      H: 'h',
      P: '2',
    });
  });

  it('ParameterStatus, BackendKeyData, ReadyForQuery, CommandComplete', () => {
    expect(
      decodeParameterStatus(frameOf(be.parameterStatus('server_version', '17.4')).body),
    ).toEqual({ name: 'server_version', value: '17.4' });
    for (const key of [Buffer.from([0xde, 0xad, 0xbe, 0xef]), Buffer.alloc(32, 5)]) {
      expect(decodeBackendKeyData(frameOf(be.backendKeyData(-123, key)).body)).toEqual({
        processId: -123,
        secretKey: key,
      });
    }
    for (const status of [
      TransactionStatus.Idle,
      TransactionStatus.InTransaction,
      TransactionStatus.Failed,
    ]) {
      expect(decodeReadyForQuery(frameOf(be.readyForQuery(status)).body)).toBe(status);
    }
    expect(decodeCommandComplete(frameOf(be.commandComplete('INSERT 0 3')).body)).toBe(
      'INSERT 0 3',
    );
  });

  it('RowDescription, DataRow, ParameterDescription, NegotiateProtocolVersion', () => {
    expect(decodeRowDescription(frameOf(be.rowDescription(fields)).body)).toEqual(fields);
    expect(decodeRowDescription(frameOf(be.rowDescription([])).body)).toEqual([]);
    const row = decodeDataRow(frameOf(be.dataRow(['ünï', null, Buffer.from([0, 1]), ''])).body);
    expect(row).toEqual([Buffer.from('ünï'), null, Buffer.from([0, 1]), Buffer.alloc(0)]);
    expect(
      decodeParameterDescription(frameOf(be.parameterDescription([23, 0xffffffff])).body),
    ).toEqual([23, 0xffffffff]);
    expect(
      decodeNegotiateProtocolVersion(
        frameOf(be.negotiateProtocolVersion(0, ['_pq_.a', '_pq_.b'])).body,
      ),
    ).toEqual({ newestMinor: 0, unrecognizedOptions: ['_pq_.a', '_pq_.b'] });
  });

  it('empty messages and sslResponse', () => {
    const empties: [Buffer, number][] = [
      [be.emptyQueryResponse(), BackendCode.EmptyQueryResponse],
      [be.parseComplete(), BackendCode.ParseComplete],
      [be.bindComplete(), BackendCode.BindComplete],
      [be.closeComplete(), BackendCode.CloseComplete],
      [be.noData(), BackendCode.NoData],
      [be.portalSuspended(), BackendCode.PortalSuspended],
      [be.copyDone(), BackendCode.CopyDone],
    ];
    for (const [message, code] of empties) {
      expect(message).toEqual(Buffer.from([code, 0, 0, 0, 4]));
    }
    expect(be.sslResponse(true)).toEqual(Buffer.from('S'));
    expect(be.sslResponse(false)).toEqual(Buffer.from('N'));
  });

  it('malformed backend bodies throw 08P01', () => {
    const bad: [(b: Buffer) => unknown, Buffer][] = [
      [decodeAuthentication, Buffer.from([0, 0])],
      [decodeAuthentication, Buffer.from([0, 0, 0, 0, 1])],
      [decodeAuthentication, Buffer.from([0, 0, 0, 5, 1, 2])],
      [decodeAuthentication, Buffer.from([0, 0, 0, 10, 0x41])],
      [decodeErrorFields, Buffer.from('SERROR\0')],
      [decodeErrorFields, Buffer.from('SERROR\0\0x')],
      [decodeParameterStatus, Buffer.from('a\0')],
      [decodeBackendKeyData, Buffer.from([0, 0, 0, 1, 2, 3])],
      [decodeReadyForQuery, Buffer.from('X')],
      [decodeReadyForQuery, Buffer.from('II')],
      [decodeCommandComplete, Buffer.from('SELECT 1')],
      [decodeRowDescription, Buffer.from([0, 1, 0x61, 0])],
      [decodeDataRow, Buffer.from([0, 1, 0, 0, 0, 5, 1])],
      [decodeParameterDescription, Buffer.from([0, 2, 0, 0, 0, 1])],
      [decodeNegotiateProtocolVersion, Buffer.from([0, 0, 0, 0, 0, 0, 0, 9, 0])],
    ];
    for (const [decode, body] of bad) {
      let error: unknown;
      try {
        decode(body);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PgError);
      expect((error as PgError).code).toBe('08P01');
    }
  });
});

describe('cross-check with pg-protocol (node-postgres)', () => {
  it('parses our authentication, status and key messages', async () => {
    const msgs = await pgMessages(
      be.authenticationOk(),
      be.authenticationCleartextPassword(),
      be.authenticationMD5Password(Buffer.from([9, 8, 7, 6])),
      be.authenticationSASL(['SCRAM-SHA-256']),
      be.authenticationSASLContinue('r=abc,s=c2FsdA==,i=4096'),
      be.authenticationSASLFinal('v=c2ln'),
      be.parameterStatus('client_encoding', 'UTF8'),
      be.backendKeyData(4242, Buffer.from([0, 0, 0x30, 0x39])),
      be.readyForQuery(TransactionStatus.InTransaction),
    );
    expect(msgs.map((m) => m.name)).toEqual([
      'authenticationOk',
      'authenticationCleartextPassword',
      'authenticationMD5Password',
      'authenticationSASL',
      'authenticationSASLContinue',
      'authenticationSASLFinal',
      'parameterStatus',
      'backendKeyData',
      'readyForQuery',
    ]);
    expect(msgs[2]?.salt).toEqual(Buffer.from([9, 8, 7, 6]));
    expect(msgs[3]?.mechanisms).toEqual(['SCRAM-SHA-256']);
    expect(msgs[4]?.data).toBe('r=abc,s=c2FsdA==,i=4096');
    expect(msgs[5]?.data).toBe('v=c2ln');
    expect(msgs[6]).toMatchObject({ parameterName: 'client_encoding', parameterValue: 'UTF8' });
    expect(msgs[7]).toMatchObject({ processID: 4242, secretKey: 12345 });
    expect(msgs[8]).toMatchObject({ status: 'T' });
  });

  it('parses our query-result messages', async () => {
    const msgs = await pgMessages(
      be.parseComplete(),
      be.bindComplete(),
      be.parameterDescription([23, 25]),
      be.rowDescription(fields.slice(0, 2)),
      be.dataRow(['1', null, Buffer.from('{"a":1}')]),
      be.commandComplete('SELECT 1'),
      be.emptyQueryResponse(),
      be.noData(),
      be.portalSuspended(),
      be.closeComplete(),
    );
    expect(msgs.map((m) => m.name)).toEqual([
      'parseComplete',
      'bindComplete',
      'parameterDescription',
      'rowDescription',
      'dataRow',
      'commandComplete',
      'emptyQuery',
      'noData',
      'portalSuspended',
      'closeComplete',
    ]);
    expect(msgs[2]?.dataTypeIDs).toEqual([23, 25]);
    expect(msgs[3]?.fields).toMatchObject([
      {
        name: 'id',
        tableID: 16384,
        columnID: 1,
        dataTypeID: 23,
        dataTypeSize: 4,
        dataTypeModifier: -1,
        format: 'text',
      },
      {
        name: 'döc',
        tableID: 0,
        columnID: 0,
        dataTypeID: 3802,
        dataTypeSize: -1,
        format: 'binary',
      },
    ]);
    expect(msgs[4]?.fields).toEqual(['1', null, '{"a":1}']);
    expect(msgs[5]?.text).toBe('SELECT 1');
  });

  it('parses our ErrorResponse and NoticeResponse', async () => {
    const msgs = await pgMessages(
      be.errorResponse({
        severity: 'FATAL',
        code: '28P01',
        message: 'bad',
        detail: 'd',
        hint: 'h',
        position: 7,
        routine: 'r',
      }),
      be.noticeResponse({ severity: 'WARNING', code: '01000', message: 'careful' }),
    );
    expect(msgs[0]).toMatchObject({
      name: 'error',
      severity: 'FATAL',
      code: '28P01',
      message: 'bad',
      detail: 'd',
      hint: 'h',
      position: '7',
      routine: 'r',
    });
    expect(msgs[1]).toMatchObject({
      name: 'notice',
      severity: 'WARNING',
      code: '01000',
      message: 'careful',
    });
  });

  it('our frontend encoders produce the bytes pg-protocol serializes', () => {
    expect(fe.query('SELECT 1')).toEqual(pgSerialize.query('SELECT 1'));
    expect(fe.parse('s', 'SELECT $1', [23])).toEqual(
      pgSerialize.parse({ name: 's', text: 'SELECT $1', types: [23] }),
    );
    expect(
      fe.bind({
        portal: 'p',
        statement: 's',
        params: ['a', Buffer.from([1]), null],
        paramFormats: [0, 1, 0],
        resultFormats: [1],
      }),
    ).toEqual(
      pgSerialize.bind({
        portal: 'p',
        statement: 's',
        values: ['a', Buffer.from([1]), null],
        binary: true,
      }),
    );
    expect(fe.execute('p', 10)).toEqual(pgSerialize.execute({ portal: 'p', rows: 10 }));
    expect(fe.describe('S', 'x')).toEqual(pgSerialize.describe({ type: 'S', name: 'x' }));
    expect(fe.close('P', 'y')).toEqual(pgSerialize.close({ type: 'P', name: 'y' }));
    expect(fe.sync()).toEqual(pgSerialize.sync());
    expect(fe.flush()).toEqual(pgSerialize.flush());
    expect(fe.terminate()).toEqual(pgSerialize.end());
    expect(fe.passwordMessage('pw')).toEqual(pgSerialize.password('pw'));
    expect(fe.saslInitialResponse('SCRAM-SHA-256', 'n,,n=*,r=x')).toEqual(
      pgSerialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=x'),
    );
    expect(fe.saslResponse('c=biws')).toEqual(pgSerialize.sendSCRAMClientFinalMessage('c=biws'));
    expect(fe.sslRequest()).toEqual(pgSerialize.requestSsl());
    expect(fe.cancelRequest(77, Buffer.from([0, 0, 0, 99]))).toEqual(pgSerialize.cancel(77, 99));
    expect(fe.startupMessage({ user: 'u', database: 'd', client_encoding: 'UTF8' })).toEqual(
      pgSerialize.startup({ user: 'u', database: 'd' }),
    );
    expect(fe.copyData(Buffer.from('x'))).toEqual(pgSerialize.copyData(Buffer.from('x')));
    const data = Buffer.from('1\t{"a":1}\n');
    expect(Buffer.concat([fe.copyDataHeader(data.length), data])).toEqual(fe.copyData(data));
    expect(fe.copyDone()).toEqual(pgSerialize.copyDone());
    expect(fe.copyFail('no')).toEqual(pgSerialize.copyFail('no'));
  });
});
