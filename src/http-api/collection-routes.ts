import { ApiError } from './api-error.js';
import type { ApiContext, ApiScope } from './api-routes.js';
import { principalOf } from './api-routes.js';
import { requireCollection, requireRole } from './auth.js';
import { collectionName } from './names.js';
import { CollectionCreated, CollectionList, CollectionParams, errors } from './schemas.js';

export function registerCollectionRoutes(scope: ApiScope, context: ApiContext): void {
  const tags = ['collections'];
  scope.get(
    '/collections',
    {
      schema: {
        tags,
        summary: 'List collections with their document counts',
        response: { 200: CollectionList, ...errors(401, 429) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      requireRole(principal, 'read');
      const all = await context.collections.list();
      return {
        collections: all.filter(
          (c) => principal.collections === null || principal.collections.has(c.name),
        ),
      };
    },
  );

  scope.put(
    '/collections/:name',
    {
      schema: {
        tags,
        summary: 'Create a collection (idempotent)',
        params: CollectionParams,
        response: {
          200: CollectionCreated,
          201: CollectionCreated,
          ...errors(400, 401, 403, 409, 429),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      requireRole(principal, 'admin');
      const name = collectionName(request.params.name);
      requireCollection(principal, name);
      const created = await context.collections.create(name);
      return reply.code(created ? 201 : 200).send({ name, created });
    },
  );

  scope.delete(
    '/collections/:name',
    {
      schema: {
        tags,
        summary: 'Drop a collection and its documents',
        params: CollectionParams,
        response: { 204: { type: 'null' }, ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      requireRole(principal, 'admin');
      const name = collectionName(request.params.name);
      requireCollection(principal, name);
      if (!(await context.collections.drop(name))) {
        throw new ApiError(404, 'collection_not_found', `collection "${name}" does not exist`);
      }
      return reply.code(204).send(null);
    },
  );
}
