/**
 * A controllable TCP relay for chaos tests: listens on 127.0.0.1, forwards every connection to a
 * target (the real Postgres), and lets a test break things on purpose — kill every connection,
 * refuse new ones (reset at accept, or stop listening so connects get ECONNREFUSED), stall
 * forwarding in either direction, or reset one connection after N bytes from upstream or in the
 * middle of a given message type. Optionally records both directions (the fuzzer's recorder).
 *
 * The relay follows the wire-protocol framing of both directions (startup packets untyped, then
 * typed frames) only to find message boundaries and each connection's backend pid
 * (BackendKeyData); it never changes a byte.
 */
import net from 'node:net';

/** proxy → Postgres ('up') or Postgres → proxy ('down'). */
export type Direction = 'up' | 'down';

export interface RelayOptions {
  readonly targetHost: string;
  readonly targetPort: number;
  /** Listen port; 0 = any free port. */
  readonly port?: number;
  /** Keep every chunk of both directions, per connection. */
  readonly record?: boolean;
}

export interface RecordedChunk {
  readonly direction: Direction;
  readonly bytes: Buffer;
  readonly at: number;
}

/** A one-shot (or repeating) rule that breaks connections at a precise point of their traffic. */
export interface ResetRule {
  /** Only connections whose proxy → Postgres traffic contained this text (after arming). */
  readonly marker?: string;
  /** Only the connection to this backend pid. */
  readonly pid?: number;
  /** Trigger after this many Postgres → proxy bytes (counted once the marker was seen). */
  readonly afterDownBytes?: number;
  /**
   * Trigger inside the `nth` (1-based, default 1) message of this type (one letter) in the given
   * direction, after `bytesInto` bytes of it (default 3: type byte and part of the length).
   */
  readonly onMessage?: {
    readonly direction: Direction;
    readonly type: string;
    readonly nth?: number;
    readonly bytesInto?: number;
  };
  /** `reset`: RST both sides (default). `end`: FIN both sides. */
  readonly how?: 'reset' | 'end';
  /** Fire on every matching connection, not only the first. */
  readonly repeat?: boolean;
}

/** Per-direction framing state: finds message boundaries without copying the stream. */
class Framer {
  /** Untyped packets still expected (startup phase of the up direction). */
  private untyped: boolean;
  private header = Buffer.alloc(0);
  /** Bytes left of the current message body (after its 5- or 4-byte header). */
  private left = 0;
  private type = 0;
  private readonly keep: Set<number>;
  /** Bodies of kept message types, in order. */
  readonly kept: { type: number; body: Buffer }[] = [];
  private body: Buffer[] = [];

  constructor(untyped: boolean, keep: readonly number[]) {
    this.untyped = untyped;
    this.keep = new Set(keep);
  }

  /**
   * Walk a chunk; calls `onStart(type, offsetOfTypeByte)` at each message start within the
   * chunk (offset may be negative when the header began in an earlier chunk).
   */
  walk(chunk: Buffer, onStart: (type: number, offset: number) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.left > 0) {
        const n = Math.min(this.left, chunk.length - at);
        if (this.keep.has(this.type)) this.body.push(chunk.subarray(at, at + n));
        this.left -= n;
        at += n;
        if (this.left === 0) this.finish();
        continue;
      }
      const headerSize = this.untyped ? 4 : 5;
      const need = headerSize - this.header.length;
      const take = Math.min(need, chunk.length - at);
      const startOffset = at - this.header.length;
      this.header = Buffer.concat([this.header, chunk.subarray(at, at + take)]);
      at += take;
      if (this.header.length < headerSize) continue;
      const type = this.untyped ? 0 : (this.header[0] ?? 0);
      const length = this.header.readInt32BE(this.untyped ? 0 : 1);
      this.header = Buffer.alloc(0);
      this.type = type;
      onStart(type, startOffset);
      if (this.untyped) {
        // SSLRequest / GSSENCRequest are followed by another untyped packet; anything else not.
        const bodyLength = Math.max(0, length - 4);
        this.left = bodyLength;
        this.pendingUntyped = true;
        if (bodyLength === 0) this.finish();
      } else {
        this.left = Math.max(0, length - 4);
        if (this.left === 0) this.finish();
      }
    }
  }

  private pendingUntyped = false;

  private finish(): void {
    if (this.keep.has(this.type)) {
      this.kept.push({ type: this.type, body: Buffer.concat(this.body) });
    }
    this.body = [];
    if (this.pendingUntyped) {
      this.pendingUntyped = false;
      // The relay cannot see the 'N'/'S' answer here; Postgres connections from the proxy are
      // plaintext, so only a startup or cancel packet ends the untyped phase.
      this.untyped = this.keepUntypedAfter;
      this.keepUntypedAfter = false;
    }
  }

  /** Set by the caller when the untyped packet just read was an SSL/GSS request. */
  keepUntypedAfter = false;
}

const SSL_CODES = new Set([80877103, 80877104]);

export class RelayConnection {
  readonly id: number;
  readonly recorded: RecordedChunk[] = [];
  /** Backend pid from BackendKeyData; 0 until seen (cancel connections never have one). */
  pid = 0;
  closed = false;
  /** Bytes relayed per direction. */
  readonly bytes = { up: 0, down: 0 };
  private readonly framers: Record<Direction, Framer>;
  private readonly queues: Record<Direction, Buffer[]> = { up: [], down: [] };
  private readonly stalled = { up: false, down: false };
  private upSeen = '';
  private markerSeen = new Set<ResetRule>();
  private downSinceMarker = new Map<ResetRule, number>();
  private seenCounts = new Map<ResetRule, number>();

  constructor(
    id: number,
    readonly client: net.Socket,
    readonly server: net.Socket,
    private readonly relay: ChaosRelay,
    private readonly record: boolean,
  ) {
    this.id = id;
    this.framers = { up: new Framer(true, []), down: new Framer(false, [0x4b /* K */]) };
    client.on('data', (chunk: Buffer) => {
      this.receive('up', chunk);
    });
    server.on('data', (chunk: Buffer) => {
      this.receive('down', chunk);
    });
    const close = (): void => {
      this.destroy('end');
    };
    client.on('close', close);
    server.on('close', close);
    client.on('error', () => undefined);
    server.on('error', () => undefined);
  }

  get stalledUp(): boolean {
    return this.stalled.up;
  }

  get stalledDown(): boolean {
    return this.stalled.down;
  }

  stall(direction: Direction | 'both'): void {
    if (direction !== 'down') this.stalled.up = true;
    if (direction !== 'up') this.stalled.down = true;
  }

  resume(): void {
    for (const direction of ['up', 'down'] as const) {
      this.stalled[direction] = false;
      const queued = this.queues[direction].splice(0);
      for (const chunk of queued) {
        if (this.closed) return;
        this.forward(direction, chunk);
      }
    }
    if (!this.closed) {
      this.client.resume();
      this.server.resume();
    }
  }

  /** Close both sides: RST (`reset`) or FIN (`end`). */
  destroy(how: 'reset' | 'end'): void {
    if (this.closed) return;
    this.closed = true;
    for (const socket of [this.client, this.server]) {
      if (socket.destroyed) continue;
      if (how === 'reset') socket.resetAndDestroy();
      else {
        socket.end();
        setTimeout(() => socket.destroy(), 200).unref();
      }
    }
    this.relay.forget(this);
  }

  private receive(direction: Direction, chunk: Buffer): void {
    if (this.closed) return;
    if (this.stalled[direction]) {
      this.queues[direction].push(chunk);
      (direction === 'up' ? this.client : this.server).pause();
      return;
    }
    this.forward(direction, chunk);
  }

  private forward(direction: Direction, chunk: Buffer): void {
    if (this.record) this.recorded.push({ direction, bytes: Buffer.from(chunk), at: Date.now() });
    const rules = this.relay.rulesFor();
    if (direction === 'up' && rules.some((rule) => rule.marker !== undefined)) {
      this.upSeen = (this.upSeen + chunk.toString('latin1')).slice(-8192);
      for (const rule of rules) {
        if (rule.marker === undefined || this.markerSeen.has(rule)) continue;
        if (this.upSeen.includes(rule.marker)) {
          this.markerSeen.add(rule);
          this.downSinceMarker.set(rule, 0);
        }
      }
    }
    // Find the first byte at which a rule fires.
    let cut: { at: number; rule: ResetRule } | undefined;
    const framer = this.framers[direction];
    const keptBefore = framer.kept.length;
    framer.walk(chunk, (type, offset) => {
      if (direction === 'up' && type === 0) {
        // Untyped startup-phase packet: an SSL/GSS request keeps the untyped phase going.
        const codeAt = offset + 4;
        if (codeAt >= 0 && codeAt + 4 <= chunk.length) {
          framer.keepUntypedAfter = SSL_CODES.has(chunk.readInt32BE(codeAt));
        }
      }
      if (cut) return;
      const letter = String.fromCharCode(type);
      for (const rule of rules) {
        const on = rule.onMessage;
        if (on?.direction !== direction || on.type !== letter) continue;
        if (!this.matches(rule)) continue;
        const count = (this.seenCounts.get(rule) ?? 0) + 1;
        this.seenCounts.set(rule, count);
        if (count < (on.nth ?? 1)) continue;
        const at = Math.max(0, offset + (on.bytesInto ?? 3));
        if (at < chunk.length) {
          cut = { at, rule };
          break;
        }
      }
    });
    if (direction === 'down' && framer.kept.length > keptBefore && this.pid === 0) {
      const key = framer.kept.find((m) => m.type === 0x4b);
      if (key && key.body.length >= 4) this.pid = key.body.readInt32BE(0);
    }
    if (direction === 'down' && !cut) {
      for (const rule of rules) {
        if (rule.afterDownBytes === undefined || !this.matches(rule)) continue;
        const before = this.downSinceMarker.get(rule) ?? 0;
        const after = before + chunk.length;
        this.downSinceMarker.set(rule, after);
        if (after >= rule.afterDownBytes) {
          cut = { at: Math.max(0, rule.afterDownBytes - before), rule };
          break;
        }
      }
    }
    const target = direction === 'up' ? this.server : this.client;
    this.bytes[direction] += chunk.length;
    if (!cut) {
      if (!target.write(chunk)) {
        const source = direction === 'up' ? this.client : this.server;
        source.pause();
        target.once('drain', () => {
          if (!this.stalled[direction]) source.resume();
        });
      }
      return;
    }
    const { at, rule } = cut;
    this.relay.fired(rule, this);
    const head = chunk.subarray(0, at);
    const how = rule.how ?? 'reset';
    this.closed = true; // nothing more is forwarded either way
    const finish = (): void => {
      this.closed = false;
      this.destroy(how);
    };
    if (head.length > 0) {
      target.write(head, () => {
        setTimeout(finish, 20);
      });
    } else {
      finish();
    }
  }

  private matches(rule: ResetRule): boolean {
    if (rule.pid !== undefined && rule.pid !== this.pid) return false;
    if (rule.marker !== undefined && !this.markerSeen.has(rule)) return false;
    return true;
  }
}

/** See the file comment. */
export class ChaosRelay {
  readonly connections = new Set<RelayConnection>();
  /** Every connection ever opened (recordings), when `record` is on. */
  readonly history: RelayConnection[] = [];
  private server: net.Server;
  private nextId = 1;
  private refusing: 'no' | 'reset' = 'no';
  private stallNew: Direction | 'both' | undefined;
  private rules: ResetRule[] = [];
  private readonly firedRules = new Map<ResetRule, number>();
  /** Connections accepted in total (refused ones included). */
  accepted = 0;

  private constructor(
    private readonly options: RelayOptions,
    public port: number,
  ) {
    this.server = this.makeServer();
  }

  static async start(options: RelayOptions): Promise<ChaosRelay> {
    const relay = new ChaosRelay(options, options.port ?? 0);
    await relay.listen();
    return relay;
  }

  /** host:port form for URLs. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections with traffic flowing (not closed). */
  get open(): RelayConnection[] {
    return [...this.connections];
  }

  /** New connections are reset at accept (`reset`), or the port stops listening (`unlisten`). */
  async refuseNew(mode: 'reset' | 'unlisten' = 'unlisten'): Promise<void> {
    if (mode === 'reset') {
      this.refusing = 'reset';
      return;
    }
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
      // server.close waits for open connections; they stay relayed, so resolve at once.
      setImmediate(resolve);
    });
  }

  /** Accept (and relay) new connections again, on the same port. */
  async acceptNew(): Promise<void> {
    this.refusing = 'no';
    if (this.server.listening) return;
    this.server = this.makeServer();
    await this.listen();
  }

  /** Break every open connection. */
  killAll(how: 'reset' | 'end' = 'reset'): number {
    const all = [...this.connections];
    for (const connection of all) connection.destroy(how);
    return all.length;
  }

  /** Stop forwarding on open connections (and on new ones when `newToo`). */
  stall(direction: Direction | 'both' = 'both', newToo = false): void {
    for (const connection of this.connections) connection.stall(direction);
    if (newToo) this.stallNew = direction;
  }

  /** Stall only connections opened from now on (accepted, but nothing forwarded). */
  stallNewConnections(direction: Direction | 'both' = 'both'): void {
    this.stallNew = direction;
  }

  /** Undo stall() everywhere and forward what was held back. */
  resume(): void {
    this.stallNew = undefined;
    for (const connection of this.connections) connection.resume();
  }

  /** Arm a reset rule; returns a promise that resolves with the connection it fired on. */
  armReset(rule: ResetRule): { fired: Promise<RelayConnection>; disarm: () => void } {
    let resolveFired: (c: RelayConnection) => void = () => undefined;
    const fired = new Promise<RelayConnection>((resolve) => {
      resolveFired = resolve;
    });
    const armed: ResetRule & { resolve?: (c: RelayConnection) => void } = { ...rule };
    this.resolvers.set(armed, resolveFired);
    this.rules.push(armed);
    return {
      fired,
      disarm: () => {
        this.rules = this.rules.filter((r) => r !== armed);
      },
    };
  }

  private readonly resolvers = new Map<ResetRule, (c: RelayConnection) => void>();

  /** How many times rules fired in total. */
  get firedCount(): number {
    let n = 0;
    for (const count of this.firedRules.values()) n += count;
    return n;
  }

  clearRules(): void {
    this.rules = [];
  }

  connectionByPid(pid: number): RelayConnection | undefined {
    return [...this.connections].find((c) => c.pid === pid);
  }

  async close(): Promise<void> {
    this.killAll('reset');
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  // ---- used by RelayConnection ----

  rulesFor(): readonly ResetRule[] {
    return this.rules;
  }

  fired(rule: ResetRule, connection: RelayConnection): void {
    this.firedRules.set(rule, (this.firedRules.get(rule) ?? 0) + 1);
    if (!rule.repeat) this.rules = this.rules.filter((r) => r !== rule);
    this.resolvers.get(rule)?.(connection);
  }

  forget(connection: RelayConnection): void {
    this.connections.delete(connection);
  }

  private makeServer(): net.Server {
    return net.createServer({ noDelay: true }, (client) => {
      this.accept(client);
    });
  }

  private listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        const address = this.server.address();
        if (address !== null && typeof address !== 'string') this.port = address.port;
        resolve();
      });
    });
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.refusing === 'reset') {
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const server = net.connect({ host: this.options.targetHost, port: this.options.targetPort });
    server.setNoDelay(true);
    const connection = new RelayConnection(
      this.nextId++,
      client,
      server,
      this,
      this.options.record ?? false,
    );
    this.connections.add(connection);
    if (this.options.record) this.history.push(connection);
    if (this.stallNew !== undefined) connection.stall(this.stallNew);
  }
}
