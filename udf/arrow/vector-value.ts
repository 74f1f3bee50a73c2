import { Vector } from 'apache-arrow';
import type { Value } from '../function.js';

const decoder = new TextDecoder();

/**
 * Row `index` of an Arrow vector as a Value: Utf8 → string, Bool → boolean, Int64 → bigint,
 * Int32 and Float64 → number, List<Utf8> → array of strings (null elements kept), a null slot
 * → null. Binary (bytes of JSON text) decodes as UTF-8.
 */
export function vectorValue(vector: Vector, index: number): Value {
  return toValue(vector.get(index));
}

/** A value read from an Arrow vector (`vector.get`) as a Value. */
export function toValue(raw: unknown): Value {
  if (raw === null || raw === undefined) return null;
  switch (typeof raw) {
    case 'string':
    case 'boolean':
    case 'number':
    case 'bigint':
      return raw;
    default:
      break;
  }
  if (raw instanceof Vector) {
    const items: (string | null)[] = [];
    for (const item of raw) items.push(listItem(item));
    return items;
  }
  if (raw instanceof Uint8Array) return decoder.decode(raw);
  throw new Error(`no DocFusion value for an Arrow ${Object.prototype.toString.call(raw)}`);
}

function listItem(item: unknown): string | null {
  const value = toValue(item);
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'object') throw new Error('nested lists are not DocFusion values');
  return String(value);
}
