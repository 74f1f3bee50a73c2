/**
 * Decoders for every frontend (client → server) message. Each takes the frame body (after the
 * type byte and length word) and throws a PgError on malformed input: 08P01 for framing
 * problems, 22021 for SQL text that is not UTF-8 and 22023 for bad format codes (as Postgres).
 * Buffers in the results are views into the body, not copies, except where noted.
 */
import { BufferReader, type InvalidUtf8Policy } from './buffer-reader.js';
import { StartupCode } from './message-codes.js';
import { PgError, SqlState, protocolViolation } from './pg-error.js';

/** Largest cancel key accepted (protocol 3.2 allows up to 256 bytes; 3.0 uses 4). */
export const MAX_CANCEL_KEY_LENGTH = 256;
/** Newest protocol minor version this decoder knows (3.2, PostgreSQL 18). */
export const LATEST_PROTOCOL_MINOR = 2;

const TARGET_STATEMENT = 0x53; // S
const TARGET_PORTAL = 0x50; // P

export type StartupPacket =
  | {
      readonly kind: 'startup';
      readonly major: number;
      readonly minor: number;
      /** Parameters in arrival order; a repeated key keeps its last value, as in Postgres. */
      readonly params: ReadonlyMap<string, string>;
    }
  | { readonly kind: 'ssl-request' }
  | { readonly kind: 'gssenc-request' }
  | { readonly kind: 'cancel'; readonly processId: number; readonly secretKey: Buffer };

/** 0 = text, 1 = binary. */
export type FormatCode = 0 | 1;
/** 'S' = prepared statement, 'P' = portal. */
export type DescribeTarget = 'S' | 'P';

export interface QueryMessage {
  readonly sql: string;
}
export interface ParseMessage {
  readonly name: string;
  readonly sql: string;
  /** Parameter type OIDs (unsigned); 0 = unspecified. May be shorter than the parameter count. */
  readonly paramTypes: number[];
}
export interface BindMessage {
  readonly portal: string;
  readonly statement: string;
  /** Empty (all text), one code (applies to all) or one per parameter. */
  readonly paramFormats: FormatCode[];
  /** null = SQL NULL. */
  readonly params: (Buffer | null)[];
  /** Empty (all text), one code (applies to all) or one per result column. */
  readonly resultFormats: FormatCode[];
}
export interface DescribeMessage {
  readonly target: DescribeTarget;
  readonly name: string;
}
export interface ExecuteMessage {
  readonly portal: string;
  /** Row limit; 0 (or negative, as Postgres treats it) = no limit. */
  readonly maxRows: number;
}
export interface CloseMessage {
  readonly target: DescribeTarget;
  readonly name: string;
}
export interface CopyFailMessage {
  readonly message: string;
}
export interface FunctionCallMessage {
  readonly functionOid: number;
  readonly argFormats: FormatCode[];
  readonly args: (Buffer | null)[];
  readonly resultFormat: FormatCode;
}
export interface PasswordMessage {
  readonly password: string;
}
export interface SASLInitialResponseMessage {
  readonly mechanism: string;
  /** null when the client sent length -1 (no initial response). */
  readonly data: Buffer | null;
}
export interface SASLResponseMessage {
  readonly data: Buffer;
}

function reader(body: Buffer, message: string, invalidUtf8: InvalidUtf8Policy): BufferReader {
  return new BufferReader(body, { message, invalidUtf8 });
}

/**
 * An untyped startup-phase packet: StartupMessage, SSLRequest, GSSENCRequest or CancelRequest.
 * `body` is the packet after its length word (it starts with the protocol/request code).
 * @throws PgError 08P01 on a malformed packet, 0A000 (FATAL) on an unsupported protocol major
 *   version, 28000 (FATAL) when there is no `user`.
 */
export function decodeStartupPacket(body: Buffer): StartupPacket {
  const r = reader(body, 'startup packet', 'protocol-violation');
  const code = r.int32();
  switch (code) {
    case StartupCode.SSLRequest:
      r.ensureEnd();
      return { kind: 'ssl-request' };
    case StartupCode.GSSENCRequest:
      r.ensureEnd();
      return { kind: 'gssenc-request' };
    case StartupCode.CancelRequest: {
      const keyLength = body.length - 8;
      if (keyLength < 4 || keyLength > MAX_CANCEL_KEY_LENGTH) {
        throw protocolViolation(`invalid length of cancel request packet: ${body.length + 4}`);
      }
      const processId = r.int32();
      return { kind: 'cancel', processId, secretKey: Buffer.from(r.rest()) };
    }
    default:
      break;
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) {
    throw new PgError(
      SqlState.FeatureNotSupported,
      `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.${LATEST_PROTOCOL_MINOR}`,
      { severity: 'FATAL' },
    );
  }
  const params = new Map<string, string>();
  for (;;) {
    if (r.remaining() === 0) {
      throw protocolViolation('invalid startup packet layout: expected terminator as last byte');
    }
    const key = r.cstring();
    if (key === '') break;
    params.set(key, r.cstring());
  }
  if (r.remaining() !== 0) {
    throw protocolViolation('invalid startup packet layout: expected terminator as last byte');
  }
  const user = params.get('user');
  if (user === undefined || user === '') {
    throw new PgError(
      SqlState.InvalidAuthorizationSpecification,
      'no PostgreSQL user name specified in startup packet',
      { severity: 'FATAL' },
    );
  }
  return { kind: 'startup', major, minor, params };
}

/** Query ('Q'). */
export function decodeQuery(body: Buffer): QueryMessage {
  const r = reader(body, 'Query message', 'encoding-error');
  const sql = r.cstring();
  r.ensureEnd();
  return { sql };
}

/** Parse ('P'). */
export function decodeParse(body: Buffer): ParseMessage {
  const r = reader(body, 'Parse message', 'encoding-error');
  const name = r.cstring();
  const sql = r.cstring();
  const count = checkedCount(r, 4);
  const paramTypes = new Array<number>(count);
  for (let i = 0; i < count; i++) paramTypes[i] = r.uint32();
  r.ensureEnd();
  return { name, sql, paramTypes };
}

/** Bind ('B'). */
export function decodeBind(body: Buffer): BindMessage {
  const r = reader(body, 'Bind message', 'encoding-error');
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = readFormats(r);
  const params = readValues(r);
  if (paramFormats.length > 1 && paramFormats.length !== params.length) {
    throw protocolViolation(
      `bind message has ${paramFormats.length} parameter formats but ${params.length} parameters`,
    );
  }
  const resultFormats = readFormats(r);
  r.ensureEnd();
  return { portal, statement, paramFormats, params, resultFormats };
}

/** Describe ('D'). */
export function decodeDescribe(body: Buffer): DescribeMessage {
  const r = reader(body, 'Describe message', 'encoding-error');
  const target = readTarget(r, 'DESCRIBE');
  const name = r.cstring();
  r.ensureEnd();
  return { target, name };
}

/** Execute ('E'). */
export function decodeExecute(body: Buffer): ExecuteMessage {
  const r = reader(body, 'Execute message', 'encoding-error');
  const portal = r.cstring();
  const maxRows = r.int32();
  r.ensureEnd();
  return { portal, maxRows };
}

/** Close ('C'). */
export function decodeClose(body: Buffer): CloseMessage {
  const r = reader(body, 'Close message', 'encoding-error');
  const target = readTarget(r, 'CLOSE');
  const name = r.cstring();
  r.ensureEnd();
  return { target, name };
}

/** CopyFail ('f'). */
export function decodeCopyFail(body: Buffer): CopyFailMessage {
  const r = reader(body, 'CopyFail message', 'encoding-error');
  const message = r.cstring();
  r.ensureEnd();
  return { message };
}

/** FunctionCall ('F'). */
export function decodeFunctionCall(body: Buffer): FunctionCallMessage {
  const r = reader(body, 'FunctionCall message', 'encoding-error');
  const functionOid = r.uint32();
  const argFormats = readFormats(r);
  const args = readValues(r);
  if (argFormats.length > 1 && argFormats.length !== args.length) {
    throw protocolViolation(
      `function call message has ${argFormats.length} argument formats but ${args.length} arguments`,
    );
  }
  const resultFormat = formatCode(r.int16());
  r.ensureEnd();
  return { functionOid, argFormats, args, resultFormat };
}

/** PasswordMessage ('p' answering AuthenticationCleartextPassword or MD5Password). */
export function decodePasswordMessage(body: Buffer): PasswordMessage {
  const r = reader(body, 'password packet', 'protocol-violation');
  const password = r.cstring();
  r.ensureEnd();
  return { password };
}

/** SASLInitialResponse ('p' answering AuthenticationSASL). */
export function decodeSASLInitialResponse(body: Buffer): SASLInitialResponseMessage {
  const r = reader(body, 'SASLInitialResponse message', 'protocol-violation');
  const mechanism = r.cstring();
  const length = r.int32();
  const data = length === -1 ? null : r.bytes(length);
  r.ensureEnd();
  return { mechanism, data };
}

/** SASLResponse ('p' answering AuthenticationSASLContinue): the body is the data. */
export function decodeSASLResponse(body: Buffer): SASLResponseMessage {
  return { data: body };
}

/** Sync, Flush, Terminate and CopyDone have empty bodies; anything else is 08P01. */
export function expectEmptyBody(body: Buffer, message: string): void {
  if (body.length !== 0) {
    throw protocolViolation(`invalid ${message} format: ${body.length} trailing bytes`);
  }
}

/** Reads a uint16 count of items of `itemSize` bytes at least, refusing counts the body cannot hold. */
function checkedCount(r: BufferReader, itemSize: number): number {
  const count = r.uint16();
  if (count * itemSize > r.remaining()) {
    throw protocolViolation(`count ${count} exceeds the message length`);
  }
  return count;
}

function formatCode(code: number): FormatCode {
  if (code === 0 || code === 1) return code;
  throw new PgError(SqlState.InvalidParameterValue, `unsupported format code: ${code}`);
}

function readFormats(r: BufferReader): FormatCode[] {
  const count = checkedCount(r, 2);
  const formats = new Array<FormatCode>(count);
  for (let i = 0; i < count; i++) formats[i] = formatCode(r.int16());
  return formats;
}

function readValues(r: BufferReader): (Buffer | null)[] {
  const count = checkedCount(r, 4);
  const values = new Array<Buffer | null>(count);
  for (let i = 0; i < count; i++) {
    const length = r.int32();
    values[i] = length === -1 ? null : r.bytes(length);
  }
  return values;
}

function readTarget(r: BufferReader, what: string): DescribeTarget {
  const byte = r.byte();
  if (byte === TARGET_STATEMENT) return 'S';
  if (byte === TARGET_PORTAL) return 'P';
  throw protocolViolation(`invalid ${what} message subtype ${byte}`);
}
