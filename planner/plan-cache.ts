import type { Catalog } from './catalog.js';
import { instantiate, matches, shapeOf, type PlanTemplate } from './plan-template.js';
import type { Plan, PlanOptions, Planner } from './planner.js';

/** Plans kept by exact statement text, and templates kept by statement shape (each at most). */
const PLAN_CACHE_SIZE = 512;
/** Templates of one shape (different constants the plan depends on, such as JSON paths). */
const TEMPLATES_PER_SHAPE = 16;

/** How a lookup was answered. */
export type CacheHit = 'shape' | 'text';

/**
 * The planner's plan caches: templates by statement shape (the text with its constants
 * replaced by markers; a statement differing only in constants the plan does not depend on
 * re-uses the plan, its own constants spliced in: see plan-template.ts) and, for plans that
 * cannot be shared that way (residual, EXPLAIN, several statements, text the parser rejects),
 * plans by exact text. Least recently used entries go first. `prefix` keys what a plan depends on
 * besides the text (database, settings).
 */
export class PlanCache {
  /** Least recently used first. */
  private readonly plans = new Map<string, Plan>();
  /** By prefix and shape key; least recently used first. */
  private readonly templates = new Map<string, PlanTemplate[]>();
  private templateCount = 0;

  constructor(
    private readonly size = PLAN_CACHE_SIZE,
    private readonly perShape = TEMPLATES_PER_SHAPE,
  ) {}

  /** A cached plan for `sql` and how it was found, or undefined (then call `plan`). */
  get(prefix: string, sql: Buffer): { plan: Plan; hit: CacheHit } | undefined {
    const shape = shapeOf(sql);
    if (shape !== undefined) {
      const key = prefix + shape.key;
      const bucket = this.templates.get(key);
      if (bucket !== undefined) {
        for (const template of bucket) {
          if (!matches(template, shape)) continue;
          const plan = instantiate(template, shape, sql);
          if (plan === undefined) continue;
          this.templates.delete(key);
          this.templates.set(key, bucket);
          return { plan, hit: 'shape' };
        }
      }
    }
    const key = prefix + (shape?.bytes ?? sql.toString('latin1'));
    const plan = this.plans.get(key);
    if (plan === undefined) return undefined;
    this.plans.delete(key);
    this.plans.set(key, plan);
    return { plan, hit: 'text' };
  }

  /** Plan `sql` and keep the plan (or its template). */
  async plan(
    prefix: string,
    sql: Buffer,
    planner: Planner,
    catalog: Catalog,
    options: PlanOptions,
  ): Promise<Plan> {
    const shape = shapeOf(sql);
    // A copy: the plan and its template must not keep the client's receive buffer alive.
    const own = Buffer.from(sql);
    if (shape === undefined) {
      const plan = await planner.plan(own, catalog, options);
      this.keepPlan(prefix + own.toString('latin1'), plan);
      return plan;
    }
    const { plan, template } = await planner.planShared(own, shape, catalog, options);
    if (template === undefined) this.keepPlan(prefix + shape.bytes, plan);
    else this.keepTemplate(prefix + shape.key, template);
    return plan;
  }

  clear(): void {
    this.plans.clear();
    this.templates.clear();
    this.templateCount = 0;
  }

  private keepPlan(key: string, plan: Plan): void {
    this.plans.delete(key);
    this.plans.set(key, plan);
    if (this.plans.size > this.size) {
      const oldest = this.plans.keys().next();
      if (oldest.done !== true) this.plans.delete(oldest.value);
    }
  }

  private keepTemplate(key: string, template: PlanTemplate): void {
    const bucket = this.templates.get(key) ?? [];
    this.templates.delete(key);
    this.templates.set(key, bucket);
    bucket.push(template);
    this.templateCount++;
    if (bucket.length > this.perShape) {
      bucket.shift();
      this.templateCount--;
    }
    while (this.templateCount > this.size) {
      const oldest = this.templates.entries().next();
      if (oldest.done === true) break;
      this.templates.delete(oldest.value[0]);
      this.templateCount -= oldest.value[1].length;
    }
  }
}
