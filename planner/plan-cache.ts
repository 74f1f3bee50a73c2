import type { Catalog } from './catalog.js';
import { instantiate, matches, shapeOf, type PlanTemplate } from './plan-template.js';
import type { Plan, PlanOptions, Planner } from './planner.js';

/** Plans kept by exact statement text, and templates kept by statement shape (each at most). */
const PLAN_CACHE_SIZE = 512;
/** Templates of one shape (different constants the plan depends on, such as JSON paths). */
const TEMPLATES_PER_SHAPE = 16;

/** How a lookup was answered. */
export type CacheHit = 'shape' | 'text';

/** What a cached plan was made from: these relations' columns, at this catalog generation. */
interface Basis {
  readonly relations: readonly string[];
  readonly generation: number;
}

/**
 * The planner's plan caches: templates by statement shape (the text with its constants
 * replaced by markers; a statement differing only in constants the plan does not depend on
 * re-uses the plan, its own constants spliced in: see plan-template.ts) and, for plans that
 * cannot be shared that way (residual, EXPLAIN, several statements, text the parser rejects),
 * plans by exact text. Least recently used entries go first. `prefix` keys what a plan depends on
 * besides the text (database, settings). A plan is used only while the catalog it was made from
 * still holds (`Catalog.current`: unchanged, and read less than its TTL ago); otherwise the lookup
 * misses, the entry is dropped and the statement is planned again against a fresh catalog.
 */
export class PlanCache {
  /** Least recently used first. */
  private readonly plans = new Map<string, { readonly plan: Plan; readonly basis: Basis }>();
  /** By prefix and shape key; least recently used first. */
  private readonly templates = new Map<
    string,
    { readonly template: PlanTemplate; readonly basis: Basis }[]
  >();
  private templateCount = 0;

  constructor(
    private readonly size = PLAN_CACHE_SIZE,
    private readonly perShape = TEMPLATES_PER_SHAPE,
  ) {}

  /** A cached plan for `sql` still valid in `catalog`, and how it was found, or undefined. */
  get(prefix: string, sql: Buffer, catalog: Catalog): { plan: Plan; hit: CacheHit } | undefined {
    const shape = shapeOf(sql);
    if (shape !== undefined) {
      const key = prefix + shape.key;
      const bucket = this.templates.get(key);
      if (bucket !== undefined) {
        for (let i = 0; i < bucket.length; i++) {
          const entry = bucket[i];
          if (entry === undefined || !matches(entry.template, shape)) continue;
          if (!catalog.current(entry.basis.relations, entry.basis.generation)) {
            bucket.splice(i--, 1);
            this.templateCount--;
            continue;
          }
          const plan = instantiate(entry.template, shape, sql);
          if (plan === undefined) continue;
          this.templates.delete(key);
          this.templates.set(key, bucket);
          return { plan, hit: 'shape' };
        }
      }
    }
    const key = prefix + (shape?.bytes ?? sql.toString('latin1'));
    const entry = this.plans.get(key);
    if (entry === undefined) return undefined;
    this.plans.delete(key);
    if (!catalog.current(entry.basis.relations, entry.basis.generation)) return undefined;
    this.plans.set(key, entry);
    return { plan: entry.plan, hit: 'text' };
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
    // Read before planning: a change noticed while planning makes this plan stale at once.
    const generation = catalog.generation;
    const { plan, template, relations } = await planner.planShared(own, shape, catalog, options);
    const basis = { relations, generation };
    if (template !== undefined && shape !== undefined) {
      this.keepTemplate(prefix + shape.key, template, basis);
    } else {
      this.keepPlan(prefix + (shape?.bytes ?? own.toString('latin1')), plan, basis);
    }
    return plan;
  }

  clear(): void {
    this.plans.clear();
    this.templates.clear();
    this.templateCount = 0;
  }

  private keepPlan(key: string, plan: Plan, basis: Basis): void {
    this.plans.delete(key);
    this.plans.set(key, { plan, basis });
    if (this.plans.size > this.size) {
      const oldest = this.plans.keys().next();
      if (oldest.done !== true) this.plans.delete(oldest.value);
    }
  }

  private keepTemplate(key: string, template: PlanTemplate, basis: Basis): void {
    const bucket = this.templates.get(key) ?? [];
    this.templates.delete(key);
    this.templates.set(key, bucket);
    bucket.push({ template, basis });
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
