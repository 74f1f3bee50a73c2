import { Catalog } from '../planner/catalog.js';
import { PlanCache } from '../planner/plan-cache.js';
import { Planner, type Plan, type PlanOptions } from '../planner/planner.js';
import { registerAll } from '../udf/registry.js';
import { CatalogSource } from './catalog-source.js';
import { planCacheLookups } from './metrics.js';
import { parseSql, scanSql } from './sql-parser.js';
import type { AdminCredentials, UpstreamEndpoint } from './upstream-target.js';

const HITS = { shape: planCacheLookups.labels('shape'), text: planCacheLookups.labels('text') };
const MISSES = planCacheLookups.labels('miss');

/**
 * The planner as the server uses it: one catalog per upstream database (read over the admin
 * login), and the plan caches (planner/plan-cache.ts: by statement shape, so statements that
 * differ only in constants the plan does not depend on share a plan, and by exact text), so a
 * statement a client runs again is not parsed again. DDL through the proxy empties all of them;
 * a plan is also dropped once the catalog it was made from is past its TTL or has changed.
 */
export class PlanService {
  readonly planner = new Planner(
    registerAll(),
    (sql) => parseSql(sql),
    (sql) => scanSql(sql),
  );
  private readonly catalogs = new Map<string, { catalog: Catalog; source: CatalogSource }>();
  private readonly cache = new PlanCache();
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
    const found = this.cache.get(cachePrefix(endpoint, options), sql, this.catalogFor(endpoint));
    if (found === undefined) return undefined;
    this.lookups[found.hit]++;
    HITS[found.hit].inc();
    return found.plan;
  }

  async plan(endpoint: UpstreamEndpoint, sql: Buffer, options: PlanOptions): Promise<Plan> {
    this.lookups.miss++;
    MISSES.inc();
    const catalog = this.catalogFor(endpoint);
    return this.cache.plan(cachePrefix(endpoint, options), sql, this.planner, catalog, options);
  }

  /** DDL went through the proxy: column types and therefore plans may have changed. */
  invalidate(): void {
    this.cache.clear();
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
