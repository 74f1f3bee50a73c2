import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiRole } from '../config-types.js';
import { ApiError } from './api-error.js';
import type { ApiContext, ApiScope } from './api-routes.js';
import { principalOf } from './api-routes.js';
import { requireCollection, requireRole } from './auth.js';
import { documentText, ifMatchVersion } from './document-input.js';
import type { WriteOutcome } from './document-store.js';
import { listDocuments } from './listing.js';
import type { JsonValue } from './merge-patch.js';
import { collectionName, documentId } from './names.js';
import { documentJson, etagOf, type DocumentRow } from './rows.js';
import {
  CollectionParams,
  DocumentPage,
  DocumentParams,
  JsonDocument,
  ListQuery,
  StoredDocument,
  errors,
} from './schemas.js';

export const MERGE_PATCH = 'application/merge-patch+json';

/** The collection of a request, after the caller's role and collection rights are checked. */
export function collectionFor(request: FastifyRequest, name: string, role: ApiRole): string {
  const principal = principalOf(request);
  requireRole(principal, role);
  const collection = collectionName(name);
  requireCollection(principal, collection);
  return collection;
}

function sendDocument(reply: FastifyReply, row: DocumentRow, status = 200): FastifyReply {
  return sendJsonText(reply.code(status).header('etag', etagOf(row.version)), documentJson(row));
}

/** JSON already serialized (documents spliced from Postgres's text). */
function sendJsonText(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}

function sendOutcome(reply: FastifyReply, outcome: WriteOutcome, id: string): FastifyReply {
  switch (outcome.kind) {
    case 'ok':
      return sendDocument(reply, outcome.row);
    case 'not-found':
      throw new ApiError(404, 'not_found', `document ${id} does not exist`);
    case 'stale':
      reply.header('etag', etagOf(outcome.current));
      throw new ApiError(
        412,
        'precondition_failed',
        `If-Match does not match the document's current version ${etagOf(outcome.current)}`,
      );
  }
}

export function registerDocumentRoutes(scope: ApiScope, context: ApiContext): void {
  const tags = ['documents'];
  const ifMatchHeader = {
    type: 'object',
    properties: { 'if-match': { type: 'string', description: 'An ETag ("<version>") or *' } },
  } as const;
  // JSON bodies as Fastify parses them (proto-poisoning checks included), keeping the text too.
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  scope.decorateRequest('rawJson', null);
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    request.rawJson = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    void parseJson(request, text, done);
  });
  scope.addContentTypeParser(MERGE_PATCH, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(typeof body === 'string' ? body : body.toString('utf8')));
    } catch {
      done(new ApiError(400, 'invalid_json', 'body: not valid JSON', 'body'), undefined);
    }
  });

  scope.post(
    '/collections/:name/documents',
    {
      schema: {
        tags,
        summary: 'Insert a document',
        params: CollectionParams,
        body: JsonDocument,
        response: { 201: StoredDocument, ...errors(400, 401, 403, 404, 413, 429) },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'write');
      const row = await context.documents.insert(
        collection,
        documentText(request.body, 'body', undefined, request.rawJson),
      );
      reply.header('location', `/v1/collections/${collection}/documents/${row.id}`);
      return sendDocument(reply, row, 201);
    },
  );

  scope.get(
    '/collections/:name/documents',
    {
      schema: {
        tags,
        summary: 'List documents: filter, project, sort, paginate with a cursor',
        params: CollectionParams,
        querystring: ListQuery,
        response: { 200: DocumentPage, ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'read');
      const page = await listDocuments(context.documents, {
        collection,
        limit: request.query.limit ?? 100,
        cursor: request.query.cursor,
        contains: request.query.contains,
        fields: request.query.fields,
        sort: request.query.sort,
      });
      return sendJsonText(reply, page.json);
    },
  );

  scope.get(
    '/collections/:name/documents/:id',
    {
      schema: {
        tags,
        summary: 'Get a document (ETag; If-None-Match answers 304)',
        params: DocumentParams,
        response: {
          200: StoredDocument,
          304: { type: 'null' },
          ...errors(400, 401, 403, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'read');
      const id = documentId(request.params.id);
      const row = await context.documents.get(collection, id);
      if (!row) throw new ApiError(404, 'not_found', `document ${id} does not exist`);
      if (request.headers['if-none-match'] === etagOf(row.version)) {
        return reply.code(304).header('etag', etagOf(row.version)).send(null);
      }
      return sendDocument(reply, row);
    },
  );

  scope.put(
    '/collections/:name/documents/:id',
    {
      schema: {
        tags,
        summary: 'Replace a document (If-Match for optimistic concurrency)',
        params: DocumentParams,
        headers: ifMatchHeader,
        body: JsonDocument,
        response: { 200: StoredDocument, ...errors(400, 401, 403, 404, 412, 429) },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'write');
      const id = documentId(request.params.id);
      const outcome = await context.documents.replace(
        collection,
        id,
        documentText(request.body, 'body', undefined, request.rawJson),
        ifMatchVersion(request.headers['if-match']),
      );
      return sendOutcome(reply, outcome, id);
    },
  );

  scope.patch(
    '/collections/:name/documents/:id',
    {
      schema: {
        tags,
        summary: 'Apply a JSON Merge Patch (RFC 7396; application/merge-patch+json)',
        params: DocumentParams,
        headers: ifMatchHeader,
        body: JsonDocument,
        response: { 200: StoredDocument, ...errors(400, 401, 403, 404, 412, 415, 429) },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'write');
      const id = documentId(request.params.id);
      documentText(request.body, 'body');
      const outcome = await context.documents.patch(
        collection,
        id,
        request.body as JsonValue,
        ifMatchVersion(request.headers['if-match']),
      );
      return sendOutcome(reply, outcome, id);
    },
  );

  scope.delete(
    '/collections/:name/documents/:id',
    {
      schema: {
        tags,
        summary: 'Delete a document (If-Match optional)',
        params: DocumentParams,
        headers: ifMatchHeader,
        response: { 204: { type: 'null' }, ...errors(400, 401, 403, 404, 412, 429) },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'write');
      const id = documentId(request.params.id);
      const outcome = await context.documents.delete(
        collection,
        id,
        ifMatchVersion(request.headers['if-match']),
      );
      if (outcome.kind === 'ok') return reply.code(204).send(null);
      return sendOutcome(reply, outcome, id);
    },
  );
}
