import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { CancelRegistry } from './cancel-registry.js';
import type { DocFusionConfig } from './config-types.js';
import { adminShutdown } from './errors.js';
import {
  ConfigCredentialStore,
  UpstreamCredentialStore,
  type CredentialStore,
} from './credentials.js';
import { Session } from './session.js';
import type { ServerContext } from './server-context.js';
import { DedicatedUpstreams, type UpstreamProvider } from './upstream-provider.js';
import { parseUpstreamUrl, type ParsedUpstream } from './upstream-target.js';
import { VERSION } from './version.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * The wire-protocol listener: accepts clients, creates a Session per socket, enforces the
 * client limit and runs the graceful shutdown.
 */
export class ProxyServer {
  readonly sessions = new Set<Session>();
  private readonly admitted = new Set<Session>();
  private readonly server: net.Server;
  private readonly ctx: ServerContext;
  private accepting = true;

  private constructor(
    readonly config: DocFusionConfig,
    readonly upstream: ParsedUpstream,
    private readonly log: Logger,
    credentials: CredentialStore,
    upstreams: UpstreamProvider,
  ) {
    this.ctx = {
      config,
      log,
      version: VERSION,
      upstream,
      credentials,
      upstreams,
      cancels: new CancelRegistry(),
      tls: loadTls(config),
      admitClient: (session) => {
        if (!this.accepting || this.admitted.size >= config.limits.maxClientConnections)
          return false;
        this.admitted.add(session);
        return true;
      },
      onSessionClosed: (session) => {
        this.sessions.delete(session);
        this.admitted.delete(session);
        this.maybeIdle();
      },
    };
    this.server = net.createServer({ noDelay: true }, (socket) => {
      this.accept(socket);
    });
  }

  /** Start listening; `upstreamUrl` is the admin URL of the upstream (embedded or DATABASE_URL). */
  static async start(
    config: DocFusionConfig,
    upstreamUrl: string,
    log: Logger,
  ): Promise<ProxyServer> {
    const upstream = parseUpstreamUrl(upstreamUrl);
    const credentials =
      config.auth.source === 'config'
        ? new ConfigCredentialStore(config)
        : new UpstreamCredentialStore(
            upstream.endpoint,
            upstream.admin,
            config.auth.query,
            config.upstreamConnect.timeoutMs,
          );
    const proxy = new ProxyServer(
      config,
      upstream,
      log,
      credentials,
      new DedicatedUpstreams(config),
    );
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
    log.info(
      { listen: proxy.address(), tls: proxy.ctx.tls !== undefined },
      'DocFusionDB accepting connections',
    );
    return proxy;
  }

  address(): ListenAddress {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('server is not listening');
    return { host: address.address, port: address.port };
  }

  get listening(): boolean {
    return this.server.listening && this.accepting;
  }

  private accept(socket: net.Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    // Sockets that never finish startup are bounded by the startup timeout; cap them too.
    if (this.sessions.size >= this.config.limits.maxClientConnections * 2 + 64) {
      socket.destroy();
      return;
    }
    const session = new Session(socket, this.ctx);
    this.sessions.add(session);
    void session.run();
  }

  private idleWaiters: (() => void)[] = [];

  private maybeIdle(): void {
    if (this.sessions.size > 0) return;
    for (const waiter of this.idleWaiters.splice(0)) waiter();
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
      for (const session of [...this.sessions]) {
        session.terminate(adminShutdown());
      }
    }
    await closed;
    await this.ctx.upstreams.close();
    await this.ctx.credentials.close();
  }
}

function loadTls(config: DocFusionConfig): tls.SecureContext | undefined {
  if (config.tls.cert === null || config.tls.key === null) return undefined;
  return tls.createSecureContext({
    cert: readFileSync(config.tls.cert),
    key: readFileSync(config.tls.key),
    minVersion: 'TLSv1.2',
  });
}
