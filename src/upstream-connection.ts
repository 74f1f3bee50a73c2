import net from 'node:net';
import type { Logger } from 'pino';
import { FrameReader, type Frame } from '../protocol/frame-reader.js';
import {
  BackendCode,
  TransactionStatus,
  transactionStatusOf,
  type TransactionStatusByte,
} from '../protocol/message-codes.js';
import * as fe from '../protocol/frontend-encoders.js';
import {
  decodeAuthentication,
  decodeBackendKeyData,
  decodeErrorFields,
  decodeParameterStatus,
  decodeReadyForQuery,
} from '../protocol/backend-decoders.js';
import { md5Challenge, md5PasswordHash } from '../protocol/md5.js';
import { ScramClientSession } from '../protocol/scram.js';
import { PgError, SqlState } from '../protocol/pg-error.js';
import { FrameStream } from './frame-stream.js';
import { ConnectionStatements } from './prepared-statements.js';
import type { ParamState } from './session-params.js';
import type { UpstreamEndpoint } from './upstream-target.js';

/** What the proxy can answer an upstream authentication request with. */
export type UpstreamCredentials =
  | { readonly kind: 'password'; readonly password: string }
  /** The `md5…` hash stored in pg_authid: enough to answer an md5 challenge. */
  | { readonly kind: 'md5-hash'; readonly hash: string }
  /** SCRAM keys recovered from the client's own proof (SCRAM pass-through). */
  | { readonly kind: 'scram-keys'; readonly clientKey: Buffer; readonly serverKey: Buffer }
  | { readonly kind: 'none' };

export interface UpstreamLogin {
  readonly endpoint: UpstreamEndpoint;
  readonly user: string;
  readonly credentials: UpstreamCredentials;
  /** Extra startup parameters from the client (application_name, options, client_encoding, …). */
  readonly params: ReadonlyMap<string, string>;
  readonly connectTimeoutMs: number;
}

/** Postgres refused the login: its ErrorResponse is relayed to the client as is. */
export class UpstreamRefusedError extends Error {
  override readonly name = 'UpstreamRefusedError';
  constructor(
    readonly frame: Buffer,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Callbacks of an upstream connection in relay mode. */
export interface UpstreamListener {
  /** Whole backend frames of one socket chunk, in order (`chunk` may be written as is when covered exactly). */
  onFrames(frames: Frame[], chunk: Buffer): void;
  /** The connection closed or failed. */
  onClose(error: Error | undefined): void;
}

const MAX_BACKEND_MESSAGE = 1024 * 1024 * 1024;

/**
 * One raw protocol connection to Postgres. After login, frames are relayed as raw bytes; the
 * connection only scans headers to follow ReadyForQuery and tells the listener.
 */
export class UpstreamConnection {
  readonly socket: net.Socket;
  readonly processId: number;
  readonly secretKey: Buffer;
  /** ParameterStatus values reported at login, by name. */
  readonly parameters: Map<string, string>;
  /** The raw ParameterStatus and NoticeResponse frames of the login, to replay to a client. */
  readonly loginFrames: readonly Buffer[];
  readonly endpoint: UpstreamEndpoint;
  readonly user: string;
  readonly createdAt = Date.now();
  /** Transaction status from the last ReadyForQuery. */
  txStatus: TransactionStatusByte = TransactionStatus.Idle;
  /** Set when the pool hands the connection out or takes it back. */
  lastUsedAt = Date.now();
  /** Settings applied on this backend, as statements (see session-params.ts). */
  readonly appliedParams: ParamState = new Map();
  /** Proxy-named statements prepared on this backend (transaction pooling). */
  readonly statements = new ConnectionStatements();
  /** A cancel request for this backend that Postgres has not acknowledged yet. */
  cancelling: Promise<void> | undefined;
  private readonly stream: FrameStream;
  private closed = false;
  private listening = false;
  private listener: UpstreamListener | undefined;

  private constructor(init: {
    socket: net.Socket;
    stream: FrameStream;
    processId: number;
    secretKey: Buffer;
    parameters: Map<string, string>;
    loginFrames: Buffer[];
    endpoint: UpstreamEndpoint;
    user: string;
  }) {
    this.socket = init.socket;
    this.stream = init.stream;
    this.processId = init.processId;
    this.secretKey = init.secretKey;
    this.parameters = init.parameters;
    this.loginFrames = init.loginFrames;
    this.endpoint = init.endpoint;
    this.user = init.user;
  }

  get isClosed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  static async connect(login: UpstreamLogin, log: Logger): Promise<UpstreamConnection> {
    const socket = await openSocket(login.endpoint, login.connectTimeoutMs);
    const stream = new FrameStream(
      socket,
      new FrameReader({ maxMessageSize: MAX_BACKEND_MESSAGE }),
    );
    const timer = setTimeout(() => {
      // ETIMEDOUT: a connection failure, retried by connectWithRetry and then reported as 08006.
      socket.destroy(
        Object.assign(new Error(`upstream login timed out after ${login.connectTimeoutMs} ms`), {
          code: 'ETIMEDOUT',
        }),
      );
    }, login.connectTimeoutMs);
    try {
      const params: Record<string, string> = {};
      for (const [key, value] of login.params) params[key] = value;
      params.user = login.user;
      params.database = login.endpoint.database;
      socket.write(fe.startupMessage(params));
      let scram: ScramClientSession | undefined;
      let processId = 0;
      let secretKey = Buffer.alloc(4);
      const parameters = new Map<string, string>();
      const loginFrames: Buffer[] = [];
      for (;;) {
        const frame = await stream.next();
        switch (frame.type) {
          case BackendCode.Authentication: {
            const request = decodeAuthentication(frame.body);
            const reply = answerAuthentication(request, login, scram);
            scram = reply.scram;
            if (reply.message) socket.write(reply.message);
            break;
          }
          case BackendCode.ParameterStatus: {
            const { name, value } = decodeParameterStatus(frame.body);
            parameters.set(name, value);
            loginFrames.push(Buffer.from(frame.raw));
            break;
          }
          case BackendCode.NoticeResponse:
            loginFrames.push(Buffer.from(frame.raw));
            break;
          case BackendCode.BackendKeyData: {
            const key = decodeBackendKeyData(frame.body);
            processId = key.processId;
            secretKey = Buffer.from(key.secretKey);
            break;
          }
          case BackendCode.NegotiateProtocolVersion:
            break;
          case BackendCode.ErrorResponse: {
            const fields = decodeErrorFields(frame.body);
            throw new UpstreamRefusedError(
              Buffer.from(frame.raw),
              fields.get('C') ?? SqlState.ConnectionFailure,
              fields.get('M') ?? 'upstream refused the connection',
            );
          }
          case BackendCode.ReadyForQuery: {
            const connection = new UpstreamConnection({
              socket,
              stream,
              processId,
              secretKey,
              parameters,
              loginFrames,
              endpoint: login.endpoint,
              user: login.user,
            });
            connection.txStatus = decodeReadyForQuery(frame.body);
            log.debug({ upstreamPid: processId }, 'upstream connection ready');
            return connection;
          }
          default:
            throw new Error(
              `unexpected message 0x${frame.type.toString(16)} from upstream during login`,
            );
        }
      }
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Hand the connection's frames to `listener` (a session, the pool's idle watcher, an internal
   * query). The first call starts reading; later calls swap the receiver between frames.
   */
  listen(listener: UpstreamListener): void {
    this.listener = listener;
    if (this.listening) return;
    this.listening = true;
    this.stream.listen(
      (frames, chunk) => {
        for (const frame of frames) {
          if (frame.type === BackendCode.ReadyForQuery) {
            this.txStatus = transactionStatusOf(frame.bodyByte(0));
          } else if (frame.type === BackendCode.ParameterStatus) {
            const { name, value } = decodeParameterStatus(frame.body);
            this.parameters.set(name, value);
          }
        }
        this.listener?.onFrames(frames, chunk);
      },
      (error) => {
        this.closed = true;
        this.socket.destroy();
        const listener = this.listener;
        this.listener = undefined;
        listener?.onClose(error.name === 'ClosedError' ? undefined : error);
      },
    );
  }

  /**
   * Run SQL the proxy needs (session reset, SET replay, health check) and wait for its
   * ReadyForQuery; its replies never reach a client. Rejects with the first ErrorResponse, or
   * with FATAL 08006 when the connection closes or does not answer within `timeoutMs` (then it
   * is destroyed). Returns the ParameterStatus frames it produced.
   */
  runQuiet(sql: string, timeoutMs: number): Promise<Buffer[]> {
    const previous = this.listener;
    return new Promise<Buffer[]>((resolve, reject) => {
      let failure: PgError | undefined;
      const reports: Buffer[] = [];
      const timer = setTimeout(() => {
        this.destroy();
        finish(lostUpstream(`it did not answer an internal query within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = (error: Error | undefined): void => {
        clearTimeout(timer);
        this.listener = previous;
        if (error) reject(error);
        else resolve(reports);
      };
      this.listen({
        onFrames: (frames) => {
          for (const frame of frames) {
            if (frame.type === BackendCode.ErrorResponse && !failure) {
              const fields = decodeErrorFields(frame.body);
              failure = new PgError(fields.code, fields.message);
            } else if (frame.type === BackendCode.ParameterStatus) {
              reports.push(Buffer.from(frame.raw));
            } else if (frame.type === BackendCode.ReadyForQuery) {
              finish(failure);
              return;
            }
          }
        },
        onClose: (error) => {
          finish(
            lostUpstream(
              error === undefined
                ? 'it closed the connection'
                : `connection error: ${error.message}`,
            ),
          );
        },
      });
      this.write(fe.query(sql));
    });
  }

  write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  /** Ask Postgres to cancel whatever this backend is running, over a new connection. */
  cancel(timeoutMs: number): Promise<void> {
    const sent = this.sendCancel(timeoutMs).finally(() => {
      if (this.cancelling === sent) this.cancelling = undefined;
    });
    this.cancelling = sent;
    return sent;
  }

  private async sendCancel(timeoutMs: number): Promise<void> {
    const socket = await openSocket(this.endpoint, timeoutMs);
    await new Promise<void>((resolve) => {
      // Postgres closes the connection once it has taken the request; one that never does (a
      // stalled network path) is given up after the timeout.
      const timer = setTimeout(() => socket.destroy(), timeoutMs);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('error', () => {
        resolve();
      });
      socket.end(fe.cancelRequest(this.processId, this.secretKey));
    });
  }

  /** Polite close: Terminate, then end the socket. */
  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.socket.destroyed) this.socket.end(fe.terminate());
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

/** FATAL 08006: the upstream connection is unusable (an internal query got no answer, it closed). */
function lostUpstream(why: string): PgError {
  return new PgError(SqlState.ConnectionFailure, `lost the upstream Postgres connection: ${why}`, {
    severity: 'FATAL',
  });
}

function openSocket(endpoint: UpstreamEndpoint, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        Object.assign(new Error(`connect to ${endpoint.host}:${endpoint.port} timed out`), {
          code: 'ETIMEDOUT',
        }),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function answerAuthentication(
  request: ReturnType<typeof decodeAuthentication>,
  login: UpstreamLogin,
  scram: ScramClientSession | undefined,
): { message?: Buffer; scram?: ScramClientSession } {
  const creds = login.credentials;
  const missing = (what: string): PgError =>
    new PgError(
      SqlState.InvalidPassword,
      `upstream asked for ${what} for user "${login.user}" and DocFusionDB has no credentials for it`,
      { severity: 'FATAL' },
    );
  switch (request.kind) {
    case 'ok':
      return scram ? { scram } : {};
    case 'cleartext':
      if (creds.kind !== 'password') throw missing('a cleartext password');
      return { message: fe.passwordMessage(creds.password) };
    case 'md5': {
      if (creds.kind === 'password') {
        const hash = md5PasswordHash(login.user, creds.password);
        return { message: fe.passwordMessage(md5Challenge(hash, request.salt)) };
      }
      if (creds.kind === 'md5-hash') {
        return { message: fe.passwordMessage(md5Challenge(creds.hash, request.salt)) };
      }
      throw missing('an md5 password');
    }
    case 'sasl': {
      if (!request.mechanisms.includes('SCRAM-SHA-256')) {
        throw new PgError(
          SqlState.FeatureNotSupported,
          `upstream offers no supported SASL mechanism (${request.mechanisms.join(', ')})`,
          { severity: 'FATAL' },
        );
      }
      let session: ScramClientSession;
      if (creds.kind === 'password') session = new ScramClientSession({ password: creds.password });
      else if (creds.kind === 'scram-keys')
        session = new ScramClientSession({
          clientKey: creds.clientKey,
          serverKey: creds.serverKey,
        });
      else throw missing('a SCRAM-SHA-256 password');
      return {
        scram: session,
        message: fe.saslInitialResponse('SCRAM-SHA-256', Buffer.from(session.clientFirstMessage())),
      };
    }
    case 'sasl-continue':
      if (!scram) throw new Error('SASLContinue without SASL');
      return {
        scram,
        message: fe.saslResponse(Buffer.from(scram.handleServerFirst(request.data))),
      };
    case 'sasl-final':
      if (!scram) throw new Error('SASLFinal without SASL');
      scram.verifyServerFinal(request.data);
      return { scram };
    default:
      throw new PgError(
        SqlState.FeatureNotSupported,
        `upstream asked for an unsupported authentication method`,
        { severity: 'FATAL' },
      );
  }
}
