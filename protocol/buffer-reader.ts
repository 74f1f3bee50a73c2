import { PgError, protocolViolation } from './pg-error.js';

/**
 * What `cstring()` does with bytes that are not valid UTF-8:
 * - `'protocol-violation'`: throw 08P01 FATAL (startup packets, SASL);
 * - `'encoding-error'`: throw 22021 ERROR, as Postgres does for a query string that is not valid
 *   in the client encoding (the connection survives);
 * - `'replace'`: decode with U+FFFD replacement (text from a trusted upstream, which may run with
 *   `server_encoding = SQL_ASCII`).
 */
export type InvalidUtf8Policy = 'protocol-violation' | 'encoding-error' | 'replace';

export interface BufferReaderOptions {
  /** Name of the message being read, used in error messages. */
  readonly message?: string;
  readonly invalidUtf8?: InvalidUtf8Policy;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * A bounds-checked cursor over a message body. Every overrun throws a PgError (08P01), never a
 * RangeError. `bytes()` returns views into the underlying buffer, not copies.
 */
export class BufferReader {
  private pos = 0;
  private readonly buf: Buffer;
  private readonly message: string;
  private readonly invalidUtf8: InvalidUtf8Policy;

  constructor(buf: Buffer, options: BufferReaderOptions = {}) {
    this.buf = buf;
    this.message = options.message ?? 'message';
    this.invalidUtf8 = options.invalidUtf8 ?? 'protocol-violation';
  }

  /** Bytes left to read. */
  remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Current offset from the start of the body. */
  get offset(): number {
    return this.pos;
  }

  /** Signed 8-bit integer. */
  int8(): number {
    this.need(1);
    const value = this.buf.readInt8(this.pos);
    this.pos += 1;
    return value;
  }

  /** Unsigned 8-bit integer (a message subtype or status byte). */
  byte(): number {
    this.need(1);
    const value = this.buf.readUInt8(this.pos);
    this.pos += 1;
    return value;
  }

  /** Signed big-endian 16-bit integer. */
  int16(): number {
    this.need(2);
    const value = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  /** Unsigned big-endian 16-bit integer (counts, as Postgres reads them with pq_getmsgint). */
  uint16(): number {
    this.need(2);
    const value = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  /** Signed big-endian 32-bit integer. */
  int32(): number {
    this.need(4);
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  /** Unsigned big-endian 32-bit integer (OIDs). */
  uint32(): number {
    this.need(4);
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  /** A NUL-terminated UTF-8 string; the NUL is consumed. */
  cstring(): string {
    const raw = this.cstringBytes();
    if (this.invalidUtf8 === 'replace') return lenientUtf8.decode(raw);
    try {
      return strictUtf8.decode(raw);
    } catch {
      if (this.invalidUtf8 === 'encoding-error') {
        throw new PgError('22021', `invalid byte sequence for encoding "UTF8" in ${this.message}`);
      }
      throw protocolViolation(`invalid UTF-8 in ${this.message}`);
    }
  }

  /** The bytes of a NUL-terminated string, without the NUL (a view). */
  cstringBytes(): Buffer {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw protocolViolation(`invalid string in ${this.message}: missing terminator`);
    const raw = this.buf.subarray(this.pos, end);
    this.pos = end + 1;
    return raw;
  }

  /** The next `n` bytes (a view). Negative `n` or too few bytes → 08P01. */
  bytes(n: number): Buffer {
    if (!Number.isInteger(n) || n < 0) {
      throw protocolViolation(`invalid length ${n} in ${this.message}`);
    }
    this.need(n);
    const raw = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return raw;
  }

  /** Everything left (a view). */
  rest(): Buffer {
    const raw = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return raw;
  }

  /** Throws 08P01 unless the whole body was consumed (Postgres's pq_getmsgend). */
  ensureEnd(): void {
    if (this.pos !== this.buf.length) {
      throw protocolViolation(`invalid ${this.message} format: ${this.remaining()} trailing bytes`);
    }
  }

  private need(n: number): void {
    if (this.buf.length - this.pos < n) {
      throw protocolViolation(`insufficient data left in ${this.message}`);
    }
  }
}
