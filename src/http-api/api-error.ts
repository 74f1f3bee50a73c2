import { PgError } from '../../protocol/pg-error.js';

/** The stable error body of every API error response. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    /** The SQLSTATE when Postgres (or the proxy, in Postgres's terms) raised the error. */
    readonly sqlstate?: string;
    /** Where in the request the problem is (`body.documents[3]`, `querystring.sort`). */
    readonly path?: string;
    /** Import, bulk: the 0-based index or 1-based line of the first bad item. */
    readonly index?: number;
    readonly line?: number;
  };
}

/** An error the API answers with: an HTTP status, a stable code and a message safe to show. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly path?: string,
    readonly extra: { readonly index?: number; readonly line?: number } = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.path === undefined ? {} : { path: this.path }),
        ...this.extra,
      },
    };
  }
}

/** HTTP status and API code for a SQLSTATE, by exact code first, then by class. */
const BY_CODE: Readonly<Record<string, readonly [number, string]>> = {
  '23505': [409, 'conflict'], // unique_violation
  '23P01': [409, 'conflict'], // exclusion_violation
  '23503': [409, 'conflict'], // foreign_key_violation
  '40001': [409, 'conflict'], // serialization_failure
  '40P01': [409, 'conflict'], // deadlock_detected
  '42P01': [404, 'not_found'], // undefined_table
  '42501': [403, 'forbidden'], // insufficient_privilege
  '25006': [403, 'read_only'], // read_only_sql_transaction
  '57014': [504, 'timeout'], // query_canceled
  '53300': [503, 'unavailable'], // too_many_connections
  '57P01': [503, 'unavailable'], // admin_shutdown
  '57P03': [503, 'unavailable'], // cannot_connect_now
  '0A000': [400, 'unsupported'], // feature_not_supported
  '54000': [413, 'too_large'], // program_limit_exceeded
};
const BY_CLASS: Readonly<Record<string, readonly [number, string]>> = {
  '08': [503, 'unavailable'], // connection exception
  '22': [400, 'invalid_data'], // data exception (invalid JSON, out of range, …)
  '23': [422, 'constraint_violation'],
  '28': [403, 'forbidden'],
  '3D': [404, 'not_found'],
  '3F': [404, 'not_found'],
  '42': [400, 'invalid_query'], // syntax error or access rule violation
  '53': [503, 'unavailable'], // insufficient resources
  '54': [413, 'too_large'],
  '55': [409, 'conflict'], // object not in prerequisite state (lock_not_available, …)
  '57': [503, 'unavailable'],
};

export function statusForSqlState(sqlstate: string): readonly [number, string] {
  return BY_CODE[sqlstate] ?? BY_CLASS[sqlstate.slice(0, 2)] ?? [500, 'database_error'];
}

/** The response for a Postgres error: its message and SQLSTATE, never its internals. */
export function pgErrorResponse(error: PgError): { status: number; body: ErrorBody } {
  const [status, code] = statusForSqlState(error.code);
  return {
    status,
    body: {
      error: {
        code,
        message: error.detail === undefined ? error.message : `${error.message}: ${error.detail}`,
        sqlstate: error.code,
      },
    },
  };
}
