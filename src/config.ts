import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDocument, stringify } from 'yaml';
import { isMd5PasswordHash } from '../protocol/md5.js';
import { parseScramVerifier } from '../protocol/scram.js';
import type {
  AuthMethod,
  AuthSource,
  ConfigUser,
  DatabaseTarget,
  DocFusionConfig,
  HostPort,
  LogLevel,
} from './config-types.js';

/**
 * Configuration loading: built-in defaults < YAML file < environment < command-line flags.
 * One schema (below) drives parsing of all three sources, the snake_case YAML shape, redaction
 * and `--print-config`; every bad value becomes a ConfigError naming the key it came from.
 */

/** A configuration problem the user must fix; `message` names the key, the value and the source. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadConfigInput {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Base for relative paths (config file, data_dir, TLS files); defaults to process.cwd(). */
  readonly cwd?: string;
}

export interface LoadedConfig {
  readonly config: DocFusionConfig;
  /** Absolute path of the YAML file read, or null when none was given. */
  readonly configFile: string | null;
  /** Problems worth a log line that do not stop the server; the caller logs them. */
  readonly warnings: string[];
  /** `--print-config` was given: print formatConfig(config) instead of starting. */
  readonly printConfig: boolean;
}

export const AUTH_METHODS = ['trust', 'password', 'md5', 'scram-sha-256'] as const;
export const AUTH_SOURCES = ['upstream', 'config'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const DEFAULT_AUTH_QUERY =
  'SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1';
export const DEFAULT_EMBEDDED_PASSWORD = 'docfusion';
export const DEFAULT_PASSWORD_WARNING = `the embedded Postgres uses the default password '${DEFAULT_EMBEDDED_PASSWORD}'; set DOCFUSION_PASSWORD`;

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
/** setTimeout's ceiling: larger delays silently become 1 ms. */
const MAX_MS = 2_147_483_647;
/** Postgres's NAMEDATALEN - 1. */
const MAX_IDENTIFIER_BYTES = 63;

/** The built-in defaults; relative paths are resolved against `cwd`. */
export function defaultConfig(cwd: string = process.cwd()): DocFusionConfig {
  return {
    listen: { host: '127.0.0.1', port: 6432 },
    http: { listen: { host: '127.0.0.1', port: 8080 }, enabled: true },
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
    shutdown: { graceMs: 10_000 },
    log: { level: 'info' },
  };
}

// ---------------------------------------------------------------------------------------------
// Where a value came from, for messages.

interface Where {
  /** Printed first: the dotted YAML key, the environment variable or the flag. */
  readonly key: string;
  /** Appended to messages: ` (from FILE)`, ` (default)` or nothing. */
  readonly from: string;
  /** Mid-sentence form: "listen in FILE", "DOCFUSION_LISTEN", "the default listen". */
  readonly label: string;
}

const fileWhere = (key: string, file: string): Where => ({
  key,
  from: ` (from ${file})`,
  label: `${key} in ${file}`,
});
const plainWhere = (key: string): Where => ({ key, from: '', label: key });
const defaultWhere = (key: string): Where => ({
  key,
  from: ' (default)',
  label: `the default ${key}`,
});
const sub = (w: Where, suffix: string): Where => ({ ...w, key: w.key + suffix });

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function expected(w: Where, what: string, value: unknown, secret = false): ConfigError {
  const got =
    secret && typeof value === 'string' ? 'a string not shown (it may be a password)' : show(value);
  return new ConfigError(`${w.key}: expected ${what}, got ${got}${w.from}`);
}

// ---------------------------------------------------------------------------------------------
// Leaf values: parse (from YAML values or env/flag strings), format for YAML, redact.

interface Ctx {
  readonly cwd: string;
}

interface Leaf<T> {
  readonly leaf: true;
  parse(value: unknown, w: Where, ctx: Ctx): T;
  /** The YAML form of a value (defaults to the value itself). */
  format?(value: T): unknown;
  /** The YAML form with secrets replaced by "***". */
  redact?(value: T): unknown;
}

type Node<T> = Leaf<T> | (T extends object ? { readonly [K in keyof T]-?: Node<T[K]> } : never);
type AnyLeaf = Leaf<unknown>;
interface AnySection {
  readonly [key: string]: AnyLeaf | AnySection;
}

const leaf = <T>(spec: Omit<Leaf<T>, 'leaf'>): Leaf<T> => ({ leaf: true, ...spec });
const isLeaf = (node: AnyLeaf | AnySection): node is AnyLeaf => node.leaf === true;
const nullable = <T>(inner: Leaf<T>): Leaf<T | null> =>
  leaf<T | null>({
    parse: (v, w, ctx) => (v === null ? null : inner.parse(v, w, ctx)),
    format: (v) => (v === null ? null : inner.format ? inner.format(v) : v),
    redact: (v) =>
      v === null ? null : inner.redact ? inner.redact(v) : inner.format ? inner.format(v) : v,
  });

function text(v: unknown, w: Where, secret = false): string {
  if (typeof v !== 'string' || v.length === 0) throw expected(w, 'a non-empty string', v, secret);
  return v;
}

function integer(v: unknown, w: Where, min: number, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    const what =
      max !== Number.MAX_SAFE_INTEGER
        ? `an integer from ${min} to ${max}`
        : min === 1
          ? 'a positive integer'
          : `an integer of at least ${min}`;
    throw expected(w, what, v);
  }
  return n;
}

const int = (min: number, max: number): Leaf<number> =>
  leaf({ parse: (v, w) => integer(v, w, min, max) });
const positiveInt = int(1, Number.MAX_SAFE_INTEGER);
const milliseconds = (min: 0 | 1): Leaf<number> => int(min, MAX_MS);
const port = int(0, 65_535);

const bool = leaf<boolean>({
  parse(v, w) {
    if (typeof v !== 'boolean') throw expected(w, 'true or false', v);
    return v;
  },
});

const oneOf = <T extends string>(options: readonly T[]): Leaf<T> =>
  leaf<T>({
    parse(v, w) {
      const found = options.find((o) => o === v);
      if (found === undefined) throw expected(w, `one of ${options.join(', ')}`, v);
      return found;
    },
  });

const secret = leaf<string>({ parse: (v, w) => text(v, w, true), redact: () => '***' });

function identifierValue(v: unknown, w: Where): string {
  const s = text(v, w);
  if (Buffer.byteLength(s) > MAX_IDENTIFIER_BYTES) {
    throw expected(w, `a name of at most ${MAX_IDENTIFIER_BYTES} bytes`, v);
  }
  return s;
}
const identifier = leaf<string>({ parse: identifierValue });

/** Parses HOST:PORT; IPv6 hosts in brackets (`[::1]:6432`); the host is returned unbracketed. */
export function parseHostPort(value: string): HostPort | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  if (m === null) return null;
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && !net.isIPv6(host)) return null;
  if (
    m[2] !== undefined &&
    !net.isIPv4(host) &&
    !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)
  )
    return null;
  const p = Number(m[3]);
  return p <= 65_535 ? { host, port: p } : null;
}

export function formatHostPort(hp: HostPort): string {
  return net.isIPv6(hp.host) ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (in any spelling, also IPv4-mapped) and localhost. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = net.isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 6 ? 'ipv6' : 'ipv4');
}

const hostPort = leaf<HostPort>({
  parse(v, w) {
    const hp = typeof v === 'string' ? parseHostPort(v) : null;
    if (hp === null) {
      throw expected(w, 'HOST:PORT with a port from 0 to 65535 (IPv6 as [::1]:6432)', v);
    }
    return hp;
  },
  format: formatHostPort,
});

/** The URL with its password (in the user info or a `password` parameter) replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    for (const key of ['password', 'sslpassword']) {
      if (u.searchParams.has(key)) u.searchParams.set(key, '***');
    }
    return u.toString();
  } catch {
    return url.replace(/(\/\/[^/@:]*:)[^@]*@/, '$1***@');
  }
}

const upstreamUrl = leaf<string>({
  parse(v, w) {
    const s = text(v, w);
    let ok = false;
    try {
      const u = new URL(s);
      ok = u.protocol === 'postgres:' || u.protocol === 'postgresql:';
    } catch {
      ok = false;
    }
    if (!ok) throw expected(w, 'a postgres:// or postgresql:// URL', redactUrl(s));
    return s;
  },
  redact: redactUrl,
});

/** KB/MB/GB are read as binary units, as Postgres does. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kib: KIB,
  mib: MIB,
  gib: GIB,
  kb: KIB,
  mb: MIB,
  gb: GIB,
};

/** Bytes as YAML: "64MiB" when a whole number of a unit, else a number. */
export function formatSize(bytes: number): number | string {
  for (const [unit, n] of [
    ['GiB', GIB],
    ['MiB', MIB],
    ['KiB', KIB],
  ] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return bytes;
}

const size = leaf<number>({
  parse(v, w) {
    let bytes: number | undefined;
    if (typeof v === 'number') bytes = v;
    else if (typeof v === 'string') {
      const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(v);
      const factor = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase() || 'b'] : undefined;
      if (m && factor !== undefined) bytes = Number(m[1]) * factor;
    }
    if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 1 || bytes > GIB) {
      throw expected(
        w,
        'a size from 1 byte to 1GiB (bytes, or a string like "64MiB", "512KiB")',
        v,
      );
    }
    return bytes;
  },
  format: formatSize,
});

const directory = leaf<string>({ parse: (v, w, ctx) => path.resolve(ctx.cwd, text(v, w)) });

const readableFile = leaf<string>({
  parse(v, w, ctx) {
    const file = path.resolve(ctx.cwd, text(v, w));
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
      accessSync(file, constants.R_OK);
    } catch {
      throw expected(w, 'a readable file', v);
    }
    return file;
  },
});

function mapping(v: unknown, w: Where, allowed: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    const what = allowed.length > 0 ? `a mapping with keys ${allowed.join(', ')}` : 'a mapping';
    throw expected(w.key === '' ? { ...w, key: 'config file' } : w, what, v);
  }
  const m = v as Record<string, unknown>;
  if (allowed.length > 0) {
    for (const key of Object.keys(m)) {
      if (allowed.includes(key)) continue;
      const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, '_');
      const hint = allowed.includes(snake) ? `did you mean ${snake}? ` : '';
      const name = w.key === '' ? key : `${w.key}.${key}`;
      throw new ConfigError(
        `${name}: unknown key (${hint}expected one of ${allowed.join(', ')})${w.from}`,
      );
    }
  }
  return m;
}

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

const DATABASE_KEYS = ['dbname', 'host', 'port', 'user', 'password'] as const;

const databases = leaf<Readonly<Record<string, DatabaseTarget>>>({
  parse(v, w) {
    const out: Record<string, DatabaseTarget> = {};
    for (const [name, entry] of Object.entries(mapping(v, w, []))) {
      const wn = sub(w, `.${name}`);
      const m = mapping(entry ?? {}, wn, DATABASE_KEYS);
      const at = (k: string): Where => sub(wn, `.${k}`);
      out[name] = {
        ...(m.dbname !== undefined && { dbname: identifierValue(m.dbname, at('dbname')) }),
        ...(m.host !== undefined && { host: text(m.host, at('host')) }),
        ...(m.port !== undefined && { port: integer(m.port, at('port'), 1, 65_535) }),
        ...(m.user !== undefined && { user: identifierValue(m.user, at('user')) }),
        ...(m.password !== undefined && { password: text(m.password, at('password'), true) }),
      };
    }
    return out;
  },
  redact: (dbs) =>
    Object.fromEntries(
      Object.entries(dbs).map(([name, t]) => [
        name,
        t.password === undefined ? t : { ...t, password: '***' },
      ]),
    ),
});

function authQuery(v: unknown, w: Where): string {
  const q = text(v, w);
  if (!q.includes('$1')) throw expected(w, 'SQL with a $1 parameter for the user name', v);
  return q;
}

/** The whole configuration: camelCase keys as in DocFusionConfig; YAML keys are snake_case. */
const SCHEMA: { readonly [K in keyof DocFusionConfig]-?: Node<DocFusionConfig[K]> } = {
  listen: hostPort,
  http: { listen: hostPort, enabled: bool },
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
  shutdown: { graceMs: milliseconds(0) },
  log: { level: oneOf<LogLevel>(LOG_LEVELS) },
};
const ROOT = SCHEMA as unknown as AnySection;

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (key: string): string => key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Environment variables → YAML key they override. */
export const ENV_KEYS: Readonly<Record<string, string>> = {
  DOCFUSION_LISTEN: 'listen',
  DATABASE_URL: 'upstream',
  DOCFUSION_DATA_DIR: 'data_dir',
  DOCFUSION_HTTP_LISTEN: 'http.listen',
  DOCFUSION_AUTH: 'auth.method',
  DOCFUSION_PASSWORD: 'embedded.password',
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
// Loading.

class Draft {
  readonly values: Record<string, unknown>;
  /** Dotted YAML key → where its current value came from. */
  readonly origins = new Map<string, Where>();

  constructor(cwd: string) {
    this.values = structuredClone(defaultConfig(cwd)) as unknown as Record<string, unknown>;
  }

  /** Parses `raw` with the leaf at `yamlKey` and stores it. */
  set(yamlKey: string, raw: unknown, w: Where, ctx: Ctx): void {
    let section = ROOT;
    let target = this.values;
    const parts = yamlKey.split('.').map(camel);
    const last = parts.pop() ?? '';
    for (const part of parts) {
      const next = section[part];
      if (next === undefined || isLeaf(next)) throw new Error(`no config section ${yamlKey}`);
      section = next;
      target = target[part] as Record<string, unknown>;
    }
    const node = section[last];
    if (node === undefined || !isLeaf(node)) throw new Error(`no config value ${yamlKey}`);
    target[last] = node.parse(raw, w, ctx);
    this.origins.set(yamlKey, w);
  }

  where(yamlKey: string): Where {
    return this.origins.get(yamlKey) ?? defaultWhere(yamlKey);
  }
}

function applyFile(draft: Draft, raw: unknown, file: string, ctx: Ctx): void {
  const walk = (section: AnySection, value: unknown, prefix: string): void => {
    const keys = Object.keys(section).map(snake);
    const m = mapping(value, fileWhere(prefix, file), keys);
    for (const [key, v] of Object.entries(m)) {
      const dotted = prefix === '' ? key : `${prefix}.${key}`;
      const node = section[camel(key)];
      if (node === undefined) continue; // unreachable: mapping() rejected unknown keys
      if (isLeaf(node)) draft.set(dotted, v, fileWhere(dotted, file), ctx);
      else walk(node, v ?? {}, dotted);
    }
  };
  if (raw === null || raw === undefined) return; // an empty file
  walk(ROOT, raw, '');
}

function readYaml(file: string, w: Where): unknown {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(`${w.key}: cannot read config file ${file} (${reason})`);
  }
  const doc = parseDocument(source, { prettyErrors: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const reason = (first.message.split('\n')[0] ?? '').replace(/:$/, '');
    throw new ConfigError(`${file}: invalid YAML: ${reason}`);
  }
  return doc.toJS() as unknown;
}

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    'print-config': { type: 'boolean' },
  };
  for (const flag of Object.keys(FLAG_KEYS)) options[flag] = { type: 'string' };
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as NodeJS.ErrnoException).code;
    const name = /'(-[^' ]*)/.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && name !== undefined) {
      throw new ConfigError(`${name}: unknown option (see docfusiondb --help)`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec(message)?.[1] ?? '';
      throw new ConfigError(`unexpected argument "${arg}" (see docfusiondb --help)`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name !== undefined) {
      const problem = message.includes('does not take')
        ? 'takes no value'
        : 'expected a value (use --flag=VALUE for values starting with "-")';
      throw new ConfigError(`${name}: ${problem}`);
    }
    throw new ConfigError(message);
  }
}

/** Cross-key rules, checked on the merged result. */
function crossCheck(c: DocFusionConfig, draft: Draft): void {
  const w = (key: string): Where => draft.where(key);
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
  const sameAddress = c.http.listen.port === c.listen.port && c.http.listen.host === c.listen.host;
  if (c.http.enabled && c.listen.port !== 0 && sameAddress) {
    const h = w('http.listen');
    throw new ConfigError(
      `${h.key}: expected an address other than the listen address, ` +
        `got "${formatHostPort(c.http.listen)}"${h.from}`,
    );
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The effective configuration from defaults, the YAML file (--config or DOCFUSION_CONFIG), the
 * environment and the flags, in increasing precedence. Throws ConfigError on any bad value.
 */
export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const cwd = input.cwd ?? process.cwd();
  const ctx: Ctx = { cwd };
  const env = (name: string): string | undefined => {
    const v = input.env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const flags = parseFlags(input.argv);
  const flag = (name: string): string | undefined => {
    const v = flags[name];
    return typeof v === 'string' ? v : undefined;
  };
  const warnings: string[] = [];
  const draft = new Draft(cwd);

  const fileArg = flag('config');
  const fileFrom = fileArg !== undefined ? '--config' : 'DOCFUSION_CONFIG';
  const fileValue = fileArg ?? env('DOCFUSION_CONFIG');
  let configFile: string | null = null;
  if (fileValue !== undefined) {
    if (fileValue === '') throw new ConfigError(`${fileFrom}: expected a file path, got ""`);
    configFile = path.resolve(cwd, fileValue);
    applyFile(draft, readYaml(configFile, plainWhere(fileFrom)), configFile, ctx);
  }

  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env(name);
    if (v !== undefined) applyOverride(draft, key, v, plainWhere(name), ctx);
  }
  for (const [name, key] of Object.entries(FLAG_KEYS)) {
    const v = flag(name);
    if (v !== undefined) applyOverride(draft, key, v, plainWhere(`--${name}`), ctx);
  }

  const config = draft.values as unknown as DocFusionConfig;
  crossCheck(config, draft);

  if (config.upstream === null && config.embedded.password === DEFAULT_EMBEDDED_PASSWORD) {
    warnings.push(DEFAULT_PASSWORD_WARNING);
  }
  const known = new Set([...Object.keys(ENV_KEYS), 'DOCFUSION_CONFIG']);
  for (const name of Object.keys(input.env)) {
    if (name.startsWith('DOCFUSION_') && !known.has(name)) {
      warnings.push(`unknown environment variable ${name} ignored`);
    }
  }
  return {
    config: deepFreeze(config),
    configFile,
    warnings,
    printConfig: flags['print-config'] === true,
  };
}

/** An env/flag value for `key`; `http.listen` also accepts "off" and otherwise enables HTTP. */
function applyOverride(draft: Draft, key: string, value: string, w: Where, ctx: Ctx): void {
  if (key === 'http.listen') {
    draft.set('http.enabled', value !== 'off', w, ctx);
    if (value === 'off') return;
  }
  draft.set(key, value, w, ctx);
}

// ---------------------------------------------------------------------------------------------
// Printing.

/**
 * A plain JSON-able copy of `config` in the YAML file's snake_case shape, with secrets
 * (embedded.password, the upstream URL's password, databases.*.password,
 * auth.users[].password) replaced by "***". Safe to log.
 */
export function redactConfig(config: DocFusionConfig): unknown {
  const walk = (section: AnySection, value: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, node] of Object.entries(section)) {
      const v = value[key];
      if (isLeaf(node)) {
        out[snake(key)] = node.redact ? node.redact(v) : node.format ? node.format(v) : v;
      } else {
        out[snake(key)] = walk(node, v as Record<string, unknown>);
      }
    }
    return out;
  };
  return structuredClone(walk(ROOT, config as unknown as Record<string, unknown>));
}

/** The configuration as a YAML config file (secrets redacted), for `--print-config`. */
export function formatConfig(config: DocFusionConfig): string {
  return (
    '# DocFusionDB effective configuration (docfusiondb --print-config).\n' +
    '# Secrets are shown as "***": replace them before using this as a config file.\n' +
    stringify(redactConfig(config), { lineWidth: 0 })
  );
}
