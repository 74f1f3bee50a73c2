/**
 * OpenTelemetry tracing: off by default (no span objects, no OpenTelemetry SDK module even
 * loaded), and with `tracing.otlp_endpoint` set, `session` and `statement` spans exported over
 * OTLP/HTTP to a receiver in this test. The exporter (@opentelemetry/exporter-trace-otlp-http)
 * posts JSON (`application/json`, ExportTraceServiceRequest in the OTLP/JSON encoding) to the
 * URL as given; the receiver also accepts gzip in case OTEL_EXPORTER_OTLP_COMPRESSION is set.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NO_TRACING, startTracing, type Tracing } from '../../src/tracing.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

/**
 * OpenTelemetry packages loaded so far (they are CommonJS, so they sit in require.cache), except
 * @opentelemetry/api: prom-client requires it itself (for exemplars), tracing on or off.
 */
function loadedOpenTelemetryModules(): string[] {
  const cache = createRequire(import.meta.url).cache;
  const names = Object.keys(cache)
    .map((file) => /node_modules[\\/](@opentelemetry[\\/][^\\/]+)/.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .map((name) => name.replace('\\', '/'));
  return [...new Set(names)].filter((name) => name !== '@opentelemetry/api').sort();
}

/** The tracing object a running proxy's sessions use (a private field of ProxyServer). */
function tracingOf(proxy: TestProxy): Tracing {
  return (proxy.running.proxy as unknown as { ctx: { tracing: Tracing } }).ctx.tracing;
}

async function connect(proxy: TestProxy, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: proxy.url(),
    application_name: applicationName,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describe('tracing off (the default)', () => {
  test('startTracing(null) is the shared no-op, and nothing of OpenTelemetry is loaded', async () => {
    const tracing = await startTracing(null, 'docfusiondb');
    expect(tracing).toBe(NO_TRACING);
    expect(tracing.enabled).toBe(false);
    expect(tracing.session({ 'db.user': 'x' })).toBeUndefined();
    await tracing.shutdown();
    expect(loadedOpenTelemetryModules()).toEqual([]);
  });

  test('a proxy with the default configuration creates no spans and loads no SDK', async () => {
    const proxy = await startProxy();
    try {
      expect(proxy.config.tracing.otlpEndpoint).toBeNull();
      expect(tracingOf(proxy)).toBe(NO_TRACING);
      const client = await connect(proxy, 'trace-off');
      await client.query('SELECT 1');
      await client.query('SELECT $1::int', [2]);
      await client.end();
      expect(loadedOpenTelemetryModules()).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});

// ---- OTLP/JSON, as much of it as the test reads ------------------------------------------------

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
  status?: { code?: number };
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
}
interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[];
  }[];
}

interface ReceivedSpan {
  readonly span: OtlpSpan;
  readonly attributes: Record<string, string | number | boolean>;
  readonly resource: Record<string, string | number | boolean>;
  readonly scope: string | undefined;
}

function attributeMap(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    const v =
      value.stringValue ??
      (value.intValue === undefined ? undefined : Number(value.intValue)) ??
      value.boolValue ??
      value.doubleValue;
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** A minimal OTLP/HTTP traces receiver on 127.0.0.1. */
class OtlpReceiver {
  readonly requests: { method: string; path: string; contentType: string; body: string }[] = [];
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body = Buffer.concat(chunks);
      if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      this.requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
        contentType: request.headers['content-type'] ?? '',
        body: body.toString('utf8'),
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return `http://127.0.0.1:${address.port}/v1/traces`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
      this.server.closeAllConnections();
    });
  }

  spans(): ReceivedSpan[] {
    return this.requests.flatMap((r) => {
      const request = JSON.parse(r.body) as ExportRequest;
      return (request.resourceSpans ?? []).flatMap((rs) => {
        const resource = attributeMap(rs.resource?.attributes);
        return (rs.scopeSpans ?? []).flatMap((ss) =>
          (ss.spans ?? []).map((span) => ({
            span,
            attributes: attributeMap(span.attributes),
            resource,
            scope: ss.scope?.name,
          })),
        );
      });
    });
  }
}

describe('tracing on: spans exported over OTLP/HTTP', () => {
  const receiver = new OtlpReceiver();
  const marker = `secret_${randomBytes(5).toString('hex')}`;
  let proxy: TestProxy;
  let endpoint: string;

  beforeAll(async () => {
    endpoint = await receiver.start();
    proxy = await startProxy({
      tracing: { otlpEndpoint: endpoint, serviceName: 'docfusion-tracing-test' },
    });
  });
  afterAll(async () => {
    await proxy.stop(); // a no-op when the test stopped it
    await receiver.close();
  });

  test('session and statement spans with route, operation, rows and errors; flushed by stop()', async () => {
    expect(tracingOf(proxy).enabled).toBe(true);
    expect(loadedOpenTelemetryModules()).toEqual(
      expect.arrayContaining(['@opentelemetry/sdk-trace-base']),
    );

    const client = await connect(proxy, 'trace-on');
    await client.query(`SELECT '${marker}' AS literal`);
    await client.query('SELECT $1::text AS param, generate_series(1, 3) AS n', [marker]);
    await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    await client.end();
    await proxy.stop(); // shuts the tracer provider down, which flushes the batch

    expect(receiver.requests.length).toBeGreaterThan(0);
    for (const r of receiver.requests) {
      expect(r.method).toBe('POST');
      expect(r.path).toBe('/v1/traces');
      expect(r.contentType).toMatch(/^application\/json/);
      // Neither literals nor parameter values reach the trace backend.
      expect(r.body).not.toContain(marker);
    }

    const spans = receiver.spans();
    const sessions = spans.filter((s) => s.span.name === 'session');
    const statements = spans
      .filter((s) => s.span.name === 'statement')
      .sort((a, b) => Number(BigInt(a.span.startTimeUnixNano) - BigInt(b.span.startTimeUnixNano)));
    expect(sessions).toHaveLength(1);
    expect(statements).toHaveLength(3);
    const session = sessions[0];
    if (session === undefined) throw new Error('no session span');

    expect(session.resource['service.name']).toBe('docfusion-tracing-test');
    expect(session.scope).toBe('docfusiondb');
    expect(session.span.kind).toBe(2); // SPAN_KIND_SERVER
    expect(session.attributes).toMatchObject({
      'db.user': decodeURIComponent(new URL(proxy.upstreamUrl).username),
      'db.namespace': new URL(proxy.upstreamUrl).pathname.slice(1),
      'docfusion.session': expect.any(Number) as number,
    });
    expect(String(session.attributes['client.address'])).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(session.span.parentSpanId ?? '').toBe('');

    for (const statement of statements) {
      expect(statement.span.traceId).toBe(session.span.traceId);
      expect(statement.span.parentSpanId).toBe(session.span.spanId);
      expect(statement.attributes).toMatchObject({
        'docfusion.route': 'passthrough',
        'db.system': 'postgresql',
      });
      expect(BigInt(statement.span.endTimeUnixNano)).toBeGreaterThanOrEqual(
        BigInt(statement.span.startTimeUnixNano),
      );
      // The session span encloses its statements.
      expect(BigInt(statement.span.startTimeUnixNano)).toBeGreaterThanOrEqual(
        BigInt(session.span.startTimeUnixNano),
      );
      expect(BigInt(statement.span.endTimeUnixNano)).toBeLessThanOrEqual(
        BigInt(session.span.endTimeUnixNano),
      );
    }
    const rows = statements.map((s) => s.attributes['db.response.returned_rows']);
    expect(rows).toEqual([1, 3, 0]);
    // The command comes from CommandComplete: the failed statement has none ("NONE").
    expect(statements.map((s) => s.attributes['db.operation.name'])).toEqual([
      'SELECT',
      'SELECT',
      'NONE',
    ]);
    const failed = statements[2];
    expect(failed?.attributes['db.response.status_code']).toBe('22012');
    expect(failed?.span.status?.code).toBe(2); // STATUS_CODE_ERROR
    expect(statements[0]?.span.status?.code ?? 0).not.toBe(2);
  });
});
