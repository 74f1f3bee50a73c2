import { PgError } from '../../protocol/pg-error.js';
import { TransactionStatus } from '../../protocol/message-codes.js';
import type { Pool } from '../pool.js';
import type { ProxyServer } from '../server.js';
import { diffSql } from '../session-params.js';
import type { UpstreamConnection } from '../upstream-connection.js';
import { QueryAbortedError } from '../upstream-query.js';

/**
 * Upstream connections for the HTTP API: leased per request from the proxy's own pool of the
 * upstream admin login (the user and password of DATABASE_URL, or the embedded cluster's
 * superuser), the same pool a wire client logging in as that user shares. A lease starts with
 * the connection's settings reset to the login defaults and ends idle: an open transaction is
 * rolled back, and a connection whose state is unknown is closed instead of reused.
 */
export class ApiConnections {
  constructor(
    private readonly proxy: ProxyServer,
    private readonly internalTimeoutMs = 10_000,
  ) {}

  private pool(): Pool {
    const { endpoint, admin } = this.proxy.upstream;
    return this.proxy.pools.poolFor(
      endpoint.database,
      endpoint,
      admin.user,
      admin.password === undefined
        ? { kind: 'none' }
        : { kind: 'password', password: admin.password },
    );
  }

  /**
   * Prepared statements an upstream connection keeps: pool.max_prepared_statements, which no
   * database or user overrides (so the pool's value, read without looking the pool up).
   */
  get maxPrepared(): number {
    return this.proxy.config.pool.maxPreparedStatements;
  }

  /** Lease a connection for `work`; it goes back to the pool when `work` settles. */
  async use<T>(work: (connection: UpstreamConnection) => Promise<T>): Promise<T> {
    const pool = this.pool();
    const connection = await pool.acquire();
    let reusable = true;
    try {
      const reset = diffSql(connection.appliedParams, new Map());
      if (reset !== null) {
        await connection.runQuiet(reset, this.internalTimeoutMs);
        connection.appliedParams.clear();
      }
      return await work(connection);
    } catch (error) {
      // A Postgres error or a cancelled statement leave the protocol in a known state.
      if (!(error instanceof PgError) && !(error instanceof QueryAbortedError)) reusable = false;
      throw error;
    } finally {
      if (reusable && !connection.isClosed && connection.txStatus !== TransactionStatus.Idle) {
        try {
          await connection.runQuiet('ROLLBACK', this.internalTimeoutMs);
        } catch {
          reusable = false;
        }
      }
      pool.release(connection, reusable && !connection.isClosed);
    }
  }
}
