/** Ranges and multiranges, enums, composite types, domains, generated columns. */
import type { Group } from './types.js';

export const TYPE_GROUPS: readonly Group[] = [
  {
    name: 'rtypes',
    category: 'ranges-enums-composites-domains',
    setup: `
      CREATE TABLE bookings (id int PRIMARY KEY, room text, during tstzrange, seats int4range);
      INSERT INTO bookings VALUES
        (1, 'a', '[2024-01-01 10:00+00, 2024-01-01 12:00+00)', '[1,10)'),
        (2, 'a', '[2024-01-01 12:00+00, 2024-01-01 13:00+00)', '[5,5]'),
        (3, 'b', '(,2024-01-02 00:00+00]', 'empty'),
        (4, 'b', NULL, '[3,)');
      CREATE TYPE status AS ENUM ('new', 'active', 'closed');
      CREATE TYPE inner_t AS (k text, v numeric);
      CREATE TYPE outer_t AS (id int, inner_v inner_t, st status, list inner_t[]);
      CREATE TABLE tickets (id int PRIMARY KEY, st status, who fx.tagged, contact fx.email, prio fx.posint, nest outer_t);
      INSERT INTO tickets VALUES
        (1, 'new', ROW('first', 'happy', ARRAY[1, 2])::fx.tagged, 'a@b.c', 1,
         ROW(1, ROW('k', 1.5), 'active', ARRAY[ROW('x', 1)::inner_t, ROW('y', NULL)::inner_t])::outer_t),
        (2, 'closed', NULL, NULL, 5, NULL);
      CREATE TABLE shapes (id int PRIMARY KEY, w int, h int, area int GENERATED ALWAYS AS (w * h) STORED);`,
    statements: [
      "SELECT int4range(1, 10), int4range(1, 10, '[]'), numrange(1.5, 2.5), daterange('2024-01-01', '2024-02-01', '(]'), '[3,3)'::int4range, 'empty'::int8range",
      "SELECT '[1,5)'::int4range @> 3, '[1,5)'::int4range && '[4,8)', '[1,5)'::int4range * '[3,8)', '[1,5)'::int4range + '[5,8)', '[1,5)'::int4range << '[6,7)'",
      'SELECT id, lower(seats), upper(seats), isempty(seats), lower_inc(seats), upper_inf(seats) FROM bookings ORDER BY id',
      "SELECT id, during FROM bookings WHERE during @> timestamptz '2024-01-01 11:00+00' ORDER BY id",
      "SELECT tstzrange('2024-01-01 00:00+00', 'infinity'), tsrange('-infinity', '2024-01-01'), '(,)'::int4range, numrange('NaN', NULL)",
      "SELECT int4multirange(int4range(1, 3), int4range(5, 8)), '{[1,3), [2,6)}'::int4multirange, range_agg(seats), '{}'::datemultirange FROM bookings",
      { sql: "SELECT '[5,1)'::int4range", error: '22000' },
      { sql: "SELECT '[1,5)'::int4range - '[2,3)'::int4range", error: '22000' },
      'SELECT id FROM bookings WHERE seats && int4range(4, 6) ORDER BY id',
      "SELECT upper(daterange('2024-01-01', '2024-01-31', '[]')), daterange('2024-01-01', '2024-01-31', '[]'), range_merge('[1,2)'::int4range, '[5,6)')",
      "SELECT id, st, st::text, st < 'closed', enum_first(NULL::status), enum_last(st) FROM tickets ORDER BY id",
      "SELECT 'sad'::mood, 'happy'::mood > 'ok'::mood, '😀 joy'::mood, enum_range('ok'::mood, NULL), enum_range(NULL::status)",
      { sql: "SELECT 'unknown'::status", error: '22P02' },
      'SELECT id, who, (who).label, (who).mood, (who).pts[2] FROM tickets ORDER BY id',
      "SELECT ROW(1.5, 2, 3)::point3, (ROW(1.5, 2, 3)::point3).x, ROW(1, 'a', NULL), ROW()",
      "SELECT ROW(1, 'x'), ROW(ROW(1, 2), ARRAY[3], 'q\"uote', NULL), ARRAY[ROW(1, 'a'), ROW(2, 'b')]",
      'SELECT id, nest, (nest).inner_v.k, (nest).list[2] FROM tickets ORDER BY id',
      'SELECT id, contact, prio, prio + 1, contact::text FROM tickets ORDER BY id',
      { sql: "SELECT 'bad'::fx.email", error: '23514' },
      { sql: 'SELECT 0::fx.posint', error: '23514' },
      { sql: "INSERT INTO tickets (id, st, prio) VALUES (3, 'active', -1)", error: '23514' },
      "UPDATE tickets SET who.label = 'renamed', who.pts[3] = 9 WHERE id = 1 RETURNING who",
      {
        sql: 'INSERT INTO shapes (id, w, h) VALUES (1, 2, 3), (2, 10, 10) RETURNING *',
        order: 'deterministic',
      },
      'UPDATE shapes SET w = 5 WHERE id = 1 RETURNING area',
      { sql: 'INSERT INTO shapes (id, w, h, area) VALUES (3, 1, 1, 1)', error: '428C9' },
      { sql: 'UPDATE shapes SET area = 1', error: '428C9' },
      'SELECT id, w, h, area FROM shapes ORDER BY id',
      'SELECT t FROM tickets t ORDER BY id',
      'SELECT array_agg(st ORDER BY id), array_agg(t ORDER BY id) FROM tickets t',
      "SELECT ARRAY['sad', 'ok']::mood[], ARRAY[ROW(1, 2, 3)::point3], ARRAY[ROW('l', 'ok', '{}')::tagged]",
      'SELECT (ROW(1, 2, 3)::point3).*',
      'SELECT id, pg_typeof(who), pg_typeof(st), pg_typeof(contact), pg_typeof(nest) FROM tickets WHERE id = 1',
      { sql: "SELECT 'x'::point3", error: '22P02' },
      {
        sql: 'SELECT $1::status, $2::point3, $3::int4range',
        params: ['active', '(1,2,3)', '[7,9]'],
      },
    ],
  },
];
