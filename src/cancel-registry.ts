import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Cancellable {
  /** Cancel the statement the client is running now, if any; never anything else. */
  cancel(): void;
}

export interface BackendKey {
  readonly processId: number;
  readonly secretKey: Buffer;
}

/**
 * The proxy's own BackendKeyData: each client gets a (process id, secret key) pair that means
 * nothing upstream. A CancelRequest is matched here and turned into a cancel of the upstream
 * backend serving that client at that moment.
 */
export class CancelRegistry {
  private readonly sessions = new Map<number, { key: Buffer; target: Cancellable }>();

  register(target: Cancellable): BackendKey {
    let processId: number;
    do {
      processId = randomBytes(4).readInt32BE(0) & 0x7fffffff;
    } while (processId === 0 || this.sessions.has(processId));
    const secretKey = randomBytes(4);
    this.sessions.set(processId, { key: secretKey, target });
    return { processId, secretKey };
  }

  unregister(processId: number): void {
    this.sessions.delete(processId);
  }

  /** Returns true when the key matched a live session (which was asked to cancel). */
  cancel(processId: number, secretKey: Buffer): boolean {
    const entry = this.sessions.get(processId);
    if (entry?.key.length !== secretKey.length || !timingSafeEqual(entry.key, secretKey)) {
      return false;
    }
    entry.target.cancel();
    return true;
  }

  get size(): number {
    return this.sessions.size;
  }
}
