import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';
import type { ApiConfig } from '../config-types.js';
import type { ProxyServer } from '../server.js';
import { ApiConnections } from './api-connections.js';
import { ApiError } from './api-error.js';
import { Authenticator, type Principal } from './auth.js';
import { registerBulkRoutes } from './bulk-routes.js';
import { registerCollectionRoutes } from './collection-routes.js';
import { CollectionStore } from './collection-store.js';
import { registerDocumentRoutes } from './document-routes.js';
import { DocumentStore } from './document-store.js';
import { registerQueryRoutes } from './query-routes.js';
import { PlannedQueryExecutor } from './planned-query-executor.js';
import { DirectQueryExecutor, type QueryExecutor } from './query-executor.js';
import { registerTransferRoutes } from './transfer-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for every /v1 request by the auth hook. */
    principal: Principal | null;
    /** The text of an application/json body (document-routes.ts), else null. */
    rawJson: string | null;
  }
}

/** What the route modules share. */
export interface ApiContext {
  readonly config: () => ApiConfig;
  readonly db: ApiConnections;
  readonly collections: CollectionStore;
  readonly documents: DocumentStore;
  readonly executor: QueryExecutor;
  readonly log: Logger;
}

/** The /v1 scope with TypeBox-typed routes. */
export type ApiScope = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface ApiOptions {
  readonly proxy: ProxyServer;
  readonly log: Logger;
  /** The /v1/query execution; by default the SQL runs as is (the planner plugs in here). */
  readonly executor?: QueryExecutor;
}

/** The caller of a /v1 request (the auth hook guarantees one). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new ApiError(401, 'unauthorized', 'credentials required');
  return request.principal;
}

/** Everything under /v1: auth, rate limits and the routes. */
export async function registerApi(scope: FastifyInstance, options: ApiOptions): Promise<void> {
  const { proxy, log } = options;
  const config = (): ApiConfig => proxy.config.api;
  const db = new ApiConnections(proxy, proxy.config.upstreamConnect.timeoutMs * 2);
  const context: ApiContext = {
    config,
    db,
    collections: new CollectionStore(db, config().schema),
    documents: new DocumentStore(db, config().schema),
    executor:
      options.executor ??
      new PlannedQueryExecutor(
        new DirectQueryExecutor(db),
        proxy.plans,
        () => proxy.upstream.endpoint,
      ),
    log,
  };

  let authenticator: { config: ApiConfig; instance: Authenticator } | undefined;
  scope.decorateRequest('principal', null);
  scope.addHook('onRequest', async (request) => {
    const current = config();
    if (authenticator?.config !== current) {
      authenticator = { config: current, instance: new Authenticator(current) };
    }
    const principal = await authenticator.instance.authenticate(request.headers);
    if (principal) {
      request.principal = principal;
      return;
    }
    if (current.anonymousRole === 'none') {
      throw new ApiError(
        401,
        'unauthorized',
        'credentials required: Authorization: Bearer <key or JWT>, or X-API-Key',
      );
    }
    request.principal = {
      name: 'anonymous',
      role: current.anonymousRole,
      collections: null,
      rateLimit: null,
    };
  });

  await scope.register(rateLimit, {
    hook: 'preHandler',
    max: (request) => request.principal?.rateLimit ?? config().rateLimit.max,
    timeWindow: config().rateLimit.windowMs,
    keyGenerator: (request) => request.principal?.name ?? `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      new ApiError(
        429,
        'rate_limited',
        `rate limit of ${context.max} requests per ${context.after} exceeded; retry after ${Math.ceil(context.ttl / 1000)} s`,
      ),
  });

  const typed = scope.withTypeProvider<TypeBoxTypeProvider>();
  registerCollectionRoutes(typed, context);
  registerDocumentRoutes(typed, context);
  registerBulkRoutes(typed, context);
  registerTransferRoutes(typed, context);
  registerQueryRoutes(typed, context);
}
