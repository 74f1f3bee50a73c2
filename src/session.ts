import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { FrameReader, type Frame } from '../protocol/frame-reader.js';
import {
  FrontendCode,
  TransactionStatus,
  typeTable,
  type TransactionStatusByte,
} from '../protocol/message-codes.js';
import * as be from '../protocol/backend-encoders.js';
import { decodeQuery, decodeStartupPacket } from '../protocol/frontend-decoders.js';
import { PgError, SqlState, protocolViolation } from '../protocol/pg-error.js';
import { ADMIN_DATABASE, answerAdmin } from './admin-console.js';
import { authenticateClient } from './client-auth.js';
import type { PoolMode } from './config-types.js';
import { adminShutdown, clientSafe, fatal, isConnectionError } from './errors.js';
import { ClosedError, FrameStream } from './frame-stream.js';
import { answerLocal } from './local-commands.js';
import { PlanningStage } from './planning-stage.js';
import { routeQuery } from './router.js';
import type { ServerContext } from './server-context.js';
import { startupParamState } from './session-params.js';
import { StatementMeter } from './statement-meter.js';
import type { SessionSpan } from './tracing.js';
import { UpstreamLink, type LinkOwner } from './upstream-link.js';
import {
  authFailures,
  bytes,
  cancels,
  errorsTotal,
  sessionsTotal,
  sqlstateClass,
} from './metrics.js';
import { UpstreamRefusedError, type UpstreamCredentials } from './upstream-connection.js';
import { endpointFor } from './upstream-target.js';

/** Frontend message types a client may send once logged in. */
const RELAYED_TYPES = [
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
];
/** RELAYED_TYPES by type byte (1 = relayed). */
const RELAYED = typeTable(RELAYED_TYPES);

/** Everything a logged-in client may send: the relayed types and Terminate. */
const ACCEPTED: ReadonlySet<number> = new Set([...RELAYED_TYPES, FrontendCode.Terminate]);

export type SessionState = 'startup' | 'ready' | 'closed';

let nextSessionId = 1;

/**
 * One client connection, from accept to close: TLS negotiation, startup, authentication, the
 * upstream login, then the relay through an UpstreamLink. See docs/connection-lifecycle.md,
 * which follows this file's order.
 */
export class Session implements LinkOwner {
  readonly id = nextSessionId++;
  /** Child logger: session id and client address, then user, database and application_name. */
  readonly log: Logger;
  readonly connectedAt = Date.now();
  readonly remote: string;
  state: SessionState = 'startup';
  user = '';
  database = '';
  applicationName = '';
  /** Connected to the admin console (`docfusion_admin`) instead of Postgres. */
  admin = false;
  lastActivityAt = Date.now();
  private socket: net.Socket | tls.TLSSocket;
  private readonly stream: FrameStream;
  private link: UpstreamLink | undefined;
  private stage: PlanningStage | undefined;
  private backendPid = 0;
  private draining = false;
  private closing = false;
  private startupTimer: NodeJS.Timeout | undefined;
  private statementMeter: StatementMeter | undefined;
  private queryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Admin-console answers, one at a time (made at the first admin statement). */
  private adminQueue: Promise<void> | undefined;
  /** Admin-console statements not answered yet. */
  private adminPending = 0;
  private span: SessionSpan | undefined;
  /** This connection only carried a CancelRequest. */
  private cancelRequest = false;
  /** The last error the client's socket reported (a reset, a write to a closed connection). */
  private clientError: Error | undefined;

  constructor(
    socket: net.Socket,
    private readonly ctx: ServerContext,
  ) {
    this.socket = socket;
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.log = ctx.log.child({ session: this.id, client: this.remote });
    socket.setNoDelay(true);
    socket.on('error', (error) => {
      this.clientError = error;
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

  /** terminate() has run: a timer, a drain or the client may end the session at any await. */
  private hasEnded(): boolean {
    return this.closing;
  }

  /** A statement is in flight upstream. */
  get busy(): boolean {
    return this.link?.busy ?? false;
  }

  get txStatus(): TransactionStatusByte {
    return this.link?.txStatus ?? TransactionStatus.Idle;
  }

  get poolMode(): PoolMode | undefined {
    return this.link?.mode;
  }

  get upstreamPid(): number | undefined {
    return this.link?.connection?.processId;
  }

  get pinned(): string | undefined {
    return this.link?.pinned;
  }

  /**
   * An extended-protocol batch is open (no Sync yet): as in Postgres, which sends no
   * ReadyForQuery before the Sync, the idle timeouts do not apply.
   */
  get inBatch(): boolean {
    return this.link?.inBatch ?? false;
  }

  /** Waiting for an upstream connection. */
  get waiting(): boolean {
    return this.link?.waiting ?? false;
  }

  async run(): Promise<void> {
    try {
      await this.handshake();
    } catch (error) {
      if (!this.cancelRequest) sessionsTotal.labels('refused').inc();
      this.fail(error);
      return;
    } finally {
      this.clearStartupTimer();
    }
    if (this.closing) return;
    this.state = 'ready';
    sessionsTotal.labels('ready').inc();
    this.stream.reader.restrictTypes(ACCEPTED);
    this.armTimers();
    this.stream.listen(
      (frames, chunk) => {
        try {
          this.fromClient(frames, chunk);
        } catch (error) {
          this.fail(error);
        }
      },
      (error) => {
        this.fail(error);
      },
    );
  }

  /**
   * CancelRequest with this session's key: cancel the running statement, if any. Returns whether
   * a cancel went upstream.
   */
  cancel(): boolean {
    const forwarded = this.link?.cancel(this.ctx.config.upstreamConnect.timeoutMs) ?? false;
    cancels.labels(forwarded ? 'forwarded' : 'ignored').inc();
    return forwarded;
  }

  /** Shutdown: end the session now if idle, else as soon as its running statement finishes. */
  drain(): void {
    this.draining = true;
    if (this.state !== 'ready' || !this.busy) this.terminate(adminShutdown());
  }

  /** Send a FATAL error (if the client can still read it) and close everything. */
  terminate(error: PgError | undefined): void {
    if (this.closing) return;
    this.closing = true;
    this.clearStartupTimer();
    this.clearQueryTimer();
    this.clearIdleTimer();
    this.ctx.cancels.unregister(this.backendPid);
    this.link?.close();
    if (error) errorsTotal.labels(sqlstateClass(error.code)).inc();
    this.span?.end();
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
    } else if (error === this.clientError && isConnectionError(error)) {
      // The client reset the connection (ECONNRESET, EPIPE): as Postgres, no error report.
      this.log.debug({ err: error }, 'client connection lost');
      this.terminate(undefined);
    } else if (error instanceof UpstreamRefusedError) {
      this.log.info({ code: error.code }, `upstream refused login: ${error.message}`);
      if (!this.socket.destroyed) this.socket.write(error.frame);
      this.terminate(undefined);
    } else if (error instanceof PgError) {
      if (this.state === 'startup' && (error.code === '28P01' || error.code === '28000')) {
        authFailures.labels(this.ctx.config.auth.method).inc();
      }
      this.log.info({ code: error.code }, error.message);
      this.terminate(
        new PgError(error.code, error.message, {
          severity: 'FATAL',
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          ...(error.detail === undefined ? {} : { detail: error.detail }),
        }),
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
        this.cancelRequest = true;
        if (!this.ctx.cancels.cancel(packet.processId, packet.secretKey)) {
          cancels.labels('unknown').inc();
        }
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
    secure.on('error', (error: Error) => {
      this.clientError = error;
      this.log.debug({ err: error }, 'client TLS error');
    });
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', resolve);
      secure.once('error', reject);
      secure.once('close', () => {
        reject(new ClosedError());
      });
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
        {
          severity: 'FATAL',
        },
      );
    }
    this.user = user;
    this.database = params.get('database') ?? user;
    this.applicationName = params.get('application_name') ?? '';
    const unrecognized = [...params.keys()].filter((key) => key.startsWith('_pq_.'));
    const settings = new Map([...params].filter(([key]) => !key.startsWith('_pq_.')));
    if (settings.has('replication')) {
      throw new PgError(
        SqlState.FeatureNotSupported,
        'replication connections are not supported by DocFusionDB',
        {
          severity: 'FATAL',
        },
      );
    }
    if (minor > 0 || unrecognized.length > 0) {
      // We speak protocol 3.0 and no protocol extensions (yet).
      this.socket.write(be.negotiateProtocolVersion(0, unrecognized));
    }
    this.log.setBindings({ user, database: this.database, application_name: this.applicationName });
    this.log.info('client startup');

    if (!this.ctx.admitClient(this)) {
      throw new PgError(SqlState.TooManyConnections, 'sorry, too many clients already', {
        severity: 'FATAL',
      });
    }
    const desired = startupParamState(settings);
    const verified = await authenticateClient({
      stream: this.stream,
      send: (message) => this.socket.write(message),
      user,
      method: this.ctx.config.auth.method,
      store: this.ctx.credentials,
    });

    if (this.database === ADMIN_DATABASE) {
      if (!this.ctx.isAdmin(user)) {
        throw new PgError(
          SqlState.InvalidAuthorizationSpecification,
          `user "${user}" is not a DocFusionDB admin`,
          {
            severity: 'FATAL',
          },
        );
      }
      this.admin = true;
      this.socket.write(be.authenticationOk());
      this.finishLogin(
        new Map([
          ['server_version', '17.0 (DocFusionDB admin)'],
          ['client_encoding', 'UTF8'],
          ['server_encoding', 'UTF8'],
          ['DateStyle', 'ISO, MDY'],
          ['standard_conforming_strings', 'on'],
          ['integer_datetimes', 'on'],
        ]),
      );
      return;
    }

    this.socket.write(be.authenticationOk());
    this.span = this.ctx.tracing.session({
      'db.user': user,
      'db.namespace': this.database,
      'client.address': this.remote,
      'docfusion.session': this.id,
    });
    // The startup timer may have fired while authentication was finishing.
    if (this.hasEnded()) return;
    const endpoint = endpointFor(this.ctx.config, this.ctx.upstream, this.database);
    const login = this.upstreamLogin(verified);
    const pool = this.ctx.pools.poolFor(this.database, endpoint, login.user, login.credentials);
    const link = new UpstreamLink(this, pool, pool.mode, desired);
    this.link = link;
    this.stage = new PlanningStage(
      {
        log: this.log,
        link,
        endpoint,
        pauseClient: () => {
          this.stream.pause();
        },
        resumeClient: () => {
          this.stream.resume();
        },
        fail: (error) => {
          this.fail(error);
        },
      },
      this.ctx.plans,
      this.ctx.config.planner.pushdown,
    );
    // Authenticated: from here the wait for a connection is bounded by pool.max_client_wait_ms,
    // and a client that gives up meanwhile leaves the pool's queue (terminate closes the link).
    this.clearStartupTimer();
    this.stream.watch((error) => {
      this.fail(error);
    });
    let connection;
    try {
      connection = await link.attach();
    } catch (error) {
      // A pool whose very first login failed (no such database, …) is not kept.
      this.ctx.pools.forgetIfUnused(pool);
      throw error;
    }
    if (this.hasEnded()) {
      link.close(); // gives the connection back, if terminate() came before the lease
      return;
    }
    this.finishLogin(connection.parameters);
    this.log.info({ upstreamPid: connection.processId, mode: pool.mode }, 'session ready');
    link.detachIfIdle();
  }

  private finishLogin(parameters: ReadonlyMap<string, string>): void {
    const key = this.ctx.cancels.register(this);
    this.backendPid = key.processId;
    const hello: Buffer[] = [];
    for (const [name, value] of parameters) hello.push(be.parameterStatus(name, value));
    hello.push(
      be.backendKeyData(key.processId, key.secretKey),
      be.readyForQuery(TransactionStatus.Idle),
    );
    this.socket.write(Buffer.concat(hello));
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
    const admin = this.ctx.upstream.admin;
    if (verified.kind === 'none' && this.user === admin.user && admin.password !== undefined) {
      return { user: this.user, credentials: { kind: 'password', password: admin.password } };
    }
    return { user: this.user, credentials: verified };
  }

  // ---- relay -------------------------------------------------------------------------------

  private fromClient(frames: Frame[], chunk: Buffer): void {
    if (this.closing) return; // bytes that arrive while the session closes
    bytes.in += chunk.length;
    this.lastActivityAt = Date.now();
    this.clearIdleTimer();
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i];
      if (frame === undefined) continue;
      if (RELAYED[frame.type] !== 1) {
        if (i > 0) this.relay(frames.slice(0, i), chunk);
        this.terminate(
          frame.type === FrontendCode.Terminate
            ? undefined
            : protocolViolation(`invalid frontend message type ${frame.type}`),
        );
        return;
      }
    }
    this.relay(frames, chunk);
    const queryMs = this.ctx.config.timeouts.queryMs;
    if (queryMs > 0 && this.queryTimer === undefined && this.busy) {
      this.queryTimer = setTimeout(() => {
        this.queryTimedOut(queryMs);
      }, queryMs);
    }
  }

  private relay(frames: Frame[], chunk: Buffer): void {
    if (this.admin) {
      this.answerAdmin(frames);
      return;
    }
    if (this.stage) this.stage.fromClient(frames, chunk);
    else this.link?.fromClient(frames, chunk);
  }

  /**
   * The admin console answers each Query itself, one at a time, in order. The idle timer
   * (cleared by every message) is armed again once every answer is out.
   */
  private answerAdmin(frames: Frame[]): void {
    for (const frame of frames) {
      if (frame.type !== FrontendCode.Query) {
        if (frame.type === FrontendCode.Sync)
          this.socket.write(be.readyForQuery(TransactionStatus.Idle));
        continue;
      }
      const sql = decodeQuery(frame.body).sql;
      this.adminPending++;
      this.adminQueue = (this.adminQueue ?? Promise.resolve()).then(async () => {
        const reply = await answerAdmin(sql, this.ctx, this);
        this.adminPending--;
        if (!this.socket.destroyed) this.socket.write(reply);
        if (this.adminPending === 0) this.armTimers();
      });
    }
    if (this.adminPending === 0) this.armTimers();
  }

  // ---- LinkOwner: what the upstream link needs from its session ------------------------------
  // (methods of the session itself rather than closures: an idle client should cost little)

  writeClient(data: Buffer): boolean {
    bytes.out += data.length;
    return this.socket.destroyed || this.socket.write(data);
  }

  onClientDrain(resume: () => void): void {
    this.socket.once('drain', resume);
  }

  pauseClient(): void {
    this.stream.pause();
  }

  resumeClient(): void {
    this.stream.resume();
  }

  lost(error: unknown, clientAlreadyTold: boolean): void {
    if (clientAlreadyTold) {
      this.terminate(undefined);
    } else if (error !== undefined) {
      this.fail(error);
    } else {
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

  idle(): void {
    this.clearQueryTimer();
    if (this.draining) {
      this.terminate(adminShutdown());
      return;
    }
    this.armTimers();
  }

  routeLocal(body: Buffer, txStatus: TransactionStatusByte): Buffer | undefined {
    const route = routeQuery(body);
    return route.kind === 'local' ? answerLocal(route.command, this.ctx, txStatus) : undefined;
  }

  get internalQueryTimeoutMs(): number {
    return Math.max(5000, this.ctx.config.upstreamConnect.timeoutMs);
  }

  /** Statement metrics, slow log and spans (made with the link, after the session's span). */
  get meter(): StatementMeter {
    return (this.statementMeter ??= new StatementMeter(this.log, this.ctx, this.span));
  }

  // ---- timeouts ----------------------------------------------------------------------------

  /** Idle timers, armed when nothing is in flight. */
  private armTimers(): void {
    this.clearIdleTimer();
    if (this.busy || this.closing) return;
    const { idleInTransactionMs, clientIdleMs } = this.ctx.config.timeouts;
    if (this.txStatus !== TransactionStatus.Idle) {
      if (idleInTransactionMs <= 0) return;
      this.idleTimer = setTimeout(() => {
        this.log.warn({ timeoutMs: idleInTransactionMs }, 'idle-in-transaction timeout');
        this.terminate(
          new PgError(
            SqlState.IdleInTransactionTimeout,
            'terminating connection due to idle-in-transaction timeout',
            {
              severity: 'FATAL',
            },
          ),
        );
      }, idleInTransactionMs);
    } else if (clientIdleMs > 0) {
      this.idleTimer = setTimeout(() => {
        this.log.info({ timeoutMs: clientIdleMs }, 'client idle timeout');
        this.terminate(
          new PgError('57P05', 'terminating connection due to idle-session timeout', {
            severity: 'FATAL',
          }),
        );
      }, clientIdleMs);
    }
  }

  /**
   * timeouts.query_ms passed: cancel the statement. If the reply is still not back
   * `upstream_connect.timeout_ms` later (a stalled network path, a frozen host: not even the
   * cancel's error arrives), give up on the upstream connection and end the session with FATAL
   * 08006, rather than hold the client and its connection until TCP gives up.
   */
  private queryTimedOut(queryMs: number): void {
    this.queryTimer = undefined;
    this.log.warn({ timeoutMs: queryMs }, 'query timeout: cancelling the statement');
    if (!this.cancel()) return;
    const graceMs = this.ctx.config.upstreamConnect.timeoutMs;
    this.queryTimer = setTimeout(() => {
      this.queryTimer = undefined;
      if (this.closing || !this.busy) return;
      this.log.warn(
        { timeoutMs: queryMs, graceMs },
        'no reply from the upstream after cancelling a timed-out statement; closing its connection',
      );
      this.link?.abort();
      this.terminate(
        new PgError(
          SqlState.ConnectionFailure,
          `terminating connection: the upstream Postgres did not answer within ${graceMs} ms of cancelling a statement that ran past timeouts.query_ms (${queryMs} ms)`,
          {
            severity: 'FATAL',
            hint: 'The network path to Postgres or its host may be stalled; reconnect.',
          },
        ),
      );
    }, graceMs);
  }

  /** Clear and drop the startup timer (an idle client keeps no spent Timeout). */
  private clearStartupTimer(): void {
    if (this.startupTimer) clearTimeout(this.startupTimer);
    this.startupTimer = undefined;
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private clearQueryTimer(): void {
    if (this.queryTimer) clearTimeout(this.queryTimer);
    this.queryTimer = undefined;
  }
}
