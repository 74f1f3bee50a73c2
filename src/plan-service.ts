import { Catalog } from '../planner/catalog.js';
import { instantiate, matches, shapeOf, type PlanTemplate } from '../planner/plan-template.js';
import { Planner, type Plan, type PlanOptions } from '../planner/planner.js';
import { registerAll } from '../udf/registry.js';
import { CatalogSource } from './catalog-source.js';
import { planCacheLookups } from './metrics.js';
import { parseSql, scanSql } from './sql-parser.js';
import type { AdminCredentials, UpstreamEndpoint } from './upstream-target.js';

/** Plans kept by exact statement text, and templates kept by statement shape (each at most). */
const PLAN_CACHE_SIZE = 512;
/** Templates of one shape (different constants the plan depends on, such as JSON paths). */
const TEMPLATES_PER_SHAPE = 16;

const SHAPE_HITS = planCacheLookups.labels('shape');
const TEXT_HITS = planCacheLookups.labels('text');
const MISSES = planCacheLookups.labels('miss');

/**
 * The planner as the server uses it: one catalog per upstream database (read over the admin
 * login), and two plan caches so a statement a client runs again is not parsed again: plan
 * templates by statement shape (the text with its constants replaced by markers; a statement
 * differing only in constants the plan does not depend on re-uses the plan, its own constants
 * spliced in: see planner/plan-template.ts), and, for plans that cannot be shared that way
 * (residual, EXPLAIN, several statements), plans by exact text. DDL through the proxy empties
 * all of them.
 */
export class PlanService {
  readonly planner = new Planner(
    registerAll(),
    (sql) => parseSql(sql),
    (sql) => scanSql(sql),
  );
  private readonly catalogs = new Map<string, { catalog: Catalog; source: CatalogSource }>();
  /** Least recently used first. */
  private readonly plans = new Map<string, Plan>();
  /** By cache prefix and shape key; least recently used first. */
  private readonly templates = new Map<string, PlanTemplate[]>();
  private templateCount = 0;
  /** Lookups by result, since start (also the metric docfusion_plan_cache_lookups_total). */
  readonly lookups = { shape: 0, text: 0, miss: 0 };

  constructor(
    private readonly admin: AdminCredentials,
    private readonly catalogTtlMs: number,
    private readonly connectTimeoutMs: number,
  ) {}

  mayPlan(sql: Buffer): boolean {
    return this.planner.mayPlan(sql);
  }

  /** A cached plan, or undefined (then call `plan`). */
  cached(endpoint: UpstreamEndpoint, sql: Buffer, options: PlanOptions): Plan | undefined {
    const prefix = cachePrefix(endpoint, options);
    const shape = shapeOf(sql);
    if (shape !== undefined) {
      const key = prefix + shape.key;
      const bucket = this.templates.get(key);
      for (const template of bucket ?? []) {
        if (!matches(template, shape)) continue;
        const plan = instantiate(template, shape, sql);
        if (plan === undefined) continue;
        if (bucket !== undefined) {
          this.templates.delete(key);
          this.templates.set(key, bucket);
        }
        this.lookups.shape++;
        SHAPE_HITS.inc();
        return plan;
      }
    }
    const key = prefix + (shape?.bytes ?? sql.toString('latin1'));
    const plan = this.plans.get(key);
    if (plan !== undefined) {
      this.plans.delete(key);
      this.plans.set(key, plan);
      this.lookups.text++;
      TEXT_HITS.inc();
    }
    return plan;
  }

  async plan(endpoint: UpstreamEndpoint, sql: Buffer, options: PlanOptions): Promise<Plan> {
    this.lookups.miss++;
    MISSES.inc();
    const shape = shapeOf(sql);
    // A copy: the plan and its template must not keep the client's receive buffer alive.
    const own = Buffer.from(sql);
    const catalog = this.catalogFor(endpoint);
    const prefix = cachePrefix(endpoint, options);
    if (shape === undefined) {
      const plan = await this.planner.plan(own, catalog, options);
      this.keepPlan(prefix + own.toString('latin1'), plan);
      return plan;
    }
    const { plan, template } = await this.planner.planShared(own, shape, catalog, options);
    if (template === undefined) this.keepPlan(prefix + shape.bytes, plan);
    else this.keepTemplate(prefix + shape.key, template);
    return plan;
  }

  private keepPlan(key: string, plan: Plan): void {
    this.plans.delete(key);
    this.plans.set(key, plan);
    if (this.plans.size > PLAN_CACHE_SIZE) {
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
    if (bucket.length > TEMPLATES_PER_SHAPE) {
      bucket.shift();
      this.templateCount--;
    }
    while (this.templateCount > PLAN_CACHE_SIZE) {
      const oldest = this.templates.entries().next();
      if (oldest.done === true) break;
      this.templates.delete(oldest.value[0]);
      this.templateCount -= oldest.value[1].length;
    }
  }

  /** DDL went through the proxy: column types and therefore plans may have changed. */
  invalidate(): void {
    this.plans.clear();
    this.templates.clear();
    this.templateCount = 0;
    for (const { catalog } of this.catalogs.values()) catalog.invalidate();
  }

  async close(): Promise<void> {
    const sources = [...this.catalogs.values()].map((entry) => entry.source);
    this.catalogs.clear();
    await Promise.all(sources.map((source) => source.close()));
  }

  private catalogFor(endpoint: UpstreamEndpoint): Catalog {
    const key = endpointKey(endpoint);
    let entry = this.catalogs.get(key);
    if (entry === undefined) {
      const source = new CatalogSource(endpoint, this.admin, this.connectTimeoutMs);
      entry = { source, catalog: new Catalog(source.fetch, this.catalogTtlMs) };
      this.catalogs.set(key, entry);
    }
    return entry.catalog;
  }
}

function endpointKey(endpoint: UpstreamEndpoint): string {
  return `${endpoint.host}:${String(endpoint.port)}/${endpoint.database}`;
}

/** What a plan depends on besides the text: the upstream database, pushdown, parameter types. */
function cachePrefix(endpoint: UpstreamEndpoint, options: PlanOptions): string {
  const flags = `${options.pushdown ? '1' : '0'}${options.paramTypes.join(',')}`;
  return `${endpointKey(endpoint)}|${flags}|`;
}
