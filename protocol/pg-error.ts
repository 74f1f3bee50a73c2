/**
 * An error that is safe to show to a client: it carries a SQLSTATE and the fields of an
 * ErrorResponse. Anything that is not a PgError is internal: it is logged and the client
 * only sees a generic XX000 message (see src/errors.ts).
 */
export interface PgErrorFields {
  readonly severity?: 'ERROR' | 'FATAL' | 'PANIC';
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the query string, as Postgres reports it. */
  readonly position?: number;
}

export class PgError extends Error {
  override readonly name = 'PgError';
  readonly code: string;
  readonly severity: 'ERROR' | 'FATAL' | 'PANIC';
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly position: number | undefined;

  constructor(code: string, message: string, fields: PgErrorFields = {}) {
    super(message);
    this.code = code;
    this.severity = fields.severity ?? 'ERROR';
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.position = fields.position;
  }
}

/** SQLSTATE codes DocFusionDB itself raises. */
export const SqlState = {
  ProtocolViolation: '08P01',
  ConnectionFailure: '08006',
  ConnectionException: '08000',
  InvalidPassword: '28P01',
  InvalidAuthorizationSpecification: '28000',
  TooManyConnections: '53300',
  AdminShutdown: '57P01',
  QueryCanceled: '57014',
  FeatureNotSupported: '0A000',
  InvalidParameterValue: '22023',
  InvalidTextRepresentation: '22P02',
  UndefinedFunction: '42883',
  InvalidCatalogName: '3D000',
  IdleInTransactionTimeout: '25P03',
  InternalError: 'XX000',
} as const;

/** A malformed frame or a message that is not allowed at this point: 08P01, connection closes. */
export function protocolViolation(message: string): PgError {
  return new PgError(SqlState.ProtocolViolation, message, { severity: 'FATAL' });
}
