import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { PgError } from '../../protocol/pg-error.js';
import { QueryAbortedError } from '../upstream-query.js';
import { ApiError, pgErrorResponse, type ErrorBody } from './api-error.js';

interface ValidationIssue {
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

/** `/documents/3/name` in `body` → `body.documents[3].name`. */
export function requestPath(
  context: string,
  instancePath: string,
  params: Record<string, unknown>,
): string {
  let path = context;
  const segments = instancePath.split('/').slice(1);
  const extra = params.missingProperty ?? params.additionalProperty;
  if (typeof extra === 'string') segments.push(extra);
  for (const raw of segments) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(segment)
      ? `[${segment}]`
      : /^[A-Za-z_$][\w$]*$/.test(segment)
        ? `.${segment}`
        : `[${JSON.stringify(segment)}]`;
  }
  return path;
}

/** The status and stable body for any error; internal errors are logged, never shown. */
export function errorResponse(error: unknown, log: Logger): { status: number; body: ErrorBody } {
  if (error instanceof ApiError) return { status: error.statusCode, body: error.body() };
  if (error instanceof PgError) return pgErrorResponse(error);
  if (error instanceof QueryAbortedError) {
    return { status: 499, body: { error: { code: 'aborted', message: error.message } } };
  }
  const fastifyError = error as Partial<FastifyError> & { validation?: ValidationIssue[] };
  if (Array.isArray(fastifyError.validation)) {
    const issue = fastifyError.validation[0];
    const context = fastifyError.validationContext ?? 'body';
    const path = issue ? requestPath(context, issue.instancePath, issue.params) : context;
    return {
      status: 400,
      body: {
        error: {
          code: 'invalid_request',
          message: `${path}: ${issue?.message ?? 'invalid'}`,
          path,
        },
      },
    };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client errors (body too large, bad JSON, unsupported media type…).
    const code =
      status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
    return { status, body: { error: { code, message: fastifyError.message ?? 'bad request' } } };
  }
  log.error({ err: error }, 'HTTP API internal error');
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error (see the DocFusionDB log)' } },
  };
}

export function makeErrorHandler(log: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const { status, body } = errorResponse(error, log);
    if (status >= 500)
      log.warn({ url: request.url, status, code: body.error.code }, 'HTTP API error');
    void reply.code(status).header('cache-control', 'no-store').send(body);
  };
}
