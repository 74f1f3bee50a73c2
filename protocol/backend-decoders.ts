/**
 * Decoders for the backend messages the proxy inspects on its upstream side. Text is decoded
 * leniently (invalid UTF-8 becomes U+FFFD): an upstream with `server_encoding = SQL_ASCII` may
 * send any bytes, and the proxy relays raw frames anyway. Structural problems throw 08P01.
 */
import { BufferReader } from './buffer-reader.js';
import { AuthCode, TransactionStatus, type TransactionStatusByte } from './message-codes.js';
import { protocolViolation } from './pg-error.js';

export type AuthenticationRequest =
  | { readonly kind: 'ok' }
  | { readonly kind: 'cleartext' }
  | { readonly kind: 'md5'; readonly salt: Buffer }
  | { readonly kind: 'sasl'; readonly mechanisms: string[] }
  | { readonly kind: 'sasl-continue'; readonly data: Buffer }
  | { readonly kind: 'sasl-final'; readonly data: Buffer }
  /** GSS, SSPI, Kerberos...: not supported by the proxy, but decoded so it can say so. */
  | { readonly kind: 'other'; readonly code: number };

export interface ParameterStatusMessage {
  readonly name: string;
  readonly value: string;
}

export interface BackendKeyDataMessage {
  readonly processId: number;
  /** 4 bytes in protocol 3.0, up to 256 in 3.2. A copy. */
  readonly secretKey: Buffer;
}

export interface DecodedField {
  readonly name: string;
  readonly tableOid: number;
  readonly columnAttr: number;
  readonly typeOid: number;
  readonly typeSize: number;
  readonly typeModifier: number;
  readonly format: number;
}

export interface NegotiateProtocolVersionMessage {
  readonly newestMinor: number;
  readonly unrecognizedOptions: string[];
}

/**
 * Fields of an ErrorResponse / NoticeResponse keyed by their one-letter code ('S', 'V', 'C',
 * 'M', 'D', ...), with accessors for the three that are always present.
 */
export class ErrorFieldMap extends Map<string, string> {
  /** SQLSTATE ('C'); 'XX000' if the server omitted it. */
  get code(): string {
    return this.get('C') ?? 'XX000';
  }

  /** Primary message ('M'). */
  get message(): string {
    return this.get('M') ?? '';
  }

  /** Non-localized severity ('V', Postgres ≥ 9.6), else the localized one ('S'). */
  get severity(): string {
    return this.get('V') ?? this.get('S') ?? 'ERROR';
  }
}

function reader(body: Buffer, message: string): BufferReader {
  return new BufferReader(body, { message, invalidUtf8: 'replace' });
}

/** Authentication ('R'). */
export function decodeAuthentication(body: Buffer): AuthenticationRequest {
  const r = reader(body, 'Authentication message');
  const code = r.int32();
  switch (code) {
    case AuthCode.Ok:
      r.ensureEnd();
      return { kind: 'ok' };
    case AuthCode.CleartextPassword:
      r.ensureEnd();
      return { kind: 'cleartext' };
    case AuthCode.MD5Password: {
      const salt = Buffer.from(r.bytes(4));
      r.ensureEnd();
      return { kind: 'md5', salt };
    }
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const mechanism = r.cstring();
        if (mechanism === '') break;
        mechanisms.push(mechanism);
      }
      r.ensureEnd();
      return { kind: 'sasl', mechanisms };
    }
    case AuthCode.SASLContinue:
      return { kind: 'sasl-continue', data: Buffer.from(r.rest()) };
    case AuthCode.SASLFinal:
      return { kind: 'sasl-final', data: Buffer.from(r.rest()) };
    default:
      return { kind: 'other', code };
  }
}

/** ErrorResponse ('E') or NoticeResponse ('N'). */
export function decodeErrorFields(body: Buffer): ErrorFieldMap {
  const r = reader(body, 'ErrorResponse');
  const fields = new ErrorFieldMap();
  for (;;) {
    const code = r.byte();
    if (code === 0) break;
    fields.set(String.fromCharCode(code), r.cstring());
  }
  r.ensureEnd();
  return fields;
}

/** ParameterStatus ('S'). */
export function decodeParameterStatus(body: Buffer): ParameterStatusMessage {
  const r = reader(body, 'ParameterStatus message');
  const name = r.cstring();
  const value = r.cstring();
  r.ensureEnd();
  return { name, value };
}

/** BackendKeyData ('K'). */
export function decodeBackendKeyData(body: Buffer): BackendKeyDataMessage {
  const r = reader(body, 'BackendKeyData message');
  const processId = r.int32();
  const keyLength = r.remaining();
  if (keyLength < 4 || keyLength > 256) {
    throw protocolViolation(`invalid cancel key length ${keyLength} in BackendKeyData`);
  }
  return { processId, secretKey: Buffer.from(r.rest()) };
}

/** ReadyForQuery ('Z'): the transaction status byte ('I', 'T' or 'E'). */
export function decodeReadyForQuery(body: Buffer): TransactionStatusByte {
  const r = reader(body, 'ReadyForQuery message');
  const status = r.byte();
  r.ensureEnd();
  if (
    status !== TransactionStatus.Idle &&
    status !== TransactionStatus.InTransaction &&
    status !== TransactionStatus.Failed
  ) {
    throw protocolViolation(`invalid transaction status ${status} in ReadyForQuery`);
  }
  return status;
}

/** CommandComplete ('C'): the command tag, e.g. `INSERT 0 1`. */
export function decodeCommandComplete(body: Buffer): string {
  const r = reader(body, 'CommandComplete message');
  const tag = r.cstring();
  r.ensureEnd();
  return tag;
}

/**
 * The first word of a CommandComplete tag ("INSERT 0 1" → "INSERT"), read from the raw body
 * without decoding the whole tag (tags are ASCII).
 */
export function commandWord(body: Buffer): string {
  let end = 0;
  while (end < body.length && body[end] !== 0x20 && body[end] !== 0) end++;
  return body.toString('latin1', 0, end);
}

/** RowDescription ('T'). */
export function decodeRowDescription(body: Buffer): DecodedField[] {
  const r = reader(body, 'RowDescription message');
  const count = r.uint16();
  const fields: DecodedField[] = [];
  for (let i = 0; i < count; i++) {
    fields.push({
      name: r.cstring(),
      tableOid: r.uint32(),
      columnAttr: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeModifier: r.int32(),
      format: r.int16(),
    });
  }
  r.ensureEnd();
  return fields;
}

/** DataRow ('D'): column values as views into the body; null = SQL NULL. */
export function decodeDataRow(body: Buffer): (Buffer | null)[] {
  const r = reader(body, 'DataRow message');
  const count = r.uint16();
  if (count * 4 > r.remaining()) throw protocolViolation('DataRow column count exceeds message');
  const values = new Array<Buffer | null>(count);
  for (let i = 0; i < count; i++) {
    const length = r.int32();
    values[i] = length === -1 ? null : r.bytes(length);
  }
  r.ensureEnd();
  return values;
}

/** ParameterDescription ('t'): parameter type OIDs. */
export function decodeParameterDescription(body: Buffer): number[] {
  const r = reader(body, 'ParameterDescription message');
  const count = r.uint16();
  if (count * 4 !== r.remaining()) throw protocolViolation('invalid ParameterDescription length');
  const oids = new Array<number>(count);
  for (let i = 0; i < count; i++) oids[i] = r.uint32();
  return oids;
}

/** NegotiateProtocolVersion ('v'). */
export function decodeNegotiateProtocolVersion(body: Buffer): NegotiateProtocolVersionMessage {
  const r = reader(body, 'NegotiateProtocolVersion message');
  const newestMinor = r.int32();
  const count = r.int32();
  if (count < 0 || count > r.remaining()) {
    throw protocolViolation(`invalid option count ${count} in NegotiateProtocolVersion`);
  }
  const unrecognizedOptions: string[] = [];
  for (let i = 0; i < count; i++) unrecognizedOptions.push(r.cstring());
  r.ensureEnd();
  return { newestMinor, unrecognizedOptions };
}
