import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { FrameReader, type Frame } from '../protocol/frame-reader.js';
import {
  BackendCode,
  FrontendCode,
  TransactionStatus,
  type TransactionStatusByte,
} from '../protocol/message-codes.js';
import * as be from '../protocol/backend-encoders.js';
import { decodeStartupPacket } from '../protocol/frontend-decoders.js';
import { decodeErrorFields } from '../protocol/backend-decoders.js';
import { PgError, SqlState, protocolViolation } from '../protocol/pg-error.js';
import { authenticateClient } from './client-auth.js';
import { adminShutdown, clientSafe, fatal } from './errors.js';
import { ClosedError, FrameStream } from './frame-stream.js';
import { answerLocal } from './local-commands.js';
import { routeQuery } from './router.js';
import type { ServerContext } from './server-context.js';
import {
  UpstreamRefusedError,
  type UpstreamConnection,
  type UpstreamCredentials,
} from './upstream-connection.js';
import { endpointFor } from './upstream-target.js';

/** Frontend message types a client may send once logged in. */
const RELAYED = new Set<number>([
  FrontendCode.Bind,
  FrontendCode.Close,
  FrontendCode.CopyData,
  FrontendCode.CopyDone,
  FrontendCode.CopyFail,
  FrontendCode.Describe,
  FrontendCode.Execute,
  FrontendCode.Flush,
  FrontendCode.FunctionCall,
  FrontendCode.Parse,
  FrontendCode.Query,
  FrontendCode.Sync,
]);

/** A reply the client is owed, in order: one per Query/Sync/FunctionCall sent upstream, or a local answer. */
type Pending = { readonly kind: 'upstream' } | { readonly kind: 'local'; readonly bytes: Buffer };

export type SessionState = 'startup' | 'ready' | 'closed';

let nextSessionId = 1;

/**
 * One client connection, from accept to close: TLS negotiation, startup, authentication, the
 * upstream login, then the relay of raw frames in both directions. See
 * docs/connection-lifecycle.md, which follows this file's order.
 */
export class Session {
  readonly id = nextSessionId++;
  readonly log: Logger;
  state: SessionState = 'startup';
  user = '';
  database = '';
  applicationName = '';
  readonly connectedAt = Date.now();
  private socket: net.Socket | tls.TLSSocket;
  private readonly stream: FrameStream;
  private upstream: UpstreamConnection | undefined;
  private backendPid = 0;
  private readonly pending: Pending[] = [];
  /** Syncs sent since the last Execute/Query: ignored by Postgres if that statement starts COPY FROM STDIN. */
  private syncsSinceExecute = 0;
  private copyIn = false;
  private txStatus: TransactionStatusByte = TransactionStatus.Idle;
  private draining = false;
  private closing = false;
  private upstreamSentFatal = false;
  private readonly startupTimer: NodeJS.Timeout;

  constructor(
    socket: net.Socket,
    private readonly ctx: ServerContext,
  ) {
    this.socket = socket;
    this.log = ctx.log.child({
      session: this.id,
      client: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
    });
    socket.setNoDelay(true);
    socket.on('error', (error) => {
      this.log.debug({ err: error }, 'client socket error');
    });
    this.stream = new FrameStream(
      socket,
      new FrameReader({ maxMessageSize: ctx.config.limits.maxMessageSize, untyped: true }),
    );
    this.startupTimer = setTimeout(() => {
      this.terminate(fatal(SqlState.ConnectionFailure, 'startup and authentication timed out'));
    }, ctx.config.limits.startupTimeoutMs);
  }

  /** Statements sent upstream whose ReadyForQuery has not come back yet. */
  get busy(): boolean {
    return this.pending.length > 0;
  }

  get inTransaction(): boolean {
    return this.txStatus !== TransactionStatus.Idle;
  }

  async run(): Promise<void> {
    try {
      await this.handshake();
    } catch (error) {
      this.fail(error);
      return;
    } finally {
      clearTimeout(this.startupTimer);
    }
    if (this.closing) return;
    this.state = 'ready';
    this.stream.listen(
      (frames, chunk) => {
        this.fromClient(frames, chunk);
      },
      (error) => {
        this.fail(error);
      },
    );
  }

  /** Ask upstream to cancel the running statement; a no-op when nothing is running. */
  cancel(): void {
    const upstream = this.upstream;
    if (!upstream || !this.busy || upstream.isClosed) return;
    this.log.info({ upstreamPid: upstream.processId }, 'forwarding cancel request');
    upstream.cancel(this.ctx.config.upstreamConnect.timeoutMs).catch((error: unknown) => {
      this.log.warn({ err: error }, 'could not forward cancel request');
    });
  }

  /** Shutdown: end the session now if idle, else as soon as its running statement finishes. */
  drain(): void {
    this.draining = true;
    if (this.state !== 'ready' || !this.busy) {
      this.terminate(adminShutdown());
    }
  }

  /** Send a FATAL error (if the client can still read it) and close everything. */
  terminate(error: PgError | undefined): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.startupTimer);
    this.ctx.cancels.unregister(this.backendPid);
    if (this.upstream) {
      const upstream = this.upstream;
      this.upstream = undefined;
      this.ctx.upstreams.release(upstream, false);
    }
    if (!this.socket.destroyed) {
      if (error) this.socket.end(be.errorFromPgError(error));
      else this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    this.state = 'closed';
    this.ctx.onSessionClosed(this);
    this.log.info({ durationMs: Date.now() - this.connectedAt }, 'session closed');
  }

  private fail(error: unknown): void {
    if (this.closing) return;
    if (error instanceof ClosedError) {
      this.terminate(undefined);
    } else if (error instanceof UpstreamRefusedError) {
      this.log.info({ code: error.code }, `upstream refused login: ${error.message}`);
      if (!this.socket.destroyed) this.socket.write(error.frame);
      this.terminate(undefined);
    } else if (error instanceof PgError) {
      this.log.info({ code: error.code }, error.message);
      this.terminate(
        new PgError(error.code, error.message, { severity: 'FATAL', ...optional(error) }),
      );
    } else {
      this.log.error({ err: error }, 'internal error; closing session');
      this.terminate(clientSafe(error, true));
    }
  }

  // ---- startup -----------------------------------------------------------------------------

  private async handshake(): Promise<void> {
    let secure = false;
    for (;;) {
      const frame = await this.stream.next();
      const packet = decodeStartupPacket(frame.body);
      if (packet.kind === 'cancel') {
        this.ctx.cancels.cancel(packet.processId, packet.secretKey);
        throw new ClosedError();
      }
      if (packet.kind === 'gssenc-request') {
        this.socket.write(be.sslResponse(false));
        this.stream.reader.expectUntyped();
        continue;
      }
      if (packet.kind === 'ssl-request') {
        if (secure) throw protocolViolation('SSLRequest received on an encrypted connection');
        if (this.ctx.tls === undefined) {
          this.socket.write(be.sslResponse(false));
          this.stream.reader.expectUntyped();
          continue;
        }
        if (this.stream.reader.buffered > 0) {
          // Bytes after SSLRequest before the handshake would be read unencrypted (CVE-2021-23222).
          throw protocolViolation('received unencrypted data after SSL request');
        }
        await this.upgradeToTls(this.ctx.tls);
        secure = true;
        continue;
      }
      if (this.ctx.config.tls.require && !secure) {
        throw new PgError(
          SqlState.InvalidAuthorizationSpecification,
          'SSL connection is required',
          {
            severity: 'FATAL',
          },
        );
      }
      await this.startup(packet.params, packet.minor);
      return;
    }
  }

  private async upgradeToTls(context: tls.SecureContext): Promise<void> {
    const raw = this.socket;
    this.stream.detach();
    raw.write(be.sslResponse(true));
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', resolve);
      secure.once('error', reject);
      secure.once('close', () => {
        reject(new ClosedError());
      });
    });
    secure.on('error', (error) => {
      this.log.debug({ err: error }, 'client TLS error');
    });
    this.socket = secure;
    this.stream.replaceSocket(secure);
    this.stream.reader.expectUntyped();
    this.log.debug({ protocol: secure.getProtocol() }, 'TLS established');
  }

  private async startup(params: ReadonlyMap<string, string>, minor: number): Promise<void> {
    const user = params.get('user') ?? '';
    if (user === '') {
      throw new PgError(
        SqlState.InvalidAuthorizationSpecification,
        'no PostgreSQL user name specified in startup packet',
        { severity: 'FATAL' },
      );
    }
    this.user = user;
    this.database = params.get('database') ?? user;
    this.applicationName = params.get('application_name') ?? '';
    const forwarded = new Map<string, string>();
    const unrecognized: string[] = [];
    for (const [key, value] of params) {
      if (key.startsWith('_pq_.')) unrecognized.push(key);
      else if (key !== 'user' && key !== 'database') forwarded.set(key, value);
    }
    if (forwarded.has('replication')) {
      throw new PgError(
        SqlState.FeatureNotSupported,
        'replication connections are not supported by DocFusionDB',
        { severity: 'FATAL' },
      );
    }
    if (minor > 0 || unrecognized.length > 0) {
      // We speak protocol 3.0 and no protocol extensions (yet).
      this.socket.write(be.negotiateProtocolVersion(0, unrecognized));
    }
    this.log.info(
      { user, database: this.database, application_name: this.applicationName },
      'client startup',
    );

    if (!this.ctx.admitClient(this)) {
      throw new PgError(SqlState.TooManyConnections, 'sorry, too many clients already', {
        severity: 'FATAL',
      });
    }

    const verified = await authenticateClient({
      stream: this.stream,
      send: (message) => this.socket.write(message),
      user,
      method: this.ctx.config.auth.method,
      store: this.ctx.credentials,
    });
    this.socket.write(be.authenticationOk());

    const upstream = await this.ctx.upstreams.acquire(
      {
        endpoint: endpointFor(this.ctx.config, this.ctx.upstream, this.database),
        ...this.upstreamLogin(verified),
        params: forwarded,
      },
      this.log,
    );
    if (this.closing) {
      this.ctx.upstreams.release(upstream, false);
      return;
    }
    this.upstream = upstream;
    upstream.listen({
      onFrames: (frames, chunk) => {
        this.fromUpstream(frames, chunk);
      },
      onClose: (error) => {
        this.upstreamClosed(error);
      },
    });
    const key = this.ctx.cancels.register(this);
    this.backendPid = key.processId;
    const hello: Buffer[] = [
      ...upstream.loginFrames,
      be.backendKeyData(key.processId, key.secretKey),
      be.readyForQuery(TransactionStatus.Idle),
    ];
    this.socket.write(Buffer.concat(hello));
    this.log.info({ upstreamPid: upstream.processId }, 'session ready');
  }

  /** Who to log in upstream as, and with what. */
  private upstreamLogin(verified: UpstreamCredentials): {
    user: string;
    credentials: UpstreamCredentials;
  } {
    const mapped = this.ctx.config.databases[this.database];
    if (mapped?.user !== undefined) {
      return {
        user: mapped.user,
        credentials:
          mapped.password === undefined
            ? { kind: 'none' }
            : { kind: 'password', password: mapped.password },
      };
    }
    if (
      verified.kind === 'none' &&
      this.user === this.ctx.upstream.admin.user &&
      this.ctx.upstream.admin.password !== undefined
    ) {
      return {
        user: this.user,
        credentials: { kind: 'password', password: this.ctx.upstream.admin.password },
      };
    }
    return { user: this.user, credentials: verified };
  }

  // ---- relay -------------------------------------------------------------------------------

  private fromClient(frames: Frame[], chunk: Buffer): void {
    const upstream = this.upstream;
    if (!upstream) return;
    let out: Buffer[] | undefined; // set once the chunk can no longer be forwarded as is
    for (const [i, frame] of frames.entries()) {
      const type = frame.type;
      if (type === FrontendCode.Terminate) {
        this.flushTo(upstream, frames, i, out, chunk);
        this.terminate(undefined);
        return;
      }
      if (!RELAYED.has(type)) {
        this.flushTo(upstream, frames, i, out, chunk);
        this.terminate(protocolViolation(`invalid frontend message type ${type}`));
        return;
      }
      if (type === FrontendCode.Query) {
        const route = routeQuery(frame.body);
        if (route.kind === 'local') {
          out ??= frames.slice(0, i).map((f) => f.raw);
          this.queueLocal(answerLocal(route.command, this.ctx, this.txStatus));
          continue;
        }
        this.syncsSinceExecute = 0;
        this.pending.push({ kind: 'upstream' });
      } else if (type === FrontendCode.Sync) {
        this.syncsSinceExecute++;
        if (!this.copyIn) this.pending.push({ kind: 'upstream' });
      } else if (type === FrontendCode.Execute) {
        this.syncsSinceExecute = 0;
      } else if (type === FrontendCode.FunctionCall) {
        this.pending.push({ kind: 'upstream' });
      } else if (type === FrontendCode.CopyDone || type === FrontendCode.CopyFail) {
        this.copyIn = false;
      }
      out?.push(frame.raw);
    }
    this.flushTo(upstream, frames, frames.length, out, chunk);
  }

  /** Write frames [0, end) upstream: the chunk itself when it is exactly those frames. */
  private flushTo(
    upstream: UpstreamConnection,
    frames: Frame[],
    end: number,
    out: Buffer[] | undefined,
    chunk: Buffer,
  ): void {
    let data: Buffer;
    if (out) {
      if (out.length === 0) return;
      data = Buffer.concat(out);
    } else {
      if (end === 0) return;
      data = coversExactly(frames, end, chunk)
        ? chunk
        : Buffer.concat(frames.slice(0, end).map((f) => f.raw));
    }
    if (!upstream.write(data)) {
      this.stream.pause();
      upstream.socket.once('drain', () => {
        this.stream.resume();
      });
    }
  }

  private fromUpstream(frames: Frame[], chunk: Buffer): void {
    let start = 0;
    for (const [i, frame] of frames.entries()) {
      switch (frame.type) {
        case BackendCode.ReadyForQuery: {
          this.txStatus = (frame.body[0] ?? TransactionStatus.Idle) as TransactionStatusByte;
          this.copyIn = false;
          if (this.pending[0]?.kind === 'upstream') this.pending.shift();
          if (this.pending[0]?.kind === 'local') {
            this.writeClient(frames, start, i + 1, chunk);
            start = i + 1;
            this.flushLocal();
          }
          break;
        }
        case BackendCode.CopyInResponse:
          // Postgres ignores Sync during COPY FROM STDIN; the client sends another after CopyDone.
          this.copyIn = true;
          this.pending.splice(this.pending.length - this.syncsSinceExecute, this.syncsSinceExecute);
          break;
        case BackendCode.ErrorResponse:
          if (frame.body.includes('SFATAL\0') || frame.body.includes('SPANIC\0')) {
            const fields = decodeErrorFields(frame.body);
            this.upstreamSentFatal = true;
            this.log.warn(
              { code: fields.get('C') },
              `upstream sent FATAL: ${fields.get('M') ?? ''}`,
            );
          }
          break;
        default:
          break;
      }
    }
    this.writeClient(frames, start, frames.length, chunk);
    if (this.draining && !this.busy) this.terminate(adminShutdown());
  }

  private writeClient(frames: Frame[], start: number, end: number, chunk: Buffer): void {
    if (end <= start || this.socket.destroyed) return;
    const data =
      start === 0 && coversExactly(frames, end, chunk)
        ? chunk
        : Buffer.concat(frames.slice(start, end).map((f) => f.raw));
    if (!this.socket.write(data)) {
      const upstream = this.upstream;
      upstream?.pause();
      this.socket.once('drain', () => upstream?.resume());
    }
  }

  private queueLocal(bytes: Buffer): void {
    if (this.pending.length === 0) {
      this.socket.write(bytes);
      return;
    }
    this.pending.push({ kind: 'local', bytes });
  }

  private flushLocal(): void {
    while (this.pending[0]?.kind === 'local') {
      const local = this.pending.shift() as { bytes: Buffer };
      this.socket.write(local.bytes);
    }
  }

  private upstreamClosed(error: Error | undefined): void {
    if (this.closing) return;
    this.upstream = undefined;
    this.log.warn({ err: error }, 'upstream connection closed');
    if (this.upstreamSentFatal) {
      this.terminate(undefined); // the client already has Postgres's own FATAL error
      return;
    }
    this.terminate(
      new PgError(
        SqlState.ConnectionFailure,
        'the upstream Postgres connection closed unexpectedly',
        {
          severity: 'FATAL',
          hint: 'The server may have been restarted or the backend terminated; reconnect.',
        },
      ),
    );
  }
}

function coversExactly(frames: Frame[], end: number, chunk: Buffer): boolean {
  const first = frames[0];
  const last = frames[end - 1];
  return (
    first !== undefined &&
    last !== undefined &&
    first.raw.buffer === chunk.buffer &&
    first.raw.byteOffset === chunk.byteOffset &&
    last.raw.byteOffset + last.raw.length === chunk.byteOffset + chunk.length
  );
}

function optional(error: PgError): { hint?: string; detail?: string } {
  return {
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    ...(error.detail === undefined ? {} : { detail: error.detail }),
  };
}
