/** A relation's columns as the upstream catalog describes them. */
export interface RelationInfo {
  readonly schema: string;
  readonly name: string;
  /** Visible through the admin login's search_path (what an unqualified name means). */
  readonly visible: boolean;
  /** Column name → type OID. */
  readonly columns: ReadonlyMap<string, number>;
}

/** Reads relations by name from the upstream catalog (one round trip for all of them). */
export type CatalogFetch = (names: readonly string[]) => Promise<RelationInfo[]>;

interface Entry {
  readonly at: number;
  readonly relations: readonly RelationInfo[];
}

/**
 * Column types the planner needs (is `doc` jsonb, json or text?), cached per relation name for
 * `ttlMs` and dropped whenever DDL passes through the proxy.
 */
export class Catalog {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly fetch: CatalogFetch,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Relations named `names` (every schema), from the cache when fresh. */
  async relations(names: readonly string[]): Promise<Map<string, readonly RelationInfo[]>> {
    const out = new Map<string, readonly RelationInfo[]>();
    const missing: string[] = [];
    const now = this.now();
    for (const name of new Set(names)) {
      const entry = this.cache.get(name);
      if (entry !== undefined && now - entry.at < this.ttlMs) out.set(name, entry.relations);
      else missing.push(name);
    }
    if (missing.length > 0) {
      const fetched = await this.fetch(missing);
      for (const name of missing) {
        const relations = fetched.filter((r) => r.name === name);
        this.cache.set(name, { at: now, relations });
        out.set(name, relations);
      }
    }
    return out;
  }

  /** Cached entries only; undefined when any is missing or stale (then call `relations`). */
  cached(names: readonly string[]): Map<string, readonly RelationInfo[]> | undefined {
    const out = new Map<string, readonly RelationInfo[]>();
    const now = this.now();
    for (const name of names) {
      const entry = this.cache.get(name);
      if (entry === undefined || now - entry.at >= this.ttlMs) return undefined;
      out.set(name, entry.relations);
    }
    return out;
  }

  /** DDL went through the proxy: column types may have changed. */
  invalidate(): void {
    this.cache.clear();
  }
}
