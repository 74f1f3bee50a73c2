/**
 * Errors: every field of the ErrorResponse must match (severity, SQLSTATE, message, detail,
 * hint, position, internal position/query, context, schema/table/column/constraint/type names,
 * file/line/routine), and the session must go on afterwards exactly as on Postgres.
 */
import type { Group } from './types.js';

export const ERROR_GROUPS: readonly Group[] = [
  {
    name: 'errors',
    category: 'errors',
    setup: `
      CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE, n int CHECK (n > 0));
      INSERT INTO u VALUES (1, 'a@x', 1);`,
    statements: [
      { sql: 'SELEC 1', error: '42601' },
      { sql: 'SELECT * FROM', error: '42601' },
      { sql: 'SELECT 1 +* 2', error: '42883' },
      { sql: "SELECT 'unterminated", error: '42601' },
      { sql: 'SELECT "unterminated', error: '42601' },
      { sql: 'SELECT 1/0', error: '22012' },
      { sql: 'SELECT 1::numeric / 0', error: '22012' },
      { sql: 'SELECT 5 % 0', error: '22012' },
      { sql: "INSERT INTO u VALUES (1, 'b@x', 2)", error: '23505' },
      { sql: "INSERT INTO u VALUES (2, 'a@x', 2)", error: '23505' },
      { sql: "INSERT INTO u VALUES (3, 'c@x', 0)", error: '23514' },
      { sql: 'SELECT * FROM missing_table', error: '42P01' },
      { sql: 'SELECT missing_col FROM u', error: '42703' },
      { sql: 'SELECT u.nope FROM u', error: '42703' },
      { sql: "SELECT 'abc'::int", error: '22P02' },
      { sql: "SELECT CAST('2024-02-30' AS date)", error: '22008' },
      { sql: "SELECT '1.5'::int", error: '22P02' },
      { sql: "SELECT 1 + 'a'", error: '22P02' },
      { sql: 'SELECT now()::int', error: '42846' },
      { sql: 'SELECT length(1)', error: '42883' },
      { sql: "SELECT * FROM u WHERE id = 'x'", error: '22P02' },
      { sql: 'SELECT nosuchfunc()', error: '42883' },
      { sql: 'SELECT id FROM u GROUP BY email', error: '42803' },
      { sql: 'SELECT (SELECT generate_series(1, 2))', error: '21000' },
      { sql: 'SELECT 1 FROM u u1 JOIN u u2 ON true WHERE id = 1', error: '42702' },
      { sql: 'CREATE TABLE u (x int)', error: '42P07' },
      { sql: 'DROP TABLE nope', error: '42P01' },
      {
        sql: `DO $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'custom ☃', DETAIL = 'some detail', HINT = 'some hint',
    COLUMN = 'c', CONSTRAINT = 'k', DATATYPE = 'd', TABLE = 't', SCHEMA = 's';
END
$$`,
        error: 'P0001',
      },
      { sql: 'DO $$ BEGIN PERFORM 1/0; END $$', error: '22012' },
      {
        sql: "DO $$ BEGIN EXECUTE 'SELECT * FROM nowhere_' || 'table'; END $$",
        error: '42P01',
      },
      { sql: 'SELECT jsonb \'{"a":\'', error: '22P02' },
      '',
      '-- only a comment',
      { sql: ';', order: 'deterministic' },
      { sql: 'SELECT 1; SELEC 2', error: '42601' },
      { sql: 'SELECT 1 AS a; SELECT 2 AS b', extendedError: '42601' },
      { sql: 'SELECT 1/0; SELECT 2', error: '22012', extendedError: '42601' },
      { sql: 'SELECT\n  id,\n  nope\nFROM u', error: '42703' },
      { sql: "SELECT '😀€', nope FROM u", error: '42703' },
      { sql: 'SELECT * FROM "tåble_😀"', error: '42P01' },
      { sql: 'SELECT $1', error: '42P02', extendedError: '08P01' },
      { sql: 'SELECT $1::int', params: ['x'], error: '22P02' },
      { sql: 'SELECT $1::int + $2', params: ['1'], error: '42P02', extendedError: '08P01' },
      { sql: 'SELECT 2147483647 + 1', error: '22003' },
      { sql: 'SELECT ARRAY[1, 2] + 1', error: '42883' },
      { sql: "SELECT 'a' = 1::int", error: '22P02' },
      { sql: 'SELECT * FROM u LIMIT -1', error: '2201W' },
      { sql: "SELECT substring('abc' from -1 for -1)", error: '22011' },
      { sql: "SELECT repeat('x', 2000000000)", error: '54000' },
      { sql: 'INSERT INTO u (id, n) VALUES (9, 1), (9, 2)', error: '23505' },
      { sql: 'UPDATE u SET id = NULL', error: '23502' },
      { sql: "SELECT set_config('x', 'y', false)", error: '42704' },
      { sql: 'VACUUM u; SELECT 1', error: '25001', extendedError: '42601' },
      { sql: 'SELECT pg_sleep(-1), 1 / (SELECT count(*) - 1 FROM u)', error: '22012' },
      'SELECT id, email, n FROM u ORDER BY id',
    ],
  },
];
