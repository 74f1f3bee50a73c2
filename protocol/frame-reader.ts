import { protocolViolation } from './pg-error.js';

/**
 * One wire-protocol message, exactly as it arrived: a view into a received buffer. `raw` and
 * `body` are made on demand, so relaying a chunk of frames allocates one small object per frame.
 */
export class Frame {
  constructor(
    /** Message type byte; 0 for an untyped startup-phase packet. */
    readonly type: number,
    /** The buffer holding the frame. */
    readonly buffer: Buffer,
    /** Offset of the frame's first byte (type byte, or length word when untyped). */
    readonly start: number,
    /** Offset just past the frame's last byte. */
    readonly end: number,
    /** Header bytes before the body: 5 (type + length), or 4 for an untyped startup packet. */
    readonly headerLength = 5,
  ) {}

  /** The whole frame as received (type byte, length, body): relay these bytes untouched. */
  get raw(): Buffer {
    return this.buffer.subarray(this.start, this.end);
  }

  /** The message body, after the type byte and the length word. */
  get body(): Buffer {
    return this.buffer.subarray(this.start + this.headerLength, this.end);
  }

  /** Byte `index` of the body, without making a view of it (undefined past its end). */
  bodyByte(index: number): number | undefined {
    const at = this.start + this.headerLength + index;
    return at < this.end ? this.buffer[at] : undefined;
  }
}

export interface FrameReaderOptions {
  /** Largest accepted frame, header included. Larger → 08P01. */
  readonly maxMessageSize: number;
  /** Start by expecting an untyped startup packet (the frontend side of a server). */
  readonly untyped?: boolean;
}

const EMPTY = Buffer.alloc(0);

/** Postgres refuses startup packets longer than this (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET = 10_000;

/**
 * Splits a byte stream into whole frames, whatever the TCP chunking. Pull-based: `push` bytes,
 * then call `next` until it returns null, so the caller can switch between untyped (startup)
 * and typed framing between two frames. Frames are views into the received chunks (no copy)
 * unless a frame straddles chunks.
 */
export class FrameReader {
  private buf: Buffer = EMPTY;
  private offset = 0;
  private untyped: boolean;
  private readonly maxMessageSize: number;
  private allowedTypes: ReadonlySet<number> | undefined;

  constructor(options: FrameReaderOptions) {
    this.maxMessageSize = options.maxMessageSize;
    this.untyped = options.untyped ?? false;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.buf.length - this.offset;
  }

  /**
   * Reject any other message type as soon as its type byte arrives (08P01), instead of first
   * waiting for the whole frame its length announces.
   */
  restrictTypes(types: ReadonlySet<number> | undefined): void {
    this.allowedTypes = types;
  }

  /** The next frame is an untyped startup-phase packet (after answering SSLRequest/GSSENCRequest). */
  expectUntyped(): void {
    this.untyped = true;
  }

  push(chunk: Buffer): void {
    if (this.offset >= this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.offset), chunk]);
    }
    this.offset = 0;
  }

  /**
   * The next whole frame, or null when more bytes are needed.
   * @throws PgError 08P01 on an invalid or oversized length.
   */
  next(): Frame | null {
    const available = this.buf.length - this.offset;
    if (this.untyped) {
      if (available < 4) return null;
      const length = this.buf.readInt32BE(this.offset);
      if (length < 8 || length > MAX_STARTUP_PACKET) {
        throw protocolViolation(`invalid length of startup packet: ${length}`);
      }
      if (available < length) return null;
      const frame = new Frame(0, this.buf, this.offset, this.offset + length, 4);
      this.advance(length);
      this.untyped = false;
      return frame;
    }
    if (available < 1) return null;
    const type = this.buf[this.offset] ?? 0;
    if (this.allowedTypes !== undefined && !this.allowedTypes.has(type)) {
      throw protocolViolation(`invalid frontend message type ${type}`);
    }
    if (available < 5) return null;
    const length = this.buf.readInt32BE(this.offset + 1);
    if (length < 4) {
      throw protocolViolation(`invalid message length ${length} for message type 0x${hex(type)}`);
    }
    if (length + 1 > this.maxMessageSize) {
      throw protocolViolation(
        `message of type 0x${hex(type)} is ${length + 1} bytes, over the limit of ${this.maxMessageSize}`,
      );
    }
    if (available < length + 1) return null;
    const frame = new Frame(type, this.buf, this.offset, this.offset + length + 1);
    this.advance(length + 1);
    return frame;
  }

  /** Past `length` bytes; a buffer read to its end is let go (an idle connection keeps none). */
  private advance(length: number): void {
    this.offset += length;
    if (this.offset >= this.buf.length) {
      this.buf = EMPTY;
      this.offset = 0;
    }
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
