import { PgError } from '../../protocol/pg-error.js';
import type { UpstreamConnection } from '../upstream-connection.js';
import { runStatement, type RunOptions, type StatementSpec } from '../upstream-query.js';
import type { ApiConnections } from './api-connections.js';
import { ApiError } from './api-error.js';
import { applyMergePatch, type JsonValue } from './merge-patch.js';
import { qualifiedTable } from './names.js';
import { DOCUMENT_COLUMNS, RowCollector, documentRow, type DocumentRow } from './rows.js';

/** The result of a conditional write. */
export type WriteOutcome =
  | { readonly kind: 'ok'; readonly row: DocumentRow }
  | { readonly kind: 'not-found' }
  /** If-Match named another version: the document's current one. */
  | { readonly kind: 'stale'; readonly current: string };

const MAX_PATCH_ATTEMPTS = 20;

/**
 * Single-document operations, one statement each (PATCH reads, merges and writes back under
 * the version it read). Every value travels as a Bind parameter; the table name is validated
 * and quoted (names.ts). The statements are prepared once per upstream connection and then only
 * bound and executed (see runStatements).
 */
export class DocumentStore {
  constructor(
    private readonly db: ApiConnections,
    private readonly schema: string,
  ) {}

  table(collection: string): string {
    return qualifiedTable(this.schema, collection);
  }

  /** Run on a leased connection; a missing table becomes a 404 naming the collection. */
  async run<T>(
    collection: string,
    work: (connection: UpstreamConnection) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.db.use(work);
    } catch (error) {
      throw collectionError(error, collection);
    }
  }

  insert(collection: string, doc: string): Promise<DocumentRow> {
    return this.run(collection, async (connection) => {
      const row = await this.one(connection, {
        sql: `INSERT INTO ${this.table(collection)} (doc) VALUES ($1::jsonb) RETURNING ${DOCUMENT_COLUMNS}`,
        params: [doc],
      });
      if (!row) throw new Error('INSERT returned no row');
      return row;
    });
  }

  /** The sequence behind a collection's ids (a 404 when the collection does not exist). */
  idSequence(collection: string): Promise<string> {
    return this.run(collection, async (connection) => {
      const rows = new RowCollector();
      await runStatement(connection, {
        sql: `SELECT pg_get_serial_sequence($1, 'id')`,
        params: [this.table(collection)],
        sink: rows,
      });
      const sequence = rows.rows[0]?.[0];
      if (!sequence) throw new Error(`collection "${collection}" has no id sequence`);
      return sequence;
    });
  }

  get(collection: string, id: string): Promise<DocumentRow | undefined> {
    return this.run(collection, (connection) => this.read(connection, collection, id));
  }

  replace(
    collection: string,
    id: string,
    doc: string,
    ifMatch: string | null,
  ): Promise<WriteOutcome> {
    return this.run(collection, (connection) =>
      this.write(connection, collection, id, doc, ifMatch),
    );
  }

  /**
   * Merge-patch: read, merge, write back only if the version is still the one read. With
   * If-Match a concurrent change is a 412; without, the merge is retried on the new version, so
   * no update is ever lost.
   */
  patch(
    collection: string,
    id: string,
    patch: JsonValue,
    ifMatch: string | null,
  ): Promise<WriteOutcome> {
    return this.run(collection, async (connection) => {
      for (let attempt = 0; attempt < MAX_PATCH_ATTEMPTS; attempt++) {
        const current = await this.read(connection, collection, id);
        if (!current) return { kind: 'not-found' };
        if (ifMatch !== null && ifMatch !== '*' && ifMatch !== current.version) {
          return { kind: 'stale', current: current.version };
        }
        const merged = applyMergePatch(JSON.parse(current.doc) as JsonValue, patch);
        const outcome = await this.write(
          connection,
          collection,
          id,
          JSON.stringify(merged),
          current.version,
        );
        if (outcome.kind !== 'stale' || ifMatch !== null) return outcome;
      }
      throw new ApiError(409, 'conflict', 'the document kept changing; try again');
    });
  }

  /** Delete; `ifMatch` a version or `*` or null. */
  delete(collection: string, id: string, ifMatch: string | null): Promise<WriteOutcome> {
    return this.run(collection, async (connection) => {
      const version = ifMatch === '*' ? null : ifMatch;
      const row = await this.one(connection, {
        sql: `DELETE FROM ${this.table(collection)} WHERE id = $1 AND ($2::bigint IS NULL OR version = $2::bigint) RETURNING ${DOCUMENT_COLUMNS}`,
        params: [id, version],
      });
      if (row) return { kind: 'ok', row };
      return this.missOutcome(connection, collection, id);
    });
  }

  private read(
    connection: UpstreamConnection,
    collection: string,
    id: string,
  ): Promise<DocumentRow | undefined> {
    return this.one(connection, {
      sql: `SELECT ${DOCUMENT_COLUMNS} FROM ${this.table(collection)} WHERE id = $1`,
      params: [id],
    });
  }

  private async write(
    connection: UpstreamConnection,
    collection: string,
    id: string,
    doc: string,
    ifMatch: string | null,
  ): Promise<WriteOutcome> {
    const version = ifMatch === '*' ? null : ifMatch;
    const row = await this.one(connection, {
      sql: `UPDATE ${this.table(collection)} SET doc = $2::jsonb, version = version + 1, updated_at = now()
            WHERE id = $1 AND ($3::bigint IS NULL OR version = $3::bigint) RETURNING ${DOCUMENT_COLUMNS}`,
      params: [id, doc, version],
    });
    if (row) return { kind: 'ok', row };
    return this.missOutcome(connection, collection, id);
  }

  private async missOutcome(
    connection: UpstreamConnection,
    collection: string,
    id: string,
  ): Promise<WriteOutcome> {
    const current = await this.read(connection, collection, id);
    return current ? { kind: 'stale', current: current.version } : { kind: 'not-found' };
  }

  /** The first row of a prepared single-document statement. */
  private async one(
    connection: UpstreamConnection,
    statement: Omit<StatementSpec, 'sink' | 'prepared'>,
  ): Promise<DocumentRow | undefined> {
    const rows = new RowCollector();
    const options: RunOptions = { maxPrepared: this.db.maxPrepared };
    await runStatement(connection, { ...statement, sink: rows, prepared: true }, options);
    const first = rows.rows[0];
    return first ? documentRow(first) : undefined;
  }
}

/** 42P01 on a collection's table is "no such collection". */
export function collectionError(error: unknown, collection: string): unknown {
  if (error instanceof PgError && error.code === '42P01') {
    return new ApiError(404, 'collection_not_found', `collection "${collection}" does not exist`);
  }
  return error;
}
