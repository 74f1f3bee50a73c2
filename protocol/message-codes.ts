/**
 * Message type bytes of the PostgreSQL v3 wire protocol.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

/** Messages sent by the client (frontend). */
export const FrontendCode = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  /** PasswordMessage, SASLInitialResponse and SASLResponse share this code. */
  Password: 0x70, // p
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const;

/** Messages sent by the server (backend). */
export const BackendCode = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;

/** Request codes carried in untyped startup-phase packets in place of a protocol version. */
export const StartupCode = {
  /** Protocol 3.0: (3 << 16) | 0. */
  ProtocolV3: 196608,
  /** Protocol 3.2 (PostgreSQL 18): (3 << 16) | 2. */
  ProtocolV3_2: 196610,
  CancelRequest: 80877102,
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
} as const;

/** Authentication request sub-codes inside an 'R' message. */
export const AuthCode = {
  Ok: 0,
  CleartextPassword: 3,
  MD5Password: 5,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Transaction status byte of ReadyForQuery. */
export const TransactionStatus = {
  Idle: 0x49, // I
  InTransaction: 0x54, // T
  Failed: 0x45, // E
} as const;
export type TransactionStatusByte = (typeof TransactionStatus)[keyof typeof TransactionStatus];

/**
 * The transaction status byte of a ReadyForQuery, read on the relay path without decoding the
 * frame; anything unknown counts as "in a transaction", so the connection is not reused as idle.
 */
export function transactionStatusOf(byte: number | undefined): TransactionStatusByte {
  return byte === TransactionStatus.Idle || byte === TransactionStatus.Failed
    ? byte
    : TransactionStatus.InTransaction;
}

/** A lookup table by message type byte: 1 for the given types, 0 for the others. */
export function typeTable(types: readonly number[]): Uint8Array {
  const table = new Uint8Array(256);
  for (const type of types) table[type & 0xff] = 1;
  return table;
}
