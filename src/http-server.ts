import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ApiError } from './http-api/api-error.js';
import { registerApi } from './http-api/api-routes.js';
import { Authenticator, requireRole } from './http-api/auth.js';
import { makeErrorHandler } from './http-api/error-handler.js';
import { errors, Health } from './http-api/schemas.js';
import { registry } from './metrics.js';
import type { ProxyServer } from './server.js';
import { VERSION } from './version.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly proxy: ProxyServer;
  readonly log: Logger;
}

/**
 * The HTTP listener (Fastify): `/healthz` (the process serves), `/readyz` (the proxy listens and
 * the upstream answers `SELECT 1`), `/metrics` (Prometheus text exposition), and the document
 * API under `/v1` with its OpenAPI document at `/openapi.json` and interactive docs at `/docs`.
 */
export class HttpServer {
  private constructor(private readonly app: FastifyInstance) {}

  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const app = await buildHttpApp(options);
    await app.listen({ host: options.host, port: options.port });
    const server = new HttpServer(app);
    options.log.info({ http: server.address() }, 'HTTP listener ready');
    return server;
  }

  address(): { host: string; port: number } {
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return { host: address.address, port: address.port };
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}

async function buildHttpApp(options: HttpServerOptions): Promise<FastifyInstance> {
  const { proxy, log } = options;
  const api = proxy.config.api;
  const app = Fastify({
    bodyLimit: api.bodyLimit,
    forceCloseConnections: true,
    ajv: { customOptions: { coerceTypes: 'array', useDefaults: true, removeAdditional: false } },
  });
  app.setErrorHandler(makeErrorHandler(log));
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({
      error: {
        code: 'not_found',
        message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
      },
    });
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  if (api.enabled) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'DocFusionDB HTTP API',
          version: VERSION,
          description:
            'Collections of JSON documents in Postgres: CRUD with ETags, listing, bulk writes, streaming import/export and SQL queries as JSON, NDJSON or Arrow.',
        },
        components: {
          securitySchemes: {
            bearer: {
              type: 'http',
              scheme: 'bearer',
              description: 'An API key or a JWT (HS256, or RS256 with the JWKS file)',
            },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          },
        },
        security: [{ bearer: [] }, { apiKey: [] }],
      },
    });
  }

  const health = { tags: ['health'], security: [], response: { 200: Health, 503: Health } };
  app.get('/healthz', { schema: { ...health, summary: 'The process serves' } }, () => ({
    status: 'ok',
    version: VERSION,
    sessions: proxy.sessions.size,
  }));
  app.get(
    '/readyz',
    { schema: { ...health, summary: 'The proxy listens and the upstream answers' } },
    async (_request, reply) => {
      const probe = await proxy.readiness.check();
      if (probe.ok) return { status: 'ready' };
      return reply.code(503).send({ status: 'unavailable', reason: probe.reason });
    },
  );
  let metricsAuth: { config: unknown; authenticator: Authenticator } | undefined;
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics',
        response: { 200: { type: 'string' }, ...errors(401, 403) },
      },
    },
    async (request, reply) => {
      const config = proxy.config.api;
      if (config.protectMetrics) {
        if (metricsAuth?.config !== config) {
          metricsAuth = { config, authenticator: new Authenticator(config) };
        }
        const principal = await metricsAuth.authenticator.authenticate(request.headers);
        if (principal === null) throw new ApiError(401, 'unauthorized', 'credentials required');
        requireRole(principal, 'admin');
      }
      const text = await registry.metrics();
      return reply.type(registry.contentType).header('cache-control', 'no-store').send(text);
    },
  );

  if (api.enabled) {
    await app.register(
      async (scope) => {
        await registerApi(scope, { proxy, log });
      },
      { prefix: '/v1' },
    );
    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }
  return app;
}
