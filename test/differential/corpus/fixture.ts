/**
 * Shared, read-only fixtures built once in the template database (schema `fx`). Both sides'
 * databases are copies of the template, so these objects have the same OIDs on both sides
 * (binary arrays and records of these types embed their OIDs). Groups must never write to fx:
 * every group runs eight times (four variants, two pool modes) against the same databases.
 */
export const FIXTURE_SQL = `
CREATE SCHEMA fx;
SET search_path TO fx;

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', '😀 joy');
CREATE TYPE point3 AS (x float8, y float8, z float8);
CREATE TYPE tagged AS (label text, mood mood, pts int[]);
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN email AS text CHECK (VALUE ~ '^[^@]+@[^@]+$');

CREATE TABLE docs (id int PRIMARY KEY, doc jsonb NOT NULL, tags text[]);
INSERT INTO docs VALUES
  (1, '{"name":"alice","age":30,"tags":["a","b"],"address":{"city":"Paris","zip":"75001"},"active":true}', '{x,y}'),
  (2, '{"name":"bob","age":25,"tags":["b"],"address":{"city":"Berlin"},"active":false,"score":9.5}', '{y}'),
  (3, '{"name":"carol","age":null,"tags":[],"nested":{"a":{"b":{"c":[1,2,{"d":"deep"}]}}}}', '{}'),
  (4, '{"name":"dan","emoji":"😀","unicode":"naïve café","esc":"line\\nbreak \\"quoted\\" \\u0001"}', NULL),
  (5, '[1,2,3]', NULL),
  (6, '"just a string"', NULL),
  (7, '{"big":123456789012345678901234567890.123456789,"small":1e-20,"neg":-0.0,"exp":1.5E+300}', NULL),
  (8, '{"name":"eve","age":41,"tags":["a","c"],"address":{"city":"Paris"},"items":[{"sku":"x","qty":2},{"sku":"y","qty":5}]}', '{z}');

CREATE TABLE people (
  id int PRIMARY KEY,
  name text NOT NULL,
  dept text NOT NULL,
  salary numeric(10,2) NOT NULL,
  hired date NOT NULL,
  mood mood,
  loc point3
);
INSERT INTO people VALUES
  (1, 'Ann', 'eng', 7200.00, '2019-03-01', 'happy', ROW(1, 2, 3)),
  (2, 'Ben', 'eng', 6100.50, '2020-07-15', 'ok', NULL),
  (3, 'Cid', 'eng', 6100.50, '2021-01-10', 'sad', ROW(0, 0, 0)),
  (4, 'Dee', 'ops', 5000.00, '2018-11-30', 'happy', NULL),
  (5, 'Eli', 'ops', 5300.25, '2022-02-28', NULL, ROW(-1.5, 2.25, 1e10)),
  (6, 'Fay', 'sales', 4100.00, '2020-01-01', '😀 joy', NULL),
  (7, 'Gus', 'sales', 4100.00, '2020-01-01', 'ok', NULL),
  (8, 'Hal', 'sales', 3900.75, '2023-06-30', 'sad', NULL),
  (9, 'Ivy', 'eng', 9100.00, '2017-05-05', 'happy', ROW('NaN', 'Infinity', '-Infinity')),
  (10, 'Jon', 'ops', 5000.00, '2024-02-29', 'ok', NULL);

CREATE TABLE metrics (ts timestamptz NOT NULL, host text NOT NULL, cpu float8, mem bigint);
INSERT INTO metrics
  SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
         'host' || (g % 3),
         CASE WHEN g % 17 = 0 THEN NULL ELSE ((g * 7) % 100)::float8 / 3 END,
         g::bigint * 1048576
  FROM generate_series(0, 239) g;
CREATE INDEX metrics_ts ON metrics (ts);

CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT i + 1';
COMMENT ON FUNCTION add_one(int) IS 'adds one';
CREATE FUNCTION pairs(n int) RETURNS SETOF record LANGUAGE sql AS 'SELECT g, g * 2 FROM generate_series(1, n) g';

RESET search_path;
`;
