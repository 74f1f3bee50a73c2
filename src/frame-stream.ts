import type { Duplex } from 'node:stream';
import { FrameReader, type Frame } from '../protocol/frame-reader.js';

/**
 * Frames from a socket, in two modes: `await next()` one at a time while a conversation is
 * scripted (startup, authentication), then `listen(handler)` for the relay, where every chunk's
 * frames are handed over together so the caller can write them upstream in one go.
 * Errors (malformed frames, socket errors, close) reach the waiting `next()` or `onError`.
 */
export class FrameStream {
  readonly reader: FrameReader;
  private socket: Duplex;
  private waiter: { resolve: (frame: Frame) => void; reject: (error: Error) => void } | undefined;
  private handler: ((frames: Frame[], chunk: Buffer) => void) | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.receive(chunk);
  };
  private readonly onEnd = (): void => {
    this.fail(new ClosedError());
  };
  private readonly onSocketError = (error: Error): void => {
    this.fail(error);
  };
  private errorHandler: ((error: Error) => void) | undefined;

  constructor(socket: Duplex, reader: FrameReader) {
    this.reader = reader;
    this.socket = socket;
    this.attach();
  }

  /** Switch to another underlying stream (TLS upgrade). Buffered bytes must be empty. */
  replaceSocket(socket: Duplex): void {
    this.detach();
    this.socket = socket;
    this.attach();
  }

  /** Stop reading from the socket (for a TLS upgrade, before the socket is wrapped). */
  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onSocketError);
  }

  /** The next frame; rejects on a malformed frame, a socket error, or close. */
  next(): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    try {
      const frame = this.reader.next();
      if (frame) return Promise.resolve(frame);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.socket.resume();
    });
  }

  /**
   * Between scripted exchanges (a login waiting for the pool): keep reading, so that a peer that
   * closes or resets is noticed (`onError`); bytes it sends meanwhile stay buffered for `next()`
   * or `listen()`, and reading pauses again at the first chunk.
   */
  watch(onError: (error: Error) => void): void {
    this.errorHandler = onError;
    if (this.failure) {
      onError(this.failure);
      return;
    }
    this.socket.resume();
  }

  /** Relay mode: every chunk's complete frames, in order. Frames already buffered are delivered first. */
  listen(handler: (frames: Frame[], chunk: Buffer) => void, onError: (error: Error) => void): void {
    this.handler = handler;
    this.errorHandler = onError;
    if (this.failure) {
      onError(this.failure);
      return;
    }
    if (this.reader.buffered > 0) this.drain(Buffer.alloc(0));
    this.socket.resume();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onEnd);
    this.socket.on('error', this.onSocketError);
  }

  private receive(chunk: Buffer): void {
    if (this.failure) return;
    this.reader.push(chunk);
    if (this.handler) {
      this.drain(chunk);
      return;
    }
    const waiter = this.waiter;
    if (!waiter) {
      this.socket.pause();
      return;
    }
    let frame: Frame | null;
    try {
      frame = this.reader.next();
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (frame) {
      this.waiter = undefined;
      this.socket.pause();
      waiter.resolve(frame);
    }
  }

  private drain(chunk: Buffer): void {
    const frames: Frame[] = [];
    try {
      for (let frame = this.reader.next(); frame; frame = this.reader.next()) frames.push(frame);
    } catch (error) {
      if (frames.length > 0) this.handler?.(frames, chunk);
      this.fail(error as Error);
      return;
    }
    if (frames.length > 0) this.handler?.(frames, chunk);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.reject(error);
    else this.errorHandler?.(error);
  }
}

/** The peer closed the connection. */
export class ClosedError extends Error {
  override readonly name = 'ClosedError';
  constructor() {
    super('connection closed by peer');
  }
}
