import { Catalog } from '../planner/catalog.js';
import { Planner, type Plan, type PlanOptions } from '../planner/planner.js';
import { registerAll } from '../udf/registry.js';
import { CatalogSource } from './catalog-source.js';
import { parseSql, scanSql } from './sql-parser.js';
import type { AdminCredentials, UpstreamEndpoint } from './upstream-target.js';

const PLAN_CACHE_SIZE = 512;

/**
 * The planner as the server uses it: one catalog per upstream database (read over the admin
 * login), and a cache of plans by statement text so a statement a client runs again is not
 * parsed again. DDL through the proxy empties both.
 */
export class PlanService {
  readonly planner = new Planner(
    registerAll(),
    (sql) => parseSql(sql),
    (sql) => scanSql(sql),
  );
  private readonly catalogs = new Map<string, { catalog: Catalog; source: CatalogSource }>();
  private readonly plans = new Map<string, Plan>();

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
    const key = cacheKey(endpoint, sql, options);
    const plan = this.plans.get(key);
    if (plan !== undefined) {
      this.plans.delete(key);
      this.plans.set(key, plan);
    }
    return plan;
  }

  async plan(endpoint: UpstreamEndpoint, sql: Buffer, options: PlanOptions): Promise<Plan> {
    const plan = await this.planner.plan(sql, this.catalogFor(endpoint), options);
    const key = cacheKey(endpoint, sql, options);
    this.plans.set(key, plan);
    if (this.plans.size > PLAN_CACHE_SIZE) {
      const oldest = this.plans.keys().next();
      if (oldest.done !== true) this.plans.delete(oldest.value);
    }
    return plan;
  }

  /** DDL went through the proxy: column types and therefore plans may have changed. */
  invalidate(): void {
    this.plans.clear();
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

function cacheKey(endpoint: UpstreamEndpoint, sql: Buffer, options: PlanOptions): string {
  const flags = `${options.pushdown ? '1' : '0'}${options.paramTypes.join(',')}`;
  return `${endpointKey(endpoint)}|${flags}|${sql.toString('utf8')}`;
}
