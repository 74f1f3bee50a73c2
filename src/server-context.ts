import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { CancelRegistry } from './cancel-registry.js';
import type { DocFusionConfig } from './config-types.js';
import type { CredentialStore } from './credentials.js';
import type { Session } from './session.js';
import type { UpstreamProvider } from './upstream-provider.js';
import type { ParsedUpstream } from './upstream-target.js';

/** What every session shares: built once by the server, read by sessions. */
export interface ServerContext {
  readonly config: DocFusionConfig;
  readonly log: Logger;
  readonly version: string;
  readonly upstream: ParsedUpstream;
  readonly credentials: CredentialStore;
  readonly upstreams: UpstreamProvider;
  readonly cancels: CancelRegistry;
  readonly tls: tls.SecureContext | undefined;
  /** Called after the startup packet: false when max_client_connections is reached. */
  admitClient(session: Session): boolean;
  onSessionClosed(session: Session): void;
}
