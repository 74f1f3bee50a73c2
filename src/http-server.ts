import http from 'node:http';
import type { Logger } from 'pino';
import type { ProxyServer } from './server.js';
import { VERSION } from './version.js';
import { registry } from './metrics.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly proxy: ProxyServer;
  readonly log: Logger;
}

/**
 * The HTTP listener: `/healthz` (the process serves), `/readyz` (the proxy listens and the
 * upstream answers `SELECT 1`) and `/metrics` (Prometheus text exposition). The document API
 * joins it in a later issue.
 */
export class HttpServer {
  private readonly server: http.Server;

  private constructor(private readonly options: HttpServerOptions) {
    this.server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        options.log.error({ err: error }, 'http handler failed');
        if (!response.headersSent)
          send(response, 500, { error: { code: 'internal', message: 'internal error' } });
      });
    });
  }

  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const server = new HttpServer(options);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(options.port, options.host, () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    options.log.info({ http: server.address() }, 'HTTP listener ready');
    return server;
  }

  address(): { host: string; port: number } {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return { host: address.address, port: address.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
      this.server.closeAllConnections();
    });
  }

  private async handle(
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, { error: { code: 'method_not_allowed', message: 'use GET' } });
      return;
    }
    if (path === '/healthz') {
      send(response, 200, {
        status: 'ok',
        version: VERSION,
        sessions: this.options.proxy.sessions.size,
      });
      return;
    }
    if (path === '/metrics') {
      const text = await registry.metrics();
      response.writeHead(200, {
        'content-type': registry.contentType,
        'cache-control': 'no-store',
      });
      response.end(text);
      return;
    }
    if (path === '/readyz') {
      const probe = await this.options.proxy.readiness.check();
      send(
        response,
        probe.ok ? 200 : 503,
        probe.ok ? { status: 'ready' } : { status: 'unavailable', reason: probe.reason },
      );
      return;
    }
    send(response, 404, { error: { code: 'not_found', message: `no route ${path ?? ''}` } });
  }
}

function send(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}
