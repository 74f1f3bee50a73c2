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

export interface DatabaseTarget {
  /** Upstream database name (defaults to the client's database name). */
  readonly dbname?: string;
  /** Upstream host/port override (defaults to the upstream URL's). */
  readonly host?: string;
  readonly port?: number;
  /** Upstream credentials used for this database when auth.source is `config`. */
  readonly user?: string;
  readonly password?: string;
}

export interface DocFusionConfig {
  readonly listen: HostPort;
  /** HTTP listener (health now; metrics and API later). */
  readonly http: { readonly listen: HostPort; readonly enabled: boolean };
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
  readonly shutdown: {
    /** How long running statements may finish after SIGTERM before clients get 57P01. */
    readonly graceMs: number;
  };
  readonly log: { readonly level: LogLevel };
}
