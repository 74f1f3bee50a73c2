/**
 * Grafana's PostgreSQL data source: the health check, version probes, the query editor's table
 * and column discovery (Grafana's meta_query.ts: showTables, getSchema) and time-series panel
 * queries with the macros expanded as Grafana expands them ($__timeFilter → BETWEEN literal
 * instants, $__timeGroupAlias → floor(extract(epoch ...)/n)*n AS "time", $__unixEpochFilter),
 * over the fixture fx.metrics and this group's own table.
 */
import type { Group } from './types.js';

const SCHEMA_CONSTRAINT = `
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )`;

const SHOW_TABLES = `SELECT
    CASE WHEN ${SCHEMA_CONSTRAINT}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN ${SCHEMA_CONSTRAINT} THEN 0 ELSE 1 END, 1`;

function getSchema(table: string): string {
  const part = "'" + table.replace(/'/g, "''") + "'";
  return `SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident(${part}),1) = 2
        THEN quote_ident(table_schema) = (parse_ident(${part}))[1]
          AND quote_ident(table_name) = (parse_ident(${part}))[2]
        ELSE quote_ident(table_name) = ${part}
          AND ${SCHEMA_CONSTRAINT}
      END`;
}

const RANGE = "ts BETWEEN '2024-01-01T00:30:00Z' AND '2024-01-01T02:30:00Z'";

export const GRAFANA_GROUPS: readonly Group[] = [
  {
    name: 'grafana',
    category: 'grafana',
    setup: `
      CREATE TABLE "sensor-readings" (time timestamptz NOT NULL, sensor text, value double precision, ok boolean);
      INSERT INTO "sensor-readings"
        SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '7 minutes', 's' || (g % 2), sin(g) * 10, g % 5 <> 0
        FROM generate_series(0, 59) g;`,
    statements: [
      'SELECT 1',
      "SELECT current_setting('server_version_num')::int/100 as version",
      "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
      SHOW_TABLES,
      { sql: getSchema('metrics'), order: 'unordered' },
      { sql: getSchema('fx.metrics'), order: 'unordered' },
      { sql: getSchema('"sensor-readings"'), order: 'unordered' },
      `SELECT
  floor(extract(epoch from ts)/300)*300 AS "time",
  avg(cpu) AS "cpu"
FROM metrics
WHERE
  ${RANGE}
GROUP BY 1
ORDER BY 1`,
      `SELECT
  date_trunc('minute', ts) AS "time",
  host AS metric,
  max(cpu) AS "max_cpu"
FROM metrics
WHERE ${RANGE} AND host IN ('host0','host2')
GROUP BY 1, 2
ORDER BY 1, 2`,
      `SELECT
  s AS "time",
  coalesce(avg(m.cpu), 0) AS "cpu"
FROM generate_series('2024-01-01T00:00:00Z'::timestamptz, '2024-01-01T05:00:00Z'::timestamptz, '30 minutes'::interval) s
LEFT JOIN metrics m ON m.ts >= s AND m.ts < s + interval '30 minutes'
GROUP BY s
ORDER BY s`,
      `SELECT
  extract(epoch from ts) AS "time",
  mem / 1024 / 1024 AS "mem_mib"
FROM metrics
WHERE extract(epoch from ts) >= 1704067200 AND extract(epoch from ts) <= 1704068100
ORDER BY 1`,
      `SELECT
  date_bin('15 minutes', "time", '2024-01-01T00:00:00Z') AS "time",
  sensor AS metric,
  avg(value) AS value
FROM "sensor-readings"
WHERE "time" BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z' AND ok
GROUP BY 1, 2
ORDER BY 1, 2`,
      'SELECT DISTINCT host FROM metrics ORDER BY 1',
      `SELECT ts AS "time", host, cpu, mem FROM metrics WHERE ${RANGE} ORDER BY 1, 2 LIMIT 20`,
      `SELECT
  ts AS "time",
  'spike on ' || host AS text,
  host AS tags
FROM metrics
WHERE ${RANGE} AND cpu > 32
ORDER BY 1, 2`,
      `SELECT
  floor(extract(epoch from "time")/3600)*3600 AS "time",
  count(*) FILTER (WHERE NOT ok) AS failures,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS p95
FROM "sensor-readings"
GROUP BY 1
ORDER BY 1`,
      // A panel whose macro Grafana failed to expand: Postgres's syntax error must come through.
      { sql: 'SELECT\n  $__time AS "time", value\nFROM "sensor-readings"', error: '42601' },
    ],
  },
];
