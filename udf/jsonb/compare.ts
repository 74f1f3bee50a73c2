import { JsonNumber, compareDecimalText } from './json-number.js';
import { isJsonArray, isJsonObject, type JsonValue } from './json-value.js';
import { compareCodePoints } from './key-order.js';
import { quoteJsonString } from './serialize.js';

/**
 * jsonb's btree order (compareJsonbContainers), for ORDER BY, `<` and friends in the proxy:
 * - by kind first: null < string < number < boolean < array < object;
 * - arrays with fewer elements first, then element by element;
 * - objects with fewer pairs first, then pair by pair in jsonb's storage order (shorter keys
 *   first), comparing each key and then its value;
 * - strings by code point (the C collation, as the proxy compares text), numbers as numerics
 *   (`1.0` = `1`), false < true.
 *
 * A top-level scalar is stored as a one-element "raw scalar" array, and Postgres compares it as
 * one: it sorts after an empty array and before every other array, and before every object.
 */
export function compareJsonb(a: JsonValue, b: JsonValue): number {
  const aArray = isJsonArray(a);
  const bArray = isJsonArray(b);
  const aObject = isJsonObject(a);
  const bObject = isJsonObject(b);
  if (aObject || bObject) return aObject && bObject ? compareNested(a, b) : aObject ? 1 : -1;
  if (aArray && bArray) return compareNested(a, b);
  // A raw scalar (one element) against a real array or another raw scalar.
  const aLength = aArray ? a.length : 1;
  const bLength = bArray ? b.length : 1;
  if (aLength !== bLength) return aLength > bLength ? 1 : -1;
  if (aArray !== bArray) return aArray ? 1 : -1;
  return compareNested(aArray ? (a[0] ?? null) : a, bArray ? (b[0] ?? null) : b);
}

/** The order of values below the top level (no raw scalars there). */
function compareNested(a: JsonValue, b: JsonValue): number {
  const kindA = kindRank(a);
  const kindB = kindRank(b);
  if (kindA !== kindB) return kindA < kindB ? -1 : 1;
  if (isJsonObject(a) && isJsonObject(b)) {
    if (a.size !== b.size) return a.size > b.size ? 1 : -1;
    const right = b.entries();
    for (const [keyA, valueA] of a) {
      const next = right.next();
      if (next.done === true) return 1;
      const [keyB, valueB] = next.value;
      const keys = compareCodePoints(keyA, keyB);
      if (keys !== 0) return keys;
      const values = compareNested(valueA, valueB);
      if (values !== 0) return values;
    }
    return 0;
  }
  if (isJsonArray(a) && isJsonArray(b)) {
    if (a.length !== b.length) return a.length > b.length ? 1 : -1;
    for (let i = 0; i < a.length; i++) {
      const c = compareNested(a[i] ?? null, b[i] ?? null);
      if (c !== 0) return c;
    }
    return 0;
  }
  if (a instanceof JsonNumber && b instanceof JsonNumber) return compareDecimalText(a.text, b.text);
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
  return 0; // both null
}

/** jbvNull < jbvString < jbvNumeric < jbvBool < jbvArray < jbvObject. */
function kindRank(value: JsonValue): number {
  if (value === null) return 0;
  if (typeof value === 'string') return 1;
  if (value instanceof JsonNumber) return 2;
  if (typeof value === 'boolean') return 3;
  return isJsonArray(value) ? 4 : 5;
}

/**
 * A string equal for two values exactly when jsonb equality holds (compareJsonb = 0): numbers
 * by value, so `{"v": 1}` and `{"v": 1.0}` have one key. For DISTINCT and GROUP BY.
 */
export function jsonbEqualityKey(value: JsonValue): string {
  const parts: string[] = [];
  writeKey(value, parts);
  return parts.join('');
}

function writeKey(value: JsonValue, out: string[]): void {
  if (value === null) out.push('n');
  else if (typeof value === 'boolean') out.push(value ? 't' : 'f');
  else if (typeof value === 'string') out.push(quoteJsonString(value));
  else if (value instanceof JsonNumber) out.push('#', value.key, ';');
  else if (isJsonObject(value)) {
    out.push('{');
    for (const [key, item] of value) {
      out.push(quoteJsonString(key), ':');
      writeKey(item, out);
      out.push(',');
    }
    out.push('}');
  } else {
    out.push('[');
    for (const item of value) {
      writeKey(item, out);
      out.push(',');
    }
    out.push(']');
  }
}
