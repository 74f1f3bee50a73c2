import type { DocFusionConfig } from './config-types.js';

/** Where and as whom the proxy logs into Postgres. */
export interface UpstreamEndpoint {
  readonly host: string;
  readonly port: number;
  readonly database: string;
}

export interface AdminCredentials {
  readonly user: string;
  readonly password: string | undefined;
}

export interface ParsedUpstream {
  readonly endpoint: UpstreamEndpoint;
  readonly admin: AdminCredentials;
  readonly url: string;
}

export function parseUpstreamUrl(url: string): ParsedUpstream {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const user = decodeURIComponent(parsed.username) || 'postgres';
  return {
    url,
    endpoint: {
      host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
      port: parsed.port === '' ? 5432 : Number(parsed.port),
      database: database === '' ? user : database,
    },
    admin: {
      user,
      password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    },
  };
}

/** The upstream endpoint for a client's database name: the `databases:` map, else the same name. */
export function endpointFor(
  config: DocFusionConfig,
  upstream: ParsedUpstream,
  clientDatabase: string,
): UpstreamEndpoint {
  const mapped = config.databases[clientDatabase];
  return {
    host: mapped?.host ?? upstream.endpoint.host,
    port: mapped?.port ?? upstream.endpoint.port,
    database: mapped?.dbname ?? clientDatabase,
  };
}
