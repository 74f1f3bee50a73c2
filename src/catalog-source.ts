import pg from 'pg';
import type { CatalogFetch, RelationInfo } from '../planner/catalog.js';
import type { AdminCredentials, UpstreamEndpoint } from './upstream-target.js';

const COLUMNS_SQL = `
SELECT n.nspname AS schema, c.relname AS name, pg_catalog.pg_table_is_visible(c.oid) AS visible,
       a.attname AS column, a.atttypid::int AS oid
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')`;

interface ColumnRow {
  schema: string;
  name: string;
  visible: boolean;
  column: string;
  oid: number;
}

/**
 * Column types from one upstream database's catalog, read over the proxy's admin login (a
 * small pool of its own, so catalog reads never wait behind clients' transactions).
 */
export class CatalogSource {
  private readonly pool: pg.Pool;

  constructor(endpoint: UpstreamEndpoint, admin: AdminCredentials, connectTimeoutMs: number) {
    this.pool = new pg.Pool({
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
      user: admin.user,
      ...(admin.password === undefined ? {} : { password: admin.password }),
      max: 2,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: 'docfusiondb-catalog',
    });
    this.pool.on('error', () => {
      // An idle catalog connection died; the pool replaces it on next use.
    });
  }

  readonly fetch: CatalogFetch = async (names) => {
    const result = await this.pool.query<ColumnRow>(COLUMNS_SQL, [names]);
    const byRelation = new Map<string, { info: RelationInfo; columns: Map<string, number> }>();
    for (const row of result.rows) {
      const key = `${row.schema}.${row.name}`;
      let entry = byRelation.get(key);
      if (entry === undefined) {
        const columns = new Map<string, number>();
        entry = {
          columns,
          info: { schema: row.schema, name: row.name, visible: row.visible, columns },
        };
        byRelation.set(key, entry);
      }
      entry.columns.set(row.column, row.oid);
    }
    return [...byRelation.values()].map((entry) => entry.info);
  };

  async close(): Promise<void> {
    await this.pool.end();
  }
}
