/**
 * Plans shared by statement shape (planner/plan-template.ts): a statement differing from a
 * planned one only in constants the plan does not depend on re-uses its plan, and the shared
 * plan is exactly the plan planning it afresh gives; constants that change the plan (JSON paths,
 * patterns, LIMIT, ORDER BY positions, literal types, values an Inexact superset is built from
 * when they change its shape) are compared, so such statements do not share. Rows through the
 * proxy, and DDL emptying the cache, are checked in test/integration/planner.test.ts.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { Catalog } from '../../../planner/catalog.js';
import {
  instantiate,
  matches,
  shapeOf,
  type PlanTemplate,
  type StatementShape,
} from '../../../planner/plan-template.js';
import { Planner, type Plan } from '../../../planner/planner.js';
import { findLiterals } from '../../../planner/sql-text.js';
import { seededRandom } from '../../../bench/lib/percentile.js';
import { loadParser, parseSql, scanSql } from '../../../src/sql-parser.js';
import { registerAll } from '../../../udf/registry.js';
import { fixedRelations } from './support/fixed-catalog.js';

let planner: Planner;
const catalog = new Catalog((names) => Promise.resolve(fixedRelations(names)), 60_000);

beforeAll(async () => {
  await loadParser();
  planner = new Planner(registerAll(), parseSql, scanSql);
});

const ON = { pushdown: true, paramTypes: [] };

function shape(sql: string): StatementShape {
  const found = shapeOf(Buffer.from(sql));
  if (found === undefined) throw new Error(`no shape: ${sql}`);
  return found;
}

async function templateOf(sql: string, options = ON): Promise<PlanTemplate | undefined> {
  return (await planner.planShared(Buffer.from(sql), shape(sql), catalog, options)).template;
}

/** What a cache holding the template of `first` answers for `second` (undefined: a miss). */
async function shared(first: string, second: string, options = ON): Promise<Plan | undefined> {
  const template = await templateOf(first, options);
  const a = shape(first);
  const b = shape(second);
  if (template === undefined || a.key !== b.key || !matches(template, b)) return undefined;
  return instantiate(template, b, Buffer.from(second));
}

async function fresh(sql: string, options = ON): Promise<Plan> {
  return planner.plan(Buffer.from(sql), catalog, options);
}

function sqlOf(plan: Plan | undefined): string | undefined {
  return plan?.kind === 'rewrite' ? plan.sql : plan?.kind;
}

describe('literals and shapes', () => {
  test('findLiterals: plain strings and unsigned numbers outside comments and identifiers', () => {
    const sql = Buffer.from(
      `SELECT 'a''b', 42, 1.5, .5, 1e-3, "x'1", $1, t2.c3 /* 'no' 7 */ -- 'no' 8\n, $$'no' 9$$`,
    );
    const found = (findLiterals(sql) ?? []).map((l) => [
      sql.toString('utf8', l.start, l.end),
      l.kind,
    ]);
    expect(found).toEqual([
      ["'a''b'", 'S'],
      ['42', 'I'],
      ['1.5', 'D'],
      ['.5', 'D'],
      ['1e-3', 'D'],
    ]);
  });

  test('findLiterals: what it is unsure of stays out (prefixes, backslashes, odd numbers)', () => {
    const sql = Buffer.from(
      `SELECT E'a\\'b', U&'d\\0061', B'101', X'1f', N'n', date'2020-01-01', 'back\\slash', 1_000, 0x1f, 12abc`,
    );
    expect(findLiterals(sql)).toEqual([]);
    expect(findLiterals(Buffer.from(`SELECT 'open`))).toBeUndefined();
  });

  test('the key replaces literals by their kind: a string and a number never share', () => {
    expect(shape(`SELECT 1 WHERE a = '1'`).key).not.toBe(shape('SELECT 1 WHERE a = 1').key);
    expect(shape('SELECT 1 WHERE a = 1').key).not.toBe(shape('SELECT 1 WHERE a = 1.0').key);
    expect(shape(`SELECT 1 WHERE a = 'x'`).key).toBe(shape(`SELECT 1 WHERE a = 'it''s'`).key);
    // A NUL byte (never in wire SQL, possible over HTTP) gives no shape at all.
    expect(shapeOf(Buffer.from("SELECT '\0S'"))).toBeUndefined();
  });
});

describe('statements that share a plan', () => {
  test('a constant outside the DocFusion expressions is spliced in as written', async () => {
    const first = `SELECT id, json_extract_path(doc, 'name') AS n FROM t WHERE id = 42 AND tdoc = 'a'`;
    const second = `SELECT id, json_extract_path(doc, 'name') AS n FROM t WHERE id = 7 AND tdoc = 'it''s ü'`;
    const plan = await shared(first, second);
    expect(sqlOf(plan)).toBe(sqlOf(await fresh(second)));
    expect(sqlOf(plan)).toContain(`WHERE id = 7 AND tdoc = 'it''s ü'`);
  });

  test('the value of an Inexact superset is rendered again for the new value', async () => {
    const first = `SELECT id, doc FROM t WHERE json_extract_path(doc, 'email') = 'a@b.c'`;
    const second = `SELECT id, doc FROM t WHERE json_extract_path(doc, 'email') = 'x"y''z ü'`;
    const plan = await shared(first, second);
    expect(sqlOf(plan)).toBe(sqlOf(await fresh(second)));
    expect(sqlOf(plan)).toContain(`doc @> '{"email":"x\\"y''z ü"}'`);
  });

  test('forwarded statements (Postgres’s own json_extract_path) share too', async () => {
    const plan = await shared(
      `SELECT json_extract_path(jdoc, 'a') FROM t WHERE id = 1`,
      `SELECT json_extract_path(jdoc, 'a') FROM t WHERE id = 2`,
    );
    expect(plan).toEqual({ kind: 'forward' });
  });

  test('UPDATE and DELETE share like SELECT', async () => {
    const first = `UPDATE t SET tdoc = 'x' WHERE json_contains(doc, '{"a": 1}') AND id = 3`;
    const second = `UPDATE t SET tdoc = 'yy' WHERE json_contains(doc, '{"a": 1}') AND id = 30`;
    expect(sqlOf(await shared(first, second))).toBe(sqlOf(await fresh(second)));
    const del = `DELETE FROM t WHERE json_exists(doc, 'k') AND id < 10`;
    const del2 = `DELETE FROM t WHERE json_exists(doc, 'k') AND id < 99`;
    expect(sqlOf(await shared(del, del2))).toBe(sqlOf(await fresh(del2)));
  });

  test('random constants: every shared plan equals the fresh plan of the same text', async () => {
    const random = seededRandom(11);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    const strings = [
      'a',
      "it''s",
      'ü😀',
      '"q"',
      '{',
      '[1]',
      'true',
      '123',
      '-1.5e3',
      ' ',
      '',
      'null',
      'a\\b',
    ];
    const numbers = ['0', '7', '3000000000', '99999999999999999999', '1.5', '1e3', '.25'];
    const s = (): string => `'${pick(strings)}'`;
    const n = (): string => pick(numbers);
    const shapes: readonly (() => string)[] = [
      () => `SELECT id, doc FROM t WHERE json_extract_path(doc, 'email') = ${s()}`,
      () => `SELECT id FROM t WHERE ${s()} = json_extract_path(doc, 'a', 'b') AND id > ${n()}`,
      () =>
        `SELECT json_extract_path(doc, 'name') AS name FROM t WHERE id = ${n()} AND tdoc <> ${s()}`,
      () => `SELECT id FROM t WHERE json_contains(doc, $1) AND tdoc IN (${s()}, ${s()})`,
      () =>
        `SELECT id, ${s()} AS tag FROM t WHERE json_exists(doc, 'k') AND (id = ${n()} OR tdoc = ${s()}) ORDER BY id LIMIT 5`,
      () =>
        `SELECT COALESCE(json_extract_path(doc, 'a'), ${s()}) FROM t WHERE id BETWEEN ${n()} AND ${n()}`,
      () => `SELECT json_extract_path(jdoc, 'a') FROM t WHERE tdoc = ${s()}`,
      () => `UPDATE t SET tdoc = ${s()} WHERE json_contains(doc, '{"k": 1}') AND id = ${n()}`,
    ];
    // A cache as PlanService keeps it: templates by shape key, a new one after each miss.
    const cache = new Map<string, PlanTemplate[]>();
    let sharedCount = 0;
    for (let i = 0; i < 60; i++) {
      for (const make of shapes) {
        const sql = make();
        const b = shape(sql);
        const bucket = cache.get(b.key) ?? [];
        cache.set(b.key, bucket);
        const template = bucket.find((t) => matches(t, b) && instantiate(t, b, Buffer.from(sql)));
        if (template !== undefined) {
          sharedCount++;
          expect(sqlOf(instantiate(template, b, Buffer.from(sql))), sql).toBe(
            sqlOf(await fresh(sql)),
          );
          continue;
        }
        const planned = await planner.planShared(Buffer.from(sql), b, catalog, ON);
        expect(planned.template, sql).toBeDefined();
        if (planned.template) bucket.push(planned.template);
      }
    }
    expect(sharedCount).toBeGreaterThan(300);
  });
});

describe('constants that change the plan are not shared', () => {
  test('JSON path keys and containment patterns', async () => {
    expect(
      await shared(
        `SELECT json_extract_path(doc, 'a') FROM t WHERE id = 1`,
        `SELECT json_extract_path(doc, 'b') FROM t WHERE id = 1`,
      ),
    ).toBeUndefined();
    expect(
      await shared(
        `SELECT id FROM t WHERE json_contains(doc, '{"a": 1}')`,
        `SELECT id FROM t WHERE json_contains(doc, '{"a": 2}')`,
      ),
    ).toBeUndefined();
  });

  test('LIMIT, OFFSET, ORDER BY and GROUP BY positions', async () => {
    const base = `SELECT id FROM t WHERE json_exists(doc, 'k')`;
    for (const [a, b] of [
      [`${base} LIMIT 10`, `${base} LIMIT 20`],
      [`${base} LIMIT 10 OFFSET 1`, `${base} LIMIT 10 OFFSET 2`],
      [`${base} ORDER BY 1`, `${base} ORDER BY 2`],
      [`${base} GROUP BY 1`, `${base} GROUP BY 2`],
    ] as const) {
      expect(await shared(a, b), b).toBeUndefined();
    }
  });

  test('a value that changes whether the Inexact superset applies', async () => {
    const sql = (v: string): string =>
      `SELECT id FROM t WHERE json_extract_path(doc, 'k') = '${v}'`;
    // '123' can be the text of a number: no superset. The planned shape differs both ways.
    expect(await shared(sql('abc'), sql('123'))).toBeUndefined();
    expect(await shared(sql('abc'), sql('true'))).toBeUndefined();
    expect(await shared(sql('abc'), sql('{"a": 1}'))).toBeUndefined();
    expect(await shared(sql('123'), sql('abc'))).toBeUndefined();
    expect(sqlOf(await fresh(sql('123')))).not.toContain('@>');
    expect(sqlOf(await fresh(sql('abc')))).toContain('@>');
  });

  test('constants inside an expression with a DocFusion call are compared', async () => {
    for (const [a, b] of [
      [
        `SELECT COALESCE(json_extract_path(doc, 'a'), 'x') FROM t`,
        `SELECT COALESCE(json_extract_path(doc, 'a'), 'y') FROM t`,
      ],
      [
        `SELECT id FROM t WHERE json_extract_path(doc, 'a') IN ('x', 'y')`,
        `SELECT id FROM t WHERE json_extract_path(doc, 'a') IN ('x', 'z')`,
      ],
      [
        `SELECT id FROM t WHERE json_get_int(doc, 'n') > 3`,
        `SELECT id FROM t WHERE json_get_int(doc, 'n') > 4`,
      ],
      [
        `SELECT id FROM t WHERE json_extract_path(doc, 'a') LIKE 'x%'`,
        `SELECT id FROM t WHERE json_extract_path(doc, 'a') LIKE 'y%'`,
      ],
    ] as const) {
      expect(await shared(a, b), b).toBeUndefined();
    }
  });

  test('residual, EXPLAIN and multi-statement plans are kept by exact text only', async () => {
    const off = { pushdown: false, paramTypes: [] };
    expect(await templateOf(`SELECT id FROM t WHERE json_exists(doc, 'k') AND id = 1`, off)).toBe(
      undefined,
    );
    expect(await templateOf(`SELECT id FROM t WHERE json_schema_valid(doc, '{}') AND id = 1`)).toBe(
      undefined,
    );
    expect(await templateOf(`EXPLAIN SELECT id FROM t WHERE json_exists(doc, 'k')`)).toBe(
      undefined,
    );
    expect(
      await templateOf(`SELECT json_exists(doc, 'k') FROM t; SELECT json_exists(doc, 'j') FROM t`),
    ).toBe(undefined);
  });

  test('a negative number is compared (its sign is not part of the literal)', async () => {
    expect(
      await shared(
        `SELECT id FROM t WHERE json_exists(doc, 'k') AND id = -1`,
        `SELECT id FROM t WHERE json_exists(doc, 'k') AND id = -2`,
      ),
    ).toBeUndefined();
  });
});
