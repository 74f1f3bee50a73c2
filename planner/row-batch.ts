import { makeData, makeVector, Utf8, type Vector } from 'apache-arrow';

/**
 * A batch of DataRows from Postgres, kept as received. Column positions are read once per row;
 * a column the proxy evaluates becomes an Arrow Utf8 vector built straight from the wire bytes
 * (value offsets, one data buffer, a validity bitmap: `makeData`, no per-row builders).
 */
export class RowBatch {
  /** Per row, per column: start offset in the row body (-1 for NULL) and length. */
  private readonly starts: Int32Array;
  private readonly lengths: Int32Array;
  private readonly vectors = new Map<number, Vector<Utf8>>();

  constructor(
    private readonly rows: readonly Buffer[],
    private readonly width: number,
  ) {
    this.starts = new Int32Array(rows.length * width);
    this.lengths = new Int32Array(rows.length * width);
    for (let r = 0; r < rows.length; r++) {
      const body = rows[r];
      if (body === undefined) continue;
      const columns = Math.min(body.readUInt16BE(0), width);
      let offset = 2;
      for (let c = 0, at = r * width; c < columns; c++, at++) {
        const length = body.readInt32BE(offset);
        offset += 4;
        if (length < 0) {
          this.starts[at] = -1;
        } else {
          this.starts[at] = offset;
          this.lengths[at] = length;
          offset += length;
        }
      }
    }
  }

  get length(): number {
    return this.rows.length;
  }

  /** The value's bytes as Postgres sent them (null for NULL). */
  raw(row: number, column: number): Buffer | null {
    const at = row * this.width + column;
    const start = this.starts[at] ?? -1;
    if (start < 0) return null;
    const body = this.rows[row];
    return body ? body.subarray(start, start + (this.lengths[at] ?? 0)) : null;
  }

  /** A text-format column as an Arrow Utf8 vector. */
  vector(column: number): Vector<Utf8> {
    let vector = this.vectors.get(column);
    if (vector !== undefined) return vector;
    const n = this.rows.length;
    const valueOffsets = new Int32Array(n + 1);
    let total = 0;
    for (let r = 0; r < n; r++) total += this.lengths[r * this.width + column] ?? 0;
    const data = new Uint8Array(total);
    const validity = new Uint8Array(Math.ceil(n / 8));
    let nulls = 0;
    let offset = 0;
    for (let r = 0; r < n; r++) {
      const at = r * this.width + column;
      const start = this.starts[at] ?? -1;
      const body = this.rows[r];
      if (start < 0 || body === undefined) nulls++;
      else {
        validity[r >> 3] = (validity[r >> 3] ?? 0) | (1 << (r & 7));
        // Straight from the row into the column's buffer: no view per value. Short values
        // (most text columns) copy faster in a loop than through a native call.
        const length = this.lengths[at] ?? 0;
        if (length > 32) body.copy(data, offset, start, start + length);
        else for (let i = 0; i < length; i++) data[offset + i] = body[start + i] ?? 0;
        offset += length;
      }
      valueOffsets[r + 1] = offset;
    }
    vector = makeVector(
      makeData({
        type: new Utf8(),
        length: n,
        nullCount: nulls,
        nullBitmap: validity,
        valueOffsets,
        data,
      }),
    );
    this.vectors.set(column, vector);
    return vector;
  }

  /** A text-format column's values as strings (null for NULL), read through its vector. */
  textColumn(column: number): (string | null)[] {
    const vector = this.vector(column);
    const out: (string | null)[] = new Array<string | null>(vector.length);
    for (let r = 0; r < vector.length; r++) out[r] = vector.get(r);
    return out;
  }
}
