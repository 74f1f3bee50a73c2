import { randomBytes } from 'node:crypto';
import type { ApiConfig, ApiKeyConfig, PoolSettings } from '../../../src/config-types.js';
import { defaultConfig } from '../../../src/config.js';
import { hashApiKey } from '../../../src/http-api/auth.js';
import { startProxy, type TestProxy } from '../../support/proxy.js';
import { DocFusionClient } from '../../../sdk/client.js';
import { undiciTransport } from '../../../sdk/undici-transport.js';
import { OpenApiCheck } from './openapi-check.js';

export interface ApiTestKey {
  readonly name: string;
  readonly key: string;
}

export interface ApiProxy {
  readonly proxy: TestProxy;
  readonly baseUrl: string;
  /** Keys by name: admin, writer, reader, plus any extra ones asked for. */
  readonly keys: Readonly<Record<string, string>>;
  /** Validates every response against /openapi.json (see openapi-check.ts). */
  readonly openapi: OpenApiCheck;
  /**
   * An SDK client with the named key (or none), checked against the OpenAPI document. It uses
   * the SDK's Node transport (undici), or fetch with `{ fetch: true }`.
   */
  client(key?: string, options?: { readonly fetch?: boolean }): DocFusionClient;
  stop(): Promise<void>;
}

/** A fresh key of 32 random bytes. */
export function newKey(): string {
  return `dfk_${randomBytes(32).toString('base64url')}`;
}

/**
 * A proxy in front of the test Postgres with the HTTP API on, and three keys (admin, writer,
 * reader) plus `extraKeys`. `api` overrides the api section, `pool` the pool section.
 */
export async function startApiProxy(
  options: {
    api?: Partial<ApiConfig>;
    pool?: Partial<PoolSettings>;
    extraKeys?: readonly Omit<ApiKeyConfig, 'hash'>[];
  } = {},
): Promise<ApiProxy> {
  const defaults = defaultConfig();
  const base = defaults.api;
  const keys: Record<string, string> = {};
  const configured: ApiKeyConfig[] = [];
  const add = (entry: Omit<ApiKeyConfig, 'hash'>): void => {
    const key = newKey();
    keys[entry.name] = key;
    configured.push({ ...entry, hash: hashApiKey(key) });
  };
  add({ name: 'admin', role: 'admin', collections: null, rateLimit: null });
  add({ name: 'writer', role: 'write', collections: null, rateLimit: null });
  add({ name: 'reader', role: 'read', collections: null, rateLimit: null });
  for (const extra of options.extraKeys ?? []) add(extra);
  const proxy = await startProxy({
    api: { ...base, ...options.api, keys: [...configured, ...(options.api?.keys ?? [])] },
    pool: { ...defaults.pool, ...options.pool },
  });
  const baseUrl = `http://127.0.0.1:${proxy.httpPort}`;
  const openapi = await OpenApiCheck.load(baseUrl);
  const pool = undiciTransport(baseUrl);
  const nodeTransport = openapi.transport(pool.transport);
  return {
    proxy,
    baseUrl,
    keys,
    openapi,
    client: (key, options = {}) =>
      new DocFusionClient({
        baseUrl,
        ...(options.fetch === true ? { fetch: openapi.fetch } : { transport: nodeTransport }),
        ...(key === undefined ? {} : { token: keys[key] ?? key }),
      }),
    stop: async () => {
      await pool.close();
      await proxy.stop();
    },
  };
}

/** A collection name unique to this run. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}
