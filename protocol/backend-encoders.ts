/**
 * Encoders for backend (server → client) messages. Each returns one complete frame.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
import { BufferWriter } from './buffer-writer.js';
import { AuthCode, BackendCode, type TransactionStatusByte } from './message-codes.js';
import type { PgError } from './pg-error.js';

export type Severity =
  'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';

/** Fields of an ErrorResponse or NoticeResponse. Undefined fields are omitted. */
export interface ErrorFields {
  readonly severity: Severity;
  /** SQLSTATE, five characters. */
  readonly code: string;
  readonly message: string;
  readonly detail?: string | undefined;
  readonly hint?: string | undefined;
  /** 1-based character position in the query string. */
  readonly position?: number | undefined;
  readonly internalPosition?: number | undefined;
  readonly internalQuery?: string | undefined;
  readonly where?: string | undefined;
  readonly schema?: string | undefined;
  readonly table?: string | undefined;
  readonly column?: string | undefined;
  readonly dataType?: string | undefined;
  readonly constraint?: string | undefined;
  readonly file?: string | undefined;
  readonly line?: number | undefined;
  readonly routine?: string | undefined;
}

/** One column of a RowDescription. */
export interface FieldDescription {
  readonly name: string;
  /** OID of the source table, or 0. */
  readonly tableOid: number;
  /** Attribute number of the source column, or 0. */
  readonly columnAttr: number;
  readonly typeOid: number;
  /** pg_type.typlen: negative for variable width. */
  readonly typeSize: number;
  /** pg_attribute.atttypmod: -1 when not applicable. */
  readonly typeModifier: number;
  /** 0 = text, 1 = binary. */
  readonly format: number;
}

function empty(type: number): Buffer {
  return Buffer.from([type, 0, 0, 0, 4]);
}

function authentication(code: number, data?: Uint8Array): Buffer {
  const w = new BufferWriter(16 + (data?.length ?? 0)).int32(code);
  if (data !== undefined) w.bytes(data);
  return w.frame(BackendCode.Authentication);
}

export function authenticationOk(): Buffer {
  return authentication(AuthCode.Ok);
}

export function authenticationCleartextPassword(): Buffer {
  return authentication(AuthCode.CleartextPassword);
}

/** @param salt four random bytes */
export function authenticationMD5Password(salt: Buffer): Buffer {
  if (salt.length !== 4) throw new RangeError('MD5 salt must be 4 bytes');
  return authentication(AuthCode.MD5Password, salt);
}

/** AuthenticationSASL listing the offered mechanisms (e.g. ['SCRAM-SHA-256']). */
export function authenticationSASL(mechanisms: readonly string[]): Buffer {
  const w = new BufferWriter(64).int32(AuthCode.SASL);
  for (const mechanism of mechanisms) w.cstring(mechanism);
  return w.byte(0).frame(BackendCode.Authentication);
}

export function authenticationSASLContinue(data: Buffer | string): Buffer {
  return authentication(AuthCode.SASLContinue, toBytes(data));
}

export function authenticationSASLFinal(data: Buffer | string): Buffer {
  return authentication(AuthCode.SASLFinal, toBytes(data));
}

export function parameterStatus(name: string, value: string): Buffer {
  return new BufferWriter(64).cstring(name).cstring(value).frame(BackendCode.ParameterStatus);
}

/** @param secretKey 4 bytes in protocol 3.0, up to 256 in 3.2 */
export function backendKeyData(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < 4 || secretKey.length > 256) {
    throw new RangeError('cancel secret key must be 4 to 256 bytes');
  }
  return new BufferWriter(16 + secretKey.length)
    .int32(processId)
    .bytes(secretKey)
    .frame(BackendCode.BackendKeyData);
}

export function readyForQuery(status: TransactionStatusByte): Buffer {
  return Buffer.from([BackendCode.ReadyForQuery, 0, 0, 0, 5, status]);
}

function fieldsMessage(type: number, f: ErrorFields): Buffer {
  const w = new BufferWriter(128 + f.message.length);
  const put = (code: string, value: string | number | undefined): void => {
    if (value !== undefined) w.byte(code.charCodeAt(0)).cstring(String(value));
  };
  put('S', f.severity);
  put('V', f.severity);
  put('C', f.code);
  put('M', f.message);
  put('D', f.detail);
  put('H', f.hint);
  put('P', f.position);
  put('p', f.internalPosition);
  put('q', f.internalQuery);
  put('W', f.where);
  put('s', f.schema);
  put('t', f.table);
  put('c', f.column);
  put('d', f.dataType);
  put('n', f.constraint);
  put('F', f.file);
  put('L', f.line);
  put('R', f.routine);
  return w.byte(0).frame(type);
}

/** ErrorResponse with fields S, V, C, M and the optional ones, in Postgres's order. */
export function errorResponse(fields: ErrorFields): Buffer {
  return fieldsMessage(BackendCode.ErrorResponse, fields);
}

/** NoticeResponse; same fields as errorResponse. */
export function noticeResponse(fields: ErrorFields): Buffer {
  return fieldsMessage(BackendCode.NoticeResponse, fields);
}

/** The ErrorResponse for a client-safe PgError. */
export function errorFromPgError(err: PgError): Buffer {
  return errorResponse({
    severity: err.severity,
    code: err.code,
    message: err.message,
    detail: err.detail,
    hint: err.hint,
    position: err.position,
  });
}

/** CommandComplete with a tag such as `SELECT 3` or `INSERT 0 1`. */
export function commandComplete(tag: string): Buffer {
  return new BufferWriter(32).cstring(tag).frame(BackendCode.CommandComplete);
}

export function emptyQueryResponse(): Buffer {
  return empty(BackendCode.EmptyQueryResponse);
}

export function parseComplete(): Buffer {
  return empty(BackendCode.ParseComplete);
}

export function bindComplete(): Buffer {
  return empty(BackendCode.BindComplete);
}

export function closeComplete(): Buffer {
  return empty(BackendCode.CloseComplete);
}

export function noData(): Buffer {
  return empty(BackendCode.NoData);
}

export function portalSuspended(): Buffer {
  return empty(BackendCode.PortalSuspended);
}

export function copyDone(): Buffer {
  return empty(BackendCode.CopyDone);
}

export function copyData(data: Uint8Array): Buffer {
  return new BufferWriter(8 + data.length).bytes(data).frame(BackendCode.CopyData);
}

/** ParameterDescription: the type OIDs of a prepared statement's parameters. */
export function parameterDescription(oids: readonly number[]): Buffer {
  const w = new BufferWriter(8 + 4 * oids.length).int16(oids.length);
  for (const oid of oids) w.int32(oid);
  return w.frame(BackendCode.ParameterDescription);
}

export function rowDescription(fields: readonly FieldDescription[]): Buffer {
  const w = new BufferWriter(8 + 32 * fields.length).int16(fields.length);
  for (const f of fields) {
    w.cstring(f.name)
      .int32(f.tableOid)
      .int16(f.columnAttr)
      .int32(f.typeOid)
      .int16(f.typeSize)
      .int32(f.typeModifier)
      .int16(f.format);
  }
  return w.frame(BackendCode.RowDescription);
}

/** DataRow: strings are written as UTF-8, null as SQL NULL (length -1). */
export function dataRow(values: readonly (Buffer | string | null)[]): Buffer {
  let size = 7 + 4 * values.length;
  for (const v of values) {
    if (v !== null) size += typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
  }
  const w = new BufferWriter(size).int16(values.length);
  for (const v of values) {
    if (v === null) {
      w.int32(-1);
    } else if (typeof v === 'string') {
      w.int32(Buffer.byteLength(v, 'utf8')).string(v);
    } else {
      w.int32(v.length).bytes(v);
    }
  }
  return w.frame(BackendCode.DataRow);
}

/**
 * NegotiateProtocolVersion: the newest minor version the server supports and the `_pq_.`
 * options it did not recognise.
 */
export function negotiateProtocolVersion(
  newestMinor: number,
  unrecognizedOptions: readonly string[],
): Buffer {
  const w = new BufferWriter(64).int32(newestMinor).int32(unrecognizedOptions.length);
  for (const option of unrecognizedOptions) w.cstring(option);
  return w.frame(BackendCode.NegotiateProtocolVersion);
}

/** The single-byte answer to SSLRequest / GSSENCRequest: 'S' to proceed, 'N' to refuse. */
export function sslResponse(accept: boolean): Buffer {
  return Buffer.from(accept ? 'S' : 'N', 'latin1');
}

function toBytes(data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** A RowDescription of text columns (OID 25) in text format, as the proxy's own answers use. */
export function textRowDescription(names: readonly string[]): Buffer {
  return rowDescription(
    names.map((name) => ({
      name,
      tableOid: 0,
      columnAttr: 0,
      typeOid: 25,
      typeSize: -1,
      typeModifier: -1,
      format: 0,
    })),
  );
}
