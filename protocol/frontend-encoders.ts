/**
 * Encoders for frontend (client → server) messages: what the proxy sends upstream.
 * Each returns one complete frame (startup-phase packets are untyped).
 */
import { BufferWriter } from './buffer-writer.js';
import { FrontendCode, StartupCode } from './message-codes.js';

/** A Bind/FunctionCall value: string = text (UTF-8), Buffer = bytes as given, null = SQL NULL. */
export type ParamValue = string | Buffer | null;

export interface BindOptions {
  readonly portal?: string;
  readonly statement?: string;
  readonly params?: readonly ParamValue[];
  /**
   * Format codes for the parameters. Default: [] when no parameter is a Buffer (all text),
   * otherwise one per parameter: 1 for a Buffer, 0 for a string or null.
   */
  readonly paramFormats?: readonly number[];
  /** Result column format codes; default [] (all text). */
  readonly resultFormats?: readonly number[];
}

const PROTOCOL_MAJOR_3 = StartupCode.ProtocolV3;
const STATEMENT = 0x53; // S
const PORTAL = 0x50; // P

function empty(type: number): Buffer {
  return Buffer.from([type, 0, 0, 0, 4]);
}

/** StartupMessage for protocol 3.`minor` with the given parameters (`user` is required). */
export function startupMessage(params: Readonly<Record<string, string>>, minor = 0): Buffer {
  const w = new BufferWriter(128).int32(PROTOCOL_MAJOR_3 | minor);
  for (const [key, value] of Object.entries(params)) w.cstring(key).cstring(value);
  return w.byte(0).untypedFrame();
}

export function sslRequest(): Buffer {
  return new BufferWriter(16).int32(StartupCode.SSLRequest).untypedFrame();
}

export function gssencRequest(): Buffer {
  return new BufferWriter(16).int32(StartupCode.GSSENCRequest).untypedFrame();
}

/** CancelRequest; the secret key is 4 bytes in protocol 3.0, up to 256 in 3.2. */
export function cancelRequest(processId: number, secretKey: Buffer): Buffer {
  return new BufferWriter(16 + secretKey.length)
    .int32(StartupCode.CancelRequest)
    .int32(processId)
    .bytes(secretKey)
    .untypedFrame();
}

/** PasswordMessage: a cleartext password or an md5 response. */
export function passwordMessage(text: string): Buffer {
  return new BufferWriter(64).cstring(text).frame(FrontendCode.Password);
}

/** SASLInitialResponse; `data` null sends length -1 (no initial response). */
export function saslInitialResponse(mechanism: string, data: Buffer | string | null): Buffer {
  const w = new BufferWriter(128).cstring(mechanism);
  if (data === null) {
    w.int32(-1);
  } else {
    const bytes = toBytes(data);
    w.int32(bytes.length).bytes(bytes);
  }
  return w.frame(FrontendCode.Password);
}

export function saslResponse(data: Buffer | string): Buffer {
  const bytes = toBytes(data);
  return new BufferWriter(8 + bytes.length).bytes(bytes).frame(FrontendCode.Password);
}

export function query(sql: string): Buffer {
  return new BufferWriter(sql.length + 8).cstring(sql).frame(FrontendCode.Query);
}

/** Parse; `paramTypes` are type OIDs, 0 = let the server infer. */
export function parse(name: string, sql: string, paramTypes: readonly number[] = []): Buffer {
  const w = new BufferWriter(sql.length + 32).cstring(name).cstring(sql).int16(paramTypes.length);
  for (const oid of paramTypes) w.int32(oid);
  return w.frame(FrontendCode.Parse);
}

/** Bind with text (string) and/or binary (Buffer) parameters. */
export function bind(options: BindOptions = {}): Buffer {
  const params = options.params ?? [];
  const paramFormats = options.paramFormats ?? defaultFormats(params);
  const resultFormats = options.resultFormats ?? [];
  const w = new BufferWriter(64 + valuesSize(params));
  w.cstring(options.portal ?? '').cstring(options.statement ?? '');
  writeFormats(w, paramFormats);
  writeValues(w, params);
  writeFormats(w, resultFormats);
  return w.frame(FrontendCode.Bind);
}

export function describe(target: 'S' | 'P', name = ''): Buffer {
  return new BufferWriter(name.length + 8)
    .byte(target === 'S' ? STATEMENT : PORTAL)
    .cstring(name)
    .frame(FrontendCode.Describe);
}

/** Execute; `maxRows` 0 = all rows. */
export function execute(portal = '', maxRows = 0): Buffer {
  return new BufferWriter(portal.length + 12)
    .cstring(portal)
    .int32(maxRows)
    .frame(FrontendCode.Execute);
}

export function close(target: 'S' | 'P', name = ''): Buffer {
  return new BufferWriter(name.length + 8)
    .byte(target === 'S' ? STATEMENT : PORTAL)
    .cstring(name)
    .frame(FrontendCode.Close);
}

export function sync(): Buffer {
  return empty(FrontendCode.Sync);
}

export function flush(): Buffer {
  return empty(FrontendCode.Flush);
}

export function terminate(): Buffer {
  return empty(FrontendCode.Terminate);
}

/** FunctionCall (the legacy fast-path interface). */
export function functionCall(
  functionOid: number,
  args: readonly ParamValue[],
  argFormats: readonly number[] = defaultFormats(args),
  resultFormat = 0,
): Buffer {
  const w = new BufferWriter(32 + valuesSize(args)).int32(functionOid);
  writeFormats(w, argFormats);
  writeValues(w, args);
  return w.int16(resultFormat).frame(FrontendCode.FunctionCall);
}

export function copyData(data: Uint8Array): Buffer {
  return new BufferWriter(8 + data.length).bytes(data).frame(FrontendCode.CopyData);
}

/** The 5 bytes before `length` bytes of CopyData: send them, then the data, without a copy. */
export function copyDataHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(5);
  header[0] = FrontendCode.CopyData;
  header.writeUInt32BE(length + 4, 1);
  return header;
}

export function copyDone(): Buffer {
  return empty(FrontendCode.CopyDone);
}

export function copyFail(message: string): Buffer {
  return new BufferWriter(message.length + 8).cstring(message).frame(FrontendCode.CopyFail);
}

function defaultFormats(values: readonly ParamValue[]): number[] {
  if (!values.some((v) => Buffer.isBuffer(v))) return [];
  return values.map((v) => (Buffer.isBuffer(v) ? 1 : 0));
}

function valuesSize(values: readonly ParamValue[]): number {
  let size = 4 * values.length + 2 * values.length;
  for (const v of values) if (v !== null) size += v.length;
  return size;
}

function writeFormats(w: BufferWriter, formats: readonly number[]): void {
  w.int16(formats.length);
  for (const f of formats) w.int16(f);
}

function writeValues(w: BufferWriter, values: readonly ParamValue[]): void {
  w.int16(values.length);
  for (const v of values) {
    if (v === null) {
      w.int32(-1);
    } else if (typeof v === 'string') {
      w.int32(Buffer.byteLength(v, 'utf8')).string(v);
    } else {
      w.int32(v.length).bytes(v);
    }
  }
}

function toBytes(data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}
