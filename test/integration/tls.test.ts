/**
 * TLS between clients and the proxy: pg (with and without certificate verification), psql,
 * `tls.require`, and the SSLRequest edge cases at the wire level.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeAuthentication, decodeErrorFields } from '../../protocol/backend-decoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { BackendCode } from '../../protocol/message-codes.js';
import { startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';
import { makeTestCertificate, type TestCertificate } from '../support/tls-cert.js';

const upstream = new URL(upstreamUrl());
const USER = decodeURIComponent(upstream.username);
const PASSWORD = decodeURIComponent(upstream.password);
const DB = upstream.pathname.slice(1);

function clientConfig(port: number, ssl: pg.ClientConfig['ssl']): pg.ClientConfig {
  return {
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    database: DB,
    ssl,
    connectionTimeoutMillis: 10_000,
  };
}

/** The socket a connected pg client talks over (a TLSSocket after an SSL upgrade). */
function clientSocket(client: pg.Client): net.Socket {
  return (client as unknown as { connection: { stream: net.Socket } }).connection.stream;
}

function tlsSocketOf(client: pg.Client): tls.TLSSocket {
  const socket = clientSocket(client);
  if (!(socket instanceof tls.TLSSocket)) throw new Error('the client is not using TLS');
  return socket;
}

async function roundTrip(client: pg.Client, n: number): Promise<void> {
  const r = await client.query<{ n: number }>('SELECT $1::int AS n', [n]);
  expect(r.rows).toEqual([{ n }]);
}

async function connectError(config: pg.ClientConfig): Promise<Error> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  let connected = false;
  try {
    await client.connect();
    connected = true;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  } finally {
    if (connected) await client.end();
  }
  throw new Error('connection unexpectedly succeeded');
}

function psql(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'psql',
      args,
      {
        env: { PATH: process.env.PATH ?? '', PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '10' },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// ---- raw sockets -----------------------------------------------------------------------------

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Everything the peer sends until it closes (or the timeout, then `closed` is false). */
function readUntilClose(
  socket: net.Socket,
  timeoutMs = 10_000,
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      resolve({ data: Buffer.concat(chunks), closed: false });
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
    socket.resume();
  });
}

/** The next `n` bytes the peer sends; the socket is left paused (ready for a TLS upgrade). */
function readBytes(socket: net.Socket, n: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (error) reject(error);
      else {
        if (buf.length > n) socket.unshift(buf.subarray(n));
        resolve(buf.subarray(0, n));
      }
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= n) done();
    };
    const onClose = (): void => {
      done(new Error(`closed after ${buf.length} of ${n} bytes`));
    };
    const timer = setTimeout(() => {
      done(new Error(`timed out after ${buf.length} of ${n} bytes`));
    }, timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

function parseMessages(data: Buffer): { type: string; body: Buffer }[] {
  const messages: { type: string; body: Buffer }[] = [];
  let at = 0;
  while (at + 5 <= data.length) {
    const length = data.readInt32BE(at + 1);
    if (at + 1 + length > data.length) break;
    messages.push({
      type: String.fromCharCode(data[at] ?? 0),
      body: data.subarray(at + 5, at + 1 + length),
    });
    at += 1 + length;
  }
  if (at !== data.length) throw new Error(`trailing bytes: ${data.subarray(at).toString('hex')}`);
  return messages;
}

/** The only message is a FATAL ErrorResponse; returns its SQLSTATE. */
function singleFatal(data: Buffer): string {
  const messages = parseMessages(data);
  expect(messages.map((m) => m.type)).toEqual(['E']);
  const fields = decodeErrorFields((messages[0] as { body: Buffer }).body);
  expect(fields.severity).toBe('FATAL');
  return fields.code;
}

function tlsUpgrade(socket: net.Socket): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ socket, servername: 'localhost', rejectUnauthorized: false });
    secure.once('secureConnect', () => {
      resolve(secure);
    });
    secure.once('error', reject);
  });
}

// ---- setup -----------------------------------------------------------------------------------

let cert: TestCertificate;
let otherCert: TestCertificate;
let tlsProxy: TestProxy;
let plainProxy: TestProxy;
let requireProxy: TestProxy;

beforeAll(async () => {
  [cert, otherCert] = await Promise.all([
    makeTestCertificate('localhost'),
    makeTestCertificate('localhost'),
  ]);
  [tlsProxy, plainProxy, requireProxy] = await Promise.all([
    startProxy({ tls: { cert: cert.certFile, key: cert.keyFile } }),
    startProxy(),
    startProxy({ tls: { cert: cert.certFile, key: cert.keyFile, require: true } }),
  ]);
});

afterAll(async () => {
  await Promise.all([tlsProxy.stop(), plainProxy.stop(), requireProxy.stop()]);
  await Promise.all([cert.remove(), otherCert.remove()]);
});

// ---- tests -----------------------------------------------------------------------------------

describe('TLS configured', () => {
  test('pg with ssl (no verification) talks TLS to the proxy with the configured certificate', async () => {
    const client = new pg.Client(clientConfig(tlsProxy.port, { rejectUnauthorized: false }));
    await client.connect();
    const secure = tlsSocketOf(client);
    expect(secure.encrypted).toBe(true);
    expect(secure.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    expect(secure.getPeerCertificate().fingerprint256).toBe(cert.fingerprint256);
    await roundTrip(client, 7);
    await client.end();
  });

  test('pg verifying the certificate (CA = the self-signed cert, name localhost) connects', async () => {
    const client = new pg.Client(
      clientConfig(tlsProxy.port, {
        ca: cert.cert,
        rejectUnauthorized: true,
        servername: 'localhost',
      }),
    );
    await client.connect();
    expect(tlsSocketOf(client).authorized).toBe(true);
    await roundTrip(client, 8);
    const r = await client.query<{ u: string }>('SELECT current_user AS u');
    expect(r.rows).toEqual([{ u: USER }]);
    await client.end();
  });

  test('a verifying client that trusts a different certificate refuses the proxy', async () => {
    const error = await connectError(
      clientConfig(tlsProxy.port, {
        ca: otherCert.cert,
        rejectUnauthorized: true,
        servername: 'localhost',
      }),
    );
    expect(error.message).toMatch(/certificate|self[- ]signed/i);
  });

  test('a verifying client expecting another host name refuses the proxy', async () => {
    const error = await connectError(
      clientConfig(tlsProxy.port, {
        ca: cert.cert,
        rejectUnauthorized: true,
        servername: 'db.example.com',
      }),
    );
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('a client without TLS still connects when TLS is not required', async () => {
    const client = new pg.Client(clientConfig(tlsProxy.port, false));
    await client.connect();
    expect(clientSocket(client)).not.toBeInstanceOf(tls.TLSSocket);
    await roundTrip(client, 9);
    await client.end();
  });

  test('psql with sslmode=require connects over TLS', async () => {
    const url = `postgresql://${encodeURIComponent(USER)}@127.0.0.1:${tlsProxy.port}/${DB}?sslmode=require&gssencmode=disable`;
    const result = await psql([url, '-X', '-At', '-c', 'SELECT 40 + 2', '-c', '\\conninfo']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('42');
    expect(result.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
  });

  test('psql with sslmode=verify-full against the certificate connects', async () => {
    const conninfo = [
      'host=localhost',
      'hostaddr=127.0.0.1',
      `port=${tlsProxy.port}`,
      `user=${USER}`,
      `dbname=${DB}`,
      'sslmode=verify-full',
      `sslrootcert=${cert.certFile}`,
      'gssencmode=disable',
    ].join(' ');
    const result = await psql([conninfo, '-X', '-At', '-c', 'SELECT 1']);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('1');
  });

  test('SSLRequest followed by more bytes in the same write gets FATAL 08P01 and a close', async () => {
    const socket = await rawConnect(tlsProxy.port);
    const reply = readUntilClose(socket);
    socket.write(Buffer.concat([fe.sslRequest(), fe.startupMessage({ user: USER, database: DB })]));
    const { data, closed } = await reply;
    expect(closed).toBe(true);
    expect(data[0]).not.toBe('S'.charCodeAt(0)); // no TLS handshake over the injected bytes
    expect(singleFatal(data)).toBe('08P01');
  });

  test('a raw client can negotiate TLS and then send its startup packet', async () => {
    const socket = await rawConnect(tlsProxy.port);
    socket.write(fe.sslRequest());
    expect((await readBytes(socket, 1)).toString()).toBe('S');
    const secure = await tlsUpgrade(socket);
    secure.write(fe.startupMessage({ user: USER, database: DB }));
    const first = await readBytes(secure, 5);
    expect(first[0]).toBe(BackendCode.Authentication);
    const body = await readBytes(secure, first.readInt32BE(1) - 4);
    expect(decodeAuthentication(body).kind).toBe('sasl');
    secure.destroy();
  });

  test('GSSENCRequest is refused with N and SSLRequest can follow on the same connection', async () => {
    const socket = await rawConnect(tlsProxy.port);
    socket.write(fe.gssencRequest());
    expect((await readBytes(socket, 1)).toString()).toBe('N');
    socket.write(fe.sslRequest());
    expect((await readBytes(socket, 1)).toString()).toBe('S');
    const secure = await tlsUpgrade(socket);
    expect(secure.encrypted).toBe(true);
    secure.destroy();
  });

  test('a second SSLRequest inside TLS gets FATAL 08P01', async () => {
    const socket = await rawConnect(tlsProxy.port);
    socket.write(fe.sslRequest());
    expect((await readBytes(socket, 1)).toString()).toBe('S');
    const secure = await tlsUpgrade(socket);
    const reply = readUntilClose(secure);
    secure.write(fe.sslRequest());
    const { data, closed } = await reply;
    expect(closed).toBe(true);
    expect(singleFatal(data)).toBe('08P01');
  });

  test('plaintext instead of a TLS handshake after S closes the connection; others keep working', async () => {
    const control = new pg.Client(clientConfig(tlsProxy.port, { rejectUnauthorized: false }));
    await control.connect();
    const socket = await rawConnect(tlsProxy.port);
    socket.write(fe.sslRequest());
    expect((await readBytes(socket, 1)).toString()).toBe('S');
    const reply = readUntilClose(socket);
    socket.write(fe.startupMessage({ user: USER, database: DB }));
    const { closed } = await reply;
    expect(closed).toBe(true);
    await roundTrip(control, 10);
    await control.end();
  });
});

describe('TLS not configured', () => {
  test('pg with ssl: true fails with "The server does not support SSL connections"', async () => {
    const error = await connectError(clientConfig(plainProxy.port, true));
    expect(error.message).toBe('The server does not support SSL connections');
  });

  test('the proxy answers SSLRequest with N and accepts the startup packet after it', async () => {
    const socket = await rawConnect(plainProxy.port);
    socket.write(fe.sslRequest());
    expect((await readBytes(socket, 1)).toString()).toBe('N');
    socket.write(fe.startupMessage({ user: USER, database: DB }));
    const first = await readBytes(socket, 5);
    expect(first[0]).toBe(BackendCode.Authentication);
    socket.destroy();
  });

  test('psql with sslmode=require fails with a clear message', async () => {
    const url = `postgresql://${encodeURIComponent(USER)}@127.0.0.1:${plainProxy.port}/${DB}?sslmode=require&gssencmode=disable`;
    const result = await psql([url, '-X', '-At', '-c', 'SELECT 1']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('server does not support SSL');
  });
});

describe('tls.require', () => {
  test('a client without TLS gets FATAL 28000', async () => {
    const error = await connectError(clientConfig(requireProxy.port, false));
    if (!(error instanceof pg.DatabaseError)) throw error;
    const dbError = error;
    expect(dbError.code).toBe('28000');
    expect(dbError.severity).toBe('FATAL');
    expect(dbError.message).toMatch(/SSL/);
  });

  test('psql with sslmode=disable is refused', async () => {
    const url = `postgresql://${encodeURIComponent(USER)}@127.0.0.1:${requireProxy.port}/${DB}?sslmode=disable&gssencmode=disable`;
    const result = await psql([url, '-X', '-At', '-c', 'SELECT 1']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/SSL connection is required/);
  });

  test('a TLS client works', async () => {
    const client = new pg.Client(
      clientConfig(requireProxy.port, {
        ca: cert.cert,
        rejectUnauthorized: true,
        servername: 'localhost',
      }),
    );
    await client.connect();
    expect(clientSocket(client)).toBeInstanceOf(tls.TLSSocket);
    await roundTrip(client, 11);
    await client.end();
  });

  test('psql with sslmode=prefer ends up on TLS', async () => {
    const url = `postgresql://${encodeURIComponent(USER)}@127.0.0.1:${requireProxy.port}/${DB}?sslmode=prefer&gssencmode=disable`;
    const result = await psql([url, '-X', '-At', '-c', '\\conninfo']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/SSL connection/);
  });
});
