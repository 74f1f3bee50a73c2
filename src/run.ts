import type { Logger } from 'pino';
import type { DocFusionConfig } from './config-types.js';
import { startEmbeddedPostgres, type RunningEmbedded } from './embedded-postgres.js';
import { HttpServer } from './http-server.js';
import { ProxyServer } from './server.js';

export interface RunningDocFusion {
  readonly proxy: ProxyServer;
  readonly http: HttpServer | undefined;
  /** The upstream admin URL (embedded or configured). */
  readonly upstreamUrl: string;
  /** Graceful stop: see ProxyServer.shutdown; then the embedded Postgres stops. */
  stop(graceMs?: number): Promise<void>;
}

/** Start everything: the embedded Postgres when no upstream is configured, the proxy, HTTP. */
export async function startDocFusion(
  config: DocFusionConfig,
  log: Logger,
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
  try {
    const proxy = await ProxyServer.start(config, upstreamUrl, log);
    const http = config.http.enabled
      ? await HttpServer.start({ ...config.http.listen, proxy, upstreamUrl, log })
      : undefined;
    let stopping: Promise<void> | undefined;
    return {
      proxy,
      http,
      upstreamUrl,
      stop: (graceMs = config.shutdown.graceMs) => {
        stopping ??= (async () => {
          await proxy.shutdown(graceMs);
          await http?.close();
          await embedded?.stop('fast');
          log.info('DocFusionDB stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await embedded?.stop('fast');
    throw error;
  }
}

/**
 * The CLI's main: run until SIGTERM/SIGINT, then shut down gracefully. The handlers are
 * installed before anything starts, so a signal during startup still stops cleanly.
 */
export async function runServer(config: DocFusionConfig, log: Logger): Promise<void> {
  let signalled: (() => void) | undefined;
  const stopRequested = new Promise<void>((resolve) => {
    signalled = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'received signal, shutting down');
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    signalled?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let running: RunningDocFusion;
  try {
    running = await startDocFusion(config, log);
  } catch (error) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    throw error;
  }
  await stopRequested;
  await running.stop();
}
