/**
 * Session state: SET/SHOW/RESET (with the ParameterStatus messages they cause), SQL-level
 * PREPARE/EXECUTE/DEALLOCATE, LISTEN/NOTIFY, temporary tables, cursors WITH HOLD, advisory
 * locks, client_encoding. These depend on session state, yet the group also runs in
 * transaction pooling: there the proxy promises to replay SETs on every connection the client
 * lands on and to pin the client to its connection for PREPARE, LISTEN, temporary tables,
 * WITH HOLD cursors, advisory locks and set_config (docs/pooling.md), so Postgres's answers
 * must come back unchanged in both modes.
 */
import type { Group, KnownDifference } from './types.js';

/**
 * The proxy applies a client's startup parameters (here TimeZone=UTC, application_name, ...)
 * with set_config() on the pooled connection instead of in its startup packet
 * (src/session-params.ts startupParamState/setConfigSql), so Postgres records them as session
 * SETs (pg_settings.source 'session', not 'client'), and RESET ALL, DISCARD ALL and
 * SET ... TO DEFAULT/LOCAL return them to the server's defaults (TimeZone 'Etc/UTC',
 * application_name '') instead of the startup values, with ParameterStatus saying so. The proxy
 * re-applies them only when it next syncs a connection (src/upstream-link.ts syncParams(), at a
 * lease): never in session pooling, and not while a client is pinned in transaction pooling.
 * Seen after the harness's DISCARD ALL at the end of the previous group, and after RESET ALL.
 */
const STARTUP_PARAMS_LOST: KnownDifference = {
  reason: 'startup parameters lost after RESET ALL / DISCARD ALL (applied with set_config)',
  // In transaction pooling a fresh pooled connection gets the startup values applied again.
  intermittentIn: ['transaction'],
};

/**
 * Transaction pooling renames protocol-level statements (docfusion_<hash>, src/upstream-link.ts
 * renameBind / statementTargetFrame), and pg_prepared_statements shows the upstream names.
 */
const RENAMED_STATEMENTS_VISIBLE: KnownDifference = {
  reason: 'transaction pooling: upstream statement names visible in pg_prepared_statements',
  modes: ['transaction'],
  variants: ['named-twice'],
};

export const SESSION_GROUPS: readonly Group[] = [
  {
    name: 'session',
    category: 'session-set-show-prepare',
    session: true,
    setup: 'CREATE TABLE kv (k int PRIMARY KEY, v text);',
    statements: [
      { sql: 'SHOW timezone', known: STARTUP_PARAMS_LOST },
      "SET timezone = 'America/New_York'",
      'SHOW timezone',
      "SELECT timestamptz '2024-07-01 12:00:00+00', timestamptz '2024-01-01 12:00:00+00', '2024-03-10 02:30'::timestamptz",
      "SET TIME ZONE 'Asia/Kolkata'",
      "SELECT '2024-01-01 00:00'::timestamptz, now() - now() AS zero",
      "SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE",
      "SELECT '2024-01-01 00:00'::timestamptz, current_setting('TimeZone')",
      { sql: 'SET TIME ZONE LOCAL', known: STARTUP_PARAMS_LOST },
      "SET datestyle = 'SQL, DMY'",
      "SELECT date '2024-03-04', timestamp '2024-03-04 05:06:07', timestamptz '2024-03-04 05:06:07+00'",
      "SET datestyle = 'German'",
      "SELECT date '2024-03-04', '4.3.2024'::date",
      'RESET datestyle',
      "SET intervalstyle = 'iso_8601'",
      "SELECT interval '1 year 2 days 3 hours 4.5 seconds'",
      "SET intervalstyle = 'sql_standard'",
      "SELECT interval '-1 year 2 days', interval '1 day 2 hours'",
      'RESET intervalstyle',
      'SET extra_float_digits = 0',
      'SELECT 0.1::float8 + 0.2, pi(), 1e-7::float4',
      'SET extra_float_digits TO 3',
      'SELECT 0.1::float8 + 0.2, pi(), 1e-7::float4',
      "SET bytea_output = 'escape'",
      "SELECT '\\x00ff41'::bytea, 'a\\\\b'::bytea",
      'RESET bytea_output',
      'SET search_path TO fx, g_session',
      'SHOW search_path',
      'SELECT count(*) FROM docs',
      'SET search_path TO g_session, fx, public',
      "SET application_name = 'diff test ☃'",
      'SHOW application_name',
      "SET statement_timeout = '1min'",
      'SHOW statement_timeout',
      'RESET statement_timeout',
      "SET dfdiff.custom = 'x y'",
      'SHOW dfdiff.custom',
      { sql: 'SET nosuchparam = 1', error: '42704' },
      { sql: "SET work_mem = 'lots'", error: '22023' },
      { sql: 'SHOW nosuchparam', error: '42704' },
      "SELECT set_config('dfdiff.var', 'v1', false), current_setting('dfdiff.var'), current_setting('dfdiff.missing', true)",
      'SET standard_conforming_strings = off',
      "SELECT 'a\\\\b' AS escaped",
      'RESET standard_conforming_strings',
      "SET client_encoding = 'LATIN1'",
      "SELECT 'é' AS latin1, convert_to('é', 'UTF8') AS bytes",
      "SELECT '😀' AS utf8_bytes_read_as_latin1",
      "SET client_encoding = 'UTF8'",
      'SET client_min_messages = warning',
      'DROP TABLE IF EXISTS nope',
      'RESET client_min_messages',
      { sql: "SET TIME ZONE 'UTC'", known: STARTUP_PARAMS_LOST },
      { sql: 'RESET ALL', known: STARTUP_PARAMS_LOST },
      { sql: 'SHOW application_name', known: STARTUP_PARAMS_LOST },
      { sql: 'SHOW TimeZone', known: STARTUP_PARAMS_LOST },
      'SET search_path TO g_session, fx, public',
      'PREPARE q1 (int, text) AS SELECT $1 + 1 AS n, upper($2) AS s',
      "EXECUTE q1(41, 'abc')",
      { sql: "EXECUTE q1('x', 'y')", error: '22P02' },
      'PREPARE q2 AS INSERT INTO kv VALUES ($1, $2) RETURNING *',
      "EXECUTE q2(1, 'one')",
      { sql: "EXECUTE q2(1, 'dup')", error: '23505' },
      'PREPARE q3 AS SELECT k, v FROM kv ORDER BY k',
      'EXECUTE q3',
      { sql: 'PREPARE q1 AS SELECT 1', error: '42P05' },
      {
        sql: 'SELECT name, statement, parameter_types::text, from_sql FROM pg_prepared_statements ORDER BY name',
        known: RENAMED_STATEMENTS_VISIBLE,
      },
      'DEALLOCATE q1',
      { sql: "EXECUTE q1(1, 'a')", error: '26000' },
      'DEALLOCATE PREPARE q2',
      'DEALLOCATE ALL',
      // Regression: DEALLOCATE ALL after SQL PREPARE must reach Postgres even when the client was
      // pinned first for another reason.
      { sql: 'SELECT count(*) FROM pg_prepared_statements' },
      'LISTEN chan_a',
      "NOTIFY chan_a, 'payload ☃'",
      "SELECT pg_notify('chan_a', 'from function')",
      'NOTIFY chan_b',
      'UNLISTEN *',
      "NOTIFY chan_a, 'nobody listens'",
      'CREATE TEMP TABLE tmp_t (x int)',
      'INSERT INTO tmp_t VALUES (1), (2)',
      'SELECT x FROM tmp_t ORDER BY x',
      'DISCARD TEMP',
      { sql: 'SELECT x FROM tmp_t', error: '42P01' },
      'DECLARE held CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 3) g',
      { sql: 'FETCH ALL FROM held', order: 'deterministic' },
      'CLOSE held',
      'SELECT pg_advisory_lock(42), pg_try_advisory_lock(43)',
      'SELECT pg_advisory_unlock(42), pg_advisory_unlock(43), pg_advisory_unlock(44)',
      'SELECT pg_advisory_unlock_all()',
      'SHOW server_encoding',
      'SHOW integer_datetimes',
      'SHOW is_superuser',
      'SHOW session_authorization',
      'SELECT current_user, session_user, current_schema(), current_schemas(false)',
      { sql: 'SHOW ALL', order: 'deterministic', known: STARTUP_PARAMS_LOST },
      {
        sql: "SELECT name, setting, source FROM pg_settings WHERE source IN ('client', 'session') ORDER BY name",
        known: STARTUP_PARAMS_LOST,
      },
      'DISCARD ALL',
      'SHOW search_path',
    ],
  },
];
