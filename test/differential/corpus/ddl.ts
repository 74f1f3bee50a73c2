/** DDL: tables, constraints, indexes, views, sequences, types, domains, plpgsql, partitions. */
import type { Group } from './types.js';

export const DDL_GROUPS: readonly Group[] = [
  {
    name: 'ddl_tables',
    category: 'ddl',
    statements: [
      `CREATE TABLE items (
         id bigserial PRIMARY KEY,
         sku text NOT NULL UNIQUE,
         price numeric(12,2) CHECK (price >= 0),
         qty int DEFAULT 0,
         created timestamptz DEFAULT '2024-01-01 00:00:00+00'
       )`,
      'CREATE TABLE IF NOT EXISTS items (id int)',
      'CREATE INDEX items_price_idx ON items (price DESC NULLS LAST)',
      'CREATE UNIQUE INDEX items_lower_sku ON items (lower(sku))',
      'CREATE INDEX items_partial ON items (qty) WHERE qty > 0',
      'CREATE INDEX IF NOT EXISTS items_partial ON items (qty)',
      'ALTER TABLE items ADD COLUMN note text',
      'ALTER TABLE items ALTER COLUMN qty SET NOT NULL',
      'ALTER TABLE items RENAME COLUMN note TO remark',
      'ALTER TABLE items ADD CONSTRAINT items_qty_nonneg CHECK (qty >= 0)',
      'ALTER TABLE items ALTER COLUMN remark TYPE varchar(200)',
      "COMMENT ON TABLE items IS 'stock items ☃'",
      `CREATE TABLE orders (
         id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         item_id bigint REFERENCES items (id) ON DELETE CASCADE,
         amount int NOT NULL,
         total numeric GENERATED ALWAYS AS (amount * 2) STORED
       )`,
      {
        sql: "INSERT INTO items (sku, price, qty) VALUES ('a-1', 5, 1), ('b-2', 15.5, 0) RETURNING id, sku, price, qty, remark, created",
        order: 'deterministic',
      },
      {
        sql: 'INSERT INTO orders (item_id, amount) VALUES (1, 3), (2, 4) RETURNING *',
        order: 'deterministic',
      },
      { sql: 'INSERT INTO orders (id, item_id, amount) VALUES (10, 1, 1)', error: '428C9' },
      'DELETE FROM items WHERE id = 1',
      'SELECT id, item_id, amount, total FROM orders ORDER BY id',
      "SELECT obj_description('items'::regclass, 'pg_class')",
      'ALTER TABLE items DROP COLUMN remark',
      { sql: 'ALTER TABLE items ADD COLUMN sku text', error: '42701' },
      { sql: 'ALTER TABLE nope ADD COLUMN x int', error: '42P01' },
      'ALTER TABLE IF EXISTS nope ADD COLUMN x int',
      'ALTER INDEX items_partial RENAME TO items_qty_partial',
      'TRUNCATE orders RESTART IDENTITY',
      'DROP TABLE orders, items',
      'DROP TABLE IF EXISTS items',
      `CREATE TABLE part_t (id int, at date NOT NULL) PARTITION BY RANGE (at)`,
      `CREATE TABLE part_2024 PARTITION OF part_t FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
      `CREATE TABLE part_default PARTITION OF part_t DEFAULT`,
      {
        sql: `INSERT INTO part_t VALUES (1, '2024-05-05'), (2, '1999-12-31') RETURNING tableoid::regclass AS part, id, at`,
        order: 'deterministic',
      },
      'SELECT tableoid::regclass AS part, count(*) FROM part_t GROUP BY 1 ORDER BY 1',
      'CREATE UNLOGGED TABLE scratch (k text PRIMARY KEY, v bytea)',
      'CREATE TABLE liked (LIKE scratch INCLUDING ALL, extra int)',
      'CREATE TABLE from_select AS SELECT g AS n, g * g AS sq FROM generate_series(1, 5) g',
      'SELECT n, sq FROM from_select ORDER BY n',
      'SELECT * INTO from_into FROM from_select WHERE n > 3',
      'DROP TABLE part_t, scratch, liked, from_select, from_into',
    ],
  },
  {
    name: 'ddl_views_seq',
    category: 'ddl',
    setup: `CREATE TABLE base (id int PRIMARY KEY, price numeric(8,2), qty int);
            INSERT INTO base VALUES (1, 9.99, 3), (2, 20, 1), (3, 0.5, 100);`,
    statements: [
      'CREATE VIEW cheap AS SELECT id, price FROM base WHERE price < 10',
      'CREATE OR REPLACE VIEW cheap AS SELECT id, price, qty FROM base WHERE price < 10',
      'SELECT id, price, qty FROM cheap ORDER BY id',
      'UPDATE cheap SET qty = qty + 1 WHERE id = 1 RETURNING *',
      { sql: 'CREATE OR REPLACE VIEW cheap AS SELECT id FROM base', error: '42P16' },
      'CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n, sum(price * qty) AS value FROM base',
      'SELECT n, value FROM totals',
      'INSERT INTO base VALUES (4, 1, 1)',
      'REFRESH MATERIALIZED VIEW totals',
      'SELECT n, value FROM totals',
      'CREATE RECURSIVE VIEW countdown (n) AS SELECT 3 UNION ALL SELECT n - 1 FROM countdown WHERE n > 0',
      'SELECT n FROM countdown ORDER BY n DESC',
      'CREATE SEQUENCE seq_a START 100 INCREMENT 5',
      "SELECT nextval('seq_a'), nextval('seq_a'), currval('seq_a')",
      'ALTER SEQUENCE seq_a RESTART WITH 1 INCREMENT -1 MINVALUE -3',
      "SELECT nextval('seq_a'), nextval('seq_a')",
      'SELECT last_value, is_called FROM seq_a',
      "SELECT setval('seq_a', -3, false), nextval('seq_a')",
      { sql: "SELECT nextval('seq_a')", error: '2200H' },
      'CREATE SEQUENCE IF NOT EXISTS seq_a',
      { sql: "SELECT currval('seq_fresh')", error: '42P01' },
      'CREATE SEQUENCE seq_b AS smallint MAXVALUE 3 CYCLE',
      "SELECT nextval('seq_b'), nextval('seq_b'), nextval('seq_b'), nextval('seq_b')",
      'DROP VIEW cheap',
      'DROP MATERIALIZED VIEW totals',
      { sql: 'DROP VIEW cheap', error: '42P01' },
      'DROP SEQUENCE seq_a, seq_b',
      'DROP TABLE base CASCADE',
    ],
  },
  {
    name: 'ddl_types_functions',
    category: 'ddl',
    setup: `CREATE TABLE items (id serial PRIMARY KEY, sku text NOT NULL, qty int NOT NULL DEFAULT 0, remark text);`,
    statements: [
      "CREATE TYPE color AS ENUM ('red', 'green', 'blue')",
      "ALTER TYPE color ADD VALUE 'purple' AFTER 'green'",
      'SELECT enum_range(NULL::color)',
      'CREATE TYPE pair AS (a int, b text)',
      "SELECT ROW(1, 'x')::pair AS p, (ROW(2, 'y')::pair).b AS b",
      'CREATE DOMAIN percent AS numeric(5,2) CHECK (VALUE BETWEEN 0 AND 100)',
      'SELECT 42.5::percent AS p',
      { sql: 'SELECT 142::percent', error: '23514' },
      `CREATE FUNCTION add_tax(p numeric) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $$
       BEGIN
         RETURN round(p * 1.2, 2);
       END
       $$`,
      'SELECT add_tax(10), add_tax(NULL), add_tax(0.005)',
      `CREATE OR REPLACE FUNCTION raise_it(n int) RETURNS int LANGUAGE plpgsql AS $$
       BEGIN
         IF n < 0 THEN
           RAISE EXCEPTION 'negative: %', n USING HINT = 'pass a positive number', ERRCODE = '22023';
         END IF;
         RAISE NOTICE 'got % ☃', n;
         RAISE WARNING 'warned %', n * 10;
         RETURN n * 2;
       END
       $$`,
      'SELECT raise_it(4)',
      { sql: 'SELECT raise_it(-1)', error: '22023' },
      `CREATE FUNCTION items_touch() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         NEW.remark := coalesce(NEW.remark, 'auto:' || NEW.sku);
         RETURN NEW;
       END
       $$`,
      'CREATE TRIGGER items_touch_trg BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_touch()',
      {
        sql: "INSERT INTO items (sku, qty) VALUES ('a-1', 1), ('b-2', 2) RETURNING id, sku, remark",
        order: 'deterministic',
      },
      `CREATE FUNCTION squares(n int) RETURNS TABLE (i int, sq int) LANGUAGE sql AS $$
         SELECT g, g * g FROM generate_series(1, n) g
       $$`,
      { sql: 'SELECT * FROM squares(4)', order: 'deterministic' },
      `CREATE PROCEDURE bump(delta int) LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE items SET qty = qty + delta;
       END
       $$`,
      'CALL bump(3)',
      'SELECT sku, qty FROM items ORDER BY id',
      `CREATE PROCEDURE out_proc(INOUT x int, OUT y text) LANGUAGE plpgsql AS $$
       BEGIN
         x := x * 2;
         y := 'doubled';
       END
       $$`,
      'CALL out_proc(21, NULL)',
      `DO $$
       BEGIN
         RAISE NOTICE 'anonymous block in schema %', current_schema();
       END
       $$`,
      `CREATE FUNCTION variadic_sum(VARIADIC xs int[]) RETURNS int LANGUAGE sql IMMUTABLE
       RETURN (SELECT sum(x) FROM unnest(xs) x)`,
      'SELECT variadic_sum(1, 2, 3), variadic_sum(VARIADIC ARRAY[10, 20])',
      { sql: 'SELECT add_tax(1, 2)', error: '42883' },
      'DROP TRIGGER items_touch_trg ON items',
      'DROP FUNCTION add_tax(numeric), raise_it(int), squares(int)',
      'DROP PROCEDURE bump(int)',
      'DROP TYPE color',
      'DROP TYPE pair',
      'DROP DOMAIN percent',
    ],
  },
];
