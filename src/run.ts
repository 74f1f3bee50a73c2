import type { Logger } from 'pino';
import type { DocFusionConfig } from './config-types.js';
import { startEmbeddedPostgres, type RunningEmbedded } from './embedded-postgres.js';
import { HttpServer } from './http-server.js';
import { ProxyServer } from './server.js';
import { startTracing } from './tracing.js';

export interface RunningDocFusion {
  readonly proxy: ProxyServer;
  readonly http: HttpServer | undefined;
  /** The upstream admin URL (embedded or configured). */
  readonly upstreamUrl: string;
  /** Resolves when the admin console asks for SHUTDOWN. */
  readonly shutdownRequested: Promise<void>;
  /** Graceful stop: see ProxyServer.shutdown; then the embedded Postgres stops. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Re-reads the configuration (RELOAD, SIGHUP). */
  readonly reloadConfig?: () => DocFusionConfig;
}

/** Start everything: the embedded Postgres when no upstream is configured, the proxy, HTTP. */
export async function startDocFusion(
  config: DocFusionConfig,
  log: Logger,
  options: StartOptions = {},
): Promise<RunningDocFusion> {
  let embedded: RunningEmbedded | undefined;
  let upstreamUrl = config.upstream;
  if (upstreamUrl === null) {
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      ...config.embedded,
      logger: log,
    });
    upstreamUrl = embedded.url;
  }
  let requestShutdown: () => void = () => undefined;
  const shutdownRequested = new Promise<void>((resolve) => {
    requestShutdown = resolve;
  });
  const tracing = await startTracing(config.tracing.otlpEndpoint, config.tracing.serviceName);
  try {
    const proxy = await ProxyServer.start(config, upstreamUrl, log, {
      tracing,
      ...(options.reloadConfig ? { reloadConfig: options.reloadConfig } : {}),
      onShutdownRequest: requestShutdown,
      ...(embedded ? { embeddedUser: config.embedded.user } : {}),
    });
    const http = config.http.enabled
      ? await HttpServer.start({ ...config.http.listen, proxy, log })
      : undefined;
    let stopping: Promise<void> | undefined;
    return {
      proxy,
      http,
      upstreamUrl,
      shutdownRequested,
      stop: (graceMs = proxy.config.shutdown.graceMs) => {
        stopping ??= (async () => {
          await proxy.shutdown(graceMs);
          await http?.close();
          await tracing.shutdown();
          await embedded?.stop('fast');
          log.info('DocFusionDB stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await tracing.shutdown();
    await embedded?.stop('fast');
    throw error;
  }
}

/**
 * The CLI's main: run until SIGTERM/SIGINT (or SHUTDOWN from the admin console), then shut down
 * gracefully; SIGHUP reloads the configuration. The handlers are installed before anything
 * starts, so a signal during startup still stops cleanly.
 */
export async function runServer(
  config: DocFusionConfig,
  log: Logger,
  options: StartOptions = {},
): Promise<void> {
  let signalled: (() => void) | undefined;
  const stopRequested = new Promise<void>((resolve) => {
    signalled = resolve;
  });
  let running: RunningDocFusion | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'received signal, shutting down');
    signalled?.();
  };
  const onHangup = (): void => {
    if (!running) return;
    running.proxy.reload().then(
      (message) => {
        log.info(`SIGHUP: ${message}`);
      },
      (error: unknown) => {
        log.error({ err: error }, 'SIGHUP: reload failed; keeping the current configuration');
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangup);
  try {
    running = await startDocFusion(config, log, options);
    await Promise.race([stopRequested, running.shutdownRequested]);
    await running.stop();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHangup);
  }
}
