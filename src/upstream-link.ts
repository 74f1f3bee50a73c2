import type { Logger } from 'pino';
import type { Frame } from '../protocol/frame-reader.js';
import {
  BackendCode,
  FrontendCode,
  TransactionStatus,
  transactionStatusOf,
  typeTable,
  type TransactionStatusByte,
} from '../protocol/message-codes.js';
import * as be from '../protocol/backend-encoders.js';
import * as fe from '../protocol/frontend-encoders.js';
import {
  decodeClose,
  decodeDescribe,
  decodeParse,
  decodeQuery,
} from '../protocol/frontend-decoders.js';
import { commandWord, decodeErrorFields } from '../protocol/backend-decoders.js';
import type { PoolMode } from './config-types.js';
import { ClosedError } from './frame-stream.js';
import type { Pool, WaitTicket } from './pool.js';
import {
  ClientStatements,
  parseFrame,
  renameBind,
  statementTargetFrame,
  type ClientStatement,
} from './prepared-statements.js';
import {
  isFatal,
  ResponseTracker,
  SLOT,
  type Expectation,
  type ReplyTransform,
  type Slot,
} from './response-tracker.js';
import { applyEffect, diffSql, type ParamState } from './session-params.js';
import type { SqlRef, StatementMeter } from './statement-meter.js';
import {
  mayChangeSettings,
  provablyWithoutEffects,
  sessionEffects,
  type SessionEffect,
} from './statement-effects.js';
import type { UpstreamConnection, UpstreamListener } from './upstream-connection.js';

/** What the link needs from its session. */
export interface LinkOwner {
  readonly log: Logger;
  /** Bytes for the client, in order. Returns false when the client socket is full. */
  writeClient(data: Buffer): boolean;
  /** Wait until the client socket drains, then call `resume`. */
  onClientDrain(resume: () => void): void;
  pauseClient(): void;
  resumeClient(): void;
  /** The upstream connection failed or a lease could not be had: end the session. */
  lost(error: unknown, clientAlreadyTold: boolean): void;
  /** Nothing in flight any more (drain on shutdown, timers). */
  idle(): void;
  /** A Query (its body) the router sends elsewhere: the whole reply, or undefined for upstream. */
  routeLocal(body: Buffer, txStatus: TransactionStatusByte): Buffer | undefined;
  readonly internalQueryTimeoutMs: number;
  /** Statement metrics, slow log and spans for this client. */
  readonly meter: StatementMeter;
}

const NO_BODY = Buffer.alloc(0);

/**
 * The planner's instructions for particular client frames: answer a message in the proxy
 * (in order with the replies from upstream), or rewrite the result frames of its reply.
 */
export type FrameAction =
  | { readonly kind: 'answer'; readonly expect: Expectation; readonly bytes: Buffer }
  | { readonly kind: 'transform'; readonly transform: ReplyTransform }
  /**
   * A Query or Parse sent to fail upstream in place of a statement the planner refused
   * (src/planning-failure.ts): the client sees the proxy's error, from `replaceError`.
   */
  | { readonly kind: 'fail'; readonly replaceError: (body: Buffer) => Buffer | undefined }
  /** Rewritten by the planner (pushed-down SQL): relayed as usual, metered as `planned`. */
  | { readonly kind: 'planned' };

export type FrameActions = Map<Frame, FrameAction>;

/** Reply frames a transform may rewrite. */
const TRANSFORMED = typeTable([
  BackendCode.RowDescription,
  BackendCode.DataRow,
  BackendCode.CommandComplete,
  BackendCode.EmptyQueryResponse,
  BackendCode.PortalSuspended,
  BackendCode.NoData,
]);

/** Frontend message types that begin or continue an extended-protocol batch (1 by type byte). */
const EXTENDED = typeTable([
  FrontendCode.Parse,
  FrontendCode.Bind,
  FrontendCode.Describe,
  FrontendCode.Execute,
  FrontendCode.Close,
]);

/**
 * A client's path to Postgres: leases connections from its pool (for the whole session, or one
 * transaction at a time), relays raw frames both ways, and in transaction mode keeps the
 * illusion of a private connection: settings replayed, named statements prepared lazily under
 * proxy-wide names, session-bound state pinning the client to its connection.
 */
export class UpstreamLink implements UpstreamListener {
  private lease: UpstreamConnection | undefined;
  private acquiring = false;
  /** The client's place in the pool's queue (made at the first wait; close() leaves it). */
  private ticket: WaitTicket | undefined;
  private readonly queued: Frame[] = [];
  /** What the planner decided for particular frames (see FrameAction). */
  private actions: FrameActions | undefined;
  private readonly tracker = new ResponseTracker();
  private readonly statements = new ClientStatements();
  // The maps below are made when first needed: most clients never need some of them, and an
  // idle client should cost little memory.
  /** Effects of statements in flight, applied when they succeed (or their transaction commits). */
  private inFlightEffects: Map<Slot, SessionEffect[]> | undefined;
  /**
   * Effects of the open transaction, one level per savepoint (the first is the transaction
   * itself); undefined outside a transaction. They count only if the transaction commits.
   */
  private levels: { name: string | undefined; effects: SessionEffect[] }[] | undefined;
  /** Waiting for the effects in flight to settle (see `settled`). */
  private settleWaiters: (() => void)[] | undefined;
  /** First word of the last CommandComplete tag ("COMMIT" ends a transaction's SETs' wait). */
  private lastCommand = '';
  private openBatch = false;
  /** The open extended-protocol batch parses a statement the planner rewrote. */
  private batchPlanned = false;
  /** Parse bodies by statement name ('' = unnamed), for the slow-statement log. */
  private parsedSql: Map<string, Buffer> | undefined;
  /** Session effects of the unnamed statement, applied when a portal of it is executed. */
  private unnamedEffects: SessionEffect[] | undefined;
  /** Session effects of named statements, by the client's statement name. */
  private namedEffects: Map<string, SessionEffect[]> | undefined;
  /** Session effects of portals, by portal name, applied when the portal is executed. */
  private portalEffects: Map<string, SessionEffect[]> | undefined;
  /** The SQL of the statement bound in the current batch. */
  private boundSql: SqlRef | undefined;
  private pinnedBy: string | undefined;
  /** The client used SQL PREPARE: its DEALLOCATEs must reach Postgres. */
  private sqlPrepared = false;
  private upstreamSentFatal = false;
  private closed = false;
  txStatus: TransactionStatusByte = TransactionStatus.Idle;
  /** The client's startup settings: what RESET returns to. */
  private readonly baseline: ReadonlyMap<string, string>;
  /**
   * The client's settings (startup parameters and SETs), kept current in transaction mode: the
   * baseline itself until a statement changes them (then a copy).
   */
  private desired: ReadonlyMap<string, string>;
  private ownDesired: ParamState | undefined;

  constructor(
    private readonly owner: LinkOwner,
    private readonly pool: Pool,
    readonly mode: PoolMode,
    /** The client's startup settings; the link owns them from now on. */
    startup: ParamState,
  ) {
    this.baseline = startup;
    this.desired = startup;
  }

  /** Statements in flight upstream. */
  get busy(): boolean {
    return this.tracker.busy || this.queued.length > 0;
  }

  get connection(): UpstreamConnection | undefined {
    return this.lease;
  }

  /** Waiting for the pool to hand out a connection. */
  get waiting(): boolean {
    return this.acquiring;
  }

  get pinned(): string | undefined {
    return this.pinnedBy;
  }

  /** An extended-protocol batch is open (no Sync since its first message). */
  get inBatch(): boolean {
    return this.openBatch;
  }

  /** Lease a connection now with the client's settings applied (login; session mode keeps it). */
  async attach(): Promise<UpstreamConnection> {
    this.acquiring = true;
    let connection: UpstreamConnection;
    try {
      connection = await this.pool.acquire(this.waitTicket());
    } finally {
      this.acquiring = false;
    }
    try {
      if (!this.closed) await this.syncParams(connection);
    } catch (error) {
      this.pool.release(connection, false);
      throw error;
    }
    if (this.closed) {
      // The session ended while it waited (startup timeout, the client gave up, shutdown):
      // close() found no lease to give back, so the connection goes back from here.
      this.pool.release(connection, true);
      throw new ClosedError();
    }
    this.lease = connection;
    connection.listen(this);
    return connection;
  }

  /** After login in transaction mode: give the connection back until the client needs one. */
  detachIfIdle(): void {
    this.maybeRelease();
  }

  fromClient(frames: Frame[], chunk: Buffer | undefined, actions?: FrameActions): void {
    // A closed link leases nothing more (bytes can still arrive while its session closes).
    if (this.closed) return;
    if (actions !== undefined) {
      const mine = (this.actions ??= new Map());
      for (const [frame, action] of actions) mine.set(frame, action);
    }
    if (!this.lease && !this.acquiring) {
      // Fast path: an idle connection that needs neither a health check nor a settings sync
      // is leased on the spot, without pausing the client or waiting a tick.
      const ready = this.pool.tryAcquire();
      if (ready && diffSql(ready.appliedParams, this.desired) === null) {
        this.lease = ready;
        ready.listen(this);
      } else if (ready) {
        this.queued.push(...frames);
        this.requestLease(ready);
        return;
      }
    }
    if (!this.lease) {
      this.queued.push(...frames);
      this.requestLease(undefined);
      return;
    }
    this.forward(this.lease, frames, chunk);
  }

  /** Cancel the running statement; nothing when nothing runs. Returns whether a cancel went out. */
  cancel(timeoutMs: number): boolean {
    const lease = this.lease;
    if (!lease || !this.tracker.busy || lease.isClosed) return false;
    this.owner.log.info({ upstreamPid: lease.processId }, 'forwarding cancel request');
    lease.cancel(timeoutMs).catch((error: unknown) => {
      this.owner.log.warn({ err: error }, 'could not forward cancel request');
    });
    return true;
  }

  /** The leased connection stopped answering: destroy it (close() then drops it from the pool). */
  abort(): void {
    this.lease?.destroy();
  }

  /** End: give the connection back (reset first in session mode) or close it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ticket) {
      this.ticket.gone = true;
      this.ticket.leave?.(); // leave the pool's queue
    }
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    // An extended-protocol batch without its Sync is not quiet either: after an error Postgres
    // discards every message up to the next Sync, and without an error the batch's implicit
    // transaction is still open (a Sync from the proxy would commit it).
    const quiet =
      !lease.isClosed && !this.tracker.busy && !this.tracker.inCopyIn && !this.openBatch;
    const needsReset = this.mode === 'session' || this.pinnedBy !== undefined;
    if (!quiet) {
      // A statement still running upstream must not go on (and commit) after its client is gone.
      if (!lease.isClosed && this.tracker.busy) {
        lease.cancel(this.owner.internalQueryTimeoutMs).catch(() => undefined);
      }
      this.pool.release(lease, false);
      return;
    }
    // An idle-in-transaction client that leaves (or timed out): roll back, then reuse.
    const rollback = lease.txStatus !== TransactionStatus.Idle;
    const reset = needsReset ? this.pool.resetQuery : '';
    if (!rollback && reset === '') {
      this.pool.release(lease, true);
    } else {
      const timeout = this.owner.internalQueryTimeoutMs;
      (rollback ? lease.runQuiet('ROLLBACK', timeout) : Promise.resolve([]))
        .then(() => (reset === '' ? [] : lease.runQuiet(reset, timeout)))
        .then(() => {
          if (reset !== '') {
            lease.appliedParams.clear();
            lease.statements.clear();
          }
          this.pool.release(lease, true);
        })
        .catch((error: unknown) => {
          this.owner.log.warn(
            { err: error },
            'session reset failed; closing the upstream connection',
          );
          this.pool.release(lease, false);
        });
    }
  }

  // ---- leasing -------------------------------------------------------------------------------

  private requestLease(leased: UpstreamConnection | undefined): void {
    if (this.acquiring || this.closed) {
      if (leased) this.pool.release(leased, true);
      return;
    }
    this.acquiring = true;
    this.owner.pauseClient();
    (leased ? Promise.resolve(leased) : this.pool.acquire(this.waitTicket()))
      .then(async (connection) => {
        try {
          await this.syncParams(connection);
        } catch (error) {
          this.pool.release(connection, false);
          throw error;
        }
        this.acquiring = false;
        if (this.closed) {
          this.pool.release(connection, true);
          return;
        }
        this.lease = connection;
        connection.listen(this);
        const frames = this.queued.splice(0);
        this.forward(connection, frames, undefined);
        this.wakeIfSettled();
        this.owner.resumeClient();
      })
      .catch((error: unknown) => {
        this.acquiring = false;
        this.owner.lost(error, false);
      });
  }

  private waitTicket(): WaitTicket {
    return (this.ticket ??= { leave: undefined, gone: this.closed });
  }

  /** Bring the connection's settings to the client's: one round trip, only when they differ. */
  private async syncParams(connection: UpstreamConnection): Promise<void> {
    const sql = diffSql(connection.appliedParams, this.desired);
    if (sql === null) return;
    await connection.runQuiet(sql, this.owner.internalQueryTimeoutMs);
    connection.appliedParams.clear();
    for (const [name, statement] of this.desired) connection.appliedParams.set(name, statement);
  }

  /** UpstreamListener: the link listens to every connection it leases itself. */
  onFrames(frames: Frame[], chunk: Buffer): void {
    this.fromUpstream(frames, chunk);
  }

  /** UpstreamListener: the leased connection closed or failed. */
  onClose(error: Error | undefined): void {
    this.upstreamClosed(error);
  }

  private maybeRelease(): void {
    const lease = this.lease;
    if (
      this.mode !== 'transaction' ||
      !lease ||
      this.tracker.busy ||
      this.openBatch ||
      this.pinnedBy !== undefined ||
      this.txStatus !== TransactionStatus.Idle ||
      this.tracker.inCopyIn
    ) {
      return;
    }
    this.lease = undefined;
    this.pool.release(lease, true);
  }

  // ---- client → upstream ---------------------------------------------------------------------

  private forward(lease: UpstreamConnection, frames: Frame[], chunk: Buffer | undefined): void {
    const transactionMode = this.mode === 'transaction';
    // The frames to write, once one of them is rewritten or answered here (else the chunk).
    let out: Buffer[] | undefined = chunk === undefined ? [] : undefined;
    const actions = this.actions;
    // A Query answered here: with nothing else in flight, no reply from upstream will come to
    // give the connection back and re-arm the idle timers.
    let answeredHere = false;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i];
      if (frame === undefined) continue;
      const type = frame.type;
      const action = actions?.size ? actions.get(frame) : undefined;
      if (action !== undefined) {
        actions?.delete(frame);
        if (action.kind === 'answer') {
          out ??= rawsOf(frames, i);
          if (type === FrontendCode.Query) {
            this.owner.meter.local('DOCFUSION');
            answeredHere = true;
          }
          this.emit(this.tracker.push({ expect: action.expect, synthetic: action.bytes }));
          continue;
        }
        if (action.kind === 'fail') {
          out ??= rawsOf(frames, i);
          if (type === FrontendCode.Query) {
            this.owner.meter.begin('planned', { body: frame.body, parse: false });
          } else {
            this.openBatch = true;
            this.batchPlanned = true;
          }
          const expect = type === FrontendCode.Query ? 'query' : 'parse';
          this.tracker.push({ expect, replaceError: action.replaceError });
          out.push(frame.raw);
          continue;
        }
        if (action.kind === 'transform') this.tracker.nextTransform = action.transform;
        if (type === FrontendCode.Parse) this.batchPlanned = true;
      }
      if (EXTENDED[type] === 1) this.openBatch = true;
      switch (type) {
        case FrontendCode.Query: {
          const body = frame.body;
          const local = this.owner.routeLocal(body, this.txStatus);
          if (local !== undefined) {
            out ??= rawsOf(frames, i);
            this.owner.meter.local('SHOW');
            this.emit(this.tracker.push({ expect: 'query', synthetic: local }));
            answeredHere = true;
            continue;
          }
          this.owner.meter.begin(action === undefined ? 'passthrough' : 'planned', {
            body,
            parse: false,
          });
          // The common case: nothing here can change the session, proven without decoding. In
          // session mode only settings are followed (the proxy's own, docfusion.*, need it).
          const terminated = body[body.length - 1] === 0;
          if (
            transactionMode
              ? terminated && provablyWithoutEffects(body, 0, body.length - 1)
              : !terminated || !mayChangeSettings(body, 0, body.length - 1)
          ) {
            this.tracker.push(SLOT.query);
            break;
          }
          const sql = decodeQuery(body).sql;
          const effects = transactionMode ? sessionEffects(sql) : settingsOnly(sessionEffects(sql));
          const answered = transactionMode ? this.answerDeallocate(sql, effects) : undefined;
          if (answered) {
            out ??= rawsOf(frames, i);
            this.owner.meter.abandonLast();
            this.owner.meter.local('DEALLOCATE');
            this.emit(this.tracker.push({ expect: 'query', synthetic: answered }));
            answeredHere = true;
            continue;
          }
          if (effects.length === 0) {
            this.tracker.push(SLOT.query);
            break;
          }
          const slot: Slot = {
            expect: 'query',
            onDone: (ok) => {
              this.settle(slot, ok);
            },
          };
          this.noteEffects(slot, effects);
          this.tracker.push(slot);
          break;
        }
        case FrontendCode.Sync:
          this.openBatch = false;
          if (!this.tracker.inCopyIn) {
            this.owner.meter.begin(this.batchPlanned ? 'planned' : 'passthrough', this.boundSql);
          }
          this.batchPlanned = false;
          this.boundSql = undefined;
          this.tracker.push(SLOT.sync);
          break;
        case FrontendCode.FunctionCall:
          this.owner.meter.begin('passthrough', undefined);
          this.tracker.push(SLOT.function);
          break;
        case FrontendCode.Execute: {
          const effects = this.portalEffects?.get(cstringAt(frame.body, 0));
          if (effects === undefined) {
            this.tracker.push(SLOT.execute);
            break;
          }
          const slot: Slot = {
            expect: 'execute',
            onDone: (ok) => {
              this.settle(slot, ok);
            },
          };
          (this.inFlightEffects ??= new Map()).set(slot, effects);
          this.tracker.push(slot);
          break;
        }
        case FrontendCode.CopyDone:
        case FrontendCode.CopyFail:
          this.tracker.copyEnded();
          break;
        case FrontendCode.Parse: {
          const body = frame.body;
          (this.parsedSql ??= new Map()).set(cstringAt(body, 0), body);
          if (!transactionMode) {
            this.noteSettingsOfParse(body);
            this.tracker.push(SLOT.parse);
            break;
          }
          if (unnamedParseWithoutEffects(body)) {
            this.unnamedEffects = undefined;
            this.tracker.push(SLOT.parse);
            break;
          }
          const parse = decodeParse(body);
          if (parse.name === '') {
            const effects = sessionEffects(parse.sql);
            this.unnamedEffects = undefined;
            if (effects.length === 0) {
              this.tracker.push(SLOT.parse);
              break;
            }
            if (this.deallocateByName(lease, effects, (out ??= rawsOf(frames, i)))) continue;
            // The statement takes effect when it is executed, not when it is parsed.
            this.noteEffects(undefined, effects);
            this.unnamedEffects = effects;
            this.tracker.push(SLOT.parse);
            break;
          }
          const target = (out ??= rawsOf(frames, i));
          const statement = this.statements.define(parse.name, parse.sql, parse.paramTypes);
          const effects = sessionEffects(parse.sql);
          this.noteEffects(undefined, effects);
          if (effects.length > 0) (this.namedEffects ??= new Map()).set(parse.name, effects);
          else this.namedEffects?.delete(parse.name);
          // A Parse that fails (or is skipped after an earlier error) defines nothing.
          const forget = (): void => {
            if (this.statements.get(parse.name) === statement) this.statements.delete(parse.name);
          };
          this.emit(this.prepareOn(lease, statement, target, false, forget));
          continue;
        }
        case FrontendCode.Bind:
        case FrontendCode.Describe:
        case FrontendCode.Close: {
          const body = frame.body;
          let name: string | undefined;
          if (type === FrontendCode.Bind) {
            name = boundStatementName(body);
            const parsed = this.parsedSql?.get(name ?? '');
            this.boundSql = parsed === undefined ? undefined : { body: parsed, parse: true };
            const portal = cstringAt(body, 0);
            const effects =
              name === '' || name === undefined
                ? this.unnamedEffects
                : this.namedEffects?.get(name);
            if (effects) (this.portalEffects ??= new Map()).set(portal, effects);
            else this.portalEffects?.delete(portal);
          } else if (transactionMode) {
            name = targetStatementName(type, body);
          }
          const expect =
            type === FrontendCode.Bind
              ? 'bind'
              : type === FrontendCode.Describe
                ? 'describe'
                : 'close';
          const statement =
            !transactionMode || name === undefined || name === ''
              ? undefined
              : this.statements.get(name);
          if (!statement || name === undefined) {
            this.tracker.push(SLOT[expect]);
            break;
          }
          const target = (out ??= rawsOf(frames, i));
          if (type === FrontendCode.Close) {
            this.statements.delete(name);
            this.emit(this.tracker.push({ expect: 'close', synthetic: be.closeComplete() }));
            continue;
          }
          this.emit(this.prepareOn(lease, statement, target, true));
          target.push(
            type === FrontendCode.Bind
              ? renameBind(body, statement.upstreamName)
              : statementTargetFrame(type, statement.upstreamName),
          );
          this.tracker.push({ expect });
          continue;
        }
        default:
          break;
      }
      out?.push(frame.raw);
    }
    // The chunk itself goes upstream only when it is exactly these frames: a chunk may end in
    // (or begin with the rest of) a frame split across TCP packets.
    const data =
      out !== undefined
        ? Buffer.concat(out)
        : chunk !== undefined && coversExactly(frames, chunk)
          ? chunk
          : Buffer.concat(rawsOf(frames, frames.length));
    if (data.length > 0 && !lease.write(data)) {
      this.owner.pauseClient();
      lease.socket.once('drain', () => {
        this.owner.resumeClient();
      });
    }
    // Nothing in flight after these frames: answered here, or frames Postgres answers with
    // nothing (CopyDone or CopyFail outside COPY, a lone Flush). The connection goes back and
    // the idle timers start, as after a reply.
    if ((answeredHere || data.length > 0) && !this.tracker.busy && !this.openBatch) {
      this.maybeRelease();
      this.owner.idle();
    }
  }

  /**
   * Make sure `statement` exists on `lease` under its upstream name. For the client's own Parse
   * (`hidden` false) the reply is the client's ParseComplete — synthetic when already prepared;
   * before a Bind/Describe (`hidden` true) a Parse is injected and its ParseComplete swallowed.
   */
  private prepareOn(
    lease: UpstreamConnection,
    statement: ClientStatement,
    target: Buffer[],
    hidden: boolean,
    onFailed?: () => void,
  ): Buffer[] | undefined {
    const cache = lease.statements;
    if (cache.has(statement.upstreamName)) {
      cache.touch(statement.upstreamName);
      if (hidden) return undefined;
      return this.tracker.push({
        expect: 'parse',
        synthetic: be.parseComplete(),
        onDone: (ok) => {
          if (!ok) onFailed?.();
        },
      });
    }
    for (const evicted of cache.evictionsFor(this.pool.maxPreparedStatements)) {
      cache.delete(evicted);
      target.push(statementTargetFrame(FrontendCode.Close, evicted));
      this.tracker.push({ expect: 'close', hidden: true });
    }
    target.push(parseFrame(statement));
    cache.add(statement.upstreamName);
    this.tracker.push({
      expect: 'parse',
      hidden,
      onDone: (ok) => {
        if (ok) return;
        cache.delete(statement.upstreamName);
        onFailed?.();
      },
    });
    return undefined;
  }

  /** Synthetic replies due now: they go to the client after what is already queued upstream. */
  private emit(now: Buffer[] | undefined): void {
    if (now === undefined) return;
    for (const bytes of now) this.owner.writeClient(bytes);
  }

  /**
   * `DEALLOCATE name` / `DEALLOCATE ALL` of protocol-level statements (psqlODBC, Prisma): those
   * live under proxy names on shared connections, so the proxy forgets the client's names and
   * answers itself. DEALLOCATE of SQL-level statements (a client pinned by PREPARE) goes upstream.
   */
  private answerDeallocate(sql: string, effects: SessionEffect[]): Buffer | undefined {
    const only = effects.length === 1 ? effects[0] : undefined;
    if (only?.kind !== 'deallocate' || this.sqlPrepared) return undefined;
    // Only a lone DEALLOCATE: in a statement list, everything goes to Postgres.
    if (!/^\s*deallocate\s+(prepare\s+)?("[^"]*"|[^\s;]+)\s*;?\s*$/i.test(sql)) return undefined;
    if (only.name !== null && this.statements.get(only.name) === undefined) return undefined;
    if (only.name === null) this.statements.clear();
    else this.statements.delete(only.name);
    return Buffer.concat([
      be.commandComplete(only.name === null ? 'DEALLOCATE ALL' : 'DEALLOCATE'),
      be.readyForQuery(this.txStatus),
    ]);
  }

  /**
   * `DEALLOCATE name` through the extended protocol (psycopg 3, ruby-pg): the client's statement
   * lives upstream under its proxy name, so the Parse is rewritten to deallocate that name on
   * this connection (preparing it first if this connection lacks it, so the reply is the same).
   * Returns true when the frame was handled.
   */
  private deallocateByName(
    lease: UpstreamConnection,
    effects: SessionEffect[],
    target: Buffer[],
  ): boolean {
    const only = effects.length === 1 ? effects[0] : undefined;
    if (only?.kind !== 'deallocate' || only.name === null || this.sqlPrepared) {
      return false;
    }
    const statement = this.statements.get(only.name);
    if (!statement) return false;
    this.prepareOn(lease, statement, target, true);
    target.push(fe.parse('', `DEALLOCATE ${statement.upstreamName}`, []));
    lease.statements.delete(statement.upstreamName);
    this.statements.delete(only.name);
    this.tracker.push(SLOT.parse);
    return true;
  }

  /** Pins take effect at once (the client must stay); other effects wait for `settle`. */
  private noteEffects(slot: Slot | undefined, effects: SessionEffect[]): void {
    if (effects.length === 0) return;
    for (const effect of effects) {
      if (effect.kind === 'pin' && effect.reason === 'SQL PREPARE') this.sqlPrepared = true;
      if (effect.kind === 'pin' && this.pinnedBy === undefined) {
        this.pinnedBy = effect.reason;
        this.owner.log.info({ reason: effect.reason }, 'client pinned to its upstream connection');
      }
    }
    if (slot) (this.inFlightEffects ??= new Map()).set(slot, effects);
  }

  /**
   * Session mode: the effects on settings of a Parse (SET, RESET, SAVEPOINT, …), applied when a
   * portal of the statement is executed. Other statements are not decoded.
   */
  private noteSettingsOfParse(body: Buffer): void {
    const nameEnd = body.indexOf(0);
    const sqlEnd = nameEnd < 0 ? -1 : body.indexOf(0, nameEnd + 1);
    const name = nameEnd < 0 ? '' : cstringAt(body, 0);
    const effects =
      sqlEnd >= 0 && mayChangeSettings(body, nameEnd + 1, sqlEnd)
        ? settingsOnly(sessionEffects(decodeParse(body).sql))
        : [];
    if (name === '') this.unnamedEffects = effects.length > 0 ? effects : undefined;
    else if (effects.length > 0) (this.namedEffects ??= new Map()).set(name, effects);
    else this.namedEffects?.delete(name);
  }

  /**
   * The statement that set `name` in the client's session as it stands now, the open
   * transaction's SET, SET LOCAL, RESET and savepoints included (what a SHOW would show);
   * undefined when it is not set. Known once the statements that changed it have their replies:
   * see `settled`.
   */
  setting(name: string): string | undefined {
    let sql = this.desired.get(name);
    for (const level of this.levels ?? []) {
      for (const effect of level.effects) {
        if ((effect.kind === 'set' || effect.kind === 'set-local') && effect.name === name) {
          sql = effect.sql;
        } else if (
          effect.kind === 'reset-all' ||
          (effect.kind === 'reset' && effect.name === name)
        ) {
          sql = this.baseline.get(name);
        }
      }
    }
    return sql;
  }

  /**
   * Undefined when no statement that may change settings is waiting for its reply; else a
   * promise that resolves once none is (the upstream must be made to reply: an open
   * extended-protocol batch needs a Flush).
   */
  settled(): Promise<void> | undefined {
    if (!this.inFlightEffects?.size && this.queued.length === 0) return undefined;
    return new Promise((resolve) => {
      (this.settleWaiters ??= []).push(resolve);
    });
  }

  /** Wake `settled`'s waiters once nothing that may change settings is in flight or queued. */
  private wakeIfSettled(): void {
    if (this.settleWaiters === undefined || this.inFlightEffects?.size || this.queued.length > 0) {
      return;
    }
    const waiters = this.settleWaiters;
    this.settleWaiters = undefined;
    for (const wake of waiters) wake();
  }

  /** A statement with session effects finished: apply them now, or at COMMIT inside a transaction. */
  private settle(slot: Slot, ok: boolean): void {
    this.settleEffects(slot, ok);
    this.wakeIfSettled();
  }

  private settleEffects(slot: Slot, ok: boolean): void {
    const effects = this.inFlightEffects?.get(slot);
    if (!effects) return;
    this.inFlightEffects?.delete(slot);
    const inTransaction = this.txStatus !== TransactionStatus.Idle;
    if (!ok) {
      // A failed statement changes nothing; a transaction it ran in is aborted (or over).
      if (inTransaction) this.levels ??= [{ name: undefined, effects: [] }];
      else this.levels = undefined;
      return;
    }
    // Effects in statement order, following the transaction control statements among them.
    for (const effect of effects) {
      switch (effect.kind) {
        case 'begin':
          this.levels = [{ name: undefined, effects: [] }];
          break;
        case 'commit':
          if (this.levels) this.apply(this.levels.flatMap((level) => level.effects));
          this.levels = undefined;
          break;
        case 'rollback':
          this.levels = undefined;
          break;
        case 'savepoint':
          if (inTransaction) this.levels ??= [{ name: undefined, effects: [] }];
          this.levels?.push({ name: effect.name, effects: [] });
          break;
        case 'release':
        case 'rollback-to': {
          const levels = this.levels;
          if (!levels) break;
          let index = levels.length - 1;
          while (index > 0 && levels[index]?.name !== effect.name) index--;
          if (index <= 0) break;
          const undone = levels.splice(index + 1);
          const level = levels[index];
          if (!level) break;
          if (effect.kind === 'rollback-to') {
            level.effects = []; // the savepoint stays, its effects are undone
          } else {
            levels.splice(index, 1);
            levels[index - 1]?.effects.push(...level.effects, ...undone.flatMap((l) => l.effects));
          }
          break;
        }
        case 'deallocate':
        case 'discard-all':
        case 'pin':
          this.apply([effect]); // not transactional
          break;
        default:
          if (inTransaction && !this.levels) this.levels = [{ name: undefined, effects: [] }];
          if (this.levels) this.levels[this.levels.length - 1]?.effects.push(effect);
          else this.apply([effect]);
      }
    }
    // A statement list that ended outside any transaction cannot leave one open.
    if (!inTransaction && this.levels) {
      this.apply(this.levels.flatMap((level) => level.effects));
      this.levels = undefined;
    }
  }

  /** The client's settings, copied from the baseline before the first change. */
  private mutableDesired(): ParamState {
    this.ownDesired ??= new Map(this.baseline);
    this.desired = this.ownDesired;
    return this.ownDesired;
  }

  private apply(effects: SessionEffect[]): void {
    const lease = this.lease;
    for (const effect of effects) {
      applyEffect(this.mutableDesired(), effect, this.baseline);
      if (effect.kind === 'deallocate') {
        if (effect.name === null) {
          // DEALLOCATE ALL reached Postgres: every proxy-named statement on it is gone too.
          this.statements.clear();
          lease?.statements.clear();
        } else {
          this.statements.delete(effect.name);
        }
      } else if (effect.kind === 'discard-all') {
        this.statements.clear();
        lease?.statements.clear();
      }
    }
    // What the connection now has: a SET as the client wrote it; a RESET (in Postgres) goes to
    // the server's default, not to a startup value the proxy applied with set_config, so the
    // next sync re-applies the client's startup value there.
    if (lease) {
      for (const effect of effects) {
        if (effect.kind === 'set') lease.appliedParams.set(effect.name, effect.sql);
        else if (effect.kind === 'reset') lease.appliedParams.delete(effect.name);
        else if (effect.kind === 'reset-all' || effect.kind === 'discard-all')
          lease.appliedParams.clear();
      }
    }
  }

  // ---- upstream → client ---------------------------------------------------------------------

  private fromUpstream(frames: Frame[], chunk: Buffer): void {
    let start = 0;
    let sawReady = false;
    // What to write when the chunk cannot go as is (a reply swallowed, a synthetic one added).
    let parts: Buffer[] | undefined;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i];
      if (frame === undefined) continue;
      const type = frame.type;
      if (type === BackendCode.ReadyForQuery) {
        sawReady = true;
        const previous = this.txStatus;
        this.txStatus = transactionStatusOf(frame.bodyByte(0));
        if (previous !== TransactionStatus.Idle && this.txStatus === TransactionStatus.Idle) {
          // A transaction ended by a COMMIT/ROLLBACK we did not parse (or by an implicit end).
          const levels = this.levels;
          this.levels = undefined;
          if (levels && this.lastCommand === 'COMMIT')
            this.apply(levels.flatMap((level) => level.effects));
        }
        this.owner.meter.ready();
      } else if (type === BackendCode.DataRow) {
        this.owner.meter.row();
      } else if (type === BackendCode.CommandComplete) {
        this.lastCommand = commandWord(frame.body);
        this.owner.meter.commandComplete(this.lastCommand);
      } else if (type === BackendCode.ErrorResponse) {
        // A statement sent to fail: metered with the error the client is shown.
        this.owner.meter.error(
          this.tracker.errorReplacement(frame.body)?.subarray(5) ?? frame.body,
        );
        if (isFatal(frame.body)) this.noteFatal(frame);
      }
      const transform = TRANSFORMED[type] === 1 ? this.tracker.headTransform : undefined;
      const verdict = this.tracker.onBackend(
        type,
        type === BackendCode.ErrorResponse ? frame.body : NO_BODY,
      );
      if (verdict.forward && verdict.after === undefined && transform === undefined) continue;
      parts ??= [];
      for (let k = start; k < i; k++) parts.push(rawOf(frames, k));
      if (verdict.forward) {
        if (transform === undefined) parts.push(frame.raw);
        else parts.push(...transform.onFrame(type, frame.body));
      }
      if (verdict.after) parts.push(...verdict.after);
      start = i + 1;
    }
    let data: Buffer;
    if (parts === undefined && coversExactly(frames, chunk)) {
      data = chunk;
    } else {
      parts ??= [];
      for (let k = start; k < frames.length; k++) parts.push(rawOf(frames, k));
      data = Buffer.concat(parts);
    }
    if (data.length > 0 && !this.owner.writeClient(data)) {
      const lease = this.lease;
      lease?.pause();
      this.owner.onClientDrain(() => lease?.resume());
    }
    if (sawReady && !this.tracker.busy) {
      this.maybeRelease();
      this.owner.idle();
    }
  }

  private noteFatal(frame: Frame): void {
    const fields = decodeErrorFields(frame.body);
    this.upstreamSentFatal = true;
    this.owner.log.warn({ code: fields.code }, `upstream sent FATAL: ${fields.message}`);
  }

  private upstreamClosed(error: Error | undefined): void {
    const connection = this.lease;
    if (!connection || this.closed) return;
    this.lease = undefined;
    this.tracker.reset();
    this.owner.meter.abandon();
    this.pool.release(connection, false);
    this.owner.log.warn({ err: error }, 'upstream connection closed');
    this.owner.lost(undefined, this.upstreamSentFatal);
  }
}

/** The NUL-terminated string at `start` of `body` ('' when empty, without decoding; '' unterminated). */
function cstringAt(body: Buffer, start: number): string {
  if (body[start] === 0) return '';
  const end = body.indexOf(0, start);
  return end < 0 ? '' : body.toString('utf8', start, end);
}

/** The statement name of a Bind body (portal\0statement\0…); undefined when malformed. */
function boundStatementName(body: Buffer): string | undefined {
  const portalEnd = body.indexOf(0);
  if (portalEnd < 0 || body.indexOf(0, portalEnd + 1) < 0) return undefined;
  return cstringAt(body, portalEnd + 1);
}

/** The statement a Describe or Close aims at ('S'), or undefined for a portal ('P'). */
function targetStatementName(type: number, body: Buffer): string | undefined {
  // The unnamed portal, as most drivers describe it: nothing to decode.
  if (body.length === 2 && body[0] === 0x50 /* P */ && body[1] === 0) return undefined;
  const target = type === FrontendCode.Describe ? decodeDescribe(body) : decodeClose(body);
  return target.target === 'S' ? target.name : undefined;
}

/**
 * A well-formed Parse of the unnamed statement whose text is plain ASCII without session effects
 * (checked on the bytes, so the common extended-protocol Parse is never decoded); anything else
 * is decoded and looked at.
 */
function unnamedParseWithoutEffects(body: Buffer): boolean {
  if (body[0] !== 0) return false;
  const sqlEnd = body.indexOf(0, 1);
  if (sqlEnd < 0 || sqlEnd + 3 > body.length) return false;
  const count = body.readInt16BE(sqlEnd + 1);
  return (
    count >= 0 && sqlEnd + 3 + 4 * count === body.length && provablyWithoutEffects(body, 1, sqlEnd)
  );
}

/** The raw bytes of `frames[i]` (empty if there is none). */
function rawOf(frames: readonly Frame[], i: number): Buffer {
  return frames[i]?.raw ?? NO_BODY;
}

/** The raw bytes of `frames[0, end)`. */
function rawsOf(frames: readonly Frame[], end: number): Buffer[] {
  const raws: Buffer[] = [];
  for (let i = 0; i < end; i++) {
    const frame = frames[i];
    if (frame) raws.push(frame.raw);
  }
  return raws;
}

/**
 * The frames are exactly `chunk`: the reader framed them in the chunk itself (no bytes left
 * over from an earlier chunk), from its first byte to its last. Compares positions only.
 */
function coversExactly(frames: Frame[], chunk: Buffer): boolean {
  const first = frames[0];
  const last = frames[frames.length - 1];
  return (
    first !== undefined &&
    last !== undefined &&
    first.buffer === chunk &&
    first.start === 0 &&
    last.buffer === chunk &&
    last.end === chunk.length
  );
}

/** Effects on settings and the transaction control that decides whether they last. */
const SETTING_KINDS: ReadonlySet<SessionEffect['kind']> = new Set([
  'set',
  'set-local',
  'reset',
  'reset-all',
  'discard-all',
  'begin',
  'commit',
  'rollback',
  'savepoint',
  'release',
  'rollback-to',
]);

function settingsOnly(effects: SessionEffect[]): SessionEffect[] {
  return effects.filter((effect) => SETTING_KINDS.has(effect.kind));
}
