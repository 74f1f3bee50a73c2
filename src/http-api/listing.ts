import { runStatement } from '../upstream-query.js';
import { ApiError } from './api-error.js';
import type { DocumentStore } from './document-store.js';
import { jsonPath, textArrayLiteral } from './names.js';
import { DOCUMENT_COLUMNS, RowCollector, documentJson, documentRow } from './rows.js';

export interface ListRequest {
  readonly collection: string;
  readonly limit: number;
  readonly cursor: string | undefined;
  readonly contains: string | undefined;
  readonly fields: string | undefined;
  readonly sort: string | undefined;
}

/** A page as response JSON text (documents spliced from Postgres's text). */
export interface ListedPage {
  readonly json: string;
}

interface Cursor {
  /** The sort spec the cursor belongs to ('' = by id). */
  readonly s: string;
  /** The last row's sort key as JSON text (null when sorting by id). */
  readonly k: string | null;
  readonly i: string;
}

/**
 * Keyset pagination: ORDER BY (sort key, id) and `WHERE (key, id) > (last key, last id)`, so
 * pages stay stable while documents are inserted (no duplicates, no skips of existing ones).
 * The sort key of a missing path is JSON null, so every document has one.
 */
export async function listDocuments(
  store: DocumentStore,
  request: ListRequest,
): Promise<ListedPage> {
  const params: (string | null)[] = [];
  const param = (value: string | null): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (request.contains !== undefined) {
    let pattern: unknown;
    try {
      pattern = JSON.parse(request.contains);
    } catch {
      pattern = undefined;
    }
    if (typeof pattern !== 'object' || pattern === null) {
      throw new ApiError(
        400,
        'invalid_filter',
        'querystring.contains: expected a JSON object or array',
        'querystring.contains',
      );
    }
    where.push(`doc @> ${param(JSON.stringify(pattern))}::jsonb`);
  }
  const sortSpec = request.sort ?? '';
  const descending = sortSpec.startsWith('-');
  const sortPath =
    request.sort === undefined ? null : jsonPath(sortSpec.replace(/^-/, ''), 'querystring.sort');
  const key =
    sortPath === null
      ? null
      : `COALESCE(doc #> ${param(textArrayLiteral(sortPath))}::text[], 'null'::jsonb)`;
  const cursor = request.cursor === undefined ? undefined : decodeCursor(request.cursor, sortSpec);
  const op = descending ? '<' : '>';
  if (cursor) {
    if (key === null) where.push(`id ${op} ${param(cursor.i)}::bigint`);
    else where.push(`(${key}, id) ${op} (${param(cursor.k)}::jsonb, ${param(cursor.i)}::bigint)`);
  }
  const direction = descending ? 'DESC' : 'ASC';
  const order = key === null ? `id ${direction}` : `${key} ${direction}, id ${direction}`;
  const fieldPaths =
    request.fields === undefined
      ? null
      : request.fields.split(',').map((field) => jsonPath(field.trim(), 'querystring.fields'));
  const projection =
    fieldPaths === null
      ? ''
      : fieldPaths.map((path) => `, doc #> ${param(textArrayLiteral(path))}::text[]`).join('');
  // With fields=, only the paths are fetched: the whole document never leaves Postgres.
  const columns =
    fieldPaths === null ? DOCUMENT_COLUMNS : DOCUMENT_COLUMNS.replace(/, doc$/, ", '{}'::jsonb");
  const sql =
    `SELECT ${columns}, ${key ?? 'NULL'}${projection} FROM ${store.table(request.collection)}` +
    `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ${param(String(request.limit + 1))}::bigint`;

  const rows = new RowCollector();
  await store.run(request.collection, (connection) =>
    runStatement(connection, { sql, params, sink: rows }),
  );
  const page = rows.rows.slice(0, request.limit);
  const documents = page.map((values) => {
    const row = documentRow(values);
    if (fieldPaths === null) return documentJson(row);
    return documentJson({ ...row, doc: JSON.stringify(project(fieldPaths, values.slice(6))) });
  });
  const last = page.at(-1);
  const next =
    rows.rows.length > request.limit && last
      ? encodeCursor({ s: sortSpec, k: last[5] ?? null, i: last[0] ?? '0' })
      : null;
  return {
    json: `{"documents":[${documents.join(',')}],"nextCursor":${next === null ? 'null' : JSON.stringify(next)}}`,
  };
}

/** The projected document: each path's value placed at that path; missing paths are left out. */
function project(
  paths: readonly string[][],
  values: readonly (string | null)[],
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  paths.forEach((path, i) => {
    const text = values[i];
    if (text === null || text === undefined) return;
    let node: Record<string, unknown> = result;
    for (const segment of path.slice(0, -1)) {
      const child = node[segment];
      if (child === undefined) {
        const created: Record<string, unknown> = {};
        node[segment] = created;
        node = created;
      } else if (typeof child === 'object' && child !== null && !Array.isArray(child)) {
        node = child as Record<string, unknown>;
      } else {
        return;
      }
    }
    const leaf = path.at(-1);
    if (leaf !== undefined) node[leaf] = JSON.parse(text);
  });
  return result;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string, sortSpec: string): Cursor {
  const invalid = (): ApiError =>
    new ApiError(
      400,
      'invalid_cursor',
      'querystring.cursor: not a cursor of this listing',
      'querystring.cursor',
    );
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof value !== 'object' || value === null) throw invalid();
  const { s, k, i } = value as Record<string, unknown>;
  if (s !== sortSpec || typeof i !== 'string' || !/^\d{1,18}$/.test(i)) throw invalid();
  if (sortSpec === '' ? k !== null : typeof k !== 'string') throw invalid();
  if (typeof k === 'string') {
    try {
      JSON.parse(k);
    } catch {
      throw invalid();
    }
  }
  return { s, k: typeof k === 'string' ? k : null, i };
}
