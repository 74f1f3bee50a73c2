import { ApiError } from './api-error.js';

/**
 * Names that reach SQL text: collection names (table identifiers) and the JSON paths of
 * `fields=` and `sort=`. Identifiers are checked against a strict pattern and then quoted; JSON
 * paths never reach SQL text at all (they travel as `text[]` Bind parameters) but are checked
 * as strictly, so a malformed one is a 400 and not a silent miss.
 */

/** Lower-case letter first, then lower-case letters, digits, underscores; at most 48 bytes. */
const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,47}$/;
/** One path segment: a key of letters, digits, `_`, `-`, `$`, or an array index. */
const PATH_SEGMENT = /^(?:[A-Za-z_$][A-Za-z0-9_$-]{0,127}|0|[1-9][0-9]{0,8})$/;
const MAX_PATH_DEPTH = 16;
/** Document ids are bigint identities; at most 18 digits stays inside bigint and JS numbers. */
const DOCUMENT_ID = /^[1-9][0-9]{0,15}$/;

export function isCollectionName(name: string): boolean {
  return COLLECTION_NAME.test(name) && !name.startsWith('pg_');
}

/** A validated collection name, or a 400 naming `where`. */
export function collectionName(name: string, where = 'params.name'): string {
  if (!isCollectionName(name)) {
    throw new ApiError(
      400,
      'invalid_name',
      `${where}: a collection name is a lower-case letter followed by up to 47 lower-case letters, digits or underscores (not starting with pg_)`,
      where,
    );
  }
  return name;
}

/** `"name"`: only ever called on names that passed the pattern above. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"` for a validated collection name. */
export function qualifiedTable(schema: string, collection: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(collection)}`;
}

/** A dotted JSON path (`address.city`, `tags.0`) as its segments, or a 400 naming `where`. */
export function jsonPath(text: string, where: string): string[] {
  const segments = text.split('.');
  if (
    text.length === 0 ||
    segments.length > MAX_PATH_DEPTH ||
    !segments.every((segment) => PATH_SEGMENT.test(segment))
  ) {
    throw new ApiError(
      400,
      'invalid_path',
      `${where}: expected a dotted JSON path of keys (letters, digits, _ - $) or array indexes, at most ${MAX_PATH_DEPTH} deep`,
      where,
    );
  }
  return segments;
}

/** A document id from the URL, or a 400. */
export function documentId(text: string, where = 'params.id'): string {
  if (!DOCUMENT_ID.test(text)) {
    throw new ApiError(400, 'invalid_id', `${where}: expected a positive integer id`, where);
  }
  return text;
}

/** Segments as a Postgres text[] literal for a Bind parameter (`{"a","b"}`). */
export function textArrayLiteral(items: readonly string[]): string {
  return `{${items.map((item) => `"${item.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
