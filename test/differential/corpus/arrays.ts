/** Arrays: literals, ANY/ALL, unnest, array_agg, slicing, multidimensional, custom bounds. */
import type { Group } from './types.js';

export const ARRAY_GROUPS: readonly Group[] = [
  {
    name: 'arrays',
    category: 'arrays',
    setup: `
      CREATE TABLE arr (id int PRIMARY KEY, ints int[], txt text[], grid int[][], ts timestamptz[]);
      INSERT INTO arr VALUES
        (1, '{1,2,3}', '{a,"b c","q\\"uote",NULL}', '{{1,2},{3,4}}', '{"2024-01-01 00:00:00+00","infinity"}'),
        (2, '{5,6}', '{}', NULL, NULL),
        (3, '{}', '{é,😀}', '{{{1},{2}},{{3},{4}}}', '{}'),
        (4, NULL, NULL, '{{7,8,9}}', '{NULL}');`,
    statements: [
      "SELECT ARRAY[1,2,3], ARRAY['a', 'b c', '\"q\"', NULL, 'NULL', ''], '{}'::int[], ARRAY[]::text[]",
      'SELECT id, ints[1], ints[2:3], ints[:2], ints[2:] FROM arr ORDER BY id',
      'SELECT id, grid, grid[1][2], grid[2:2][1:2], grid[1] FROM arr WHERE grid IS NOT NULL ORDER BY id',
      'SELECT id, array_dims(grid), array_ndims(grid), array_length(grid, 1), array_upper(grid, 2), cardinality(grid) FROM arr ORDER BY id',
      'SELECT id FROM arr WHERE 3 = ANY (ints) ORDER BY id',
      'SELECT id FROM arr WHERE 0 < ALL (ints) ORDER BY id',
      { sql: 'SELECT unnest(ARRAY[3, 1, 2])', order: 'deterministic' },
      {
        sql: "SELECT * FROM unnest(ARRAY[1, 2, 3], ARRAY['a', 'b']) WITH ORDINALITY AS t (n, s, ord)",
        order: 'deterministic',
      },
      'SELECT array_agg(id ORDER BY id DESC), array_agg(ints ORDER BY id) FILTER (WHERE ints IS NOT NULL AND cardinality(ints) = 2) FROM arr',
      'SELECT array_agg(DISTINCT x ORDER BY x) FROM arr, unnest(ints) x',
      'SELECT ints || 4, 0 || ints, ints || ARRAY[9, 9], array_cat(ints, ints) FROM arr WHERE id = 1',
      "SELECT array_append(txt, 'z'), array_prepend('a', txt), array_remove(ints, 2), array_replace(ints, 1, 100) FROM arr WHERE id = 1",
      "SELECT array_position(ARRAY['a', 'b', 'c', 'b'], 'b'), array_positions(ARRAY['a', 'b', 'c', 'b'], 'b')",
      'SELECT id, ints @> ARRAY[1], ints <@ ARRAY[1, 2, 3, 4, 5], ints && ARRAY[5, 6] FROM arr ORDER BY id',
      "SELECT id, array_to_string(txt, ',', '*'), string_to_array('a,b,,c', ',', '') FROM arr ORDER BY id",
      "SELECT '[2:4]={7,8,9}'::int[], ('[2:4]={7,8,9}'::int[])[2], array_lower('[2:4]={7,8,9}'::int[], 1)",
      "SELECT ARRAY[[1, 2], [3, 4]], ARRAY[ARRAY[1.5, 2.5]]::numeric[], '{{a,b},{c,d}}'::text[][]",
      'SELECT id, ts FROM arr ORDER BY id',
      'SELECT ARRAY[1, 2] = ARRAY[1, 2], ARRAY[1, 2] < ARRAY[1, 3], ARRAY[NULL]::int[] IS NULL, ARRAY[1, NULL] = ARRAY[1, NULL]',
      { sql: "SELECT generate_subscripts(ARRAY['a', 'b', 'c'], 1)", order: 'deterministic' },
      'SELECT array_fill(7, ARRAY[2, 3]), array_fill(0, ARRAY[2], ARRAY[5])',
      { sql: 'SELECT ARRAY[[1, 2], [3]]', error: '2202E' },
      'SELECT (ARRAY[1, 2, 3])[5], (ARRAY[1, 2, 3])[0], (ARRAY[1, 2, 3])[2:1]',
      'SELECT ARRAY(SELECT g FROM generate_series(1, 5) g ORDER BY g DESC)',
      'UPDATE arr SET ints[2] = 42 WHERE id = 1 RETURNING ints',
      'UPDATE arr SET ints[6] = 1 WHERE id = 2 RETURNING ints',
      "SELECT ARRAY['2024-01-01'::date, 'infinity'], ARRAY[true, false, NULL], ARRAY['\\x00ff'::bytea], ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]",
      'SELECT array_agg(ARRAY[id, id * 10] ORDER BY id) FROM arr',
      "SELECT trim_array(ARRAY[1, 2, 3, 4], 2), ARRAY[1.5::float8, 'NaN', '-Infinity'], ARRAY[1::int8, 9223372036854775807]",
      "SELECT ARRAY[ROW(1, 2, 3)::point3, ROW(4, 5, NULL)::point3], ARRAY['sad', '😀 joy']::mood[]",
      { sql: "SELECT '{1,2'::int[]", error: '22P02' },
      { sql: 'SELECT ($1::int[])[2], $1::int[] || 4', params: ['{10,20,30}'] },
    ],
  },
];
