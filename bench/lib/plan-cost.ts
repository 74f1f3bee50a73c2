import { Catalog } from '../../planner/catalog.js';
import { PlanCache, type CacheHit } from '../../planner/plan-cache.js';
import { Planner } from '../../planner/planner.js';
import { loadParser, parseSql, scanSql } from '../../src/sql-parser.js';
import { registerAll } from '../../udf/registry.js';
import { TABLE } from './doc-corpus.js';
import { seededRandom } from './percentile.js';
import type { QueryShape } from './udf-queries.js';

/**
 * In-process cost of planning one statement: the planner the proxy runs (libpg-query parse,
 * call analysis, pushdown rewrite) with the corpus table's column types already cached, as
 * after the proxy's first catalog read, without a plan cache (what a statement the proxy has
 * not seen costs); and the same statements through the proxy's plan cache (planner/
 * plan-cache.ts: by statement shape, then by exact text), after one pass to fill it.
 */

export interface PlanCostSample {
  readonly shape: string;
  readonly round: number;
  /** Microseconds per plan() call. */
  readonly us: number;
  /** What the planner decided (forward, rewrite, residual). */
  readonly kind: string;
  /** Microseconds per statement through the plan cache (a hit, or a miss planned). */
  readonly cachedUs: number;
  /** Of the statements through the plan cache: hits by shape and by exact text. */
  readonly shapeHits: number;
  readonly textHits: number;
  readonly lookups: number;
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
  const cache = new PlanCache();
  const prefix = 'bench|';
  const throughCache = async (sql: Buffer): Promise<CacheHit | undefined> => {
    const found = cache.get(prefix, sql, catalog);
    if (found === undefined) await cache.plan(prefix, sql, planner, catalog, options);
    return found?.hit;
  };
  for (const list of texts.values()) for (const sql of list) await throughCache(sql);
  const samples: PlanCostSample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const shape of shapes) {
      const list = texts.get(shape.key) ?? [];
      let kind = '';
      let started = performance.now();
      for (const sql of list) kind = (await planner.plan(sql, catalog, options)).kind;
      const us = ((performance.now() - started) * 1000) / Math.max(1, list.length);
      let shapeHits = 0;
      let textHits = 0;
      started = performance.now();
      for (const sql of list) {
        const hit = await throughCache(sql);
        if (hit === 'shape') shapeHits++;
        else if (hit === 'text') textHits++;
      }
      const cachedUs = ((performance.now() - started) * 1000) / Math.max(1, list.length);
      samples.push({
        shape: shape.key,
        round,
        us,
        kind,
        cachedUs,
        shapeHits,
        textHits,
        lookups: list.length,
      });
    }
  }
  return samples;
}
