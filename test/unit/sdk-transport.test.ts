import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { DocFusionClient, DocFusionError } from '../../sdk/client.js';
import { fetchTransport, type Transport } from '../../sdk/transport.js';
import { undiciTransport } from '../../sdk/undici-transport.js';

/**
 * The SDK's transports against a plain node:http server (no Postgres): both must behave the
 * same for what the client relies on: statuses and headers, streamed request bodies with
 * backpressure, streamed responses read in part, bodiless statuses, keep-alive reuse.
 */

let server: http.Server;
let baseUrl: string;
const sockets = new Set<unknown>();

beforeAll(async () => {
  server = http.createServer((request, response) => {
    sockets.add(request.socket);
    void route(request, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/prefix`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

async function route(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const url = request.url ?? '';
  if (url.split('?')[0] === '/prefix/echo') {
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of request) {
      bytes += (chunk as Buffer).length;
      chunks++;
    }
    response.setHeader('set-cookie', ['a=1', 'b=2']);
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        method: request.method,
        bytes,
        chunks,
        type: request.headers['content-type'] ?? null,
        auth: request.headers.authorization ?? null,
        query: url.split('?')[1] ?? null,
      }),
    );
  } else if (url === '/prefix/empty') {
    response.writeHead(request.method === 'DELETE' ? 204 : 304, { etag: '"7"' }).end();
  } else if (url === '/prefix/refuse') {
    // Answers before reading the (large, streamed) body.
    response
      .writeHead(415, { 'content-type': 'application/json', connection: 'close' })
      .end('{"error":{"code":"unsupported_media_type","message":"no"}}');
  } else if (url === '/prefix/lines') {
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    for (let i = 0; i < 2000; i++) {
      if (!response.write(`{"n":${String(i)},"pad":"${'x'.repeat(500)}"}\n`)) {
        await once(response, 'drain');
      }
    }
    response.end();
  } else if (url.startsWith('/prefix/v1/collections/c/documents/')) {
    response.writeHead(url.endsWith('/404') ? 404 : 200, {
      'content-type': 'application/json',
      etag: '"3"',
    });
    response.end(
      url.endsWith('/404')
        ? '{"error":{"code":"not_found","message":"document 404 does not exist"}}'
        : '{"id":1,"version":3,"createdAt":"x","updatedAt":"y","doc":{"a":1}}',
    );
  } else {
    response.writeHead(404).end();
  }
}

async function* stream(count: number, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    await Promise.resolve();
    yield new Uint8Array(size).fill(0x61);
  }
}

const pools: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

const transports: [string, () => Transport][] = [
  [
    'undici',
    () => {
      const made = undiciTransport(baseUrl);
      pools.push(made);
      return made.transport;
    },
  ],
  ['fetch', () => fetchTransport()],
];

describe.each(transports)('%s transport', (_name, make) => {
  test('status, headers, text; repeated headers are joined', async () => {
    const transport = make();
    const response = await transport({
      method: 'POST',
      url: `${baseUrl}/echo?x=1`,
      headers: { 'content-type': 'text/plain', authorization: 'Bearer k' },
      body: 'hello',
    });
    expect(response.status).toBe(200);
    expect(response.header('content-type')).toBe('application/json');
    expect(response.header('set-cookie')).toBe('a=1, b=2');
    expect(response.header('missing')).toBeNull();
    expect(response.headers().get('content-type')).toBe('application/json');
    expect(JSON.parse(await response.text())).toEqual({
      method: 'POST',
      bytes: 5,
      chunks: 1,
      type: 'text/plain',
      auth: 'Bearer k',
      query: 'x=1',
    });
  });

  test('a streamed body arrives whole, in pieces', async () => {
    const transport = make();
    const response = await transport({
      method: 'POST',
      url: `${baseUrl}/echo`,
      headers: { 'content-type': 'application/x-ndjson' },
      body: stream(200, 64 * 1024),
    });
    const echo = JSON.parse(await response.text()) as { bytes: number; chunks: number };
    expect(echo.bytes).toBe(200 * 64 * 1024);
    expect(echo.chunks).toBeGreaterThan(1);
  });

  test('an answer sent before the streamed body is read still arrives', async () => {
    const transport = make();
    const response = await transport({
      method: 'POST',
      url: `${baseUrl}/refuse`,
      headers: { 'content-type': 'text/csv' },
      body: stream(4, 1024),
    });
    expect(response.status).toBe(415);
    expect(await response.text()).toContain('unsupported_media_type');
  });

  test('bodiless answers: a Response without a body, and the connection is reused', async () => {
    const transport = make();
    for (let i = 0; i < 3; i++) {
      const deleted = await transport({ method: 'DELETE', url: `${baseUrl}/empty`, headers: {} });
      expect(deleted.status).toBe(204);
      const web = deleted.toResponse();
      expect(web.status).toBe(204);
      expect(web.body).toBeNull();
      expect(web.headers.get('etag')).toBe('"7"');
      const notModified = await transport({ method: 'GET', url: `${baseUrl}/empty`, headers: {} });
      expect(notModified.status).toBe(304);
      await notModified.discard();
    }
  });

  test('a streamed answer can be read in part, then the next request goes through', async () => {
    const transport = make();
    for (let round = 0; round < 2; round++) {
      const response = await transport({ method: 'GET', url: `${baseUrl}/lines`, headers: {} });
      let bytes = 0;
      for await (const chunk of response.chunks()) {
        bytes += chunk.byteLength;
        if (bytes > 10_000) break;
      }
      expect(bytes).toBeGreaterThan(10_000);
    }
    const whole = await transport({ method: 'GET', url: `${baseUrl}/lines`, headers: {} });
    const text = await whole.toResponse().text();
    expect(text.split('\n').filter((line) => line !== '')).toHaveLength(2000);
    // A partly read answer costs at most its connection; later ones are kept alive.
    const before = sockets.size;
    for (let i = 0; i < 5; i++) {
      const echo = await transport({ method: 'GET', url: `${baseUrl}/echo`, headers: {} });
      expect(echo.status).toBe(200);
      await echo.discard();
    }
    expect(sockets.size - before).toBeLessThanOrEqual(1);
  });

  test('the client over it: documents, ETags and errors', async () => {
    const client = new DocFusionClient({ baseUrl, token: 't', transport: make() });
    const doc = await client.get('c', 1);
    expect(doc).toEqual({
      id: 1,
      version: 3,
      createdAt: 'x',
      updatedAt: 'y',
      doc: { a: 1 },
      etag: '"3"',
    });
    const error = await client.get('c', 404).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DocFusionError);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
    expect((error as DocFusionError).headers.get('etag')).toBe('"3"');
    const response = await client.call('GET', '/v1/collections/c/documents/1');
    expect(response.headers.get('etag')).toBe('"3"');
    expect(await response.json()).toMatchObject({ id: 1 });
  });
});

test('on Node the client does not use fetch unless asked to', async () => {
  const spy = vi.fn(fetch);
  vi.stubGlobal('fetch', spy);
  try {
    const client = new DocFusionClient({ baseUrl, token: 't' });
    expect((await client.get('c', 1)).etag).toBe('"3"');
    await client.close();
    expect(spy).not.toHaveBeenCalled();
    const viaFetch = new DocFusionClient({ baseUrl, token: 't', fetch: spy });
    expect((await viaFetch.get('c', 1)).etag).toBe('"3"');
    expect(spy).toHaveBeenCalledTimes(1);
  } finally {
    vi.unstubAllGlobals();
  }
});

test('the undici transport refuses a URL of another origin', async () => {
  const made = undiciTransport(baseUrl);
  pools.push(made);
  await expect(
    made.transport({ method: 'GET', url: 'http://127.0.0.2:1/x', headers: {} }),
  ).rejects.toThrow(/is not on/);
});
