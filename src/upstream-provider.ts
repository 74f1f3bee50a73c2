import type { Logger } from 'pino';
import { PgError, SqlState } from '../protocol/pg-error.js';
import type { DocFusionConfig } from './config-types.js';
import { isConnectionError } from './errors.js';
import {
  UpstreamConnection,
  UpstreamRefusedError,
  type UpstreamCredentials,
} from './upstream-connection.js';
import type { UpstreamEndpoint } from './upstream-target.js';

/** What a session needs an upstream connection for. */
export interface UpstreamRequest {
  readonly endpoint: UpstreamEndpoint;
  readonly user: string;
  readonly credentials: UpstreamCredentials;
  readonly params: ReadonlyMap<string, string>;
}

/**
 * Where sessions get their upstream connections. This implementation gives each client
 * a dedicated connection; the pooling issue implements the same interface with pools.
 */
export interface UpstreamProvider {
  acquire(request: UpstreamRequest, log: Logger): Promise<UpstreamConnection>;
  /** Give a connection back; `reusable` false means it is closed (broken, or state unknown). */
  release(connection: UpstreamConnection, reusable: boolean): void;
  close(): Promise<void>;
}

/** SQLSTATEs of a Postgres that is starting up or momentarily full: worth another try. */
const RETRYABLE_CODES = new Set(['57P03', '53300']);

/** One upstream connection per client, opened with bounded exponential backoff and jitter. */
export class DedicatedUpstreams implements UpstreamProvider {
  private readonly open = new Set<UpstreamConnection>();

  constructor(private readonly config: DocFusionConfig) {}

  async acquire(request: UpstreamRequest, log: Logger): Promise<UpstreamConnection> {
    const connection = await connectWithRetry(request, this.config, log);
    this.open.add(connection);
    connection.socket.once('close', () => this.open.delete(connection));
    return connection;
  }

  release(connection: UpstreamConnection): void {
    this.open.delete(connection);
    connection.terminate();
  }

  close(): Promise<void> {
    for (const connection of this.open) connection.terminate();
    this.open.clear();
    return Promise.resolve();
  }

  get size(): number {
    return this.open.size;
  }
}

export async function connectWithRetry(
  request: UpstreamRequest,
  config: DocFusionConfig,
  log: Logger,
): Promise<UpstreamConnection> {
  const { retries, backoffInitialMs, backoffMaxMs, timeoutMs } = config.upstreamConnect;
  for (let attempt = 0; ; attempt++) {
    try {
      return await UpstreamConnection.connect({ ...request, connectTimeoutMs: timeoutMs }, log);
    } catch (error) {
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
