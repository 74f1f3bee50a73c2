import { makeVector, type Vector } from 'apache-arrow';
import type { Value } from '../function.js';
import type { JsonValue } from '../jsonb/json-value.js';
import { jsonArg } from '../support/json-args.js';
import { toValue } from './vector-value.js';

/** Values and parsed documents of one Arrow Data chunk, filled lazily row by row. */
interface ChunkCache {
  readonly values: (Value | undefined)[];
  readonly parsed: (JsonValue | undefined)[];
}

/**
 * Parsed documents per input chunk, so that several functions over the same document column
 * parse each document once. Keyed by the vector's Data chunks rather than the Vector object:
 * Arrow creates a new Vector each time a column is taken from a batch (getChild), while the
 * chunks underneath stay the same objects. Entries go away with the batch.
 */
const cache = new WeakMap<object, ChunkCache>();

/**
 * Sequential reader of a document or JSON column: `value(i)` is the row's Value and
 * `parsed(i)` its parse, taken from (or added to) the cache. Rows must be read in increasing
 * order, as the kernel does.
 */
export class DocumentColumn {
  private chunk = -1;
  private chunkStart = 0;
  private chunkEnd = 0;
  private current: { readonly vector: Vector; readonly cache: ChunkCache } | undefined;

  constructor(private readonly vector: Vector) {}

  value(row: number): Value {
    const { vector, cache: entry } = this.seek(row);
    const i = row - this.chunkStart;
    let value = entry.values[i];
    if (value === undefined) {
      value = toValue(vector.get(i));
      entry.values[i] = value;
    }
    return value;
  }

  /** The parse of row `row`'s value (not null). */
  parsed(row: number): JsonValue {
    const { cache: entry } = this.seek(row);
    const i = row - this.chunkStart;
    let parsed = entry.parsed[i];
    if (parsed === undefined) {
      parsed = jsonArg(this.value(row));
      entry.parsed[i] = parsed;
    }
    return parsed;
  }

  private seek(row: number): { readonly vector: Vector; readonly cache: ChunkCache } {
    if (this.current !== undefined && row >= this.chunkStart && row < this.chunkEnd)
      return this.current;
    if (row < this.chunkStart) {
      this.chunk = -1;
      this.chunkEnd = 0;
    }
    while (row >= this.chunkEnd) {
      this.chunk++;
      const data = this.vector.data[this.chunk];
      if (data === undefined) throw new RangeError(`row ${row} is past the end of the vector`);
      this.chunkStart = this.chunkEnd;
      this.chunkEnd += data.length;
      let entry = cache.get(data);
      if (entry === undefined) {
        entry = {
          values: new Array<Value | undefined>(data.length),
          parsed: new Array<JsonValue | undefined>(data.length),
        };
        cache.set(data, entry);
      }
      this.current = { vector: this.chunkVector(data), cache: entry };
    }
    if (this.current === undefined)
      throw new RangeError(`row ${row} is past the end of the vector`);
    return this.current;
  }

  private chunkVector(data: Vector['data'][number]): Vector {
    return this.vector.data.length === 1 ? this.vector : makeVector(data);
  }
}
