import { Type, type Static, type TSchema } from 'typebox';

/**
 * The API's request and response shapes, as JSON Schemas (TypeBox): Fastify validates requests
 * with them, @fastify/swagger turns them into the OpenAPI document, and the SDK (sdk/) takes
 * its TypeScript types from them, so the three cannot drift apart.
 */

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, e.g. not_found, conflict' }),
      message: Type.String(),
      sqlstate: Type.Optional(Type.String({ description: 'SQLSTATE of a Postgres error' })),
      path: Type.Optional(
        Type.String({ description: 'The offending part of the request, e.g. body.documents[3]' }),
      ),
      index: Type.Optional(
        Type.Integer({ description: 'Bulk: 0-based index of the bad document' }),
      ),
      line: Type.Optional(
        Type.Integer({ description: 'Import: 1-based line of the bad document' }),
      ),
    }),
  },
  { $id: 'ErrorResponse', description: 'Every error has this body; it never holds a stack trace.' },
);

export const JsonDocument = Type.Record(Type.String(), Type.Unknown(), {
  description: 'A JSON object',
});

export const StoredDocument = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    version: Type.Integer({ minimum: 1, description: 'Also the ETag: "<version>"' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    doc: JsonDocument,
  },
  { $id: 'StoredDocument' },
);

export const CollectionParams = Type.Object({
  name: Type.String({ description: 'Collection name: ^[a-z][a-z0-9_]{0,47}$, not pg_*' }),
});
export const DocumentParams = Type.Object({
  name: Type.String(),
  id: Type.String({ description: 'Document id (a positive integer)' }),
});

export const Collection = Type.Object(
  { name: Type.String(), count: Type.Integer({ minimum: 0 }) },
  { $id: 'Collection' },
);
export const CollectionList = Type.Object({ collections: Type.Array(Collection) });
export const CollectionCreated = Type.Object({ name: Type.String(), created: Type.Boolean() });

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ description: 'nextCursor of the previous page' })),
  contains: Type.Optional(
    Type.String({ description: 'A JSON pattern: documents that contain it (jsonb @>, GIN index)' }),
  ),
  fields: Type.Optional(
    Type.String({
      description: 'Comma-separated dotted JSON paths to return, e.g. name,address.city',
    }),
  ),
  sort: Type.Optional(
    Type.String({ description: 'A dotted JSON path to sort by, descending with a leading -' }),
  ),
});
export const DocumentPage = Type.Object({
  documents: Type.Array(StoredDocument),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const Filter = Type.Object(
  {
    contains: Type.Optional(
      Type.Union([JsonDocument, Type.Array(Type.Unknown())], {
        description: 'Documents containing this JSON (jsonb @>)',
      }),
    ),
    ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 100_000 })),
  },
  { additionalProperties: false, description: 'All given conditions must hold' },
);

export const BulkInsertBody = Type.Object(
  { documents: Type.Array(JsonDocument, { minItems: 1 }) },
  { additionalProperties: false },
);
export const BulkInsertResult = Type.Object({
  inserted: Type.Integer(),
  ids: Type.Array(Type.Integer()),
});
export const BulkUpdateBody = Type.Object(
  { filter: Filter, patch: JsonDocument },
  { additionalProperties: false },
);
export const BulkUpdateResult = Type.Object({ updated: Type.Integer() });
export const BulkDeleteBody = Type.Object({ filter: Filter }, { additionalProperties: false });
export const BulkDeleteResult = Type.Object({ deleted: Type.Integer() });

export const ImportQuery = Type.Object({
  atomic: Type.Optional(
    Type.Boolean({ default: false, description: 'All or nothing: any bad line rolls back' }),
  ),
});
export const ImportResult = Type.Object({
  inserted: Type.Integer(),
  rejected: Type.Integer(),
  committed: Type.Boolean(),
  errors: Type.Array(Type.Object({ line: Type.Integer(), message: Type.String() }), {
    description: 'The first 1000 rejected lines (1-based; elements for a JSON array)',
  }),
});

export const QueryBody = Type.Object(
  {
    sql: Type.String({ minLength: 1, description: 'One SQL statement; $1, $2… for parameters' }),
    params: Type.Optional(
      Type.Array(Type.Unknown(), {
        description:
          'Bind parameters: strings, numbers, booleans, null; objects and arrays as JSON',
      }),
    ),
  },
  { additionalProperties: false },
);
export const QueryColumn = Type.Object({
  name: Type.String(),
  type: Type.String({ description: 'Postgres type name (or the OID when unknown)' }),
  typeOid: Type.Integer(),
});
export const QueryResult = Type.Object({
  columns: Type.Array(QueryColumn),
  rows: Type.Array(Type.Array(Type.Unknown()), {
    description:
      'Rows as arrays in column order: numbers, booleans, JSON, strings (int8 beyond 2^53 and numeric as strings)',
  }),
  rowCount: Type.Integer(),
  command: Type.String(),
});

export const Health = Type.Object({
  status: Type.String(),
  version: Type.Optional(Type.String()),
  sessions: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
});

export type ErrorResponse = Static<typeof ErrorResponse>;
export type StoredDocument = Static<typeof StoredDocument>;
export type Collection = Static<typeof Collection>;
export type CollectionList = Static<typeof CollectionList>;
export type CollectionCreated = Static<typeof CollectionCreated>;
export type ListQuery = Static<typeof ListQuery>;
export type DocumentPage = Static<typeof DocumentPage>;
export type Filter = Static<typeof Filter>;
export type BulkInsertResult = Static<typeof BulkInsertResult>;
export type BulkUpdateResult = Static<typeof BulkUpdateResult>;
export type BulkDeleteResult = Static<typeof BulkDeleteResult>;
export type ImportResult = Static<typeof ImportResult>;
export type QueryBody = Static<typeof QueryBody>;
export type QueryResult = Static<typeof QueryResult>;

/** Error responses of a route, by status. */
export function errors(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorResponse]));
}
