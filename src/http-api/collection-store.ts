import type { ApiConnections } from './api-connections.js';
import { ApiError } from './api-error.js';
import { qualifiedTable, quoteIdent } from './names.js';
import { RowCollector } from './rows.js';
import { runStatement, runStatements } from '../upstream-query.js';

/** The table comment that marks a table as a DocFusion collection. */
export const COLLECTION_MARKER = 'docfusion:collection';

export interface CollectionInfo {
  readonly name: string;
  readonly count: number;
}

/**
 * Collections are tables in the API schema: `id bigint` identity primary key, `doc jsonb`,
 * `version` (the ETag), `created_at`, `updated_at`, a GIN index on `doc`, and a table comment
 * marking them, so listing and dropping never touch other tables.
 */
export class CollectionStore {
  constructor(
    private readonly db: ApiConnections,
    private readonly schema: string,
  ) {}

  /** Create the collection unless it exists; true when it was created. */
  create(name: string): Promise<boolean> {
    const table = qualifiedTable(this.schema, name);
    return this.db.use(async (connection) => {
      const state = new RowCollector();
      await runStatements(connection, [
        { sql: 'BEGIN' },
        // Serialises concurrent creators of the same name (no duplicate-type errors).
        { sql: 'SELECT pg_advisory_xact_lock(hashtext($1))', params: [`docfusion:${name}`] },
        {
          sql: `SELECT c.oid IS NOT NULL, obj_description(c.oid, 'pg_class') FROM (SELECT to_regclass($1) AS oid) c(oid)`,
          params: [`${quoteIdent(this.schema)}.${quoteIdent(name)}`],
          sink: state,
        },
      ]);
      const [exists, comment] = state.rows[0] ?? [];
      if (exists === 't') {
        await runStatement(connection, { sql: 'ROLLBACK' });
        if (comment !== COLLECTION_MARKER) {
          throw new ApiError(409, 'conflict', `a table "${name}" exists and is not a collection`);
        }
        return false;
      }
      await runStatements(connection, [
        {
          sql: `CREATE TABLE ${table} (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            doc jsonb NOT NULL,
            version bigint NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now())`,
        },
        { sql: `CREATE INDEX ${quoteIdent(`${name}_doc_gin`)} ON ${table} USING gin (doc)` },
        { sql: `COMMENT ON TABLE ${table} IS '${COLLECTION_MARKER}'` },
        { sql: 'COMMIT' },
      ]);
      return true;
    });
  }

  /** Every collection with its exact document count, by name. */
  list(): Promise<CollectionInfo[]> {
    return this.db.use(async (connection) => {
      const rows = new RowCollector();
      await runStatement(connection, {
        sql: `SELECT c.relname,
                (xpath('/row/n/text()', query_to_xml(
                  format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
                AND obj_description(c.oid, 'pg_class') = $2
              ORDER BY c.relname`,
        params: [this.schema, COLLECTION_MARKER],
        sink: rows,
      });
      return rows.rows.map(([name, count]) => ({ name: name ?? '', count: Number(count ?? 0) }));
    });
  }

  /** Drop a collection; false when there is none of that name. */
  drop(name: string): Promise<boolean> {
    return this.db.use(async (connection) => {
      const state = new RowCollector();
      await runStatements(connection, [
        { sql: 'BEGIN' },
        { sql: 'SELECT pg_advisory_xact_lock(hashtext($1))', params: [`docfusion:${name}`] },
        {
          sql: `SELECT obj_description(to_regclass($1), 'pg_class')`,
          params: [`${quoteIdent(this.schema)}.${quoteIdent(name)}`],
          sink: state,
        },
      ]);
      if (state.rows[0]?.[0] !== COLLECTION_MARKER) {
        await runStatement(connection, { sql: 'ROLLBACK' });
        return false;
      }
      await runStatements(connection, [
        { sql: `DROP TABLE ${qualifiedTable(this.schema, name)}` },
        { sql: 'COMMIT' },
      ]);
      return true;
    });
  }
}
