/**
 * Client authentication through the proxy against a real Postgres: SCRAM pass-through, md5,
 * cleartext, trust, config-sourced users, and a hand-driven SCRAM exchange with tampered
 * client-final messages.
 */
import { randomBytes } from 'node:crypto';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeAuthentication, decodeErrorFields } from '../../protocol/backend-decoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { BackendCode } from '../../protocol/message-codes.js';
import { makeScramVerifier, ScramClientSession } from '../../protocol/scram.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const suffix = randomBytes(4).toString('hex');
const SCRAM_ROLE = `df_auth_scram_${suffix}`;
const SCRAM_PASSWORD = 'scram-pa$$word';
const MD5_ROLE = `df_auth_md5_${suffix}`;
const MD5_PASSWORD = 'md5-password';
const NOPW_ROLE = `df_auth_nopw_${suffix}`;
const UNKNOWN_ROLE = `df_auth_nobody_${suffix}`;

const upstream = new URL(upstreamUrl());
const ADMIN_USER = decodeURIComponent(upstream.username);
const ADMIN_PASSWORD = decodeURIComponent(upstream.password);
const DB = upstream.pathname.slice(1);

// ---- pg helpers --------------------------------------------------------------------------

async function connect(
  port: number,
  user: string,
  password: string,
  database = DB,
): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function currentUser(
  port: number,
  user: string,
  password: string,
  database = DB,
): Promise<string> {
  const client = await connect(port, user, password, database);
  try {
    const result = await client.query<{ u: string }>('SELECT current_user AS u');
    return result.rows[0]?.u ?? '';
  } finally {
    await client.end();
  }
}

/** The error a login fails with; fails the test when the login succeeds. */
async function loginError(
  port: number,
  user: string,
  password: string,
  database = DB,
): Promise<pg.DatabaseError> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  let connected = false;
  try {
    await client.connect();
    connected = true;
  } catch (error) {
    expect(error).toBeInstanceOf(pg.DatabaseError);
    return error as pg.DatabaseError;
  } finally {
    if (connected) await client.end();
  }
  throw new Error(`login as ${user} unexpectedly succeeded`);
}

function expectPasswordFailure(error: pg.DatabaseError, user: string): void {
  expect(error.code).toBe('28P01');
  expect(error.severity).toBe('FATAL');
  expect(error.message).toBe(`password authentication failed for user "${user}"`);
}

// ---- a raw protocol connection ---------------------------------------------------------------

interface Message {
  readonly type: number;
  readonly body: Buffer;
}

class Wire {
  closed = false;
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        resolve(new Wire(socket));
      });
      socket.once('error', reject);
    });
  }

  send(...parts: Buffer[]): void {
    this.socket.write(Buffer.concat(parts));
  }

  /** The next whole message, or null once the socket closed without one. */
  async next(timeoutMs = 10_000): Promise<Message | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 5) {
        const length = this.buf.readInt32BE(1);
        if (this.buf.length >= length + 1) {
          const message = { type: this.buf[0] ?? 0, body: this.buf.subarray(5, length + 1) };
          this.buf = this.buf.subarray(length + 1);
          return message;
        }
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message from the proxy');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Every message until the proxy closes the socket. */
  async untilClose(timeoutMs = 10_000): Promise<Message[]> {
    const messages: Message[] = [];
    for (let m = await this.next(timeoutMs); m; m = await this.next(timeoutMs)) messages.push(m);
    return messages;
  }

  async expectAuth(): Promise<ReturnType<typeof decodeAuthentication>> {
    const message = await this.next();
    if (message?.type !== BackendCode.Authentication) {
      const detail =
        message?.type === BackendCode.ErrorResponse ? decodeErrorFields(message.body).message : '';
      throw new Error(
        `expected an Authentication message, got ${JSON.stringify(message?.type)} ${detail}`,
      );
    }
    return decodeAuthentication(message.body);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Starts a SCRAM exchange by hand; returns the client-final message the client would send. */
async function scramToFinal(
  port: number,
  user: string,
  password: string,
): Promise<{ wire: Wire; scram: ScramClientSession; serverFirst: string; final: string }> {
  const wire = await Wire.connect(port);
  wire.send(fe.startupMessage({ user, database: DB }));
  const request = await wire.expectAuth();
  expect(request).toEqual({ kind: 'sasl', mechanisms: ['SCRAM-SHA-256'] });
  const scram = new ScramClientSession({ password });
  wire.send(fe.saslInitialResponse('SCRAM-SHA-256', Buffer.from(scram.clientFirstMessage())));
  const serverFirst = await wire.expectAuth();
  if (serverFirst.kind !== 'sasl-continue')
    throw new Error(`expected SASLContinue, got ${serverFirst.kind}`);
  const final = scram.handleServerFirst(serverFirst.data);
  return { wire, scram, serverFirst: serverFirst.data.toString(), final };
}

/** The fatal ErrorResponse the proxy ends a connection with, after checking the socket closed. */
async function fatalThenClose(wire: Wire): Promise<ReturnType<typeof decodeErrorFields>> {
  const messages = await wire.untilClose();
  expect(wire.closed).toBe(true);
  expect(messages.map((m) => String.fromCharCode(m.type))).toEqual(['E']);
  const [error] = messages;
  if (!error) throw new Error('no ErrorResponse');
  const fields = decodeErrorFields(error.body);
  expect(fields.severity).toBe('FATAL');
  return fields;
}

// ---- the upstream side ------------------------------------------------------------------------

/**
 * The embedded cluster's pg_hba.conf says scram-sha-256 for every host connection, so Postgres
 * itself refuses roles whose password is an md5 hash. md5 through the proxy needs an upstream
 * that accepts md5 for that role: prepend an `md5` line for MD5_ROLE (restored in afterAll).
 * Returns false when the upstream cannot be made to accept the md5 role (remote upstream).
 */
let restoreHba: (() => Promise<void>) | undefined;

async function directLoginWorks(user: string, password: string): Promise<boolean> {
  // Explicit fields: in a pg config, a connectionString's user and password win over `user`.
  const client = new pg.Client({
    host: upstream.hostname,
    port: Number(upstream.port),
    database: DB,
    user,
    password,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function allowMd5Upstream(admin: pg.Client): Promise<boolean> {
  if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return true;
  const hbaFile =
    (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0]?.hba_file ?? '';
  try {
    await access(hbaFile, constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  const original = await readFile(hbaFile, 'utf8');
  const lines = `host all ${MD5_ROLE} 127.0.0.1/32 md5\nhost all ${MD5_ROLE} ::1/128 md5\n`;
  await writeFile(hbaFile, lines + original);
  restoreHba = async () => {
    await writeFile(hbaFile, original);
    await admin.query('SELECT pg_reload_conf()');
  };
  await admin.query('SELECT pg_reload_conf()');
  for (let i = 0; i < 50; i++) {
    if (await directLoginWorks(MD5_ROLE, MD5_PASSWORD)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

let admin: pg.Client;
let proxy: TestProxy;
let md5Upstream = false;

beforeAll(async () => {
  admin = await adminClient();
  await admin.query(`SET password_encryption = 'scram-sha-256'`);
  await admin.query(`CREATE ROLE ${SCRAM_ROLE} LOGIN PASSWORD '${SCRAM_PASSWORD}'`);
  await admin.query(`SET password_encryption = 'md5'`);
  await admin.query(`CREATE ROLE ${MD5_ROLE} LOGIN PASSWORD '${MD5_PASSWORD}'`);
  await admin.query(`RESET password_encryption`);
  await admin.query(`CREATE ROLE ${NOPW_ROLE} LOGIN`);
  const stored = await admin.query<{ usename: string; passwd: string }>(
    'SELECT usename, passwd FROM pg_shadow WHERE usename = ANY($1) ORDER BY usename',
    [[SCRAM_ROLE, MD5_ROLE]],
  );
  expect(stored.rows.find((r) => r.usename === SCRAM_ROLE)?.passwd).toMatch(/^SCRAM-SHA-256\$/);
  expect(stored.rows.find((r) => r.usename === MD5_ROLE)?.passwd).toMatch(/^md5[0-9a-f]{32}$/);
  md5Upstream = await allowMd5Upstream(admin);
  proxy = await startProxy();
});

afterAll(async () => {
  await proxy.stop();
  await restoreHba?.();
  for (const role of [SCRAM_ROLE, MD5_ROLE, NOPW_ROLE])
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
  await admin.end();
});

// ---- tests ------------------------------------------------------------------------------------

describe('auth.source upstream, method scram-sha-256 (default)', () => {
  test('a SCRAM role logs in with its password and the proxy logs in upstream as that role', async () => {
    expect(await currentUser(proxy.port, SCRAM_ROLE, SCRAM_PASSWORD)).toBe(SCRAM_ROLE);
    // The upstream session really belongs to the role (not the admin with SET ROLE).
    const client = await connect(proxy.port, SCRAM_ROLE, SCRAM_PASSWORD);
    const r = await client.query<{ s: string; u: string }>(
      'SELECT session_user AS s, current_user AS u',
    );
    expect(r.rows).toEqual([{ s: SCRAM_ROLE, u: SCRAM_ROLE }]);
    await client.end();
  });

  test('a wrong password fails with 28P01', async () => {
    expectPasswordFailure(await loginError(proxy.port, SCRAM_ROLE, 'wrong'), SCRAM_ROLE);
  });

  test('an unknown user fails exactly like a wrong password (no user enumeration)', async () => {
    expectPasswordFailure(await loginError(proxy.port, UNKNOWN_ROLE, 'whatever'), UNKNOWN_ROLE);
  });

  test('an unknown user is offered a stable mock salt, like an existing one', async () => {
    const salts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { wire, serverFirst } = await scramToFinal(proxy.port, UNKNOWN_ROLE, 'whatever');
      expect(serverFirst).toMatch(/^r=[^,]+,s=[A-Za-z0-9+/=]+,i=4096$/);
      salts.push(/,s=([^,]+),/.exec(serverFirst)?.[1] ?? '');
      wire.destroy();
    }
    expect(salts[0]).not.toBe('');
    expect(salts[1]).toBe(salts[0]);
  });

  test('a role without a password fails with 28P01', async () => {
    expectPasswordFailure(await loginError(proxy.port, NOPW_ROLE, 'anything'), NOPW_ROLE);
  });

  test('an md5 role still logs in: the proxy falls back to md5 as Postgres does', async (ctx) => {
    if (!md5Upstream) ctx.skip();
    expect(await currentUser(proxy.port, MD5_ROLE, MD5_PASSWORD)).toBe(MD5_ROLE);
    expectPasswordFailure(await loginError(proxy.port, MD5_ROLE, 'wrong'), MD5_ROLE);
  });
});

describe('a SCRAM exchange driven by hand', () => {
  test('the untampered exchange succeeds and the server signature verifies', async () => {
    const { wire, scram, final } = await scramToFinal(proxy.port, SCRAM_ROLE, SCRAM_PASSWORD);
    wire.send(fe.saslResponse(final));
    const serverFinal = await wire.expectAuth();
    if (serverFinal.kind !== 'sasl-final')
      throw new Error(`expected SASLFinal, got ${serverFinal.kind}`);
    scram.verifyServerFinal(serverFinal.data);
    expect(await wire.expectAuth()).toEqual({ kind: 'ok' });
    const types: string[] = [];
    for (let m = await wire.next(); m; m = await wire.next()) {
      types.push(String.fromCharCode(m.type));
      if (m.type === BackendCode.ReadyForQuery) break;
    }
    expect(types).toContain('K');
    expect(types.at(-1)).toBe('Z');
    wire.send(fe.terminate());
    await wire.untilClose();
    expect(wire.closed).toBe(true);
  });

  test('a tampered proof gets FATAL 28P01 and the socket closes', async () => {
    const { wire, final } = await scramToFinal(proxy.port, SCRAM_ROLE, SCRAM_PASSWORD);
    const at = final.indexOf(',p=') + 3;
    const proof = Buffer.from(final.slice(at), 'base64');
    proof.writeUInt8(proof.readUInt8(0) ^ 0xff, 0);
    wire.send(fe.saslResponse(final.slice(0, at) + proof.toString('base64')));
    const fields = await fatalThenClose(wire);
    expect(fields.code).toBe('28P01');
    expect(fields.message).toBe(`password authentication failed for user "${SCRAM_ROLE}"`);
  });

  test('a client-final with a wrong nonce gets a FATAL error and the socket closes', async () => {
    const { wire, final } = await scramToFinal(proxy.port, SCRAM_ROLE, SCRAM_PASSWORD);
    const nonce = /,r=([^,]+),/.exec(final)?.[1] ?? '';
    expect(nonce).not.toBe('');
    const wrong = nonce.slice(0, -1) + (nonce.endsWith('A') ? 'B' : 'A');
    wire.send(fe.saslResponse(final.replace(`r=${nonce}`, `r=${wrong}`)));
    const fields = await fatalThenClose(wire);
    // Postgres answers 08P01 "invalid SCRAM response" (Nonce does not match).
    expect(['08P01', '28P01']).toContain(fields.code);
  });

  test('an unsupported SASL mechanism gets FATAL 08P01', async () => {
    const wire = await Wire.connect(proxy.port);
    wire.send(fe.startupMessage({ user: SCRAM_ROLE, database: DB }));
    expect((await wire.expectAuth()).kind).toBe('sasl');
    wire.send(fe.saslInitialResponse('PLAIN', Buffer.from('\0user\0pw')));
    const fields = await fatalThenClose(wire);
    expect(fields.code).toBe('08P01');
  });

  test('a Query instead of the SASL response gets FATAL 08P01', async () => {
    const wire = await Wire.connect(proxy.port);
    wire.send(fe.startupMessage({ user: SCRAM_ROLE, database: DB }));
    expect((await wire.expectAuth()).kind).toBe('sasl');
    wire.send(fe.query('SELECT 1'));
    const fields = await fatalThenClose(wire);
    expect(fields.code).toBe('08P01');
  });
});

describe('method md5', () => {
  let md5Proxy: TestProxy;
  beforeAll(async () => {
    md5Proxy = await startProxy({ auth: { method: 'md5' } });
  });
  afterAll(async () => {
    await md5Proxy.stop();
  });

  test('an md5 role logs in and is that role upstream; a wrong password fails 28P01', async (ctx) => {
    if (!md5Upstream) ctx.skip();
    expect(await currentUser(md5Proxy.port, MD5_ROLE, MD5_PASSWORD)).toBe(MD5_ROLE);
    expectPasswordFailure(await loginError(md5Proxy.port, MD5_ROLE, 'wrong'), MD5_ROLE);
  });

  test('the challenge is md5 for an md5 role', async () => {
    const wire = await Wire.connect(md5Proxy.port);
    wire.send(fe.startupMessage({ user: MD5_ROLE, database: DB }));
    expect((await wire.expectAuth()).kind).toBe('md5');
    wire.destroy();
  });

  test('a SCRAM role falls back to SCRAM, as Postgres does', async () => {
    const wire = await Wire.connect(md5Proxy.port);
    wire.send(fe.startupMessage({ user: SCRAM_ROLE, database: DB }));
    expect((await wire.expectAuth()).kind).toBe('sasl');
    wire.destroy();
    expect(await currentUser(md5Proxy.port, SCRAM_ROLE, SCRAM_PASSWORD)).toBe(SCRAM_ROLE);
  });
});

describe('method password (cleartext)', () => {
  let passwordProxy: TestProxy;
  beforeAll(async () => {
    passwordProxy = await startProxy({ auth: { method: 'password' } });
  });
  afterAll(async () => {
    await passwordProxy.stop();
  });

  test('the proxy asks for a cleartext password', async () => {
    const wire = await Wire.connect(passwordProxy.port);
    wire.send(fe.startupMessage({ user: SCRAM_ROLE, database: DB }));
    expect(await wire.expectAuth()).toEqual({ kind: 'cleartext' });
    wire.destroy();
  });

  test('a SCRAM role logs in', async () => {
    expect(await currentUser(passwordProxy.port, SCRAM_ROLE, SCRAM_PASSWORD)).toBe(SCRAM_ROLE);
  });

  test('an md5 role logs in', async (ctx) => {
    if (!md5Upstream) ctx.skip();
    expect(await currentUser(passwordProxy.port, MD5_ROLE, MD5_PASSWORD)).toBe(MD5_ROLE);
  });

  test('wrong passwords and unknown users fail with 28P01', async () => {
    expectPasswordFailure(await loginError(passwordProxy.port, SCRAM_ROLE, 'wrong'), SCRAM_ROLE);
    expectPasswordFailure(await loginError(passwordProxy.port, MD5_ROLE, 'wrong'), MD5_ROLE);
    expectPasswordFailure(await loginError(passwordProxy.port, UNKNOWN_ROLE, 'x'), UNKNOWN_ROLE);
  });
});

describe('method trust', () => {
  let trustProxy: TestProxy;
  beforeAll(async () => {
    trustProxy = await startProxy({ auth: { method: 'trust' } });
  });
  afterAll(async () => {
    await trustProxy.stop();
  });

  test('the upstream admin logs in with any password', async () => {
    expect(await currentUser(trustProxy.port, ADMIN_USER, 'not-the-password')).toBe(ADMIN_USER);
  });

  test('a role the upstream wants a password for gets FATAL 28P01, not a hang', async () => {
    const started = Date.now();
    const error = await loginError(trustProxy.port, NOPW_ROLE, '');
    expect(error.code).toBe('28P01');
    expect(error.severity).toBe('FATAL');
    expect(error.message).toContain(NOPW_ROLE);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('auth.source config', () => {
  const CONFIG_USER = `df_auth_cfg_${suffix}`;
  const CONFIG_PASSWORD = 'config-password';
  let configProxy: TestProxy;
  beforeAll(async () => {
    configProxy = await startProxy({
      auth: {
        source: 'config',
        users: [{ name: CONFIG_USER, password: makeScramVerifier(CONFIG_PASSWORD) }],
      },
      databases: { [DB]: { user: ADMIN_USER, password: ADMIN_PASSWORD } },
    });
  });
  afterAll(async () => {
    await configProxy.stop();
  });

  test('a configured user logs in with its password; upstream uses the mapped credentials', async () => {
    expect(await currentUser(configProxy.port, CONFIG_USER, CONFIG_PASSWORD)).toBe(ADMIN_USER);
  });

  test('a wrong password fails with 28P01', async () => {
    expectPasswordFailure(await loginError(configProxy.port, CONFIG_USER, 'wrong'), CONFIG_USER);
  });

  test('an upstream role not listed in the config cannot log in, even with its password', async () => {
    expectPasswordFailure(
      await loginError(configProxy.port, SCRAM_ROLE, SCRAM_PASSWORD),
      SCRAM_ROLE,
    );
  });
});

describe('after all of the above', () => {
  test('other clients still work', async () => {
    const clients = await Promise.all([
      connect(proxy.port, ADMIN_USER, ADMIN_PASSWORD),
      connect(proxy.port, SCRAM_ROLE, SCRAM_PASSWORD),
    ]);
    for (const [i, client] of clients.entries()) {
      const r = await client.query<{ n: number }>('SELECT $1::int AS n', [i + 40]);
      expect(r.rows).toEqual([{ n: i + 40 }]);
    }
    await Promise.all(clients.map((c) => c.end()));
    expect(proxy.running.proxy.listening).toBe(true);
  });
});
