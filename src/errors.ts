import { PgError, SqlState } from '../protocol/pg-error.js';

/**
 * The boundary between errors a client may see and internal ones (after pg-gateway): a PgError
 * goes to the client as is; anything else is logged by the caller and the client only sees a
 * generic internal error, never a message or stack trace from inside the proxy.
 */
export function clientSafe(error: unknown, fatal = false): PgError {
  if (error instanceof PgError) return error;
  return new PgError(SqlState.InternalError, 'internal error in DocFusionDB (see its log)', {
    severity: fatal ? 'FATAL' : 'ERROR',
  });
}

export function fatal(code: string, message: string, hint?: string): PgError {
  return new PgError(
    code,
    message,
    hint === undefined ? { severity: 'FATAL' } : { severity: 'FATAL', hint },
  );
}

/** Errors from the network layer (ECONNRESET and friends) that mean "the peer went away". */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    [
      'ECONNRESET',
      'EPIPE',
      'ECONNREFUSED',
      'ETIMEDOUT',
      'EHOSTUNREACH',
      'ENOTCONN',
      'ERR_STREAM_DESTROYED',
      'ERR_STREAM_WRITE_AFTER_END',
    ].includes(code)
  );
}

/** 57P01, what Postgres sends on a shutdown. */
export function adminShutdown(): PgError {
  return new PgError(
    SqlState.AdminShutdown,
    'terminating connection due to administrator command',
    {
      severity: 'FATAL',
    },
  );
}
