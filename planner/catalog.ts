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
 * `ttlMs` and dropped whenever DDL passes through the proxy. `generation` changes whenever what
 * the catalog says may have changed (a re-read found other columns or types, or everything was
 * dropped), so plans made against it can tell whether they still hold (see `current`).
 */
export class Catalog {
  private readonly cache = new Map<string, Entry>();
  private changes = 0;

  constructor(
    private readonly fetch: CatalogFetch,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Read before planning; a plan holds while `current(its relations, this)` is true. */
  get generation(): number {
    return this.changes;
  }

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
        const before = this.cache.get(name);
        if (before !== undefined && signature(before.relations) !== signature(relations)) {
          this.changes++; // DDL the proxy did not see (run straight on the upstream)
        }
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

  /**
   * What a plan made at `generation` from relations `names` read holds now: nothing changed
   * since, and every one of them was read less than the TTL ago. False means plan again (which
   * reads the stale ones afresh).
   */
  current(names: readonly string[], generation: number): boolean {
    if (generation !== this.changes) return false;
    const now = this.now();
    for (const name of names) {
      const entry = this.cache.get(name);
      if (entry === undefined || now - entry.at >= this.ttlMs) return false;
    }
    return true;
  }

  /** DDL went through the proxy: column types may have changed. */
  invalidate(): void {
    this.cache.clear();
    this.changes++;
  }
}

/** What the planner reads of relations, in a canonical order (the fetch has none). */
function signature(relations: readonly RelationInfo[]): string {
  const canonical = relations.map((r) => [
    r.schema,
    r.name,
    r.visible,
    [...r.columns].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ]);
  return JSON.stringify(canonical.map((r) => JSON.stringify(r)).sort());
}
