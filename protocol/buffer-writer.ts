/** Room reserved at the start of the buffer for the type byte and the length word. */
const HEADER = 5;
const EMPTY = Buffer.alloc(0);

/**
 * A growable message writer. Writes the body after a reserved 5-byte header; `frame(type)` fills
 * in the type byte and length and returns the message without copying. After `frame` or
 * `untypedFrame` the writer is reset and may be reused (a new buffer is allocated on demand).
 */
export class BufferWriter {
  private buf: Buffer;
  private pos = HEADER;
  private readonly initialSize: number;

  /** @param initialSize expected message size; the buffer doubles when it runs out. */
  constructor(initialSize = 256) {
    this.initialSize = Math.max(initialSize, HEADER + 1);
    this.buf = EMPTY;
  }

  /** Body bytes written so far. */
  get length(): number {
    return this.pos - HEADER;
  }

  /** One byte (0..255; -128..-1 are written as their two's complement). */
  byte(value: number): this {
    this.ensure(1);
    this.buf[this.pos++] = value & 0xff;
    return this;
  }

  /** Big-endian 16-bit integer; accepts -32768..65535 (signed or unsigned). */
  int16(value: number): this {
    if (!Number.isInteger(value) || value < -0x8000 || value > 0xffff) {
      throw new RangeError(`value out of range for int16: ${value}`);
    }
    this.ensure(2);
    this.buf.writeUInt16BE(value & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }

  /** Big-endian 32-bit integer; accepts -2^31..2^32-1 (signed, or unsigned such as OIDs). */
  int32(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      throw new RangeError(`value out of range for int32: ${value}`);
    }
    this.ensure(4);
    this.buf.writeUInt32BE(value >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  /** UTF-8 text followed by a NUL terminator. A string containing NUL is a programming error. */
  cstring(value: string): this {
    if (value.includes('\0')) throw new Error('cannot write a C string containing NUL');
    const length = Buffer.byteLength(value, 'utf8');
    this.ensure(length + 1);
    this.pos += this.buf.write(value, this.pos, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }

  /** UTF-8 text without terminator. */
  string(value: string): this {
    const length = Buffer.byteLength(value, 'utf8');
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, 'utf8');
    return this;
  }

  /** Raw bytes. */
  bytes(value: Uint8Array): this {
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  /** The finished message: type byte, int32 length (which counts itself), body. Resets the writer. */
  frame(type: number): Buffer {
    this.ensure(0);
    this.buf[0] = type;
    this.buf.writeUInt32BE(this.pos - 1, 1);
    return this.detach(0);
  }

  /** The finished untyped (startup-phase) packet: int32 length, body. Resets the writer. */
  untypedFrame(): Buffer {
    this.ensure(0);
    this.buf.writeUInt32BE(this.pos - 1, 1);
    return this.detach(1);
  }

  private detach(start: number): Buffer {
    const out = this.buf.subarray(start, this.pos);
    this.buf = EMPTY;
    this.pos = HEADER;
    return out;
  }

  private ensure(extra: number): void {
    const needed = this.pos + extra;
    if (needed <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, this.initialSize);
    while (size < needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
