import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { CancelRegistry } from './cancel-registry.js';
import type { DocFusionConfig } from './config-types.js';
import {
  ConfigCredentialStore,
  UpstreamCredentialStore,
  type CredentialStore,
} from './credentials.js';
import { adminShutdown } from './errors.js';
import { PlanService } from './plan-service.js';
import { PoolManager } from './pool-manager.js';
import type { ServerContext } from './server-context.js';
import { Session } from './session.js';
import { loadParser } from './sql-parser.js';
import { clientConnections, onScrape, poolSize, upstreamConnections } from './metrics.js';
import { NO_TRACING, type Tracing } from './tracing.js';
import { ReadinessProbe } from './readiness.js';
import { parseUpstreamUrl, type ParsedUpstream } from './upstream-target.js';
import { VERSION } from './version.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface ProxyOptions {
  /** Span export (off unless tracing.otlp_endpoint is set). */
  readonly tracing?: Tracing;
  /** Re-reads the configuration for RELOAD and SIGHUP; without it RELOAD reports an error. */
  readonly reloadConfig?: () => DocFusionConfig;
  /** Called by the admin console's SHUTDOWN. */
  readonly onShutdownRequest?: () => void;
  /** The embedded cluster's superuser, implicitly an admin of the console. */
  readonly embeddedUser?: string;
}

/**
 * The wire-protocol listener: accepts clients, creates a Session per socket, enforces the
 * client limit, owns the pools, and runs RELOAD and the graceful shutdown.
 */
export class ProxyServer {
  readonly sessions = new Set<Session>();
  private readonly admitted = new Set<Session>();
  private readonly server: net.Server;
  private readonly ctx: ServerContext & {
    config: DocFusionConfig;
    credentials: CredentialStore;
    readiness: ReadinessProbe | undefined;
  };
  private accepting = true;
  private idleWaiters: (() => void)[] = [];

  private constructor(
    config: DocFusionConfig,
    readonly upstream: ParsedUpstream,
    private readonly log: Logger,
    private readonly options: ProxyOptions,
  ) {
    const pools = new PoolManager(() => this.ctx.config, log);
    this.ctx = {
      config,
      log,
      version: VERSION,
      upstream,
      credentials: credentialStore(config, upstream),
      pools,
      plans: new PlanService(
        upstream.admin,
        config.planner.catalogTtlMs,
        config.upstreamConnect.timeoutMs,
      ),
      cancels: new CancelRegistry(),
      tls: loadTls(config),
      tracing: options.tracing ?? NO_TRACING,
      readiness: undefined,
      admitClient: (session) => {
        if (!this.accepting || this.admitted.size >= this.ctx.config.limits.maxClientConnections)
          return false;
        this.admitted.add(session);
        return true;
      },
      onSessionClosed: (session) => {
        this.sessions.delete(session);
        this.admitted.delete(session);
        if (this.sessions.size === 0) for (const waiter of this.idleWaiters.splice(0)) waiter();
      },
      isAdmin: (user) =>
        this.ctx.config.admin.users.includes(user) ||
        user === options.embeddedUser ||
        (this.ctx.config.admin.users.length === 0 && user === upstream.admin.user),
      sessions: () => this.sessions,
      reload: () => this.reload(),
      requestShutdown: () => {
        options.onShutdownRequest?.();
      },
    };
    this.server = net.createServer({ noDelay: true }, (socket) => {
      this.accept(socket);
    });
    this.stopScrape = onScrape(() => {
      this.collectMetrics();
    });
  }

  private probe: ReadinessProbe | undefined;

  /** Readiness (`/readyz`, `SHOW docfusion.status`), started once the server listens. */
  get readiness(): ReadinessProbe {
    this.probe ??= new ReadinessProbe(this.upstream.url, () => this.listening);
    this.ctx.readiness = this.probe;
    return this.probe;
  }

  private readonly stopScrape: () => void;

  /** Gauges of current state, computed when /metrics is scraped. */
  private collectMetrics(): void {
    const states = { startup: 0, waiting: 0, active: 0, in_transaction: 0, idle: 0 };
    for (const session of this.sessions) {
      if (session.waiting) states.waiting++;
      else if (session.state !== 'ready') states.startup++;
      else if (session.busy) states.active++;
      else if (session.txStatus !== 0x49) states.in_transaction++;
      else states.idle++;
    }
    for (const [state, count] of Object.entries(states)) clientConnections.labels(state).inc(count);
    for (const pool of this.ctx.pools.all()) {
      const stats = pool.stats();
      upstreamConnections.labels(pool.name, 'active').inc(stats.active);
      upstreamConnections.labels(pool.name, 'idle').inc(stats.idle);
      upstreamConnections.labels(pool.name, 'connecting').inc(stats.connecting);
      poolSize.labels(pool.name).inc(stats.size);
    }
  }

  /** Start listening; `upstreamUrl` is the admin URL of the upstream (embedded or DATABASE_URL). */
  static async start(
    config: DocFusionConfig,
    upstreamUrl: string,
    log: Logger,
    options: ProxyOptions = {},
  ): Promise<ProxyServer> {
    await loadParser();
    const proxy = new ProxyServer(config, parseUpstreamUrl(upstreamUrl), log, options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(config.listen.port, config.listen.host, () => {
        proxy.server.off('error', reject);
        resolve();
      });
    });
    proxy.server.on('error', (error) => {
      log.error({ err: error }, 'listener error');
    });
    void proxy.readiness.check();
    log.info(
      { listen: proxy.address(), tls: proxy.ctx.tls !== undefined, poolMode: config.pool.mode },
      'DocFusionDB accepting connections',
    );
    return proxy;
  }

  /** The DocFusion planner (the HTTP API's /v1/query plans through it too). */
  get plans(): PlanService {
    return this.ctx.plans;
  }

  get config(): DocFusionConfig {
    return this.ctx.config;
  }

  get pools(): PoolManager {
    return this.ctx.pools;
  }

  address(): ListenAddress {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('server is not listening');
    return { host: address.address, port: address.port };
  }

  get listening(): boolean {
    return this.server.listening && this.accepting;
  }

  /** RELOAD / SIGHUP: users, pool settings, timeouts and limits change without a restart. */
  async reload(): Promise<string> {
    if (!this.options.reloadConfig)
      throw new Error('this server was started without a config source to reload');
    const next = this.options.reloadConfig();
    const previous = this.ctx.config;
    const notes: string[] = [];
    if (next.listen.host !== previous.listen.host || next.listen.port !== previous.listen.port) {
      notes.push('listen changed: restart to apply');
    }
    if (next.upstream !== previous.upstream) notes.push('upstream changed: restart to apply');
    const oldStore = this.ctx.credentials;
    this.ctx.config = next;
    this.ctx.credentials = credentialStore(next, this.upstream);
    await oldStore.close();
    this.ctx.pools.reload();
    this.log.level = next.log.level;
    this.log.info({ notes }, 'configuration reloaded');
    return notes.length === 0
      ? 'configuration reloaded'
      : `configuration reloaded; ${notes.join('; ')}`;
  }

  private accept(socket: net.Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    // Sockets that never finish startup are bounded by the startup timeout; cap them too.
    if (this.sessions.size >= this.ctx.config.limits.maxClientConnections * 2 + 64) {
      socket.destroy();
      return;
    }
    const session = new Session(socket, this.ctx);
    this.sessions.add(session);
    void session.run();
  }

  /**
   * Stop accepting; running statements may finish for `graceMs`, idle sessions end at once with
   * 57P01; after the grace period every remaining session gets 57P01.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (!this.accepting) return;
    this.accepting = false;
    this.log.info({ sessions: this.sessions.size, graceMs }, 'shutting down');
    const closed = new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
    for (const session of [...this.sessions]) session.drain();
    if (this.sessions.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      for (const session of [...this.sessions]) session.terminate(adminShutdown());
    }
    await closed;
    this.stopScrape();
    this.probe?.stop();
    this.ctx.pools.close();
    await this.ctx.credentials.close();
    await this.ctx.plans.close();
  }
}

function credentialStore(config: DocFusionConfig, upstream: ParsedUpstream): CredentialStore {
  return config.auth.source === 'config'
    ? new ConfigCredentialStore(config)
    : new UpstreamCredentialStore(
        upstream.endpoint,
        upstream.admin,
        config.auth.query,
        config.upstreamConnect.timeoutMs,
      );
}

function loadTls(config: DocFusionConfig): tls.SecureContext | undefined {
  if (config.tls.cert === null || config.tls.key === null) return undefined;
  return tls.createSecureContext({
    cert: readFileSync(config.tls.cert),
    key: readFileSync(config.tls.key),
    minVersion: 'TLSv1.2',
  });
}
