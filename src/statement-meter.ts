import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { decodeErrorFields } from '../protocol/backend-decoders.js';
import {
  commandLabel,
  errorsTotal,
  sqlstateClass,
  statementSeconds,
  type Route,
} from './metrics.js';
import { normalizeSql } from './sql-parser.js';
import type { SessionSpan, StatementSpan } from './tracing.js';
import type { HistogramCell } from './batched-histogram.js';

interface Request {
  readonly route: Route;
  readonly startedAt: number;
  /** The SQL text's bytes (a Query or Parse body), decoded only when it must be logged. */
  readonly sql: SqlRef | undefined;
  readonly span: StatementSpan | undefined;
}

/**
 * Measures what a client's requests cost, one request per ReadyForQuery (a Query, or an
 * extended-protocol batch up to Sync): duration by route and command tag, rows, errors by
 * SQLSTATE class, the slow-statement log and tracing spans. Only references to the raw bytes
 * are kept on the hot path; SQL is decoded and normalised only for a slow statement.
 */
export class StatementMeter {
  private readonly requests: Request[] = [];
  private rows = 0;
  private command = '';
  private lastCell: { route: Route; command: string; cell: HistogramCell } | undefined;

  constructor(
    private readonly log: Logger,
    /** Where log.slow_statement_ms is read, at each statement (RELOAD changes it). */
    private readonly settings: {
      readonly config: { readonly log: { readonly slowStatementMs: number } };
    },
    private readonly span: SessionSpan | undefined,
  ) {}

  begin(route: Route, sql: SqlRef | undefined): void {
    const span = this.span?.statement(route);
    this.requests.push({ route, startedAt: performance.now(), sql, span });
  }

  row(): void {
    this.rows++;
  }

  /** CommandComplete: the first word of its tag (commandWord). */
  commandComplete(word: string): void {
    this.command = word;
  }

  error(body: Buffer): void {
    const code = decodeErrorFields(body).code;
    errorsTotal.labels(sqlstateClass(code)).inc();
    this.requests[0]?.span?.error(code);
  }

  /** ReadyForQuery: the oldest request is done. */
  ready(): void {
    const request = this.requests.shift();
    if (!request) return;
    const elapsedMs = performance.now() - request.startedAt;
    const command = commandLabel(this.command);
    this.cellFor(request.route, command).observe(elapsedMs / 1000);
    request.span?.end(command, this.rows);
    const slowMs = this.settings.config.log.slowStatementMs;
    if (slowMs > 0 && elapsedMs >= slowMs) {
      this.log.warn(
        {
          route: request.route,
          durationMs: Math.round(elapsedMs * 10) / 10,
          rows: this.rows,
          command,
          statement: request.sql === undefined ? undefined : normalizeSql(sqlText(request.sql)),
        },
        'slow statement',
      );
    }
    this.rows = 0;
    this.command = '';
  }

  /** The histogram cell of (route, command): the last one again, as a rule. */
  private cellFor(route: Route, command: string): HistogramCell {
    const last = this.lastCell;
    if (last?.route === route && last.command === command) return last.cell;
    const cell = durationHistogram(route, command);
    this.lastCell = { route, command, cell };
    return cell;
  }

  /** Forget the request just begun (the proxy answered it after all). */
  abandonLast(): void {
    this.requests.pop();
  }

  /** A statement the proxy answered itself (no upstream round trip). */
  local(command: string): void {
    durationHistogram('local', commandLabel(command)).observe(0);
  }

  /** The connection is gone: requests in flight will never complete. */
  abandon(): void {
    for (const request of this.requests.splice(0)) request.span?.end('ABORTED', this.rows);
  }
}

/** Where a request's SQL text is: a Query body (`sql\0`) or a Parse body (`name\0sql\0…`). */
export interface SqlRef {
  readonly body: Buffer;
  readonly parse: boolean;
}

function sqlText({ body, parse }: SqlRef): string {
  const start = parse ? body.indexOf(0) + 1 : 0;
  const end = body.indexOf(0, start);
  return body.toString('utf8', start, end < 0 ? body.length : end);
}

const cells = new Map<string, HistogramCell>();

/** The histogram cell for (route, command), looked up once per pair. */
function durationHistogram(route: Route, command: string): HistogramCell {
  const key = `${route}\0${command}`;
  let cell = cells.get(key);
  if (!cell) {
    cell = statementSeconds.cell(route, command);
    cells.set(key, cell);
  }
  return cell;
}
