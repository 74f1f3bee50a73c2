/** Window functions, frames, ordered-set aggregates, grouping sets (fixture fx.people, fx.metrics). */
import type { Group } from './types.js';

export const WINDOW_GROUPS: readonly Group[] = [
  {
    name: 'window',
    category: 'window',
    statements: [
      'SELECT name, dept, salary, row_number() OVER (PARTITION BY dept ORDER BY salary DESC, id) AS rn FROM people ORDER BY dept, rn',
      'SELECT name, salary, rank() OVER w, dense_rank() OVER w FROM people WINDOW w AS (ORDER BY salary DESC) ORDER BY salary DESC, name',
      'SELECT name, percent_rank() OVER w, cume_dist() OVER w FROM people WINDOW w AS (PARTITION BY dept ORDER BY salary) ORDER BY dept, salary, name',
      'SELECT id, ntile(3) OVER (ORDER BY id) FROM people ORDER BY id',
      'SELECT id, lag(salary) OVER (ORDER BY id), lead(salary, 2, 0) OVER (ORDER BY id) FROM people ORDER BY id',
      `SELECT id, dept,
              first_value(name) OVER w, last_value(name) OVER w, nth_value(name, 2) OVER w
       FROM people
       WINDOW w AS (PARTITION BY dept ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
       ORDER BY id`,
      'SELECT id, hired, sum(salary) OVER (ORDER BY hired, id ROWS UNBOUNDED PRECEDING) AS running FROM people ORDER BY hired, id',
      'SELECT id, avg(salary) OVER (PARTITION BY dept) AS dept_avg, salary - avg(salary) OVER (PARTITION BY dept) AS delta FROM people ORDER BY id',
      `SELECT id, hired, count(*) OVER (ORDER BY hired RANGE BETWEEN interval '365 days' PRECEDING AND CURRENT ROW) AS last_year
       FROM people ORDER BY hired, id`,
      `SELECT id, salary, sum(salary) OVER (ORDER BY salary GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE CURRENT ROW) AS neighbours
       FROM people ORDER BY salary, id`,
      `SELECT id, salary, sum(salary) OVER (ORDER BY salary RANGE BETWEEN 500 PRECEDING AND 500 FOLLOWING EXCLUDE TIES) AS near
       FROM people ORDER BY salary, id`,
      'SELECT id, count(*) OVER () AS total, count(*) FILTER (WHERE salary > 5000) OVER (PARTITION BY dept) AS rich FROM people ORDER BY id',
      `SELECT ts, cpu, avg(cpu) OVER (ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS moving
       FROM metrics WHERE host = 'host0' ORDER BY ts LIMIT 12`,
      'SELECT dept, sum(salary), rank() OVER (ORDER BY sum(salary) DESC) FROM people GROUP BY dept ORDER BY 3, 1',
      `SELECT dept,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY salary),
              percentile_disc(ARRAY[0.25, 0.75]) WITHIN GROUP (ORDER BY salary),
              mode() WITHIN GROUP (ORDER BY mood)
       FROM people GROUP BY dept ORDER BY dept`,
      'SELECT id, array_agg(name) OVER (PARTITION BY dept ORDER BY name) FROM people ORDER BY id',
      'SELECT dept, mood, count(*) FROM people GROUP BY ROLLUP (dept, mood) ORDER BY dept NULLS LAST, mood NULLS LAST',
      'SELECT dept, mood, count(*), grouping(dept, mood) FROM people GROUP BY CUBE (dept, mood) ORDER BY 4, 1 NULLS LAST, 2 NULLS LAST',
      'SELECT dept, extract(year FROM hired) AS y, sum(salary) FROM people GROUP BY GROUPING SETS ((dept), (2), ()) ORDER BY 1 NULLS LAST, 2 NULLS LAST',
      "SELECT row_number() OVER () FROM people WHERE dept = 'nobody'",
      { sql: 'SELECT id FROM people WHERE row_number() OVER () > 1', error: '42P20' },
      'SELECT id, salary, salary - lag(salary) OVER (ORDER BY id) AS diff FROM people ORDER BY id',
      `SELECT host, date_trunc('hour', ts) AS h, max(cpu), min(cpu), round(avg(cpu)::numeric, 6),
              sum(sum(mem)) OVER (PARTITION BY host ORDER BY date_trunc('hour', ts)) AS mem_running
       FROM metrics GROUP BY host, date_trunc('hour', ts) ORDER BY host, h`,
    ],
  },
];
