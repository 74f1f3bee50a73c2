import type { Logger } from 'pino';
import { PgError, SqlState } from '../protocol/pg-error.js';
import type { DocFusionConfig } from './config-types.js';
import { isConnectionError } from './errors.js';
import { upstreamConnectsTotal } from './metrics.js';
import {
  UpstreamConnection,
  UpstreamRefusedError,
  type UpstreamCredentials,
} from './upstream-connection.js';
import type { UpstreamEndpoint } from './upstream-target.js';

/** What a new upstream connection logs in as. */
export interface UpstreamRequest {
  readonly endpoint: UpstreamEndpoint;
  readonly user: string;
  readonly credentials: UpstreamCredentials;
  readonly params: ReadonlyMap<string, string>;
}

/** SQLSTATEs of a Postgres that is starting up or momentarily full: worth another try. */
const RETRYABLE_CODES = new Set(['57P03', '53300']);

/**
 * Open an upstream connection, retrying connection failures with bounded exponential backoff
 * and jitter; after the last attempt the client gets FATAL 08006.
 */
export async function connectWithRetry(
  request: UpstreamRequest,
  config: DocFusionConfig,
  log: Logger,
): Promise<UpstreamConnection> {
  const { retries, backoffInitialMs, backoffMaxMs, timeoutMs } = config.upstreamConnect;
  for (let attempt = 0; ; attempt++) {
    try {
      const connection = await UpstreamConnection.connect(
        { ...request, connectTimeoutMs: timeoutMs },
        log,
      );
      upstreamConnectsTotal.labels('ok').inc();
      return connection;
    } catch (error) {
      upstreamConnectsTotal.labels('failed').inc();
      const retryable =
        isConnectionError(error) ||
        (error instanceof UpstreamRefusedError && RETRYABLE_CODES.has(error.code));
      if (!retryable) throw error;
      const where = `${request.endpoint.host}:${request.endpoint.port}`;
      if (attempt >= retries) {
        log.error({ err: error, upstream: where, attempts: attempt + 1 }, 'upstream unreachable');
        throw new PgError(
          SqlState.ConnectionFailure,
          `could not connect to the upstream Postgres at ${where} after ${attempt + 1} attempts`,
          { severity: 'FATAL' },
        );
      }
      const ceiling = Math.min(backoffMaxMs, backoffInitialMs * 2 ** attempt);
      const delay = ceiling / 2 + Math.random() * (ceiling / 2);
      log.warn(
        { upstream: where, attempt: attempt + 1, delayMs: Math.round(delay) },
        'upstream connect failed, retrying',
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
