import pg from 'pg';
import { PgError, SqlState } from '../protocol/pg-error.js';
import { parseScramVerifier } from '../protocol/scram.js';
import type { DocFusionConfig } from './config-types.js';
import type { AdminCredentials, UpstreamEndpoint } from './upstream-target.js';

/** A user's stored secret, as Postgres keeps it in pg_authid. */
export type StoredSecret =
  | {
      readonly kind: 'scram';
      readonly verifier: string;
      readonly iterations: number;
      readonly salt: Buffer;
      readonly storedKey: Buffer;
      readonly serverKey: Buffer;
    }
  | { readonly kind: 'md5'; readonly hash: string }
  | { readonly kind: 'plain'; readonly password: string };

/** Where client passwords are checked against. */
export interface CredentialStore {
  /** The user's secret, or null when the user does not exist or cannot log in with a password. */
  lookup(user: string): Promise<StoredSecret | null>;
  close(): Promise<void>;
}

export function parseStoredSecret(passwd: string): StoredSecret | null {
  if (passwd.startsWith('SCRAM-SHA-256$')) {
    const parsed = parseScramVerifier(passwd);
    return parsed ? { kind: 'scram', verifier: passwd, ...parsed } : null;
  }
  if (/^md5[0-9a-f]{32}$/.test(passwd)) return { kind: 'md5', hash: passwd };
  return passwd === '' ? null : { kind: 'plain', password: passwd };
}

/**
 * `auth.source: upstream`: the user's hash is read from Postgres with the auth query, over the
 * proxy's admin login, every time a client logs in (so password changes apply at once).
 */
export class UpstreamCredentialStore implements CredentialStore {
  private readonly pool: pg.Pool;

  constructor(
    endpoint: UpstreamEndpoint,
    admin: AdminCredentials,
    private readonly query: string,
    connectTimeoutMs: number,
  ) {
    this.pool = new pg.Pool({
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
      user: admin.user,
      ...(admin.password === undefined ? {} : { password: admin.password }),
      max: 2,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: 'docfusiondb-auth',
    });
    this.pool.on('error', () => {
      // An idle admin connection died; the pool replaces it on next use.
    });
  }

  async lookup(user: string): Promise<StoredSecret | null> {
    let result: pg.QueryResult<{ usename: string; passwd: string | null }>;
    try {
      result = await this.pool.query(this.query, [user]);
    } catch (error) {
      if (error instanceof pg.DatabaseError) throw error; // the auth query itself failed: internal, logged
      throw new PgError(
        SqlState.ConnectionFailure,
        'could not reach the upstream Postgres to check the password',
        {
          severity: 'FATAL',
        },
      );
    }
    const passwd = result.rows[0]?.passwd;
    return passwd == null ? null : parseStoredSecret(passwd);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** `auth.source: config`: users and their verifiers listed in the YAML file. */
export class ConfigCredentialStore implements CredentialStore {
  private readonly users: ReadonlyMap<string, StoredSecret>;

  constructor(config: DocFusionConfig) {
    const users = new Map<string, StoredSecret>();
    for (const user of config.auth.users) {
      const secret = parseStoredSecret(user.password);
      if (secret) users.set(user.name, secret);
    }
    this.users = users;
  }

  lookup(user: string): Promise<StoredSecret | null> {
    return Promise.resolve(this.users.get(user) ?? null);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
