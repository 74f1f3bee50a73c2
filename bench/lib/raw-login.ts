import { randomBytes } from 'node:crypto';
import net from 'node:net';
import {
  decodeAuthentication,
  decodeBackendKeyData,
  decodeErrorFields,
} from '../../protocol/backend-decoders.js';
import { FrameReader, type Frame } from '../../protocol/frame-reader.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { BackendCode } from '../../protocol/message-codes.js';
import { md5Challenge, md5PasswordHash } from '../../protocol/md5.js';
import { SCRAM_SHA_256, ScramClientSession, scramKeysFromPassword } from '../../protocol/scram.js';

/**
 * A lean Postgres client for connection-scale benchmarks: logs in over the raw protocol
 * (SCRAM-SHA-256, md5 or cleartext) and then holds an idle socket, far lighter than a
 * node-postgres Client. SCRAM keys are derived once per (password, salt, iterations) and cached,
 * so thousands of logins do not each pay PBKDF2's 4096 rounds in the bench process.
 */

export interface LoginTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** More startup parameters (application_name, …). */
  readonly params?: Readonly<Record<string, string>>;
}

/** A logged-in connection, idle at ReadyForQuery. */
export interface RawConnection {
  readonly processId: number;
  /** True once the server closed the socket or it failed. */
  readonly closed: boolean;
  /** Why it closed, when it closed without close() being called. */
  readonly closeReason: string | undefined;
  /** Runs `sql` as a simple Query and resolves at ReadyForQuery; rejects on an ErrorResponse. */
  query(sql: string, timeoutMs?: number): Promise<void>;
  /** Terminate and close; resolves when the socket has closed. */
  close(): Promise<void>;
}

/** Derived SCRAM keys by "password salt iterations", shared by every login of a bench. */
export type ScramKeyCache = Map<string, { readonly clientKey: Buffer; readonly serverKey: Buffer }>;

export class LoginError extends Error {
  override readonly name = 'LoginError';
  constructor(
    message: string,
    /** SQLSTATE when the server sent an ErrorResponse. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Connects and logs in; resolves at the first ReadyForQuery. */
export function rawLogin(
  target: LoginTarget,
  keyCache: ScramKeyCache = new Map(),
  timeoutMs = 30_000,
): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    let reader: FrameReader | undefined = new FrameReader({ maxMessageSize: 1 << 20 });
    let scram: ScramClientSession | undefined;
    let nonce = '';
    let processId = 0;
    let settled = false;
    let closed = false;
    let closing = false;
    let closeReason: string | undefined;
    // While a query runs: called with each frame; after login nothing else is expected.
    let onFrame: ((frame: Frame) => void) | undefined;
    let onClose: ((reason: string) => void) | undefined;

    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => {
      fail(new LoginError(`login timed out after ${timeoutMs} ms`));
    }, timeoutMs);

    const connection: RawConnection = {
      get processId() {
        return processId;
      },
      get closed() {
        return closed;
      },
      get closeReason() {
        return closeReason;
      },
      query: (sql, queryTimeoutMs = 30_000) =>
        new Promise<void>((resolveQuery, rejectQuery) => {
          if (closed) {
            rejectQuery(new Error(`connection closed${closeReason ? `: ${closeReason}` : ''}`));
            return;
          }
          reader = new FrameReader({ maxMessageSize: 1 << 20 });
          let error: string | undefined;
          const done = (outcome: Error | undefined): void => {
            clearTimeout(queryTimer);
            onFrame = undefined;
            onClose = undefined;
            reader = undefined; // idle again: keep nothing per connection
            if (outcome === undefined) resolveQuery();
            else rejectQuery(outcome);
          };
          const queryTimer = setTimeout(() => {
            done(new Error(`query timed out after ${queryTimeoutMs} ms`));
          }, queryTimeoutMs);
          onFrame = (frame) => {
            if (frame.type === BackendCode.ErrorResponse) {
              const fields = decodeErrorFields(frame.body);
              error = `${fields.code}: ${fields.message}`;
            } else if (frame.type === BackendCode.ReadyForQuery) {
              done(error === undefined ? undefined : new Error(error));
            }
          };
          onClose = (reason) => {
            done(new Error(`connection closed during the query: ${reason}`));
          };
          socket.write(fe.query(sql));
        }),
      close: () =>
        new Promise<void>((resolveClose) => {
          closing = true;
          if (closed) {
            resolveClose();
            return;
          }
          socket.once('close', () => {
            resolveClose();
          });
          socket.end(fe.terminate());
          // A peer that does not close its side promptly is cut off.
          setTimeout(() => socket.destroy(), 5000).unref();
        }),
    };

    const handleLogin = (frame: Frame): void => {
      switch (frame.type) {
        case BackendCode.Authentication:
          authenticate(frame.body);
          return;
        case BackendCode.ErrorResponse: {
          const fields = decodeErrorFields(frame.body);
          fail(new LoginError(`${fields.severity} ${fields.code}: ${fields.message}`, fields.code));
          return;
        }
        case BackendCode.BackendKeyData:
          processId = decodeBackendKeyData(frame.body).processId;
          return;
        case BackendCode.ReadyForQuery:
          settled = true;
          clearTimeout(timer);
          reader = undefined;
          resolve(connection);
          return;
        default:
          return; // ParameterStatus, NoticeResponse, NegotiateProtocolVersion
      }
    };

    const authenticate = (body: Buffer): void => {
      const request = decodeAuthentication(body);
      switch (request.kind) {
        case 'ok':
          return;
        case 'cleartext':
          socket.write(fe.passwordMessage(target.password));
          return;
        case 'md5':
          socket.write(
            fe.passwordMessage(
              md5Challenge(md5PasswordHash(target.user, target.password), request.salt),
            ),
          );
          return;
        case 'sasl':
          if (!request.mechanisms.includes(SCRAM_SHA_256)) {
            fail(new LoginError(`no supported SASL mechanism in ${request.mechanisms.join(',')}`));
            return;
          }
          nonce = randomBytes(18).toString('base64');
          socket.write(fe.saslInitialResponse(SCRAM_SHA_256, `n,,n=*,r=${nonce}`));
          return;
        case 'sasl-continue': {
          const text = request.data.toString('utf8');
          const salt = /(?:^|,)s=([^,]*)/.exec(text)?.[1] ?? '';
          const iterations = Number(/(?:^|,)i=(\d+)/.exec(text)?.[1] ?? '0');
          const cacheKey = `${target.password}\u0000${salt}\u0000${iterations}`;
          let keys = keyCache.get(cacheKey);
          if (keys === undefined) {
            const derived = scramKeysFromPassword(
              target.password,
              Buffer.from(salt, 'base64'),
              iterations,
            );
            keys = { clientKey: derived.clientKey, serverKey: derived.serverKey };
            keyCache.set(cacheKey, keys);
          }
          // Same nonce as the client-first-message already sent; the session checks the rest.
          scram = new ScramClientSession(keys, { nonce });
          socket.write(fe.saslResponse(scram.handleServerFirst(request.data)));
          return;
        }
        case 'sasl-final':
          if (scram === undefined) throw new LoginError('SCRAM final message before the first');
          scram.verifyServerFinal(request.data);
          return;
        case 'other':
          fail(new LoginError(`unsupported authentication request ${request.code}`));
          return;
      }
    };

    socket.on('connect', () => {
      socket.write(
        fe.startupMessage({ user: target.user, database: target.database, ...target.params }),
      );
    });
    socket.on('data', (chunk: Buffer) => {
      if (reader === undefined) {
        // Idle after login: an unsolicited message (e.g. a FATAL before the server closes us).
        if (chunk[0] === BackendCode.ErrorResponse && closeReason === undefined) {
          const r = new FrameReader({ maxMessageSize: 1 << 20 });
          r.push(chunk);
          const frame = r.next();
          if (frame !== null) {
            const f = decodeErrorFields(frame.body);
            closeReason = `${f.severity} ${f.code}: ${f.message}`;
          }
        }
        return;
      }
      const current = reader;
      try {
        current.push(chunk);
        // handleLogin / onFrame drop `reader` when they reach the end of what they wait for.
        for (
          let frame = current.next();
          frame !== null;
          frame = reader === current ? current.next() : null
        ) {
          if (!settled) handleLogin(frame);
          else onFrame?.(frame);
        }
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
        if (settled) socket.destroy(error instanceof Error ? error : undefined);
      }
    });
    socket.on('error', (error) => {
      closeReason ??= error.message;
      fail(new LoginError(`socket error: ${error.message}`));
    });
    socket.on('close', () => {
      closed = true;
      if (!closing) closeReason ??= 'closed by the server';
      fail(
        new LoginError(`connection closed during login${closeReason ? `: ${closeReason}` : ''}`),
      );
      onClose?.(closeReason ?? 'closed');
    });
  });
}
