import { runStatement } from '../upstream-query.js';
import { ApiError } from './api-error.js';
import type { ApiContext, ApiScope } from './api-routes.js';
import { documentText } from './document-input.js';
import { collectionFor } from './document-routes.js';
import { compileMergePatch } from './merge-patch-sql.js';
import type { JsonValue } from './merge-patch.js';
import { RowCollector } from './rows.js';
import {
  BulkDeleteBody,
  BulkDeleteResult,
  BulkInsertBody,
  BulkInsertResult,
  BulkUpdateBody,
  BulkUpdateResult,
  CollectionParams,
  errors,
  type Filter,
} from './schemas.js';

/** A filter as a WHERE clause with Bind parameters from `$first` on; at least one condition. */
export function filterSql(filter: Filter, first: number): { sql: string; params: string[] } {
  const conditions: string[] = [];
  const params: string[] = [];
  if (filter.contains !== undefined) {
    params.push(JSON.stringify(filter.contains));
    conditions.push(`doc @> $${first + params.length - 1}::jsonb`);
  }
  if (filter.ids !== undefined) {
    params.push(`{${filter.ids.join(',')}}`);
    conditions.push(`id = ANY($${first + params.length - 1}::bigint[])`);
  }
  if (conditions.length === 0) {
    throw new ApiError(
      400,
      'invalid_filter',
      'body.filter: give contains and/or ids (contains: {} matches every document)',
      'body.filter',
    );
  }
  return { sql: conditions.join(' AND '), params };
}

export function registerBulkRoutes(scope: ApiScope, context: ApiContext): void {
  const tags = ['bulk'];
  scope.post(
    '/collections/:name/documents/bulk',
    {
      schema: {
        tags,
        summary: 'Insert many documents in one transaction (all or nothing)',
        params: CollectionParams,
        body: BulkInsertBody,
        response: { 200: BulkInsertResult, ...errors(400, 401, 403, 404, 413, 429) },
      },
    },
    async (request) => {
      const collection = collectionFor(request, request.params.name, 'write');
      const { documents } = request.body;
      const max = context.config().maxBulkDocuments;
      if (documents.length > max) {
        throw new ApiError(
          413,
          'too_large',
          `body.documents: at most ${max} documents per bulk insert`,
          'body.documents',
        );
      }
      const texts = documents.map((doc, i) => documentText(doc, `body.documents[${i}]`, i));
      const ids = new RowCollector();
      await context.documents.run(collection, (connection) =>
        runStatement(connection, {
          sql: `INSERT INTO ${context.documents.table(collection)} (doc)
                SELECT e.doc FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(doc, n) ORDER BY e.n
                RETURNING id`,
          params: [`[${texts.join(',')}]`],
          sink: ids,
        }),
      );
      return { inserted: ids.rows.length, ids: ids.rows.map((row) => Number(row[0])) };
    },
  );

  scope.post(
    '/collections/:name/documents/bulk-update',
    {
      schema: {
        tags,
        summary: 'Merge-patch every document matching a filter (one statement)',
        params: CollectionParams,
        body: BulkUpdateBody,
        response: { 200: BulkUpdateResult, ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const collection = collectionFor(request, request.params.name, 'write');
      documentText(request.body.patch, 'body.patch');
      const where = filterSql(request.body.filter, 1);
      const patch = compileMergePatch(
        'doc',
        request.body.patch as JsonValue,
        where.params.length + 1,
      );
      const result = await context.documents.run(collection, (connection) =>
        runStatement(connection, {
          sql: `UPDATE ${context.documents.table(collection)} SET doc = ${patch.sql}, version = version + 1, updated_at = now() WHERE ${where.sql}`,
          params: [...where.params, ...patch.params],
        }),
      );
      return { updated: result.rowCount };
    },
  );

  scope.post(
    '/collections/:name/documents/bulk-delete',
    {
      schema: {
        tags,
        summary: 'Delete every document matching a filter',
        params: CollectionParams,
        body: BulkDeleteBody,
        response: { 200: BulkDeleteResult, ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const collection = collectionFor(request, request.params.name, 'write');
      const where = filterSql(request.body.filter, 1);
      const result = await context.documents.run(collection, (connection) =>
        runStatement(connection, {
          sql: `DELETE FROM ${context.documents.table(collection)} WHERE ${where.sql}`,
          params: where.params,
        }),
      );
      return { deleted: result.rowCount };
    },
  );
}
