import type { Frame } from '../protocol/frame-reader.js';
import {
  decodeCommandComplete,
  decodeDataRow,
  decodeErrorFields,
  decodeRowDescription,
  type ErrorFieldMap,
} from '../protocol/backend-decoders.js';
import * as fe from '../protocol/frontend-encoders.js';
import { BackendCode } from '../protocol/message-codes.js';
import { PgError, SqlState } from '../protocol/pg-error.js';
import { preparedBatch, type BatchProgress, type PreparedBatch } from './prepared-batch.js';
import type { UpstreamConnection } from './upstream-connection.js';

/** A result column: its name and the type OID from RowDescription. */
export interface ResultColumn {
  readonly name: string;
  readonly typeOid: number;
}

/**
 * Where a statement's rows go. Values are text-format column values as views into the received
 * frame (valid only during the call; copy to keep); null is SQL NULL.
 */
export interface RowSink {
  columns?(columns: readonly ResultColumn[]): void;
  /** Return false to stop reading from Postgres until `drained()` resolves (backpressure). */
  row?(values: readonly (Buffer | null)[]): boolean | undefined;
  /** Resolves when the sink wants rows again after `row` returned false. */
  drained?(): Promise<void>;
}

export interface StatementSpec {
  readonly sql: string;
  /** Bind parameters in text format (null = SQL NULL). Never spliced into the SQL. */
  readonly params?: readonly (string | null)[];
  readonly sink?: RowSink;
  /**
   * Prepare the statement once per upstream connection, under the proxy-wide name wire clients'
   * identical statements share (prepared-statements.ts), then only Bind and Execute it: for
   * statements run again and again (the HTTP API's single-document ones). Needs
   * `RunOptions.maxPrepared`.
   */
  readonly prepared?: boolean;
}

export interface StatementResult {
  /** The command tag, e.g. `SELECT 3`, `UPDATE 2`; '' for an empty query. */
  readonly command: string;
  /** The tag's row count (SELECT, INSERT, UPDATE, DELETE, COPY…), else 0. */
  readonly rowCount: number;
}

export interface RunOptions {
  /** Aborting cancels the running statement upstream; the promise rejects with QueryAbortedError. */
  readonly signal?: AbortSignal;
  /** For the cancel request. */
  readonly cancelTimeoutMs?: number;
  /**
   * Prepared statements kept per upstream connection (the pool's max_prepared_statements): to
   * make room for a `prepared` statement, the least recently used are closed. Without it,
   * `prepared` statements are parsed unnamed like the rest.
   */
  readonly maxPrepared?: number;
}

/** The caller went away (client disconnect) and the statement was cancelled. */
export class QueryAbortedError extends Error {
  override readonly name = 'QueryAbortedError';
  constructor() {
    super('query aborted by the caller');
  }
}

/** A PgError with every field of Postgres's ErrorResponse that a client may see. */
export function pgErrorFrom(fields: ErrorFieldMap): PgError {
  const position = fields.get('P');
  const detail = fields.get('D');
  const hint = fields.get('H');
  return new PgError(fields.code, fields.message, {
    ...(detail === undefined ? {} : { detail }),
    ...(hint === undefined ? {} : { hint }),
    ...(position === undefined ? {} : { position: Number(position) }),
  });
}

/** The row count at the end of a command tag (`INSERT 0 5` → 5). */
export function tagRowCount(tag: string): number {
  const match = /(\d+)$/.exec(tag);
  return match ? Number(match[1]) : 0;
}

/**
 * Run statements on a leased upstream connection over the extended protocol in one pipeline:
 * Parse / Bind (text parameters) / Describe / Execute for each, then one Sync. Without an explicit
 * BEGIN they form one implicit transaction: the first error rolls back all of them. Rows stream
 * to each statement's sink as DataRows arrive. Resolves at ReadyForQuery with one result per
 * statement; rejects with the first ErrorResponse as a PgError.
 *
 * A `prepared` statement skips Parse when the connection already has it. Whatever else ran on
 * the connection may have dropped it or changed the table under it (a wire client's DISCARD ALL
 * or DEALLOCATE the proxy cannot follow, DDL that changes the result type): when Postgres then
 * refuses the batch before any row was delivered and outside an explicit transaction (so nothing
 * took effect), the batch is sent once more with every prepared statement closed and parsed anew.
 */
export async function runStatements(
  connection: UpstreamConnection,
  statements: readonly StatementSpec[],
  options: RunOptions = {},
): Promise<StatementResult[]> {
  const maxPrepared = options.maxPrepared;
  if (maxPrepared === undefined || !statements.some((statement) => statement.prepared === true)) {
    return converse(connection, unpreparedBatch(statements), statements, options);
  }
  const first = preparedBatch(connection, statements, maxPrepared, false);
  try {
    return await runPreparedBatch(connection, first, statements, options);
  } catch (error) {
    if (!(error instanceof PgError) || !first.retryable(error)) throw error;
    const again = preparedBatch(connection, statements, maxPrepared, true);
    return runPreparedBatch(connection, again, statements, options);
  }
}

async function runPreparedBatch(
  connection: UpstreamConnection,
  batch: PreparedBatch,
  statements: readonly StatementSpec[],
  options: RunOptions,
): Promise<StatementResult[]> {
  try {
    return await converse(connection, batch.request, statements, options, batch.progress);
  } catch (error) {
    batch.failed(error);
    throw error;
  }
}

function unpreparedBatch(statements: readonly StatementSpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const statement of statements) {
    parts.push(
      fe.parse('', statement.sql),
      fe.bind({ params: statement.params ?? [] }),
      fe.describe('P'),
      fe.execute(),
    );
  }
  parts.push(fe.sync());
  return Buffer.concat(parts);
}

/** One statement; see runStatements. */
export async function runStatement(
  connection: UpstreamConnection,
  statement: StatementSpec,
  options: RunOptions = {},
): Promise<StatementResult> {
  const [result] = await runStatements(connection, [statement], options);
  return result ?? { command: '', rowCount: 0 };
}

/**
 * `COPY … FROM STDIN` (simple protocol): `data` is written as CopyData in pieces, then CopyDone.
 * Rejects with Postgres's error (the COPY is then rolled back by Postgres).
 */
export function copyIn(
  connection: UpstreamConnection,
  sql: string,
  data: readonly Buffer[],
  options: RunOptions = {},
): Promise<StatementResult> {
  return converse(connection, fe.query(sql), [], options, undefined, data).then(
    (results) => results[0] ?? { command: '', rowCount: 0 },
  );
}

function converse(
  connection: UpstreamConnection,
  request: Buffer,
  statements: readonly StatementSpec[],
  options: RunOptions,
  progress?: BatchProgress,
  copyData?: readonly Buffer[],
): Promise<StatementResult[]> {
  return new Promise<StatementResult[]>((resolve, reject) => {
    const results: StatementResult[] = [];
    let index = 0;
    let failure: Error | undefined;
    let aborted = false;
    let paused = false;
    let done = false;
    const signal = options.signal;

    const finish = (): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      if (paused) connection.resume();
      if (aborted) reject(new QueryAbortedError());
      else if (failure) reject(failure);
      else resolve(results);
    };
    const onAbort = (): void => {
      if (aborted || done) return;
      aborted = true;
      // Keep reading (and discarding) until ReadyForQuery, so the connection stays reusable.
      if (paused) {
        paused = false;
        connection.resume();
      }
      connection.cancel(options.cancelTimeoutMs ?? 5000).catch(() => undefined);
    };
    const sendCopy = (): void => {
      const pieces = copyData ?? [];
      const write = (at: number): void => {
        if (done || failure || aborted) return;
        let i = at;
        while (i < pieces.length) {
          const piece = pieces[i++];
          // The header, then the piece as it is (a batch of megabytes is not copied again).
          if (piece) connection.write(fe.copyDataHeader(piece.length));
          if (piece && !connection.write(piece)) {
            connection.socket.once('drain', () => {
              write(i);
            });
            return;
          }
        }
        connection.write(fe.copyDone());
      };
      write(0);
    };
    const handle = (frame: Frame): void => {
      switch (frame.type) {
        case BackendCode.RowDescription: {
          if (aborted || failure) return;
          const columns = decodeRowDescription(frame.body).map((field) => ({
            name: field.name,
            typeOid: field.typeOid,
          }));
          statements[index]?.sink?.columns?.(columns);
          return;
        }
        case BackendCode.DataRow: {
          if (aborted || failure) return;
          if (progress) progress.rows++;
          const sink = statements[index]?.sink;
          const wanted = sink?.row?.(decodeDataRow(frame.body));
          if (wanted === false && sink?.drained) {
            if (!paused) {
              paused = true;
              connection.pause();
              sink.drained().then(
                () => {
                  if (paused && !done) {
                    paused = false;
                    connection.resume();
                  }
                },
                () => undefined,
              );
            }
          }
          return;
        }
        case BackendCode.CommandComplete: {
          const command = decodeCommandComplete(frame.body);
          results.push({ command, rowCount: tagRowCount(command) });
          index++;
          return;
        }
        case BackendCode.EmptyQueryResponse:
          results.push({ command: '', rowCount: 0 });
          index++;
          return;
        case BackendCode.CopyInResponse:
          if (copyData) sendCopy();
          else connection.write(fe.copyFail('COPY FROM STDIN is not available here'));
          return;
        case BackendCode.ErrorResponse:
          failure ??= pgErrorFrom(decodeErrorFields(frame.body));
          return;
        case BackendCode.ParseComplete:
          if (progress) progress.parsed++;
          return;
        case BackendCode.ReadyForQuery:
          finish();
          return;
        default:
          // BindComplete, NoData, notices, ParameterStatus, COPY TO data: nothing.
          return;
      }
    };

    if (signal?.aborted) {
      reject(new QueryAbortedError());
      return;
    }
    signal?.addEventListener('abort', onAbort);
    connection.listen({
      onFrames: (frames) => {
        for (const frame of frames) {
          try {
            handle(frame);
          } catch (error) {
            // A malformed frame or a sink that threw: the connection's state is unknown.
            failure = error instanceof Error ? error : new Error(String(error));
            connection.destroy();
            finish();
            return;
          }
          if (done) return;
        }
      },
      onClose: (error) => {
        failure ??=
          error ??
          new PgError(SqlState.ConnectionFailure, 'the upstream connection closed unexpectedly');
        finish();
      },
    });
    connection.write(request);
  });
}
