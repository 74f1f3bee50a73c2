/** The effective DocFusionDB configuration, after defaults, YAML file, environment and flags. */

export type AuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256';
export type AuthSource = 'upstream' | 'config';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ConfigUser {
  readonly name: string;
  /** `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` or `md5<hex>` (see `docfusiondb hash-password`). */
  readonly password: string;
}

export type PoolMode = 'session' | 'transaction';

/** What an HTTP API caller may do: read < write < admin (collections). */
export type ApiRole = 'read' | 'write' | 'admin';

/** An HTTP API key, stored as a hash: the key itself is never in the configuration. */
export interface ApiKeyConfig {
  readonly name: string;
  /** `sha256:<64 hex digits>`, the SHA-256 of the key (see `docfusiondb hash-api-key`). */
  readonly hash: string;
  readonly role: ApiRole;
  /** Collections this key may use; null = all. */
  readonly collections: readonly string[] | null;
  /** Requests per rate-limit window for this key; null = api.rate_limit.max. */
  readonly rateLimit: number | null;
}

/** The HTTP document API (served on the `http` listener). */
export interface ApiConfig {
  readonly enabled: boolean;
  /** The Postgres schema whose tables are the collections. */
  readonly schema: string;
  /** Largest JSON request body, bytes (imports stream and are limited per line instead). */
  readonly bodyLimit: number;
  readonly maxBulkDocuments: number;
  /** Documents per COPY batch of an import. */
  readonly importBatchSize: number;
  /** Batches of a non-atomic import loading at once, each on its own upstream connection. */
  readonly importParallel: number;
  /** Largest line (or array element) of an import, bytes. */
  readonly maxImportLineSize: number;
  /** Rows a JSON-format /v1/query answer may hold (NDJSON and Arrow stream without a cap). */
  readonly maxJsonRows: number;
  /** The role of a request without credentials; `none` answers 401. */
  readonly anonymousRole: ApiRole | 'none';
  /** /metrics needs an admin credential too. */
  readonly protectMetrics: boolean;
  readonly rateLimit: { readonly max: number; readonly windowMs: number };
  readonly keys: readonly ApiKeyConfig[];
  readonly jwt: {
    readonly hs256Secret: string | null;
    /** A JWKS file (JSON with `keys`) for RS256 (and other asymmetric) tokens. */
    readonly jwksFile: string | null;
    readonly issuer: string | null;
    readonly audience: string | null;
    /** The claim holding the role (read, write or admin). */
    readonly roleClaim: string;
    /** The claim holding the allowed collections (an array); absent = all. */
    readonly collectionsClaim: string;
  };
}

/** Pool settings; `pool` holds the defaults, databases and users may override mode and size. */
export interface PoolSettings {
  /** `session`: a client keeps its upstream connection until it disconnects. `transaction`: only for each transaction. */
  readonly mode: PoolMode;
  /** Upstream connections per (database, user) pool. */
  readonly size: number;
  /** Idle connections kept open per pool, once the pool exists. */
  readonly minIdle: number;
  /** How long a client may wait for a connection before FATAL 53300. */
  readonly maxClientWaitMs: number;
  /** Idle connections above min_idle are closed after this long. */
  readonly serverIdleTimeoutMs: number;
  /** Connections are closed once this old, when next released (0 = never). */
  readonly serverLifetimeMs: number;
  /** A connection idle this long is checked (empty query) before reuse. */
  readonly serverCheckDelayMs: number;
  /** Run when a session-mode client leaves, before the connection is reused (empty = none). */
  readonly resetQuery: string;
  /** Prepared statements kept per upstream connection in transaction mode (LRU). */
  readonly maxPreparedStatements: number;
}

export interface DatabaseTarget {
  /** Upstream database name (defaults to the client's database name). */
  readonly dbname?: string;
  /** Upstream host/port override (defaults to the upstream URL's). */
  readonly host?: string;
  readonly port?: number;
  /** Upstream credentials used for this database when auth.source is `config`. */
  readonly user?: string;
  readonly password?: string;
  readonly poolMode?: PoolMode;
  readonly poolSize?: number;
}

/** Per-user overrides of the pool mode and size. */
export interface UserPoolOverride {
  readonly poolMode?: PoolMode;
  readonly poolSize?: number;
}

export interface DocFusionConfig {
  readonly listen: HostPort;
  /** HTTP listener (health now; metrics and API later). */
  readonly http: { readonly listen: HostPort; readonly enabled: boolean };
  /** The HTTP document API on the `http` listener. */
  readonly api: ApiConfig;
  /** Upstream Postgres URL; null = start an embedded Postgres in dataDir. */
  readonly upstream: string | null;
  readonly dataDir: string;
  readonly embedded: {
    /** 0 = choose a free port at start. */
    readonly port: number;
    readonly user: string;
    readonly password: string;
    readonly database: string;
  };
  readonly auth: {
    readonly method: AuthMethod;
    readonly source: AuthSource;
    /** SQL with one parameter ($1 = user name) returning (usename, passwd). */
    readonly query: string;
    /** Allow `trust` on a listen address that is not loopback. */
    readonly allowTrustOnNonLoopback: boolean;
    readonly users: readonly ConfigUser[];
  };
  /** PgBouncer-style map: client database name → upstream target. */
  readonly databases: Readonly<Record<string, DatabaseTarget>>;
  readonly tls: {
    readonly cert: string | null;
    readonly key: string | null;
    /** Refuse clients that do not ask for TLS. */
    readonly require: boolean;
  };
  readonly limits: {
    readonly maxClientConnections: number;
    /** Largest frame accepted from a client, bytes. */
    readonly maxMessageSize: number;
    /** Clients that have not finished startup and auth within this many ms are dropped. */
    readonly startupTimeoutMs: number;
  };
  readonly upstreamConnect: {
    readonly timeoutMs: number;
    readonly retries: number;
    readonly backoffInitialMs: number;
    readonly backoffMaxMs: number;
  };
  readonly pool: PoolSettings;
  /** Pool overrides per user name. */
  readonly poolUsers: Readonly<Record<string, UserPoolOverride>>;
  readonly timeouts: {
    /** A statement running longer is cancelled (57014); 0 = off. */
    readonly queryMs: number;
    /** A client idle inside a transaction longer is disconnected with 25P03; 0 = off. */
    readonly idleInTransactionMs: number;
    /** A client idle (outside a transaction) longer is disconnected; 0 = off. */
    readonly clientIdleMs: number;
  };
  /** The admin console: the virtual database `docfusion_admin`. */
  readonly admin: {
    /** Users allowed to connect to docfusion_admin (they authenticate like any user). */
    readonly users: readonly string[];
  };
  /** The DocFusion planner. */
  readonly planner: {
    /** Default of `SET docfusion.pushdown`: on pushes DocFusion calls down as native SQL. */
    readonly pushdown: boolean;
    /** How long column types read from the upstream catalog are trusted, ms. */
    readonly catalogTtlMs: number;
  };
  readonly shutdown: {
    /** How long running statements may finish after SIGTERM before clients get 57P01. */
    readonly graceMs: number;
  };
  readonly log: {
    readonly level: LogLevel;
    /** Statements slower than this are logged (normalised text, no parameter values); 0 = off. */
    readonly slowStatementMs: number;
  };
  readonly tracing: {
    /** OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); null = tracing off. */
    readonly otlpEndpoint: string | null;
    readonly serviceName: string;
  };
}
