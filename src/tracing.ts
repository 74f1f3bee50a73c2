import type { Span, Tracer } from '@opentelemetry/api';

/** A statement's span: ended with its command tag and row count. */
export interface StatementSpan {
  error(sqlstate: string): void;
  end(command: string, rows: number): void;
}

/** A client session's span; statements are its children. */
export interface SessionSpan {
  set(attributes: Record<string, string | number>): void;
  statement(route: string): StatementSpan;
  end(): void;
}

/**
 * OpenTelemetry spans for sessions and statements, exported over OTLP/HTTP when
 * `tracing.otlp_endpoint` is set. When it is not, `enabled` is false, nothing is loaded and
 * callers create no spans at all: tracing costs nothing by default.
 */
export interface Tracing {
  readonly enabled: boolean;
  session(attributes: Record<string, string | number>): SessionSpan | undefined;
  shutdown(): Promise<void>;
}

export const NO_TRACING: Tracing = {
  enabled: false,
  session: () => undefined,
  shutdown: () => Promise.resolve(),
};

export async function startTracing(endpoint: string | null, serviceName: string): Promise<Tracing> {
  if (endpoint === null) return NO_TRACING;
  const api = await import('@opentelemetry/api');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }), {
        scheduledDelayMillis: 500,
      }),
    ],
  });
  const tracer: Tracer = provider.getTracer('docfusiondb');

  const statementOf = (parent: Span, route: string): StatementSpan => {
    const span = tracer.startSpan(
      'statement',
      {
        kind: api.SpanKind.SERVER,
        attributes: { 'docfusion.route': route, 'db.system': 'postgresql' },
      },
      api.trace.setSpan(api.context.active(), parent),
    );
    return {
      error: (sqlstate) => {
        span.setAttribute('db.response.status_code', sqlstate);
        span.setStatus({ code: api.SpanStatusCode.ERROR });
      },
      end: (command, rows) => {
        span.setAttributes({ 'db.operation.name': command, 'db.response.returned_rows': rows });
        span.end();
      },
    };
  };

  return {
    enabled: true,
    session: (attributes) => {
      const span = tracer.startSpan('session', { kind: api.SpanKind.SERVER, attributes });
      return {
        set: (more) => span.setAttributes(more),
        statement: (route) => statementOf(span, route),
        end: () => {
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
