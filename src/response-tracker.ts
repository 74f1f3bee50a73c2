import { BackendCode } from '../protocol/message-codes.js';

/** What a frontend message sent upstream is answered with. */
export type Expectation =
  'parse' | 'bind' | 'close' | 'describe' | 'execute' | 'sync' | 'query' | 'function';

/** One reply the client is owed, in order. */
export interface Slot {
  readonly expect: Expectation;
  /**
   * Sent by the proxy, not the client (a lazily prepared statement): its normal replies are
   * swallowed; an error still reaches the client, since it concerns the client's own statement.
   */
  readonly hidden?: boolean;
  /** Answered by the proxy itself: these bytes go to the client when the slot comes due. */
  readonly synthetic?: Buffer;
  /** Called once when the slot completes: ok false after an ErrorResponse or when skipped. */
  readonly onDone?: (ok: boolean) => void;
  /** Rewrites this reply's result frames (a statement the planner evaluates in the proxy). */
  readonly transform?: ReplyTransform;
  /**
   * For a statement sent to fail (src/planning-failure.ts): an ErrorResponse to send in place of
   * the one Postgres sent (its body given), or undefined to forward Postgres's.
   */
  readonly replaceError?: (body: Buffer) => Buffer | undefined;
}

/**
 * Replaces the result frames of one reply (RowDescription, DataRow, CommandComplete,
 * EmptyQueryResponse, PortalSuspended, NoData) with frames of its own, e.g. rows computed by
 * the proxy from the rows Postgres sent. Everything else passes through.
 */
export interface ReplyTransform {
  onFrame(type: number, body: Buffer): Buffer[];
}

export interface BackendVerdict {
  /** Relay this frame to the client. */
  readonly forward: boolean;
  /** Bytes (synthetic replies) to send to the client right after this frame. */
  readonly after: Buffer[] | undefined;
}

const FORWARD: BackendVerdict = { forward: true, after: undefined };
const SWALLOW: BackendVerdict = { forward: false, after: undefined };

/**
 * Follows the replies of every message sent upstream, so the proxy knows when a client has
 * nothing in flight, can slot its own replies (local answers, ParseComplete for a statement
 * already prepared on this connection) in the right place, and can swallow replies to messages
 * it injected. Reads message types only; never decodes rows.
 *
 * Postgres rules it follows: after an ErrorResponse in the extended protocol, every message up
 * to the next Sync is skipped (no replies); Sync and Query end with ReadyForQuery; Sync and
 * Flush are ignored during COPY FROM STDIN.
 */
export class ResponseTracker {
  private readonly slots: Slot[] = [];
  private copyIn = false;
  /** The request at the head got an ErrorResponse (its ReadyForQuery completes it with ok=false). */
  private headFailed = false;
  /**
   * An extended-protocol error left no Sync in the queue: Postgres discards every message it
   * reads until the next Sync, so messages pushed now get no reply.
   */
  private skipping = false;
  /** Slots queued when the client ended a COPY whose CopyInResponse has not arrived yet. */
  private copyEndMark: number | undefined;

  /** Attached to the next slot pushed for a client's message (not to hidden ones). */
  nextTransform: ReplyTransform | undefined;

  /** The transform of the reply now arriving, if any. */
  get headTransform(): ReplyTransform | undefined {
    return this.slots[0]?.transform;
  }

  /** Replies still owed. */
  get busy(): boolean {
    return this.slots.length > 0;
  }

  get size(): number {
    return this.slots.length;
  }

  /** COPY FROM STDIN is running: the client is sending CopyData. */
  get inCopyIn(): boolean {
    return this.copyIn;
  }

  /**
   * Record a message sent upstream (or answered by the proxy). Returns bytes to send to the
   * client now when a synthetic slot is due at once.
   */
  push(pushed: Slot): Buffer[] | undefined {
    let slot = pushed;
    const transform = this.nextTransform;
    if (transform !== undefined && !slot.hidden && slot.synthetic === undefined) {
      this.nextTransform = undefined;
      slot = { ...slot, transform };
    }
    if (this.copyIn && slot.expect === 'sync') return undefined; // Postgres ignores it
    if (this.skipping) {
      if (slot.expect !== 'sync') {
        slot.onDone?.(false);
        return undefined;
      }
      this.skipping = false;
    }
    this.slots.push(slot);
    return this.slots.length === 1 && slot.synthetic ? this.drainSynthetic() : undefined;
  }

  /** The client ended COPY FROM STDIN (CopyDone or CopyFail). */
  copyEnded(): void {
    if (!this.copyIn) this.copyEndMark = this.slots.length;
    this.copyIn = false;
  }

  /** Classify one frame from upstream (its type and body) and advance the queue. */
  onBackend(type: number, body: Buffer): BackendVerdict {
    const head = this.slots[0];
    switch (type) {
      // Asynchronous messages belong to no reply.
      case BackendCode.NoticeResponse:
      case BackendCode.NotificationResponse:
      case BackendCode.ParameterStatus:
        return FORWARD;
      case BackendCode.ReadyForQuery: {
        this.copyIn = false;
        this.copyEndMark = undefined;
        const failed = this.headFailed;
        this.headFailed = false;
        if (
          head &&
          (head.expect === 'sync' || head.expect === 'query' || head.expect === 'function')
        ) {
          return this.complete(head, !failed, !head.hidden);
        }
        return FORWARD;
      }
      case BackendCode.ErrorResponse: {
        if (!head) return FORWARD;
        if (isFatal(body)) return FORWARD;
        this.copyIn = false;
        const replacement = head.replaceError?.(body);
        const verdict = replacement ? { forward: false, after: [replacement] } : FORWARD;
        if (head.expect === 'sync' || head.expect === 'query' || head.expect === 'function') {
          this.headFailed = true;
          return verdict; // ReadyForQuery follows
        }
        // An extended-protocol message failed: Postgres skips everything up to the next Sync.
        this.shift();
        head.onDone?.(false);
        while (this.slots[0] && this.slots[0].expect !== 'sync') {
          this.shift()?.onDone?.(false);
        }
        if (this.slots.length === 0) this.skipping = true;
        return verdict;
      }
      case BackendCode.CopyInResponse: {
        this.copyIn = true;
        // Syncs the client sent after this COPY's Execute (but before it ended the COPY) are
        // ignored by Postgres.
        if (head?.expect === 'execute') {
          const end = this.copyEndMark ?? this.slots.length;
          let removed = 0;
          while (1 < end - removed && this.slots[1]?.expect === 'sync') {
            this.slots.splice(1, 1);
            removed++;
          }
          if (this.copyEndMark !== undefined) this.copyEndMark -= removed;
        }
        if (this.copyEndMark !== undefined) this.copyIn = false; // the client already ended it
        return head?.hidden ? SWALLOW : FORWARD;
      }
      default:
        break;
    }
    if (!head) return FORWARD;
    switch (head.expect) {
      case 'parse':
        return type === BackendCode.ParseComplete
          ? this.complete(head, true, !head.hidden)
          : FORWARD;
      case 'bind':
        return type === BackendCode.BindComplete
          ? this.complete(head, true, !head.hidden)
          : FORWARD;
      case 'close':
        return type === BackendCode.CloseComplete
          ? this.complete(head, true, !head.hidden)
          : FORWARD;
      case 'describe':
        if (type === BackendCode.RowDescription || type === BackendCode.NoData) {
          return this.complete(head, true, !head.hidden);
        }
        return head.hidden ? SWALLOW : FORWARD; // ParameterDescription
      case 'execute':
        if (
          type === BackendCode.CommandComplete ||
          type === BackendCode.EmptyQueryResponse ||
          type === BackendCode.PortalSuspended
        ) {
          return this.complete(head, true, !head.hidden);
        }
        return head.hidden ? SWALLOW : FORWARD;
      default:
        return head.hidden ? SWALLOW : FORWARD;
    }
  }

  /** The error the client is shown for an ErrorResponse (its body) arriving now, when not that. */
  errorReplacement(body: Buffer): Buffer | undefined {
    return this.slots[0]?.replaceError?.(body);
  }

  /** Drop every slot (the upstream connection is gone). */
  reset(): void {
    for (const slot of this.slots.splice(0)) slot.onDone?.(false);
    this.copyIn = false;
    this.headFailed = false;
    this.skipping = false;
    this.copyEndMark = undefined;
  }

  private complete(head: Slot, ok: boolean, forward: boolean): BackendVerdict {
    this.shift();
    head.onDone?.(ok);
    const after = this.slots[0]?.synthetic ? this.drainSynthetic() : undefined;
    return after || !forward ? { forward, after } : FORWARD;
  }

  /** Remove the head slot, keeping the COPY end mark pointing at the same slot. */
  private shift(): Slot | undefined {
    if (this.copyEndMark !== undefined && this.copyEndMark > 0) this.copyEndMark--;
    return this.slots.shift();
  }

  private drainSynthetic(): Buffer[] {
    const out: Buffer[] = [];
    while (this.slots[0]?.synthetic) {
      const slot = this.shift();
      if (!slot?.synthetic) break;
      out.push(slot.synthetic);
      slot.onDone?.(true);
    }
    return out;
  }
}

/**
 * An ErrorResponse whose severity is FATAL or PANIC: the backend is going away. Reads the
 * non-localized severity (V), else the localized one (S), field by field.
 */
export function isFatal(body: Buffer): boolean {
  let severity: string | undefined;
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = body[offset];
    const end = body.indexOf(0, offset + 1);
    if (end < 0) break;
    if (code === 0x56 /* V */) return isFatalSeverity(body.toString('latin1', offset + 1, end));
    if (code === 0x53 /* S */) severity = body.toString('latin1', offset + 1, end);
    offset = end + 1;
  }
  return severity !== undefined && isFatalSeverity(severity);
}

function isFatalSeverity(severity: string): boolean {
  return severity === 'FATAL' || severity === 'PANIC';
}

/** Shared slots for messages whose replies need no callback (the hot path allocates nothing). */
export const SLOT = {
  parse: { expect: 'parse' },
  bind: { expect: 'bind' },
  close: { expect: 'close' },
  describe: { expect: 'describe' },
  execute: { expect: 'execute' },
  sync: { expect: 'sync' },
  query: { expect: 'query' },
  function: { expect: 'function' },
} as const satisfies Record<Expectation, Slot>;
