import type { Logger } from 'pino';
import type { DocFusionConfig } from './config-types.js';
import { Pool, type EffectivePoolSettings } from './pool.js';
import type { UpstreamCredentials } from './upstream-connection.js';
import { connectWithRetry } from './upstream-connect.js';
import type { UpstreamEndpoint } from './upstream-target.js';

/** One pool per upstream target (endpoint, user), created when its first client logs in. */
export class PoolManager {
  private readonly pools = new Map<string, Pool>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly config: () => DocFusionConfig,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => {
      for (const pool of this.pools.values()) pool.maintain();
    }, 1000);
    this.timer.unref();
  }

  /** Mode and size for a client database and user: user override, then database, then `pool`. */
  settingsFor(clientDatabase: string, user: string): EffectivePoolSettings {
    const config = this.config();
    const database = config.databases[clientDatabase];
    const override = config.poolUsers[user];
    return {
      ...config.pool,
      mode: override?.poolMode ?? database?.poolMode ?? config.pool.mode,
      size: override?.poolSize ?? database?.poolSize ?? config.pool.size,
    };
  }

  /**
   * The pool for this target; its connector logs in with the credentials of the client that
   * logged in most recently (SCRAM pass-through keys, md5 hash or password).
   */
  poolFor(
    clientDatabase: string,
    endpoint: UpstreamEndpoint,
    user: string,
    credentials: UpstreamCredentials,
  ): Pool {
    const key = `${endpoint.host}\0${endpoint.port}\0${endpoint.database}\0${user}`;
    const connector = () =>
      connectWithRetry({ endpoint, user, credentials, params: new Map() }, this.config(), this.log);
    let pool = this.pools.get(key);
    if (pool) {
      pool.updateConnector(connector);
    } else {
      pool = new Pool(
        { endpoint, user },
        this.settingsFor(clientDatabase, user),
        connector,
        this.log.child({ pool: `${endpoint.database}/${user}` }),
      );
      this.pools.set(key, pool);
      this.clientDatabases.set(pool, clientDatabase);
    }
    return pool;
  }

  private readonly clientDatabases = new Map<Pool, string>();

  /** Drop a pool nobody uses (its first login failed), so bad database names leave no trace. */
  forgetIfUnused(pool: Pool): void {
    if (!pool.unused) return;
    for (const [key, candidate] of this.pools) {
      if (candidate === pool) {
        this.pools.delete(key);
        this.clientDatabases.delete(pool);
        pool.close();
      }
    }
  }

  all(): Pool[] {
    return [...this.pools.values()];
  }

  /** Apply a reloaded configuration to every pool. */
  reload(): void {
    for (const pool of this.pools.values()) {
      pool.reconfigure(
        this.settingsFor(
          this.clientDatabases.get(pool) ?? pool.key.endpoint.database,
          pool.key.user,
        ),
      );
    }
  }

  /** PAUSE [db]: resolves when those pools have no leased connection. */
  async pause(database?: string): Promise<void> {
    await Promise.all(this.matching(database).map((pool) => pool.pause()));
  }

  resume(database?: string): void {
    for (const pool of this.matching(database)) pool.resume();
  }

  close(): void {
    clearInterval(this.timer);
    for (const pool of this.pools.values()) pool.close();
  }

  private matching(database: string | undefined): Pool[] {
    return this.all().filter(
      (pool) =>
        database === undefined ||
        this.clientDatabases.get(pool) === database ||
        pool.key.endpoint.database === database,
    );
  }
}
