/** COPY ... TO STDOUT in text, CSV and binary formats (plus one COPY FROM STDIN the client fails). */
import type { Group } from './types.js';

export const COPY_GROUPS: readonly Group[] = [
  {
    name: 'copy',
    category: 'copy',
    setup: `
      CREATE TABLE c (id int, name text, doc jsonb, b bytea, t timestamptz, n numeric, arr int[]);
      INSERT INTO c VALUES
        (1, 'plain', '{"a":1}', '\\x00ff', '2024-01-01 00:00:00+00', 1.5, '{1,2}'),
        (2, E'tab\\there\\nnewline\\\\backslash', '{"k":"v\\"q"}', '', '-infinity', 'NaN', '{}'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL),
        (4, 'ünïcödé 😀 "quoted", comma', '[1,"x"]', '\\x5c', 'infinity', '-1e-20', '{NULL,3}');`,
    statements: [
      'COPY c TO STDOUT',
      'COPY c TO STDOUT WITH (FORMAT csv, HEADER true)',
      'COPY c TO STDOUT WITH (FORMAT binary)',
      "COPY (SELECT id, name FROM c ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER ';', QUOTE '''', FORCE_QUOTE *)",
      "COPY (SELECT g, g * 2, repeat('x', g % 7) FROM generate_series(1, 2000) g) TO STDOUT",
      "COPY c (id, doc) TO STDOUT WITH (FORMAT text, NULL 'NULL', DELIMITER '|')",
      'COPY (SELECT * FROM c WHERE false) TO STDOUT',
      { sql: 'COPY nope TO STDOUT', error: '42P01' },
      { sql: 'COPY c TO STDOUT WITH (FORMAT xml)', error: '22023' },
      { sql: 'COPY (SELECT 1/0) TO STDOUT', error: '22012' },
      { sql: 'COPY (SELECT 1 / (g - 3) FROM generate_series(1, 5) g) TO STDOUT', error: '22012' },
      {
        sql: 'COPY (SELECT g FROM generate_series(1, 3) g) TO STDOUT; SELECT 1 AS after_copy',
        extendedError: '42601',
      },
      { sql: 'COPY c FROM STDIN', error: '57014' },
      'COPY (SELECT * FROM fx.people ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)',
      'SELECT count(*) FROM c',
    ],
  },
];
