/**
 * Malformed and hostile input on raw sockets: before and after login. For each case the proxy
 * answers FATAL 08P01 (or just closes, when the client closed first), drops the session and its
 * upstream connection, and a concurrently connected pg client keeps working.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { decodeErrorFields } from '../../protocol/backend-decoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { BackendCode, StartupCode } from '../../protocol/message-codes.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const suffix = randomBytes(4).toString('hex');
const APP = `df_bad_input_${suffix}`;
const MAX_MESSAGE = 1024 * 1024;

const upstream = new URL(upstreamUrl());
const USER = decodeURIComponent(upstream.username);
const PASSWORD = decodeURIComponent(upstream.password);
const DB = upstream.pathname.slice(1);

// ---- raw sockets -----------------------------------------------------------------------------

interface Message {
  readonly type: number;
  readonly body: Buffer;
}

/** Raw sockets of the running test, destroyed after it whatever happened. */
const opened = new Set<Raw>();

/** A raw client socket that records everything the proxy sends. */
class Raw {
  closed = false;
  data = Buffer.alloc(0);
  private wake: (() => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    opened.add(this);
    socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        resolve(new Raw(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Trust login as the upstream admin; resolves at the first ReadyForQuery. */
  static async login(port: number): Promise<Raw> {
    const raw = await Raw.connect(port);
    raw.socket.write(fe.startupMessage({ user: USER, database: DB, application_name: APP }));
    const ok = await raw.waitFor(
      () => raw.messages().some((m) => m.type === BackendCode.ReadyForQuery),
      10_000,
    );
    if (!ok) throw new Error(`login did not finish: ${JSON.stringify(raw.errors())}`);
    raw.data = Buffer.alloc(0);
    return raw;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits until `done()` or the socket closed; false when the timeout came first. */
  async waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done()) return true;
      if (this.closed) return done();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async untilClose(timeoutMs = 5000): Promise<boolean> {
    await this.waitFor(() => this.closed, timeoutMs);
    return this.closed;
  }

  /** Whole messages received so far (a trailing partial message is left out). */
  messages(): Message[] {
    const out: Message[] = [];
    for (let at = 0; at + 5 <= this.data.length;) {
      const length = this.data.readInt32BE(at + 1);
      if (length < 4 || at + 1 + length > this.data.length) break;
      out.push({ type: this.data[at] ?? 0, body: this.data.subarray(at + 5, at + 1 + length) });
      at += 1 + length;
    }
    return out;
  }

  errors(): { severity: string; code: string; message: string }[] {
    return this.messages()
      .filter((m) => m.type === BackendCode.ErrorResponse)
      .map((m) => {
        const f = decodeErrorFields(m.body);
        return { severity: f.severity, code: f.code, message: f.message };
      });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The proxy answered exactly one FATAL 08P01 and closed the socket. */
async function expectProtocolViolation(raw: Raw): Promise<void> {
  expect(await raw.untilClose()).toBe(true);
  const errors = raw.errors();
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ severity: 'FATAL', code: '08P01' });
}

/** The proxy closed the socket without a word (the client had closed first). */
async function expectQuietClose(raw: Raw): Promise<void> {
  expect(await raw.untilClose()).toBe(true);
  expect(raw.errors()).toEqual([]);
}

function frame(type: number, body: Buffer, declaredLength = body.length + 4): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeInt32BE(declaredLength | 0, 1);
  return Buffer.concat([header, body]);
}

function untyped(body: Buffer, declaredLength = body.length + 4): Buffer {
  const header = Buffer.alloc(4);
  header.writeInt32BE(declaredLength | 0, 0);
  return Buffer.concat([header, body]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0, 0);
  return b;
}

const cstr = (s: string | Buffer): Buffer =>
  Buffer.concat([typeof s === 'string' ? Buffer.from(s) : s, Buffer.from([0])]);

// ---- setup -----------------------------------------------------------------------------------

let proxy: TestProxy;
let control: pg.Client;
let admin: pg.Client;
let controlErrors: Error[];
let roundTrips = 0;

beforeAll(async () => {
  proxy = await startProxy({
    auth: { method: 'trust' },
    limits: { maxMessageSize: MAX_MESSAGE, startupTimeoutMs: 1000 },
  });
  admin = await adminClient();
  control = new pg.Client({
    host: '127.0.0.1',
    port: proxy.port,
    user: USER,
    password: PASSWORD,
    database: DB,
  });
  controlErrors = [];
  control.on('error', (error) => controlErrors.push(error));
  await control.connect();
});

afterAll(async () => {
  await control.end();
  await admin.end();
  await proxy.stop();
});

/** Upstream backends opened for raw sessions of this file. */
async function rawUpstreams(): Promise<number> {
  const r = await admin.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
    [APP],
  );
  return r.rows[0]?.n ?? 0;
}

/** After every case: the proxy lives, only the control session is left, no upstream leaks. */
async function controlStillWorks(): Promise<void> {
  const n = ++roundTrips;
  const r = await control.query<{ n: number }>('SELECT $1::int AS n', [n]);
  expect(r.rows).toEqual([{ n }]);
  expect(controlErrors).toEqual([]);
  expect(proxy.running.proxy.listening).toBe(true);
  let sessions = proxy.running.proxy.sessions.size;
  let upstreams = await rawUpstreams();
  for (let i = 0; i < 100 && (sessions !== 1 || upstreams !== 0); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    sessions = proxy.running.proxy.sessions.size;
    upstreams = await rawUpstreams();
  }
  expect(sessions).toBe(1);
  expect(upstreams).toBe(0);
}

beforeAll(async () => {
  await controlStillWorks();
});
afterEach(async () => {
  for (const raw of opened) raw.destroy();
  opened.clear();
  await controlStillWorks();
});

// ---- before login ----------------------------------------------------------------------------

describe('the startup packet', () => {
  test('garbage (an HTTP request) instead of a startup packet', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    await expectProtocolViolation(raw);
  });

  test('a truncated startup packet, then the client closes', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.socket.end(fe.startupMessage({ user: USER, database: DB }).subarray(0, 13));
    await expectQuietClose(raw);
  });

  test('a startup length of 0x7fffffff', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(
      untyped(Buffer.concat([int32(StartupCode.ProtocolV3), cstr('user'), cstr(USER)]), 0x7fffffff),
    );
    await expectProtocolViolation(raw);
  });

  test('a startup length below the minimum', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(untyped(Buffer.alloc(0), 4));
    await expectProtocolViolation(raw);
  });

  test('invalid UTF-8 in the user name', async () => {
    const raw = await Raw.connect(proxy.port);
    const body = Buffer.concat([
      int32(StartupCode.ProtocolV3),
      cstr('user'),
      cstr(Buffer.from([0xff, 0xfe, 0x41])),
      cstr('database'),
      cstr(DB),
      Buffer.from([0]),
    ]);
    raw.write(untyped(body));
    await expectProtocolViolation(raw);
  });

  test('invalid UTF-8 in another startup parameter', async () => {
    const raw = await Raw.connect(proxy.port);
    const body = Buffer.concat([
      int32(StartupCode.ProtocolV3),
      cstr('user'),
      cstr(USER),
      cstr('application_name'),
      cstr(Buffer.from([0xc3, 0x28])),
      Buffer.from([0]),
    ]);
    raw.write(untyped(body));
    await expectProtocolViolation(raw);
  });

  test('a startup packet without its final terminator', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(untyped(Buffer.concat([int32(StartupCode.ProtocolV3), cstr('user'), cstr(USER)])));
    await expectProtocolViolation(raw);
  });

  test('protocol 2.0 is refused with FATAL 0A000', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(untyped(Buffer.concat([int32(2 << 16), cstr('user'), cstr(USER), Buffer.from([0])])));
    expect(await raw.untilClose()).toBe(true);
    expect(raw.errors()).toEqual([expect.objectContaining({ severity: 'FATAL', code: '0A000' })]);
  });

  test('a startup packet without a user is refused with FATAL 28000', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(
      untyped(
        Buffer.concat([
          int32(StartupCode.ProtocolV3),
          cstr('database'),
          cstr(DB),
          Buffer.from([0]),
        ]),
      ),
    );
    expect(await raw.untilClose()).toBe(true);
    expect(raw.errors()).toEqual([expect.objectContaining({ severity: 'FATAL', code: '28000' })]);
  });

  test('a CancelRequest for an unknown backend is closed silently', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(fe.cancelRequest(12345, Buffer.from([1, 2, 3, 4])));
    await expectQuietClose(raw);
  });

  test('a CancelRequest with a malformed key', async () => {
    const raw = await Raw.connect(proxy.port);
    raw.write(
      untyped(Buffer.concat([int32(StartupCode.CancelRequest), int32(1), Buffer.from([9])])),
    );
    await expectProtocolViolation(raw);
  });
});

// ---- after login -----------------------------------------------------------------------------

describe('after a valid login', () => {
  test('the raw login itself works (sanity check of the helper)', async () => {
    const raw = await Raw.login(proxy.port);
    raw.write(fe.query('SELECT 1'));
    expect(
      await raw.waitFor(
        () => raw.messages().some((m) => m.type === BackendCode.ReadyForQuery),
        5000,
      ),
    ).toBe(true);
    expect(raw.messages().map((m) => String.fromCharCode(m.type))).toEqual(['T', 'D', 'C', 'Z']);
    raw.write(fe.terminate());
    await expectQuietClose(raw);
  });

  test("an unknown message type ('z')", async () => {
    const raw = await Raw.login(proxy.port);
    raw.write(frame('z'.charCodeAt(0), Buffer.alloc(0)));
    await expectProtocolViolation(raw);
  });

  test('a typed frame with length 2', async () => {
    const raw = await Raw.login(proxy.port);
    raw.write(frame(0x51 /* Q */, Buffer.alloc(0), 2));
    await expectProtocolViolation(raw);
  });

  test('a typed frame with a negative length', async () => {
    const raw = await Raw.login(proxy.port);
    raw.write(frame(0x51 /* Q */, Buffer.from('SELECT 1\0'), -1));
    await expectProtocolViolation(raw);
  });

  test('a frame declaring more than limits.maxMessageSize (the body never sent)', async () => {
    const raw = await Raw.login(proxy.port);
    raw.write(frame(0x51 /* Q */, Buffer.from('SELECT '), 2 * MAX_MESSAGE));
    await expectProtocolViolation(raw);
  });

  // Regression (fixed) (src/upstream-link.ts, forward()): `const data = out === undefined ? chunk
  // : Buffer.concat(out)` writes the last TCP chunk as is, without checking that the chunk holds
  // exactly the frames handed over. A frame spanning several reads (any message over ~64 KiB)
  // reaches Postgres as its last chunk only: "invalid frontend message type 32".
  test('a frame of exactly limits.maxMessageSize is accepted', async () => {
    const raw = await Raw.login(proxy.port);
    const sql = Buffer.alloc(MAX_MESSAGE - 5 - 1, ' ');
    sql.write('SELECT 7 AS n --');
    raw.write(frame(0x51 /* Q */, cstr(sql)));
    const ready = await raw.waitFor(
      () => raw.messages().some((m) => m.type === BackendCode.ReadyForQuery),
      10_000,
    );
    expect(raw.errors()).toEqual([]);
    expect(ready).toBe(true);
    raw.destroy();
  });

  // Regression (fixed): the same as above, through pg: a 512 KiB Bind message arrives corrupted
  // upstream.
  test('a 512 KiB parameter from pg arrives intact (a message spanning many reads)', async () => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: proxy.port,
      user: USER,
      password: PASSWORD,
      database: DB,
      query_timeout: 10_000,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const big = 'x'.repeat(512 * 1024);
      const r = await client.query<{ n: number; h: string }>(
        'SELECT length($1::text) AS n, md5($1::text) AS h',
        [big],
      );
      expect(r.rows).toEqual([{ n: big.length, h: createHash('md5').update(big).digest('hex') }]);
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  test('a truncated frame, then the client closes', async () => {
    const raw = await Raw.login(proxy.port);
    raw.socket.end(frame(0x51 /* Q */, Buffer.from('SELECT 1'), 100));
    await expectQuietClose(raw);
  });

  test('a password message after login', async () => {
    const raw = await Raw.login(proxy.port);
    raw.write(fe.passwordMessage('secret'));
    await expectProtocolViolation(raw);
  });

  test('a bad frame behind a valid Query in the same write', async () => {
    const raw = await Raw.login(proxy.port);
    raw.write(Buffer.concat([fe.query('SELECT 42'), frame('z'.charCodeAt(0), Buffer.alloc(0))]));
    expect(await raw.untilClose()).toBe(true);
    // Postgres would answer the query (T D C Z) before the FATAL; the proxy, today, closes at
    // once. Either way the last word is FATAL 08P01.
    const types = raw.messages().map((m) => String.fromCharCode(m.type));
    expect(types.at(-1)).toBe('E');
    expect(raw.errors()).toEqual([expect.objectContaining({ severity: 'FATAL', code: '08P01' })]);
  });
});

// ---- property: random input ------------------------------------------------------------------

const BATCH = 10;
const RUNS = 20; // 20 runs × 10 sockets = 200 inputs per property

/** A random first packet: raw bytes, or bytes behind a correct length, or a mangled startup. */
const firstPacket = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 96 }).map((b) => Buffer.from(b)),
  fc.uint8Array({ minLength: 0, maxLength: 96 }).map((b) => untyped(Buffer.from(b))),
  fc
    .tuple(
      fc.constantFrom(
        StartupCode.ProtocolV3,
        StartupCode.ProtocolV3_2,
        StartupCode.SSLRequest,
        StartupCode.CancelRequest,
      ),
      fc.uint8Array({ maxLength: 96 }),
    )
    .map(([code, rest]) => untyped(Buffer.concat([int32(code), Buffer.from(rest)]))),
);

/** A random frame after login, with a length that is exact, too short or over the limit. */
const KNOWN_TYPES = 'BCdcfDEHFPpQSXz'.split('').map((c) => c.charCodeAt(0));
const randomFrame = fc
  .record({
    type: fc.oneof(fc.constantFrom(...KNOWN_TYPES), fc.integer({ min: 0, max: 255 })),
    body: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    length: fc.oneof(
      { weight: 6, arbitrary: fc.constant('exact' as const) },
      { weight: 1, arbitrary: fc.integer({ min: -0x80000000, max: 3 }) },
      { weight: 1, arbitrary: fc.integer({ min: MAX_MESSAGE, max: 0x7fffffff }) },
    ),
  })
  .map(({ type, body, length }) => {
    // A FunctionCall with a random OID could call anything: pin it to OID 0, which never exists.
    if (type === 0x46 /* F */ && body.length >= 4) body.fill(0, 0, 4);
    return frame(type, body, length === 'exact' ? body.length + 4 : length);
  });

describe('random input (fast-check)', () => {
  test('200 random first packets: each socket is answered or closed within 2 s', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(firstPacket, { minLength: BATCH, maxLength: BATCH }),
        async (packets) => {
          const outcomes = await Promise.all(
            packets.map(async (packet) => {
              const raw = await Raw.connect(proxy.port);
              raw.write(packet);
              const answered = await raw.waitFor(() => raw.data.length > 0, 2000);
              raw.destroy();
              return answered || raw.closed;
            }),
          );
          expect(outcomes).toEqual(packets.map(() => true));
          await controlStillWorks();
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 180_000);

  test('200 random frames after login (each followed by Sync): answered with ReadyForQuery or closed within 2 s', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(randomFrame, { minLength: BATCH, maxLength: BATCH }),
        async (frames) => {
          const outcomes = await Promise.all(
            frames.map(async (bytes) => {
              const raw = await Raw.login(proxy.port);
              raw.write(Buffer.concat([bytes, fe.sync()]));
              const ready = () => raw.messages().some((m) => m.type === BackendCode.ReadyForQuery);
              const answered = await raw.waitFor(ready, 2000);
              raw.destroy();
              return answered || raw.closed
                ? 'ok'
                : `no answer to ${bytes.subarray(0, 16).toString('hex')}`;
            }),
          );
          expect(outcomes).toEqual(frames.map(() => 'ok'));
          await controlStillWorks();
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 180_000);
});
