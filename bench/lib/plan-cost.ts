import { Catalog } from '../../planner/catalog.js';
import { Planner } from '../../planner/planner.js';
import { loadParser, parseSql, scanSql } from '../../src/sql-parser.js';
import { registerAll } from '../../udf/registry.js';
import { TABLE } from './doc-corpus.js';
import { seededRandom } from './percentile.js';
import type { QueryShape } from './udf-queries.js';

/**
 * In-process cost of planning one statement: the planner the proxy runs (libpg-query parse,
 * call analysis, pushdown rewrite) with the corpus table's column types already cached, as
 * after the proxy's first catalog read. No plan cache: the proxy's PlanService caches plans by
 * statement text, which helps `$1` statements (same text every time) but not statements with
 * literals (new text every time), which pay this on every execution.
 */

export interface PlanCostSample {
  readonly shape: string;
  readonly round: number;
  /** Microseconds per plan() call. */
  readonly us: number;
  /** What the planner decided (forward, rewrite, residual). */
  readonly kind: string;
}

export async function measurePlanCost(
  shapes: readonly QueryShape[],
  docs: number,
  rounds: number,
  perRound: number,
): Promise<PlanCostSample[]> {
  await loadParser();
  const planner = new Planner(registerAll(), parseSql, scanSql);
  const catalog = new Catalog(
    () =>
      Promise.resolve([
        {
          schema: 'public',
          name: TABLE,
          visible: true,
          columns: new Map([
            ['id', 23],
            ['doc', 3802],
          ]),
        },
      ]),
    Number.MAX_SAFE_INTEGER,
  );
  const options = { pushdown: true, paramTypes: [] };
  const texts = new Map(
    shapes.map((shape) => {
      const random = seededRandom(7);
      const list: Buffer[] = [];
      for (let i = 0; i < perRound; i++) {
        list.push(Buffer.from(shape.make(random, docs).docfusion.text));
      }
      return [shape.key, list] as const;
    }),
  );
  // Warm-up: the catalog read, the parser's first calls and the JIT.
  for (const list of texts.values()) {
    for (const sql of list) await planner.plan(sql, catalog, options);
  }
  const samples: PlanCostSample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const shape of shapes) {
      const list = texts.get(shape.key) ?? [];
      let kind = '';
      const started = performance.now();
      for (const sql of list) kind = (await planner.plan(sql, catalog, options)).kind;
      const us = ((performance.now() - started) * 1000) / Math.max(1, list.length);
      samples.push({ shape: shape.key, round, us, kind });
    }
  }
  return samples;
}
