import { freePort } from '../../src/embedded-postgres.js';
import { startProcess, viaHostPort, waitForTcp, type ManagedProcess } from './process.js';

/**
 * The floor of any Node.js proxy: a plain byte relay in its own process. Each client socket gets
 * its own upstream socket (1:1, no pooling, no parsing); bytes are copied both ways with
 * `socket.on('data') → other.write()` and TCP_NODELAY on both sides, exactly what a minimal
 * Node relay does. Benchmarks run it beside DocFusionDB so the cost of Node's event loop and
 * the extra loopback hop is measured in the same run, separately from DocFusionDB's own work.
 */

/** The relay's program (plain JavaScript for `node -e`, so it loads nothing from the repo). */
const RELAY_PROGRAM = `
const net = require('node:net');
const [host, port, upstreamHost, upstreamPort] = process.argv.slice(1);
const server = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = net.connect({ host: upstreamHost, port: Number(upstreamPort) });
  upstream.setNoDelay(true);
  client.on('data', (chunk) => upstream.write(chunk));
  upstream.on('data', (chunk) => client.write(chunk));
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(Number(port), host);
process.on('SIGTERM', () => process.exit(0));
`;

export interface ByteRelay {
  readonly host: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** `url` with its host and port replaced by the relay's. */
  via(url: string): string;
  stop(timeoutMs?: number): Promise<void>;
}

/** Starts the relay in front of `upstreamUrl`'s host and port; stopped at cleanup. */
export async function startByteRelay(upstreamUrl: string): Promise<ByteRelay> {
  const upstream = new URL(upstreamUrl);
  const host = '127.0.0.1';
  const port = await freePort();
  const child = startProcess(
    process.execPath,
    ['-e', RELAY_PROGRAM, host, String(port), upstream.hostname, upstream.port || '5432'],
    { name: 'node byte relay' },
  );
  try {
    await waitForTcp(host, port, { timeoutMs: 10_000, process: child });
  } catch (error) {
    await child.stop(2000);
    throw error;
  }
  return {
    host,
    port,
    process: child,
    via: (url) => viaHostPort(url, host, port),
    stop: (timeoutMs = 5000) => child.stop(timeoutMs),
  };
}
