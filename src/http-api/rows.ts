import type { ResultColumn, RowSink } from '../upstream-query.js';

/** A sink that keeps every row as text values (for small results: one document, a page). */
export class RowCollector implements RowSink {
  readonly rows: (string | null)[][] = [];
  fields: readonly ResultColumn[] = [];

  columns(columns: readonly ResultColumn[]): void {
    this.fields = columns;
  }

  row(values: readonly (Buffer | null)[]): boolean {
    this.rows.push(values.map((value) => (value === null ? null : value.toString('utf8'))));
    return true;
  }
}

/** The stored-document columns, in this order, for SELECT and RETURNING lists. */
export const DOCUMENT_COLUMNS =
  `id, version, ` +
  `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ` +
  `to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), doc`;

export interface DocumentRow {
  readonly id: string;
  readonly version: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The document as Postgres prints jsonb: valid JSON text. */
  readonly doc: string;
}

export function documentRow(values: readonly (string | null)[]): DocumentRow {
  const [id, version, createdAt, updatedAt, doc] = values;
  if (!id || !version || !createdAt || !updatedAt || doc === null || doc === undefined) {
    throw new Error('unexpected document row shape');
  }
  return { id, version, createdAt, updatedAt, doc };
}

/**
 * The response JSON of a stored document, spliced from Postgres's text: the document is never
 * parsed and re-serialized (ids, versions and timestamps are digits and ISO characters only).
 */
export function documentJson(row: DocumentRow): string {
  return `{"id":${row.id},"version":${row.version},"createdAt":"${row.createdAt}","updatedAt":"${row.updatedAt}","doc":${row.doc}}`;
}

/** The ETag of a document version. */
export function etagOf(version: string): string {
  return `"${version}"`;
}
