import { accessSync, constants, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { HostPort } from './config-types.js';

/**
 * Configuration values: where a value came from (for messages), the leaf parsers that turn YAML
 * values or environment/flag strings into typed values, and their YAML formatting and redaction.
 * The schema (config-schema.ts) is built from these leaves.
 */

/** A configuration problem the user must fix; `message` names the key, the value and the source. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;
/** setTimeout's ceiling: larger delays silently become 1 ms. */
export const MAX_MS = 2_147_483_647;
/** Postgres's NAMEDATALEN - 1. */
export const MAX_IDENTIFIER_BYTES = 63;

// ---------------------------------------------------------------------------------------------
// Where a value came from, for messages.

export interface Where {
  /** Printed first: the dotted YAML key, the environment variable or the flag. */
  readonly key: string;
  /** Appended to messages: ` (from FILE)`, ` (default)` or nothing. */
  readonly from: string;
  /** Mid-sentence form: "listen in FILE", "DOCFUSION_LISTEN", "the default listen". */
  readonly label: string;
}

export const fileWhere = (key: string, file: string): Where => ({
  key,
  from: ` (from ${file})`,
  label: `${key} in ${file}`,
});
export const plainWhere = (key: string): Where => ({ key, from: '', label: key });
export const defaultWhere = (key: string): Where => ({
  key,
  from: ' (default)',
  label: `the default ${key}`,
});
export const sub = (w: Where, suffix: string): Where => ({ ...w, key: w.key + suffix });

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function expected(w: Where, what: string, value: unknown, secret = false): ConfigError {
  const got =
    secret && typeof value === 'string' ? 'a string not shown (it may be a password)' : show(value);
  return new ConfigError(`${w.key}: expected ${what}, got ${got}${w.from}`);
}

export const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const camel = (key: string): string =>
  key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/** A copy of a flat object with its camelCase keys in snake_case (the YAML shape). */
export const snakeKeys = (value: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), v]));

// ---------------------------------------------------------------------------------------------
// Leaf values: parse (from YAML values or env/flag strings), format for YAML, redact.

export interface Ctx {
  readonly cwd: string;
}

export interface Leaf<T> {
  readonly leaf: true;
  parse(value: unknown, w: Where, ctx: Ctx): T;
  /** The YAML form of a value (defaults to the value itself). */
  format?(value: T): unknown;
  /** The YAML form with secrets replaced by "***". */
  redact?(value: T): unknown;
}

export const leaf = <T>(spec: Omit<Leaf<T>, 'leaf'>): Leaf<T> => ({ leaf: true, ...spec });

export const nullable = <T>(inner: Leaf<T>): Leaf<T | null> =>
  leaf<T | null>({
    parse: (v, w, ctx) => (v === null ? null : inner.parse(v, w, ctx)),
    format: (v) => (v === null ? null : inner.format ? inner.format(v) : v),
    redact: (v) =>
      v === null ? null : inner.redact ? inner.redact(v) : inner.format ? inner.format(v) : v,
  });

export function text(v: unknown, w: Where, secret = false): string {
  if (typeof v !== 'string' || v.length === 0) throw expected(w, 'a non-empty string', v, secret);
  return v;
}

export function integer(v: unknown, w: Where, min: number, max: number): number {
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

export const int = (min: number, max: number): Leaf<number> =>
  leaf({ parse: (v, w) => integer(v, w, min, max) });
export const positiveInt = int(1, Number.MAX_SAFE_INTEGER);
export const nonNegativeInt = int(0, Number.MAX_SAFE_INTEGER);
export const milliseconds = (min: 0 | 1): Leaf<number> => int(min, MAX_MS);
export const port = int(0, 65_535);

export const bool = leaf<boolean>({
  parse(v, w) {
    if (typeof v !== 'boolean') throw expected(w, 'true or false', v);
    return v;
  },
});

export function oneOfValue<T extends string>(options: readonly T[], v: unknown, w: Where): T {
  const found = options.find((o) => o === v);
  if (found === undefined) throw expected(w, `one of ${options.join(', ')}`, v);
  return found;
}

export const oneOf = <T extends string>(options: readonly T[]): Leaf<T> =>
  leaf<T>({ parse: (v, w) => oneOfValue(options, v, w) });

export const secret = leaf<string>({ parse: (v, w) => text(v, w, true), redact: () => '***' });

/** Any string, also the empty one. */
export const anyString = leaf<string>({
  parse(v, w) {
    if (typeof v !== 'string') throw expected(w, 'a string (may be empty: "")', v);
    return v;
  },
});

/** A Postgres role or database name: non-empty, at most 63 bytes, no NUL. */
export function identifierValue(v: unknown, w: Where): string {
  const s = text(v, w);
  if (Buffer.byteLength(s) > MAX_IDENTIFIER_BYTES) {
    throw expected(w, `a name of at most ${MAX_IDENTIFIER_BYTES} bytes`, v);
  }
  if (s.includes('\0')) throw expected(w, 'a name without NUL characters', v);
  return s;
}
export const identifier = leaf<string>({ parse: identifierValue });

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

export const hostPort = leaf<HostPort>({
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

export const upstreamUrl = leaf<string>({
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

export const size = leaf<number>({
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

export const directory = leaf<string>({
  parse: (v, w, ctx) => path.resolve(ctx.cwd, text(v, w)),
});

export const readableFile = leaf<string>({
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

/** `v` as a mapping; with `allowed` keys (snake_case), any other key is an error. */
export function mapping(v: unknown, w: Where, allowed: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    const what = allowed.length > 0 ? `a mapping with keys ${allowed.join(', ')}` : 'a mapping';
    throw expected(w.key === '' ? { ...w, key: 'config file' } : w, what, v);
  }
  const m = v as Record<string, unknown>;
  if (allowed.length > 0) {
    for (const key of Object.keys(m)) {
      if (allowed.includes(key)) continue;
      const hinted = snake(key).replace(/-/g, '_');
      const hint = allowed.includes(hinted) ? `did you mean ${hinted}? ` : '';
      const name = w.key === '' ? key : `${w.key}.${key}`;
      throw new ConfigError(
        `${name}: unknown key (${hint}expected one of ${allowed.join(', ')})${w.from}`,
      );
    }
  }
  return m;
}
