import path from 'node:path';
import { isMd5PasswordHash } from '../protocol/md5.js';
import { parseScramVerifier } from '../protocol/scram.js';
import type {
  ApiKeyConfig,
  ApiRole,
  AuthMethod,
  AuthSource,
  ConfigUser,
  DatabaseTarget,
  DocFusionConfig,
  LogLevel,
  PoolMode,
  UserPoolOverride,
} from './config-types.js';
import {
  ConfigError,
  MIB,
  anyString,
  bool,
  directory,
  expected,
  formatHostPort,
  hostPort,
  identifier,
  identifierValue,
  int,
  integer,
  isLoopbackHost,
  leaf,
  mapping,
  milliseconds,
  nonNegativeInt,
  nullable,
  oneOf,
  oneOfValue,
  port,
  positiveInt,
  readableFile,
  secret,
  size,
  snakeKeys,
  sub,
  text,
  upstreamUrl,
  type Leaf,
  type Where,
} from './config-values.js';

/**
 * The configuration's shape: the built-in defaults, one schema node per key (which drives
 * parsing of every source, the snake_case YAML shape, redaction and `--print-config`), the
 * environment variables and flags, and the cross-key rules checked on the merged result.
 */

export const AUTH_METHODS = ['trust', 'password', 'md5', 'scram-sha-256'] as const;
export const AUTH_SOURCES = ['upstream', 'config'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const POOL_MODES = ['session', 'transaction'] as const;
export const API_ROLES = ['read', 'write', 'admin'] as const;
export const ANONYMOUS_ROLES = ['none', 'read', 'write', 'admin'] as const;
export const DEFAULT_AUTH_QUERY =
  'SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1';
export const DEFAULT_EMBEDDED_PASSWORD = 'docfusion';
export const DEFAULT_PASSWORD_WARNING = `the embedded Postgres uses the default password '${DEFAULT_EMBEDDED_PASSWORD}'; set DOCFUSION_PASSWORD`;
/** The admin console's virtual database; a `databases` entry may not use this name. */
export const ADMIN_DATABASE = 'docfusion_admin';

/** The built-in defaults (the only place they are written); relative paths resolve against `cwd`. */
export function defaultConfig(cwd: string = process.cwd()): DocFusionConfig {
  return {
    listen: { host: '127.0.0.1', port: 6432 },
    http: { listen: { host: '127.0.0.1', port: 8080 }, enabled: true },
    api: {
      enabled: true,
      schema: 'public',
      bodyLimit: MIB,
      maxBulkDocuments: 1000,
      importBatchSize: 5000,
      importParallel: 2,
      maxImportLineSize: MIB,
      maxJsonRows: 100_000,
      anonymousRole: 'none',
      protectMetrics: false,
      rateLimit: { max: 6000, windowMs: 60_000 },
      keys: [],
      jwt: {
        hs256Secret: null,
        jwksFile: null,
        issuer: null,
        audience: null,
        roleClaim: 'role',
        collectionsClaim: 'collections',
      },
    },
    upstream: null,
    dataDir: path.resolve(cwd, '.docfusion'),
    embedded: {
      port: 0,
      user: 'docfusion',
      password: DEFAULT_EMBEDDED_PASSWORD,
      database: 'docfusion',
    },
    auth: {
      method: 'scram-sha-256',
      source: 'upstream',
      query: DEFAULT_AUTH_QUERY,
      allowTrustOnNonLoopback: false,
      users: [],
    },
    databases: {},
    tls: { cert: null, key: null, require: false },
    limits: { maxClientConnections: 1000, maxMessageSize: 64 * MIB, startupTimeoutMs: 10_000 },
    upstreamConnect: { timeoutMs: 5000, retries: 5, backoffInitialMs: 100, backoffMaxMs: 2000 },
    pool: {
      mode: 'session',
      size: 20,
      minIdle: 0,
      maxClientWaitMs: 120_000,
      serverIdleTimeoutMs: 600_000,
      serverLifetimeMs: 3_600_000,
      serverCheckDelayMs: 30_000,
      resetQuery: 'DISCARD ALL',
      maxPreparedStatements: 200,
    },
    poolUsers: {},
    timeouts: { queryMs: 0, idleInTransactionMs: 0, clientIdleMs: 0 },
    // Empty: with the embedded Postgres, the server treats embedded.user as an admin itself.
    admin: { users: [] },
    planner: { pushdown: true, catalogTtlMs: 60_000 },
    shutdown: { graceMs: 10_000 },
    log: { level: 'info', slowStatementMs: 1000 },
    tracing: { otlpEndpoint: null, serviceName: 'docfusiondb' },
  };
}

// ---------------------------------------------------------------------------------------------
// Schema nodes.

export type Node<T> =
  Leaf<T> | (T extends object ? { readonly [K in keyof T]-?: Node<T[K]> } : never);
export type AnyLeaf = Leaf<unknown>;
export interface AnySection {
  readonly [key: string]: AnyLeaf | AnySection;
}
export const isLeaf = (node: AnyLeaf | AnySection): node is AnyLeaf => node.leaf === true;

const users = leaf<readonly ConfigUser[]>({
  parse(v, w) {
    if (!Array.isArray(v)) throw expected(w, 'a list of {name, password}', v);
    const seen = new Set<string>();
    return v.map((item: unknown, i): ConfigUser => {
      const wi = sub(w, `[${i}]`);
      const m = mapping(item, wi, ['name', 'password']);
      const name = identifierValue(m.name, sub(wi, '.name'));
      if (seen.has(name)) throw expected(sub(wi, '.name'), 'a name not listed before', name);
      seen.add(name);
      const password = m.password;
      if (
        typeof password !== 'string' ||
        (parseScramVerifier(password) === null && !isMd5PasswordHash(password))
      ) {
        throw expected(
          sub(wi, '.password'),
          'a SCRAM-SHA-256 verifier or an md5 hash (make one with `docfusiondb hash-password`)',
          password,
          true,
        );
      }
      return { name, password };
    });
  },
  redact: (list) => list.map((u) => ({ name: u.name, password: '***' })),
});

/** `pool_mode` and `pool_size` of a databases or pool_users entry, when given. */
function poolOverride(m: Record<string, unknown>, w: Where): UserPoolOverride {
  return {
    ...(m.pool_mode !== undefined && {
      poolMode: oneOfValue<PoolMode>(POOL_MODES, m.pool_mode, sub(w, '.pool_mode')),
    }),
    ...(m.pool_size !== undefined && {
      poolSize: integer(m.pool_size, sub(w, '.pool_size'), 1, Number.MAX_SAFE_INTEGER),
    }),
  };
}

const DATABASE_KEYS = ['dbname', 'host', 'port', 'user', 'password', 'pool_mode', 'pool_size'];

const databases = leaf<Readonly<Record<string, DatabaseTarget>>>({
  parse(v, w) {
    const out: Record<string, DatabaseTarget> = {};
    for (const [name, entry] of Object.entries(mapping(v ?? {}, w, []))) {
      const wn = sub(w, `.${name}`);
      if (name === ADMIN_DATABASE) {
        throw new ConfigError(
          `${wn.key}: reserved for the admin console; choose another name${w.from}`,
        );
      }
      const m = mapping(entry ?? {}, wn, DATABASE_KEYS);
      const at = (k: string): Where => sub(wn, `.${k}`);
      out[name] = {
        ...(m.dbname !== undefined && { dbname: identifierValue(m.dbname, at('dbname')) }),
        ...(m.host !== undefined && { host: text(m.host, at('host')) }),
        ...(m.port !== undefined && { port: integer(m.port, at('port'), 1, 65_535) }),
        ...(m.user !== undefined && { user: identifierValue(m.user, at('user')) }),
        ...(m.password !== undefined && { password: text(m.password, at('password'), true) }),
        ...poolOverride(m, wn),
      };
    }
    return out;
  },
  format: (dbs) => Object.fromEntries(Object.entries(dbs).map(([n, t]) => [n, snakeKeys(t)])),
  redact: (dbs) =>
    Object.fromEntries(
      Object.entries(dbs).map(([name, t]) => [
        name,
        snakeKeys(t.password === undefined ? t : { ...t, password: '***' }),
      ]),
    ),
});

const poolUsers = leaf<Readonly<Record<string, UserPoolOverride>>>({
  parse(v, w) {
    const out: Record<string, UserPoolOverride> = {};
    for (const [name, entry] of Object.entries(mapping(v ?? {}, w, []))) {
      const wn = sub(w, `.${name}`);
      identifierValue(name, wn);
      out[name] = poolOverride(mapping(entry ?? {}, wn, ['pool_mode', 'pool_size']), wn);
    }
    return out;
  },
  format: (list) => Object.fromEntries(Object.entries(list).map(([n, o]) => [n, snakeKeys(o)])),
});

const roleNames = leaf<readonly string[]>({
  parse(v, w) {
    if (!Array.isArray(v)) throw expected(w, 'a list of user names', v);
    const seen = new Set<string>();
    return v.map((item: unknown, i) => {
      const name = identifierValue(item, sub(w, `[${i}]`));
      if (seen.has(name)) throw expected(sub(w, `[${i}]`), 'a name not listed before', name);
      seen.add(name);
      return name;
    });
  },
});

const plainText = leaf<string>({ parse: (v, w) => text(v, w) });

const API_KEY_KEYS = ['name', 'hash', 'role', 'collections', 'rate_limit'];

const apiKeys = leaf<readonly ApiKeyConfig[]>({
  parse(v, w) {
    if (!Array.isArray(v))
      throw expected(w, 'a list of {name, hash, role, collections, rate_limit}', v);
    const seen = new Set<string>();
    return v.map((item: unknown, i): ApiKeyConfig => {
      const wi = sub(w, `[${i}]`);
      const m = mapping(item, wi, API_KEY_KEYS);
      const name = text(m.name, sub(wi, '.name'));
      if (seen.has(name)) throw expected(sub(wi, '.name'), 'a name not listed before', name);
      seen.add(name);
      const hash = m.hash;
      if (typeof hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(hash)) {
        throw expected(
          sub(wi, '.hash'),
          '"sha256:" and 64 lower-case hex digits (make one with `docfusiondb hash-api-key`)',
          hash,
          true,
        );
      }
      const role = oneOfValue<ApiRole>(API_ROLES, m.role, sub(wi, '.role'));
      let collections: string[] | null = null;
      if (m.collections !== undefined && m.collections !== null) {
        const wc = sub(wi, '.collections');
        if (!Array.isArray(m.collections))
          throw expected(wc, 'a list of collection names', m.collections);
        collections = m.collections.map((c: unknown, j) => text(c, sub(wc, `[${j}]`)));
      }
      const rateLimit =
        m.rate_limit === undefined || m.rate_limit === null
          ? null
          : integer(m.rate_limit, sub(wi, '.rate_limit'), 1, Number.MAX_SAFE_INTEGER);
      return { name, hash, role, collections, rateLimit };
    });
  },
  format: (list) => list.map((k) => snakeKeys(k)),
  redact: (list) => list.map((k) => snakeKeys({ ...k, hash: '***' })),
});

function authQuery(v: unknown, w: Where): string {
  const q = text(v, w);
  if (!q.includes('$1')) throw expected(w, 'SQL with a $1 parameter for the user name', v);
  return q;
}

/** The whole configuration: camelCase keys as in DocFusionConfig; YAML keys are snake_case. */
/** An http(s) URL (the OTLP endpoint). */
const httpUrl = leaf<string>({
  parse: (v, w) => {
    const s = text(v, w);
    let ok = false;
    try {
      const u = new URL(s);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) throw expected(w, 'an http:// or https:// URL', s);
    return s;
  },
});

const SCHEMA: { readonly [K in keyof DocFusionConfig]-?: Node<DocFusionConfig[K]> } = {
  listen: hostPort,
  http: { listen: hostPort, enabled: bool },
  api: {
    enabled: bool,
    schema: identifier,
    bodyLimit: size,
    maxBulkDocuments: positiveInt,
    importBatchSize: positiveInt,
    importParallel: positiveInt,
    maxImportLineSize: size,
    maxJsonRows: positiveInt,
    anonymousRole: oneOf<ApiRole | 'none'>(ANONYMOUS_ROLES),
    protectMetrics: bool,
    rateLimit: { max: positiveInt, windowMs: milliseconds(1) },
    keys: apiKeys,
    jwt: {
      hs256Secret: nullable(secret),
      jwksFile: nullable(readableFile),
      issuer: nullable(plainText),
      audience: nullable(plainText),
      roleClaim: plainText,
      collectionsClaim: plainText,
    },
  },
  upstream: nullable(upstreamUrl),
  dataDir: directory,
  embedded: { port, user: identifier, password: secret, database: identifier },
  auth: {
    method: oneOf<AuthMethod>(AUTH_METHODS),
    source: oneOf<AuthSource>(AUTH_SOURCES),
    query: leaf({ parse: authQuery }),
    allowTrustOnNonLoopback: bool,
    users,
  },
  databases,
  tls: { cert: nullable(readableFile), key: nullable(readableFile), require: bool },
  limits: {
    maxClientConnections: positiveInt,
    maxMessageSize: size,
    startupTimeoutMs: milliseconds(1),
  },
  upstreamConnect: {
    timeoutMs: milliseconds(1),
    retries: int(0, 1_000_000),
    backoffInitialMs: milliseconds(0),
    backoffMaxMs: milliseconds(0),
  },
  pool: {
    mode: oneOf<PoolMode>(POOL_MODES),
    size: positiveInt,
    minIdle: nonNegativeInt,
    maxClientWaitMs: milliseconds(0),
    serverIdleTimeoutMs: milliseconds(0),
    serverLifetimeMs: milliseconds(0),
    serverCheckDelayMs: milliseconds(0),
    resetQuery: anyString,
    maxPreparedStatements: positiveInt,
  },
  poolUsers,
  timeouts: {
    queryMs: milliseconds(0),
    idleInTransactionMs: milliseconds(0),
    clientIdleMs: milliseconds(0),
  },
  admin: { users: roleNames },
  planner: { pushdown: bool, catalogTtlMs: milliseconds(0) },
  shutdown: { graceMs: milliseconds(0) },
  log: { level: oneOf<LogLevel>(LOG_LEVELS), slowStatementMs: milliseconds(0) },
  tracing: { otlpEndpoint: nullable(httpUrl), serviceName: identifier },
};
export const ROOT = SCHEMA as unknown as AnySection;

/** Environment variables → YAML key they override. */
export const ENV_KEYS: Readonly<Record<string, string>> = {
  DOCFUSION_LISTEN: 'listen',
  DATABASE_URL: 'upstream',
  DOCFUSION_DATA_DIR: 'data_dir',
  DOCFUSION_HTTP_LISTEN: 'http.listen',
  DOCFUSION_AUTH: 'auth.method',
  DOCFUSION_PASSWORD: 'embedded.password',
  DOCFUSION_POOL_MODE: 'pool.mode',
  DOCFUSION_POOL_SIZE: 'pool.size',
  DOCFUSION_LOG_LEVEL: 'log.level',
};

/** Flags (without --) → YAML key they override. */
export const FLAG_KEYS: Readonly<Record<string, string>> = {
  listen: 'listen',
  upstream: 'upstream',
  'data-dir': 'data_dir',
  'http-listen': 'http.listen',
  auth: 'auth.method',
  'log-level': 'log.level',
};

// ---------------------------------------------------------------------------------------------
// Cross-key rules.

/** Throws a ConfigError when keys contradict each other; `w` tells where a key's value came from. */
export function crossCheck(c: DocFusionConfig, w: (yamlKey: string) => Where): void {
  if ((c.tls.cert === null) !== (c.tls.key === null)) {
    const [set, missing] = c.tls.cert === null ? ['tls.key', 'tls.cert'] : ['tls.cert', 'tls.key'];
    throw new ConfigError(
      `${missing}: expected a readable file because ${set} is set, got nothing${w(set).from}`,
    );
  }
  if (c.tls.require && c.tls.cert === null) {
    const r = w('tls.require');
    throw new ConfigError(`${r.key}: true needs tls.cert and tls.key${r.from}`);
  }
  if (c.auth.source === 'config' && c.auth.users.length === 0) {
    throw new ConfigError(
      'auth.users: expected at least one user because auth.source is "config", got none' +
        w('auth.source').from,
    );
  }
  if (c.auth.method === 'scram-sha-256') {
    const i = c.auth.users.findIndex((u) => isMd5PasswordHash(u.password));
    if (i >= 0) {
      const u = w('auth.users');
      throw new ConfigError(
        `${u.key}[${i}].password: expected a SCRAM-SHA-256 verifier, got an md5 hash, which ` +
          `auth.method scram-sha-256 cannot use (make one with \`docfusiondb hash-password\`)${u.from}`,
      );
    }
  }
  if (
    c.auth.method === 'trust' &&
    !c.auth.allowTrustOnNonLoopback &&
    !isLoopbackHost(c.listen.host)
  ) {
    const m = w('auth.method');
    throw new ConfigError(
      `${m.key}: "trust" is refused on the non-loopback listen address ` +
        `${formatHostPort(c.listen)} (${w('listen').label})${m.from}; listen on a loopback ` +
        'address, choose another auth method, or set auth.allow_trust_on_non_loopback: true',
    );
  }
  const { backoffInitialMs, backoffMaxMs } = c.upstreamConnect;
  if (backoffMaxMs < backoffInitialMs) {
    const b = w('upstream_connect.backoff_max_ms');
    throw new ConfigError(
      `${b.key}: expected at least upstream_connect.backoff_initial_ms (${backoffInitialMs}), ` +
        `got ${backoffMaxMs}${b.from}`,
    );
  }
  checkPoolSizes(c, w);
  const sameAddress = c.http.listen.port === c.listen.port && c.http.listen.host === c.listen.host;
  if (c.http.enabled && c.listen.port !== 0 && sameAddress) {
    const h = w('http.listen');
    throw new ConfigError(
      `${h.key}: expected an address other than the listen address, ` +
        `got "${formatHostPort(c.http.listen)}"${h.from}`,
    );
  }
}

/** pool.min_idle fits in pool.size and in every pool_size override. */
function checkPoolSizes(c: DocFusionConfig, w: (yamlKey: string) => Where): void {
  // "pool.size" when set in the file, else "DOCFUSION_POOL_SIZE" or "the default pool.size".
  const ref = (key: string): string => (w(key).from.startsWith(' (from ') ? key : w(key).label);
  const { minIdle, size: poolSize } = c.pool;
  if (minIdle > poolSize) {
    const m = w('pool.min_idle');
    throw new ConfigError(
      `${m.key}: expected at most ${ref('pool.size')} (${poolSize}), got ${minIdle}${m.from}`,
    );
  }
  const overrides: [string, Readonly<Record<string, UserPoolOverride>>][] = [
    ['databases', c.databases],
    ['pool_users', c.poolUsers],
  ];
  for (const [key, entries] of overrides) {
    for (const [name, o] of Object.entries(entries)) {
      if (o.poolSize === undefined || o.poolSize >= minIdle) continue;
      throw new ConfigError(
        `${key}.${name}.pool_size: expected at least ${ref('pool.min_idle')} (${minIdle}), ` +
          `got ${o.poolSize}${w(key).from}`,
      );
    }
  }
}

/** Problems worth a log line that do not stop the server. */
export function configWarnings(c: DocFusionConfig): string[] {
  const warnings: string[] = [];
  if (c.upstream === null && c.embedded.password === DEFAULT_EMBEDDED_PASSWORD) {
    warnings.push(DEFAULT_PASSWORD_WARNING);
  }
  if (c.api.anonymousRole !== 'none' && c.http.enabled && !isLoopbackHost(c.http.listen.host)) {
    warnings.push(
      `api.anonymous_role: requests without credentials get the ${c.api.anonymousRole} role on the non-loopback HTTP address ${formatHostPort(c.http.listen)}`,
    );
  }
  if (c.auth.source === 'config') {
    const known = new Set(c.auth.users.map((u) => u.name));
    for (const name of c.admin.users) {
      if (!known.has(name)) {
        warnings.push(
          `admin.users: "${name}" is not in auth.users, so it cannot log in while ` +
            'auth.source is "config"',
        );
      }
    }
  }
  return warnings;
}
