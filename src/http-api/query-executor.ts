import { sessionEffects } from '../statement-effects.js';
import { runStatements, type RowSink, type StatementResult } from '../upstream-query.js';
import type { ApiConnections } from './api-connections.js';

export interface QueryRequest {
  readonly sql: string;
  /** Text-format Bind parameters (null = SQL NULL). */
  readonly params: readonly (string | null)[];
  /** Run inside a READ ONLY transaction (read-role callers). */
  readonly readOnly: boolean;
  /** Aborted when the HTTP client goes away: the statement is cancelled upstream. */
  readonly signal?: AbortSignal;
}

/**
 * How `/v1/query` runs one SQL statement: its columns and rows go to `sink` as they come, the
 * promise settles with the command tag (or the error, a PgError carrying a SQLSTATE). This is
 * the seam for the DocFusion planner: an executor that routes the statement like the wire
 * protocol does (passthrough | plan | local) replaces DirectQueryExecutor without the route
 * or the response formats changing.
 */
export interface QueryExecutor {
  run(request: QueryRequest, sink: RowSink): Promise<StatementResult>;
}

/**
 * Today's executor: the statement goes to Postgres as is, over the extended protocol with its
 * parameters bound, on a connection from the proxy's pool. A statement that changes session
 * state (SET, PREPARE, LISTEN, advisory locks…) is followed by DISCARD ALL before the
 * connection goes back, so nothing leaks to the next user of the pool.
 */
export class DirectQueryExecutor implements QueryExecutor {
  constructor(private readonly db: ApiConnections) {}

  run(request: QueryRequest, sink: RowSink): Promise<StatementResult> {
    return this.db.use(async (connection) => {
      const statement = { sql: request.sql, params: request.params, sink };
      const dirty = sessionEffects(request.sql).length > 0;
      try {
        const results = await runStatements(
          connection,
          request.readOnly
            ? [{ sql: 'BEGIN READ ONLY' }, statement, { sql: 'COMMIT' }]
            : [statement],
          request.signal === undefined ? {} : { signal: request.signal },
        );
        return (request.readOnly ? results[1] : results[0]) ?? { command: '', rowCount: 0 };
      } finally {
        if (dirty && !connection.isClosed) {
          if (connection.txStatus !== 0x49) await connection.runQuiet('ROLLBACK', 10_000);
          await connection.runQuiet('DISCARD ALL', 10_000);
          connection.statements.clear();
        }
      }
    });
  }
}
