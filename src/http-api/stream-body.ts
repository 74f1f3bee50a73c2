import { Readable } from 'node:stream';

/**
 * A response body fed by pushes with backpressure: `push` returns false when the client reads
 * slower than rows arrive, and `drained()` resolves when it wants more; the upstream connection
 * is paused meanwhile (see RowSink), so memory stays flat whatever the result size.
 */
export class StreamBody {
  readonly readable: Readable;
  private waiters: (() => void)[] = [];

  constructor(highWaterMark = 256 * 1024) {
    this.readable = new Readable({
      highWaterMark,
      read: () => {
        for (const waiter of this.waiters.splice(0)) waiter();
      },
      destroy: (error, callback) => {
        for (const waiter of this.waiters.splice(0)) waiter();
        callback(error);
      },
    });
  }

  push(chunk: Uint8Array | string): boolean {
    if (this.readable.destroyed) return true;
    return this.readable.push(chunk);
  }

  drained(): Promise<void> {
    if (this.readable.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  end(): void {
    if (!this.readable.destroyed) this.readable.push(null);
  }
}
