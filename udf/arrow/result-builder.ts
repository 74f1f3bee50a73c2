import {
  Bool,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  Utf8,
  makeData,
  makeVector,
  type Data,
  type Vector,
} from 'apache-arrow';
import type { PgType, Value } from '../function.js';

/**
 * Collects one Value per row into a typed array and a validity bitmap, then wraps them with
 * makeData (no per-row Arrow builders). The Arrow type follows the Postgres return type:
 * boolean → Bool, bigint → Int64 (bigint values), integer → Int32, double precision →
 * Float64, text/json/jsonb/numeric → Utf8, text[] → List<Utf8>.
 */
export interface ResultBuilder {
  set(index: number, value: Value): void;
  finish(): Vector;
}

export function resultBuilder(type: PgType, length: number): ResultBuilder {
  switch (type.oid) {
    case 16:
      return new BoolBuilder(length);
    case 20:
      return new Int64Builder(length);
    case 23:
      return new Int32Builder(length);
    case 701:
      return new Float64Builder(length);
    case 25:
    case 114:
    case 1700:
    case 3802:
      return new Utf8Builder(length);
    case 1009:
      return new TextArrayBuilder(length);
    default:
      throw new Error(`no Arrow kernel output for Postgres type ${type.name} (${type.oid})`);
  }
}

/** The validity bitmap: a row is null until marked valid. */
class Validity {
  readonly bits: Uint8Array;
  private valid = 0;

  constructor(private readonly length: number) {
    this.bits = new Uint8Array((length + 7) >> 3);
  }

  get nullCount(): number {
    return this.length - this.valid;
  }

  /** Marks row `index` valid when value is not null; returns whether it is. */
  mark(index: number, value: Value): boolean {
    if (value === null) return false;
    this.bits[index >> 3] = (this.bits[index >> 3] ?? 0) | (1 << (index & 7));
    this.valid++;
    return true;
  }
}

function mismatch(type: string, value: Value): Error {
  return new Error(`a DocFusion function declared ${type} returned ${typeof value}`);
}

class BoolBuilder implements ResultBuilder {
  private readonly validity: Validity;
  private readonly values: Uint8Array;

  constructor(private readonly length: number) {
    this.validity = new Validity(length);
    this.values = new Uint8Array((length + 7) >> 3);
  }

  set(index: number, value: Value): void {
    if (!this.validity.mark(index, value)) return;
    if (typeof value !== 'boolean') throw mismatch('boolean', value);
    if (value) this.values[index >> 3] = (this.values[index >> 3] ?? 0) | (1 << (index & 7));
  }

  finish(): Vector {
    const { bits, nullCount } = this.validity;
    const type = new Bool();
    return makeVector(
      makeData({ type, length: this.length, nullCount, nullBitmap: bits, data: this.values }),
    );
  }
}

class Int64Builder implements ResultBuilder {
  private readonly validity: Validity;
  private readonly values: BigInt64Array;

  constructor(private readonly length: number) {
    this.validity = new Validity(length);
    this.values = new BigInt64Array(length);
  }

  set(index: number, value: Value): void {
    if (!this.validity.mark(index, value)) return;
    if (typeof value === 'bigint') this.values[index] = value;
    else if (typeof value === 'number' && Number.isSafeInteger(value))
      this.values[index] = BigInt(value);
    else throw mismatch('bigint', value);
  }

  finish(): Vector {
    const { bits, nullCount } = this.validity;
    const type = new Int64();
    return makeVector(
      makeData({ type, length: this.length, nullCount, nullBitmap: bits, data: this.values }),
    );
  }
}

class Int32Builder implements ResultBuilder {
  private readonly validity: Validity;
  private readonly values: Int32Array;

  constructor(private readonly length: number) {
    this.validity = new Validity(length);
    this.values = new Int32Array(length);
  }

  set(index: number, value: Value): void {
    if (!this.validity.mark(index, value)) return;
    if (typeof value !== 'number' || (value | 0) !== value) throw mismatch('integer', value);
    this.values[index] = value;
  }

  finish(): Vector {
    const { bits, nullCount } = this.validity;
    const type = new Int32();
    return makeVector(
      makeData({ type, length: this.length, nullCount, nullBitmap: bits, data: this.values }),
    );
  }
}

class Float64Builder implements ResultBuilder {
  private readonly validity: Validity;
  private readonly values: Float64Array;

  constructor(private readonly length: number) {
    this.validity = new Validity(length);
    this.values = new Float64Array(length);
  }

  set(index: number, value: Value): void {
    if (!this.validity.mark(index, value)) return;
    if (typeof value !== 'number') throw mismatch('double precision', value);
    this.values[index] = value;
  }

  finish(): Vector {
    const { bits, nullCount } = this.validity;
    const type = new Float64();
    return makeVector(
      makeData({ type, length: this.length, nullCount, nullBitmap: bits, data: this.values }),
    );
  }
}

const encoder = new TextEncoder();

/** UTF-8 bytes and offsets of a Utf8 column, growing as strings arrive. */
class Utf8Buffers {
  readonly validity: Validity;
  readonly offsets: Int32Array;
  private bytes: Uint8Array;
  private used = 0;
  /** Rows whose end offset is written. */
  private filled = 0;

  constructor(readonly length: number) {
    this.validity = new Validity(length);
    this.offsets = new Int32Array(length + 1);
    this.bytes = new Uint8Array(Math.max(64, length * 16));
  }

  /** Sets row `index`; rows arrive in increasing order, rows skipped are null. */
  set(index: number, value: string | null): void {
    this.fillTo(index);
    if (this.validity.mark(index, value) && value !== null && value.length > 0) {
      // At most 3 UTF-8 bytes per UTF-16 unit.
      const needed = this.used + value.length * 3;
      if (needed > this.bytes.length) {
        const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
        grown.set(this.bytes.subarray(0, this.used));
        this.bytes = grown;
      }
      this.used += encoder.encodeInto(value, this.bytes.subarray(this.used)).written;
    }
    this.offsets[index + 1] = this.used;
    this.filled = index + 1;
  }

  private fillTo(rows: number): void {
    if (this.filled < rows) this.offsets.fill(this.used, this.filled + 1, rows + 1);
    this.filled = Math.max(this.filled, rows);
  }

  finish(): Data<Utf8> {
    this.fillTo(this.length);
    const { bits, nullCount } = this.validity;
    return makeData({
      type: new Utf8(),
      length: this.length,
      nullCount,
      nullBitmap: bits,
      valueOffsets: this.offsets,
      data: this.bytes.subarray(0, this.used),
    });
  }
}

class Utf8Builder implements ResultBuilder {
  private readonly buffers: Utf8Buffers;

  constructor(length: number) {
    this.buffers = new Utf8Buffers(length);
  }

  set(index: number, value: Value): void {
    if (value !== null && typeof value !== 'string') throw mismatch('text', value);
    this.buffers.set(index, value);
  }

  finish(): Vector {
    return makeVector(this.buffers.finish());
  }
}

class TextArrayBuilder implements ResultBuilder {
  private readonly validity: Validity;
  private readonly offsets: Int32Array;
  private items: (string | null)[] = [];
  private filled = 0;

  constructor(private readonly length: number) {
    this.validity = new Validity(length);
    this.offsets = new Int32Array(length + 1);
  }

  set(index: number, value: Value): void {
    this.fillTo(index);
    if (value !== null) {
      if (typeof value !== 'object') throw mismatch('text[]', value);
      this.validity.mark(index, value);
      for (const item of value) this.items.push(item);
    }
    this.offsets[index + 1] = this.items.length;
    this.filled = index + 1;
  }

  private fillTo(rows: number): void {
    if (this.filled < rows) this.offsets.fill(this.items.length, this.filled + 1, rows + 1);
    this.filled = Math.max(this.filled, rows);
  }

  finish(): Vector {
    this.fillTo(this.length);
    const child = new Utf8Buffers(this.items.length);
    this.items.forEach((item, i) => {
      child.set(i, item);
    });
    this.items = [];
    const { bits, nullCount } = this.validity;
    const type = new List(new Field('item', new Utf8(), true));
    return makeVector(
      makeData({
        type,
        length: this.length,
        nullCount,
        nullBitmap: bits,
        valueOffsets: this.offsets,
        child: child.finish(),
      }),
    );
  }
}
