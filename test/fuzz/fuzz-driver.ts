/**
 * Plays one materialized fuzz case against a proxy on a raw socket: resolves the dynamic tokens
 * (startup with the target's user, SCRAM computed from the server's first message, waits,
 * CancelRequest with the session's own key), applies the byte edits, writes the stream in the
 * case's chunks, ends as the case says, and checks what came back:
 *   - only whole, well-formed backend frames (a known type, a sane length; nothing partial when
 *     the proxy closed the socket);
 *   - every ErrorResponse has a severity, a 5-character SQLSTATE and a message, and none is the
 *     proxy's own "internal error" (an exception that escaped input validation);
 *   - after a FATAL the proxy closes the socket;
 *   - no byte of another client's rows (the canaries' marker) ever arrives;
 *   - a `linger` case is closed by the proxy within its configured timeouts, or is waiting
 *     exactly where Postgres itself would wait (the harness's `inspect` decides).
 */
import net from 'node:net';
import {
  decodeAuthentication,
  decodeBackendKeyData,
  decodeErrorFields,
} from '../../protocol/backend-decoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { StartupCode } from '../../protocol/message-codes.js';
import { scramKeysFromPassword, ScramClientSession } from '../../protocol/scram.js';
import { editBytes, type Materialized } from './fuzz-cases.js';

export interface DriverTarget {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly functionOid: number;
  /** Marker carried by every canary row; must never reach a fuzz socket. */
  readonly leakMarker: string;
  readonly bounds: {
    /** How long a pre-login socket may stay open (startup timeout + slack). */
    readonly preLoginMs: number;
    /** How long an idle logged-in socket may stay open (idle timeouts + query timeout + slack). */
    readonly loggedInMs: number;
  };
  /**
   * A lingering socket outlived its bound: undefined if the proxy is legitimately waiting
   * (as Postgres would), else a description of the hang.
   */
  inspect(localPort: number): Promise<string | undefined>;
}

export interface CaseResult {
  readonly sent: Buffer;
  readonly received: Buffer;
  readonly closedByProxy: boolean;
  readonly loggedIn: boolean;
  readonly failures: string[];
  /** Short facts for statistics: 'fatal:08P01', 'closed', 'linger:legit', … */
  readonly notes: string[];
}

const BACKEND_TYPES = new Set('RSKZTDCENI123ntsGHWdcAvV'.split('').map((c) => c.charCodeAt(0)));
const WAIT_MS = 150;
const LOGIN_WAIT_MS = 800;
const QUIET_MS = 25;
/** Quiet time after which a proxy waiting for the rest of our bytes is taken as stuck. */
const STUCK_MS = 40;
const SETTLE_MAX_MS = 2000;
const MAX_CHUNKS = 200;
const SSL_CODES = new Set<number>([StartupCode.SSLRequest, StartupCode.GSSENCRequest]);

/** Cached SCRAM keys per salt/iterations: PBKDF2 once, not per case. */
const scramKeys = new Map<string, { clientKey: Buffer; serverKey: Buffer }>();

class Reception {
  data = Buffer.alloc(0);
  private at = 0;
  pendingSslAnswers = 0;
  readies = 0;
  copyIns = 0;
  loginDone = false;
  saslContinue: Buffer | undefined;
  backendKey: { processId: number; secretKey: Buffer } | undefined;
  fatal: string | undefined;
  readonly failures: string[] = [];
  readonly notes: string[] = [];
  lastActivity = Date.now();

  constructor(private readonly marker: Buffer) {}

  push(chunk: Buffer): void {
    this.lastActivity = Date.now();
    const before = Math.max(0, this.data.length - this.marker.length);
    this.data = Buffer.concat([this.data, chunk]);
    if (
      this.data.indexOf(this.marker, before) >= 0 &&
      !this.failures.some((f) => f.startsWith('LEAK'))
    ) {
      this.failures.push(`LEAK: received another client's row (marker ${this.marker.toString()})`);
    }
    this.parse();
  }

  /** Bytes left that do not form a whole frame. */
  get partial(): number {
    return this.data.length - this.at;
  }

  private parse(): void {
    for (;;) {
      const left = this.data.length - this.at;
      if (left <= 0) return;
      const type = this.data[this.at] ?? 0;
      if (
        this.pendingSslAnswers > 0 &&
        (type === 0x4e /* N */ || type === 0x53 /* S */ || type === 0x47) /* G */
      ) {
        this.pendingSslAnswers--;
        this.at += 1;
        continue;
      }
      if (left < 5) return;
      const length = this.data.readInt32BE(this.at + 1);
      if (!BACKEND_TYPES.has(type) || length < 4 || length > 1 << 30) {
        this.failures.push(
          `malformed reply at byte ${this.at}: type 0x${type.toString(16)} length ${length} (${this.data.subarray(this.at, this.at + 16).toString('hex')})`,
        );
        this.at = this.data.length; // stop parsing
        return;
      }
      if (left < 1 + length) return;
      const body = this.data.subarray(this.at + 5, this.at + 1 + length);
      this.at += 1 + length;
      this.onFrame(type, body);
    }
  }

  private onFrame(type: number, body: Buffer): void {
    if (this.fatal !== undefined) {
      this.failures.push(`message '${String.fromCharCode(type)}' after FATAL ${this.fatal}`);
    }
    switch (type) {
      case 0x5a /* Z */:
        this.readies++;
        if (this.backendKey !== undefined || this.sawAuthOk) this.loginDone = true;
        break;
      case 0x47 /* G */:
        this.copyIns++;
        break;
      case 0x4b /* K */:
        try {
          this.backendKey = decodeBackendKeyData(body);
        } catch {
          this.failures.push(`undecodable BackendKeyData ${body.toString('hex')}`);
        }
        break;
      case 0x52 /* R */: {
        try {
          const auth = decodeAuthentication(body);
          if (auth.kind === 'sasl-continue') this.saslContinue = auth.data;
          if (auth.kind === 'ok') this.sawAuthOk = true;
        } catch {
          this.failures.push(`undecodable Authentication ${body.toString('hex')}`);
        }
        break;
      }
      case 0x45 /* E */: {
        let fields;
        try {
          fields = decodeErrorFields(body);
        } catch {
          this.failures.push(`undecodable ErrorResponse ${body.toString('hex')}`);
          break;
        }
        const severity = fields.get('V') ?? fields.get('S') ?? '';
        const code = fields.get('C') ?? '';
        const message = fields.get('M') ?? '';
        if (!/^[0-9A-Z]{5}$/.test(code) || severity === '' || message === '') {
          this.failures.push(
            `ErrorResponse without severity/code/message: ${JSON.stringify([...fields])}`,
          );
        }
        if (message.includes('internal error in DocFusionDB')) {
          this.failures.push(
            `the proxy answered an internal error (${severity} ${code}): an exception escaped`,
          );
        }
        if (severity === 'FATAL' || severity === 'PANIC') {
          this.fatal = code;
          this.notes.push(`fatal:${code}`);
          if (
            this.sawAuthOk &&
            !this.loginDone &&
            message.includes('startup and authentication timed out')
          ) {
            // The window of the known attach() leak (proxy-fuzz.test.ts).
            this.notes.push('startup-timeout-after-auth');
          }
        } else {
          this.notes.push(`error:${code}`);
        }
        break;
      }
      default:
        break;
    }
  }

  sawAuthOk = false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Walks the typed frames of everything sent so far from `from`, exactly as the proxy frames
 * them, and returns the absolute offset of the next frame (MAX_SAFE_INTEGER once the proxy
 * cannot frame on). FunctionCall frames may only call the harmless function (a flipped OID could
 * call anything): the OID of every 'F' frame that lies in `data` (which starts at `base`) is
 * patched.
 */
function walkFrames(
  sent: Buffer,
  data: Buffer,
  base: number,
  from: number,
  functionOid: number,
): number {
  const all = Buffer.concat([sent, data]);
  let at = from;
  while (at + 5 <= all.length) {
    const type = all[at] ?? 0;
    const length = all.readInt32BE(at + 1);
    if (length < 4) return Number.MAX_SAFE_INTEGER; // the proxy stops here
    if (type === 0x46 /* F */ && at + 9 <= all.length) {
      for (let k = 0; k < 4; k++) {
        const offset = at + 5 + k - base;
        if (offset >= 0 && offset < data.length) data[offset] = int32be(functionOid)[k] ?? 0;
      }
    }
    at += 1 + length;
  }
  return at;
}

function int32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

export async function runCase(target: DriverTarget, c: Materialized): Promise<CaseResult> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: target.port }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  socket.setNoDelay(true);
  const rx = new Reception(Buffer.from(target.leakMarker));
  const state = { closed: false };
  /** Read through a function: the socket's events change it behind the type checker's back. */
  const isClosed = (): boolean => state.closed;
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    rx.push(chunk);
    wake?.();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    state.closed = true;
    wake?.();
  });
  const waitUntil = async (done: () => boolean, timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done()) return true;
      if (isClosed()) return done();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    }
  };

  const sentChunks: Buffer[] = [];
  let pending: Buffer[] = [];
  let sentBytes = 0;
  /** Absolute offset of the next typed frame (after the startup packet); -1 before it. */
  let nextFrameAt = -1;
  let preLogin = true;
  /**
   * The proxy cannot answer anything more: it is waiting for the rest of a packet or frame we
   * sent only part of (so a wait for its reply can stop early once it has gone quiet).
   */
  const proxyNeedsBytes = (): boolean => {
    if (nextFrameAt >= 0) return nextFrameAt > sentBytes && nextFrameAt !== Number.MAX_SAFE_INTEGER;
    const all = Buffer.concat(sentChunks);
    let at = 0;
    for (;;) {
      if (at + 4 > all.length) return true;
      const length = all.readInt32BE(at);
      if (length < 8 || length > 10_000) return false; // the proxy refuses it and closes
      if (at + length > all.length) return true;
      const code = all.readInt32BE(at + 4);
      at += length;
      if (!SSL_CODES.has(code)) return false;
    }
  };
  /** Wait for `done`, but give up early when the proxy, gone quiet, is waiting for our bytes. */
  const waitReply = (done: () => boolean, timeoutMs: number): Promise<boolean> =>
    waitUntil(
      () => done() || (Date.now() - rx.lastActivity >= STUCK_MS && proxyNeedsBytes()),
      timeoutMs,
    ).then(() => done());
  const flush = async (): Promise<void> => {
    rx.lastActivity = Date.now();
    if (pending.length === 0 || isClosed()) {
      pending = [];
      return;
    }
    const data = Buffer.concat(pending);
    pending = [];
    if (nextFrameAt >= 0 && nextFrameAt < sentBytes + data.length) {
      nextFrameAt = walkFrames(
        Buffer.concat(sentChunks),
        data,
        sentBytes,
        nextFrameAt,
        target.functionOid,
      );
    }
    const parts: Buffer[] = [];
    if (c.chunking.kind === 'whole') {
      parts.push(data);
    } else {
      let at = 0;
      for (let i = 0; at < data.length; i++) {
        const size =
          i >= MAX_CHUNKS ? data.length - at : (c.chunking.sizes[i % c.chunking.sizes.length] ?? 1);
        parts.push(data.subarray(at, at + size));
        at += size;
      }
    }
    for (const part of parts) {
      if (isClosed()) break;
      socket.write(part);
      sentChunks.push(part);
      sentBytes += part.length;
      if (c.chunking.kind === 'sizes' && c.chunking.delayMs > 0) await sleep(c.chunking.delayMs);
    }
  };

  let scram: ScramClientSession | undefined;
  let nonceSession: ScramClientSession | undefined;
  let readyTarget = 0;
  let copyTarget = 0;
  for (const [index, token] of c.tokens.entries()) {
    if (isClosed()) break;
    const emit = (bytes: Buffer, typed: boolean): void => {
      const edited = editBytes(bytes, index, c.bytes, typed);
      if (
        preLogin &&
        !typed &&
        edited.length >= 8 &&
        edited.readInt32BE(0) === 8 &&
        SSL_CODES.has(edited.readInt32BE(4))
      ) {
        rx.pendingSslAnswers++;
      }
      pending.push(edited);
    };
    switch (token.kind) {
      case 'bytes':
        emit(token.bytes, !preLogin);
        break;
      case 'startup': {
        const params: Record<string, string> = {};
        for (const [key, value] of token.params) {
          params[key] =
            value === '$USER'
              ? target.user
              : value === '$DB'
                ? target.database
                : value === '$ADMIN_DB'
                  ? 'docfusion_admin'
                  : value;
        }
        const packet = fe.startupMessage(params, token.minor);
        emit(packet, false);
        preLogin = false;
        nextFrameAt = sentBytes + pending.reduce((n, p) => n + p.length, 0);
        break;
      }
      case 'sasl-initial': {
        nonceSession = new ScramClientSession({ password: target.password });
        emit(
          fe.saslInitialResponse('SCRAM-SHA-256', Buffer.from(nonceSession.clientFirstMessage())),
          true,
        );
        break;
      }
      case 'sasl-final': {
        await flush();
        await waitReply(() => rx.saslContinue !== undefined, LOGIN_WAIT_MS);
        let final = 'c=biws,r=fuzz,p=AAAA';
        const serverFirst = rx.saslContinue;
        if (serverFirst && nonceSession) {
          try {
            scram = withCachedKeys(nonceSession, serverFirst, target.password);
            final = scram.handleServerFirst(serverFirst);
          } catch {
            // a mutated exchange: send the junk final message
          }
        }
        emit(fe.saslResponse(final), true);
        break;
      }
      case 'wait': {
        await flush();
        if (token.until === 'login') {
          await waitReply(() => rx.loginDone, LOGIN_WAIT_MS);
          readyTarget = rx.readies;
        } else if (token.until === 'ready') {
          readyTarget += token.count;
          if (!(await waitReply(() => rx.readies >= readyTarget, WAIT_MS)))
            readyTarget = rx.readies;
        } else {
          copyTarget += 1;
          if (!(await waitReply(() => rx.copyIns >= copyTarget, WAIT_MS))) copyTarget = rx.copyIns;
        }
        break;
      }
      case 'cancel-self': {
        await flush();
        const key = rx.backendKey ?? { processId: 1, secretKey: Buffer.from([1, 2, 3, 4]) };
        await sendCancel(target.port, key.processId, key.secretKey);
        break;
      }
      case 'pause':
        await flush();
        await sleep(token.ms);
        break;
    }
  }
  await flush();

  const failures = rx.failures;
  const notes = rx.notes;
  const bound = rx.loginDone ? target.bounds.loggedInMs : target.bounds.preLoginMs;
  switch (c.ending) {
    case 'abort':
      break;
    case 'end':
      socket.end();
      if (!(await waitUntil(() => isClosed(), bound))) {
        failures.push(`the proxy did not close within ${bound} ms after the client's FIN`);
      }
      break;
    case 'settle': {
      const deadline = Date.now() + SETTLE_MAX_MS;
      await waitUntil(
        () => Date.now() - rx.lastActivity >= QUIET_MS || Date.now() > deadline,
        SETTLE_MAX_MS + 100,
      );
      if (rx.fatal !== undefined && !(await waitUntil(() => isClosed(), 1000))) {
        failures.push(`FATAL ${rx.fatal} but the socket stayed open`);
      }
      break;
    }
    case 'linger': {
      if (!(await waitUntil(() => isClosed(), bound))) {
        const problem = await target.inspect(socket.localPort ?? 0);
        if (problem === undefined) notes.push('linger:legit');
        else failures.push(`hang: socket still open ${bound} ms after the last byte: ${problem}`);
      } else {
        notes.push('linger:closed');
      }
      break;
    }
  }
  const closedByProxy = isClosed();
  if (closedByProxy) {
    notes.push('closed');
    if (rx.partial > 0 && c.ending !== 'abort') {
      failures.push(`the proxy closed the socket after a partial frame (${rx.partial} bytes left)`);
    }
  }
  socket.destroy();
  return {
    sent: Buffer.concat(sentChunks),
    received: rx.data,
    closedByProxy,
    loggedIn: rx.loginDone,
    failures,
    notes,
  };
}

function withCachedKeys(
  session: ScramClientSession,
  serverFirst: Buffer,
  password: string,
): ScramClientSession {
  const text = serverFirst.toString('utf8');
  const salt = /(?:^|,)s=([^,]*)/.exec(text)?.[1];
  const iterations = Number(/(?:^|,)i=([0-9]{1,7})(?:,|$)/.exec(text)?.[1] ?? 'NaN');
  if (salt === undefined || !Number.isFinite(iterations) || iterations < 1) return session;
  const cacheKey = `${salt}:${iterations}`;
  let keys = scramKeys.get(cacheKey);
  if (!keys) {
    const derived = scramKeysFromPassword(password, Buffer.from(salt, 'base64'), iterations);
    keys = { clientKey: derived.clientKey, serverKey: derived.serverKey };
    scramKeys.set(cacheKey, keys);
  }
  return cloneWithKeys(session, keys);
}

/** A client session with the same nonce (the one already sent) but precomputed keys. */
function cloneWithKeys(
  session: ScramClientSession,
  keys: { clientKey: Buffer; serverKey: Buffer },
): ScramClientSession {
  const nonce = /r=([^,]*)$/.exec(session.clientFirstMessage())?.[1];
  return nonce === undefined ? session : new ScramClientSession(keys, { nonce });
}

export function sendCancel(port: number, processId: number, secretKey: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.end(fe.cancelRequest(processId, secretKey));
    });
    socket.on('error', () => {
      resolve();
    });
    socket.on('close', () => {
      resolve();
    });
    setTimeout(() => {
      socket.destroy();
    }, 2000).unref();
  });
}
