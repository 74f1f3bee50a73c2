import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { CancelRegistry } from './cancel-registry.js';
import type { DocFusionConfig } from './config-types.js';
import type { CredentialStore } from './credentials.js';
import type { PlanService } from './plan-service.js';
import type { PoolManager } from './pool-manager.js';
import type { Session } from './session.js';
import type { Tracing } from './tracing.js';
import type { ReadinessProbe } from './readiness.js';
import type { ParsedUpstream } from './upstream-target.js';

/** What every session shares: built once by the server, read by sessions. */
export interface ServerContext {
  /** The current configuration; replaced by RELOAD (sessions read it when they need it). */
  readonly config: DocFusionConfig;
  readonly log: Logger;
  readonly version: string;
  readonly upstream: ParsedUpstream;
  readonly credentials: CredentialStore;
  readonly pools: PoolManager;
  /** The DocFusion planner with its catalogs and plan cache. */
  readonly plans: PlanService;
  readonly cancels: CancelRegistry;
  readonly tls: tls.SecureContext | undefined;
  readonly tracing: Tracing;
  /** Set once the server is constructed; SHOW docfusion.status reads it. */
  readonly readiness: ReadinessProbe | undefined;
  /** Called after the startup packet: false when max_client_connections is reached. */
  admitClient(session: Session): boolean;
  onSessionClosed(session: Session): void;
  /** May this user open the admin console? */
  isAdmin(user: string): boolean;
  /** Every session, for SHOW CLIENTS. */
  sessions(): Iterable<Session>;
  /** Re-read the config file; returns what changed or throws a ConfigError. */
  reload(): Promise<string>;
  /** SHUTDOWN from the admin console: the same graceful stop as SIGTERM. */
  requestShutdown(): void;
}
