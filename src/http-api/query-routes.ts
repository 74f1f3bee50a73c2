import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ResultColumn, RowSink, StatementResult } from '../upstream-query.js';
import { ApiError } from './api-error.js';
import type { ApiContext, ApiScope } from './api-routes.js';
import { principalOf } from './api-routes.js';
import { ArrowStreamEncoder } from './arrow-encoder.js';
import { requireRole } from './auth.js';
import { errorResponse } from './error-handler.js';
import { jsonValue, typeName } from './pg-types.js';
import type { QueryRequest } from './query-executor.js';
import { QueryBody, QueryResult, errors } from './schemas.js';
import { StreamBody } from './stream-body.js';

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';
export const NDJSON = 'application/x-ndjson';
type Format = 'json' | 'ndjson' | 'arrow';

/** The response format for an Accept header: the first listed that we serve, else JSON. */
export function formatFor(accept: string | undefined): Format {
  for (const part of (accept ?? '').split(',')) {
    const type = part.split(';')[0]?.trim().toLowerCase();
    if (type === ARROW_STREAM) return 'arrow';
    if (type === NDJSON || type === 'application/jsonl') return 'ndjson';
    if (type === 'application/json' || type === '*/*') return 'json';
  }
  return 'json';
}

/** A JSON request parameter as Bind text: strings as is, JSON for objects and arrays. */
function paramText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function columnsJson(columns: readonly ResultColumn[]): unknown[] {
  return columns.map((c) => ({ name: c.name, type: typeName(c.typeOid), typeOid: c.typeOid }));
}

function rowJson(columns: readonly ResultColumn[], values: readonly (Buffer | null)[]): unknown[] {
  return values.map((value, i) =>
    value === null ? null : jsonValue(columns[i]?.typeOid ?? 25, value.toString('utf8')),
  );
}

export function registerQueryRoutes(scope: ApiScope, context: ApiContext): void {
  scope.post(
    '/query',
    {
      schema: {
        tags: ['query'],
        summary:
          'Run one SQL statement; JSON, NDJSON (Accept: application/x-ndjson) or Arrow IPC stream (Accept: application/vnd.apache.arrow.stream)',
        body: QueryBody,
        response: {
          200: {
            content: {
              'application/json': { schema: QueryResult },
              [NDJSON]: {
                schema: {
                  type: 'string',
                  description:
                    'A {"columns"} line, one JSON array per row, then a {"command","rowCount"} line (or an {"error"} line)',
                },
              },
              [ARROW_STREAM]: { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...errors(400, 401, 403, 404, 409, 413, 429, 503, 504),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      requireRole(principal, 'read');
      if (principal.collections !== null) {
        throw new ApiError(403, 'forbidden', 'a caller limited to some collections cannot run SQL');
      }
      const controller = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) controller.abort();
      });
      const query: QueryRequest = {
        sql: request.body.sql,
        params: (request.body.params ?? []).map(paramText),
        readOnly: principal.role === 'read',
        signal: controller.signal,
      };
      const format = formatFor(request.headers.accept);
      if (format === 'json') return runJson(context, query, reply);
      return runStreaming(context, query, request, reply, format);
    },
  );
}

async function runJson(
  context: ApiContext,
  query: QueryRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const max = context.config().maxJsonRows;
  let columns: readonly ResultColumn[] = [];
  const rows: unknown[][] = [];
  const sink: RowSink = {
    columns: (c) => {
      columns = c;
    },
    row: (values) => {
      if (rows.length >= max) {
        throw new ApiError(
          413,
          'too_large',
          `more than ${max} rows: ask for NDJSON (Accept: ${NDJSON}) or Arrow (Accept: ${ARROW_STREAM})`,
        );
      }
      rows.push(rowJson(columns, values));
      return true;
    },
  };
  const result = await context.executor.run(query, sink);
  return reply.send({
    columns: columnsJson(columns),
    rows,
    rowCount: result.rowCount,
    command: result.command,
  });
}

/** Formats that stream: headers go out with the first columns (errors before that are plain). */
async function runStreaming(
  context: ApiContext,
  query: QueryRequest,
  request: FastifyRequest,
  reply: FastifyReply,
  format: 'ndjson' | 'arrow',
): Promise<FastifyReply> {
  const body = new StreamBody();
  const encoder = format === 'arrow' ? new StreamingArrow(body) : new StreamingNdjson(body);
  let started = false;
  let markStarted: () => void = () => undefined;
  const startedSignal = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const sink: RowSink = {
    columns: (columns) => {
      encoder.begin(columns);
      started = true;
      markStarted();
    },
    row: (values) => encoder.row(values),
    drained: () => body.drained(),
  };
  const done = context.executor.run(query, sink).then(
    (result) => {
      if (!started) encoder.begin([]);
      encoder.end(result);
      body.end();
    },
    (error: unknown) => {
      if (!started) throw error;
      encoder.fail(error, context.log);
      body.end();
    },
  );
  await Promise.race([startedSignal, done]);
  void done.catch((error: unknown) => {
    request.log.debug({ err: error }, 'streamed query failed after the response started');
  });
  return reply
    .type(format === 'arrow' ? ARROW_STREAM : `${NDJSON}; charset=utf-8`)
    .send(body.readable);
}

interface StreamEncoder {
  begin(columns: readonly ResultColumn[]): void;
  row(values: readonly (Buffer | null)[]): boolean;
  end(result: StatementResult): void;
  fail(error: unknown, log: Logger): void;
}

class StreamingNdjson implements StreamEncoder {
  private columns: readonly ResultColumn[] = [];
  constructor(private readonly body: StreamBody) {}
  begin(columns: readonly ResultColumn[]): void {
    this.columns = columns;
    this.body.push(`${JSON.stringify({ columns: columnsJson(columns) })}\n`);
  }
  row(values: readonly (Buffer | null)[]): boolean {
    return this.body.push(`${JSON.stringify(rowJson(this.columns, values))}\n`);
  }
  end(result: StatementResult): void {
    this.body.push(`${JSON.stringify({ command: result.command, rowCount: result.rowCount })}\n`);
  }
  fail(error: unknown, log: Logger): void {
    this.body.push(`${JSON.stringify(errorResponse(error, log).body)}\n`);
  }
}

class StreamingArrow implements StreamEncoder {
  private encoder: ArrowStreamEncoder | undefined;
  constructor(private readonly body: StreamBody) {}
  begin(columns: readonly ResultColumn[]): void {
    this.encoder = new ArrowStreamEncoder(columns);
  }
  row(values: readonly (Buffer | null)[]): boolean {
    const bytes = this.encoder?.add(values);
    return bytes === undefined ? true : this.body.push(bytes);
  }
  end(): void {
    if (this.encoder) this.body.push(this.encoder.finish());
  }
  fail(error: unknown, log: Logger): void {
    // An Arrow stream has no error message: cut it short, so the reader fails instead of
    // taking a partial result for a whole one.
    errorResponse(error, log);
    this.body.readable.destroy(new Error('query failed after the response started'));
  }
}
