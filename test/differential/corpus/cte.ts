/** Common table expressions: plain, recursive (SEARCH/CYCLE), materialization, data-modifying. */
import type { Group } from './types.js';

export const CTE_GROUPS: readonly Group[] = [
  {
    name: 'cte',
    category: 'cte',
    setup: `
      CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree (id), name text);
      INSERT INTO tree VALUES (1, NULL, 'root'), (2, 1, 'a'), (3, 1, 'b'), (4, 2, 'a1'),
                              (5, 2, 'a2'), (6, 4, 'a1x'), (7, 3, 'b1');
      CREATE TABLE events (id int PRIMARY KEY, kind text, qty int);
      INSERT INTO events SELECT g, CASE WHEN g % 3 = 0 THEN 'x' ELSE 'y' END, g * 2
        FROM generate_series(1, 12) g;
      CREATE TABLE archive (id int, kind text, qty int);
      CREATE TABLE edges (src int, dst int);
      INSERT INTO edges VALUES (1, 2), (2, 3), (3, 1), (3, 4);`,
    statements: [
      'WITH t AS (SELECT 1 AS a UNION ALL SELECT 2) SELECT a FROM t ORDER BY a',
      'WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT n, n * n AS sq FROM r ORDER BY n',
      `WITH RECURSIVE sub AS (
         SELECT id, parent, name, 1 AS depth, ARRAY[id] AS path FROM tree WHERE parent IS NULL
         UNION ALL
         SELECT t.id, t.parent, t.name, s.depth + 1, s.path || t.id FROM tree t JOIN sub s ON t.parent = s.id
       )
       SELECT id, name, depth, path FROM sub ORDER BY path`,
      `WITH RECURSIVE fib (a, b, i) AS (
         SELECT 0::numeric, 1::numeric, 1
         UNION ALL SELECT b, a + b, i + 1 FROM fib WHERE i < 300
       )
       SELECT i, a FROM fib WHERE i IN (1, 50, 100, 300) ORDER BY i`,
      `WITH RECURSIVE walk (id, name) AS (
         SELECT id, name FROM tree WHERE id = 1
         UNION ALL SELECT t.id, t.name FROM tree t JOIN walk w ON t.parent = w.id
       ) SEARCH DEPTH FIRST BY id SET ordercol
       SELECT id, name, ordercol FROM walk ORDER BY ordercol`,
      `WITH RECURSIVE walk (id, name) AS (
         SELECT id, name FROM tree WHERE id = 1
         UNION ALL SELECT t.id, t.name FROM tree t JOIN walk w ON t.parent = w.id
       ) SEARCH BREADTH FIRST BY id SET ordercol
       SELECT id, name FROM walk ORDER BY ordercol`,
      `WITH RECURSIVE g (src, dst) AS (
         SELECT src, dst FROM edges WHERE src = 1
         UNION ALL SELECT e.src, e.dst FROM edges e JOIN g ON e.src = g.dst
       ) CYCLE src SET is_cycle USING path
       SELECT src, dst, is_cycle, path FROM g ORDER BY path`,
      {
        sql: "WITH moved AS (DELETE FROM events WHERE kind = 'x' RETURNING *) INSERT INTO archive SELECT * FROM moved RETURNING id, kind, qty",
        order: 'unordered',
      },
      'WITH upd AS (UPDATE events SET qty = qty + 1 WHERE id <= 3 RETURNING id, qty) SELECT id, qty FROM upd ORDER BY id',
      "WITH ins AS (INSERT INTO events VALUES (100, 'z', 0) RETURNING id) SELECT count(*) FROM ins",
      'WITH a AS MATERIALIZED (SELECT kind, sum(qty) AS s FROM events GROUP BY kind) SELECT kind, s FROM a ORDER BY kind',
      'WITH a AS NOT MATERIALIZED (SELECT * FROM events) SELECT count(*) FROM a WHERE qty > 5',
      'SELECT id, kind, qty FROM archive ORDER BY id',
      'WITH x AS (SELECT id FROM tree), y AS (SELECT id FROM x WHERE id > 3) SELECT (SELECT count(*) FROM x) AS nx, (SELECT count(*) FROM y) AS ny',
      'WITH RECURSIVE t (n) AS (VALUES (1) UNION SELECT n + 1 FROM t WHERE n < 3) SELECT n FROM t ORDER BY n',
      {
        sql: 'WITH RECURSIVE forever AS (SELECT 1 AS one UNION ALL SELECT one FROM forever) SELECT one FROM forever LIMIT 3',
        order: 'deterministic',
      },
      "WITH data (k, v) AS (VALUES ('a', 1), ('b', 2), ('c', NULL)) SELECT string_agg(k || '=' || coalesce(v::text, '∅'), ',' ORDER BY k) FROM data",
      {
        sql: 'WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT n FROM r) SELECT * FROM r',
        error: '42703',
      },
      'WITH d AS (DELETE FROM tree WHERE id = 7 RETURNING name) SELECT name FROM d',
      {
        sql: 'WITH kids AS (SELECT id FROM tree WHERE parent = 1) UPDATE tree SET name = upper(tree.name) FROM kids WHERE tree.id = kids.id RETURNING tree.id, tree.name',
        order: 'unordered',
      },
      'SELECT id, parent, name FROM tree ORDER BY id',
      {
        sql: 'WITH a AS (SELECT 1), a AS (SELECT 2) SELECT * FROM a',
        error: '42712',
      },
    ],
  },
];
