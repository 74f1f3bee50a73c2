import type { Logger } from 'pino';
import { BackendCode } from '../protocol/message-codes.js';
import { PgError, SqlState } from '../protocol/pg-error.js';
import type { PoolMode, PoolSettings } from './config-types.js';
import { ClosedError } from './frame-stream.js';
import type { UpstreamConnection, UpstreamListener } from './upstream-connection.js';
import type { UpstreamEndpoint } from './upstream-target.js';
import type { HistogramCell } from './batched-histogram.js';
import { poolWaitSeconds } from './metrics.js';

export interface PoolKey {
  readonly endpoint: UpstreamEndpoint;
  readonly user: string;
}

export interface EffectivePoolSettings extends PoolSettings {
  readonly mode: PoolMode;
}

export interface PoolStats {
  readonly database: string;
  readonly user: string;
  readonly mode: PoolMode;
  readonly size: number;
  /** Leased to a client. */
  readonly active: number;
  readonly idle: number;
  /** Being opened. */
  readonly connecting: number;
  /** Clients waiting for a connection. */
  readonly waiting: number;
  readonly paused: boolean;
  /** Longest current wait, ms. */
  readonly maxWaitMs: number;
  readonly totalAcquired: number;
  readonly totalWaitMs: number;
}

interface Waiter {
  readonly since: number;
  /** The client's place in the queue, when it may leave it. */
  readonly ticket: WaitTicket | undefined;
  readonly resolve: (connection: UpstreamConnection) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A client's place in a pool's queue (one per client, reused): acquire() sets `leave` while the
 * client waits; the client calls it when it goes away, and sets `gone` so that it waits no more.
 * (An AbortSignal would do, at the price of an EventTarget listener per wait.)
 */
export interface WaitTicket {
  leave: (() => void) | undefined;
  gone: boolean;
}

/** Opens a new logged-in upstream connection for this pool. */
export type Connector = () => Promise<UpstreamConnection>;

/**
 * Upstream connections for one (database, user): at most `size` open, handed out first come
 * first served, idle ones checked before reuse when they have been idle a while, broken and old
 * ones replaced. The pool never reads what flows through a leased connection.
 */
export class Pool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly leased = new Set<UpstreamConnection>();
  private readonly waiters: Waiter[] = [];
  private connecting = 0;
  private paused = false;
  private closed = false;
  private pauseWaiters: (() => void)[] = [];
  private totalAcquired = 0;
  private totalWaitMs = 0;
  private readonly waitCell: HistogramCell;

  constructor(
    readonly key: PoolKey,
    private settings: EffectivePoolSettings,
    private connector: Connector,
    private readonly log: Logger,
  ) {
    this.waitCell = poolWaitSeconds.cell(this.name);
  }

  get mode(): PoolMode {
    return this.settings.mode;
  }

  get resetQuery(): string {
    return this.settings.resetQuery;
  }

  get maxPreparedStatements(): number {
    return this.settings.maxPreparedStatements;
  }

  /** New settings (RELOAD): a smaller size takes effect as connections come back. */
  reconfigure(settings: EffectivePoolSettings): void {
    this.settings = settings;
    this.trimIdle();
    this.serveWaiters();
  }

  /** Newer credentials from a client that just logged in (e.g. after a password change). */
  updateConnector(connector: Connector): void {
    this.connector = connector;
  }

  /**
   * A connection for a client; waits FIFO when the pool is full (up to max_client_wait_ms).
   * `ticket`: lets a client that goes away leave the queue (then this rejects with ClosedError).
   */
  acquire(ticket?: WaitTicket): Promise<UpstreamConnection> {
    if (this.closed) {
      return Promise.reject(
        new PgError(SqlState.AdminShutdown, 'pool is closed', { severity: 'FATAL' }),
      );
    }
    if (!this.paused && this.waiters.length === 0) {
      const connection = this.takeIdle();
      if (connection) return this.checked(connection, Date.now(), ticket);
    }
    return this.enqueue(Date.now(), false, ticket);
  }

  /**
   * An idle connection right now, when one is free, nobody waits before us and it needs no
   * health check; otherwise undefined (use `acquire`).
   */
  tryAcquire(): UpstreamConnection | undefined {
    if (this.closed || this.paused || this.waiters.length > 0) return undefined;
    const connection = this.takeIdle();
    if (!connection) return undefined;
    const now = Date.now();
    if (now - connection.lastUsedAt >= this.settings.serverCheckDelayMs) {
      this.leased.delete(connection);
      this.idle.push(connection);
      return undefined;
    }
    this.countAcquired(now, now);
    return connection;
  }

  /**
   * Wait for a connection. `front`: a client whose connection failed its health check keeps its
   * place at the head of the queue and its original deadline.
   */
  private enqueue(since: number, front: boolean, ticket?: WaitTicket): Promise<UpstreamConnection> {
    if (ticket?.gone) return Promise.reject(new ClosedError());
    return new Promise<UpstreamConnection>((resolve, reject) => {
      const remaining = Math.max(0, this.settings.maxClientWaitMs - (Date.now() - since));
      const dequeue = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
      };
      const waiter: Waiter = {
        since,
        ticket,
        resolve: (connection) => {
          if (ticket) ticket.leave = undefined;
          resolve(connection);
        },
        reject: (error) => {
          if (ticket) ticket.leave = undefined;
          reject(error);
        },
        timer: setTimeout(() => {
          if (ticket) ticket.leave = undefined;
          dequeue();
          reject(
            new PgError(
              SqlState.TooManyConnections,
              `no upstream connection became free within ${this.settings.maxClientWaitMs} ms (pool ${this.name} has ${this.settings.size})`,
              { severity: 'FATAL' },
            ),
          );
        }, remaining),
      };
      if (ticket) {
        ticket.leave = () => {
          ticket.leave = undefined;
          // Once served, the connection is on its way: the owner gives it back itself.
          if (!this.waiters.includes(waiter)) return;
          dequeue();
          clearTimeout(waiter.timer);
          reject(new ClosedError());
        };
      }
      if (front) this.waiters.unshift(waiter);
      else this.waiters.push(waiter);
      this.serveWaiters();
    });
  }

  /**
   * Give a connection back. `reusable` false closes it. A cancel still in flight for it, or a
   * connection past its lifetime, or a pool over its size, also closes or delays it.
   */
  release(connection: UpstreamConnection, reusable: boolean): void {
    if (!this.leased.delete(connection)) return;
    const now = Date.now();
    connection.lastUsedAt = now;
    const tooOld =
      this.settings.serverLifetimeMs > 0 &&
      now - connection.createdAt > this.settings.serverLifetimeMs;
    if (
      !reusable ||
      connection.isClosed ||
      tooOld ||
      this.closed ||
      this.total >= this.settings.size
    ) {
      if (tooOld)
        this.log.info(
          { upstreamPid: connection.processId },
          'closing upstream connection past server_lifetime',
        );
      connection.terminate();
      this.afterChange();
      return;
    }
    const cancelling = connection.cancelling;
    if (cancelling) {
      // Never hand a backend to another client while a cancel meant for this one may still land.
      this.leased.add(connection);
      const back = (): void => {
        this.release(connection, true);
      };
      cancelling.then(back, back);
      return;
    }
    this.watchIdle(connection);
    this.idle.push(connection);
    this.afterChange();
  }

  /** PAUSE: hand out nothing; resolves when no connection is leased any more. */
  pause(): Promise<void> {
    this.paused = true;
    for (const connection of this.idle.splice(0)) connection.terminate();
    if (this.leased.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.pauseWaiters.push(resolve));
  }

  resume(): void {
    this.paused = false;
    this.serveWaiters();
  }

  /** Periodic upkeep: close idle connections past server_idle_timeout above min_idle; open up to min_idle. */
  maintain(): void {
    if (this.closed) return;
    const now = Date.now();
    while (this.idle.length > this.settings.minIdle) {
      const oldest = this.idle[0];
      if (!oldest || now - oldest.lastUsedAt < this.settings.serverIdleTimeoutMs) break;
      this.idle.shift();
      this.log.debug({ upstreamPid: oldest.processId }, 'closing idle upstream connection');
      oldest.terminate();
    }
    while (
      !this.paused &&
      this.idle.length + this.connecting < this.settings.minIdle &&
      this.total < this.settings.size
    ) {
      this.open();
    }
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(
        new PgError(SqlState.AdminShutdown, 'terminating connection due to administrator command', {
          severity: 'FATAL',
        }),
      );
    }
    for (const connection of this.idle.splice(0)) connection.terminate();
  }

  stats(): PoolStats {
    const now = Date.now();
    return {
      database: this.key.endpoint.database,
      user: this.key.user,
      mode: this.settings.mode,
      size: this.settings.size,
      active: this.leased.size,
      idle: this.idle.length,
      connecting: this.connecting,
      waiting: this.waiters.length,
      paused: this.paused,
      maxWaitMs: this.waiters[0] ? now - this.waiters[0].since : 0,
      totalAcquired: this.totalAcquired,
      totalWaitMs: this.totalWaitMs,
    };
  }

  /** Every connection, leased or idle (for SHOW SERVERS). */
  connections(): { connection: UpstreamConnection; state: 'active' | 'idle' }[] {
    return [
      ...[...this.leased].map((connection) => ({ connection, state: 'active' as const })),
      ...this.idle.map((connection) => ({ connection, state: 'idle' as const })),
    ];
  }

  /** No connection open or being opened, and nobody waiting. */
  get unused(): boolean {
    return this.idle.length + this.leased.size + this.connecting + this.waiters.length === 0;
  }

  get name(): string {
    return `${this.key.endpoint.database}/${this.key.user}`;
  }

  private countAcquired(since: number, now = Date.now()): void {
    const waited = now - since;
    this.totalAcquired++;
    this.totalWaitMs += waited;
    this.waitCell.observe(waited / 1000);
  }

  private get total(): number {
    return this.idle.length + this.leased.size + this.connecting;
  }

  private takeIdle(): UpstreamConnection | undefined {
    // Most recently used first: keeps a warm set and lets the rest reach the idle timeout.
    for (let connection = this.idle.pop(); connection; connection = this.idle.pop()) {
      if (!connection.isClosed) {
        this.leased.add(connection);
        return connection;
      }
    }
    return undefined;
  }

  /** Health check a connection that sat idle long enough; on failure, replace it. */
  private async checked(
    connection: UpstreamConnection,
    since: number,
    ticket: WaitTicket | undefined,
  ): Promise<UpstreamConnection> {
    this.countAcquired(since);
    if (Date.now() - connection.lastUsedAt < this.settings.serverCheckDelayMs) return connection;
    const checkStart = Date.now();
    try {
      await connection.runQuiet('', this.settings.maxClientWaitMs);
      return connection;
    } catch (error) {
      this.log.info(
        { err: error, upstreamPid: connection.processId },
        'idle upstream connection failed its check; replacing it',
      );
      this.leased.delete(connection);
      connection.destroy();
      // The client keeps its place; the time lost on the dead connection does not count.
      return this.enqueue(since + (Date.now() - checkStart), true, ticket);
    }
  }

  private serveWaiters(): void {
    while (!this.paused && this.waiters.length > 0) {
      const connection = this.takeIdle();
      if (connection) {
        const waiter = this.waiters.shift();
        if (!waiter) break;
        clearTimeout(waiter.timer);
        this.checked(connection, waiter.since, waiter.ticket).then(waiter.resolve, waiter.reject);
        continue;
      }
      if (this.total < this.settings.size && this.connecting < this.waiters.length) {
        this.open();
        if (this.connecting >= this.waiters.length) break;
        continue;
      }
      break;
    }
  }

  /** Open one connection; it goes to the first waiter, or to the idle list. */
  private open(): void {
    this.connecting++;
    this.connector().then(
      (connection) => {
        this.connecting--;
        if (this.closed) {
          connection.terminate();
          return;
        }
        const waiter = this.paused ? undefined : this.waiters.shift();
        if (waiter) {
          clearTimeout(waiter.timer);
          this.leased.add(connection);
          this.countAcquired(waiter.since);
          waiter.resolve(connection);
        } else {
          this.watchIdle(connection);
          this.idle.push(connection);
        }
        this.serveWaiters();
      },
      (error: unknown) => {
        this.connecting--;
        // The first waiter learns why; the others keep waiting for a later attempt.
        const waiter = this.waiters.shift();
        if (waiter) {
          clearTimeout(waiter.timer);
          waiter.reject(error instanceof Error ? error : new Error(String(error)));
        } else {
          this.log.warn({ err: error, pool: this.name }, 'could not open an upstream connection');
        }
        this.serveWaiters();
      },
    );
  }

  /** While idle, a connection that reports a FATAL error or closes is dropped from the pool. */
  private watchIdle(connection: UpstreamConnection): void {
    let listener = this.idleListeners.get(connection);
    if (!listener) {
      listener = {
        onFrames: (frames) => {
          if (frames.some((frame) => frame.type === BackendCode.ErrorResponse)) {
            this.dropIdle(connection);
          }
        },
        onClose: () => {
          this.dropIdle(connection);
        },
      };
      this.idleListeners.set(connection, listener);
    }
    connection.listen(listener);
  }

  private readonly idleListeners = new WeakMap<UpstreamConnection, UpstreamListener>();

  private dropIdle(connection: UpstreamConnection): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    connection.destroy();
    this.afterChange();
  }

  private trimIdle(): void {
    while (this.total > this.settings.size && this.idle.length > 0) this.idle.shift()?.terminate();
  }

  private afterChange(): void {
    this.trimIdle();
    if (this.paused && this.leased.size === 0) {
      for (const connection of this.idle.splice(0)) connection.terminate();
      for (const resolve of this.pauseWaiters.splice(0)) resolve();
    }
    this.serveWaiters();
  }
}
