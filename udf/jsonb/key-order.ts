import type { JsonObject, JsonValue } from './json-value.js';

/**
 * jsonb's key order: shorter keys first (by UTF-8 byte length), then bytewise. Bytewise order
 * of UTF-8 is code point order, which differs from JS's UTF-16 order only between astral
 * characters (surrogates) and U+E000–U+FFFF; `fixup` maps UTF-16 units so that it agrees.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const lengthA = utf8Length(a);
  const lengthB = utf8Length(b);
  return lengthA !== lengthB ? lengthA - lengthB : compareCodePoints(a, b);
}

/** Code point order (= UTF-8 byte order) of two strings. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}

function fixup(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Bytes in the UTF-8 encoding of a well-formed string. */
export function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) continue;
    // 2 bytes below U+0800, 3 for other BMP characters, 4 per surrogate pair (2 + 2).
    bytes += unit < 0x800 || (unit >= 0xd800 && unit < 0xe000) ? 1 : 2;
  }
  return bytes;
}

/**
 * An object from key/value pairs in any order: a later duplicate key replaces an earlier one
 * (as jsonb keeps the last), and keys come out in jsonb order.
 */
export function makeObject(entries: Iterable<readonly [string, JsonValue]>): JsonObject {
  const keys: string[] = [];
  const values: JsonValue[] = [];
  for (const [key, value] of entries) {
    keys.push(key);
    values.push(value);
  }
  return objectFromPairs(keys, values);
}

/** The same entries in jsonb key order (the map itself when it already is). */
export function sortObject(map: ReadonlyMap<string, JsonValue>): JsonObject {
  return map.size < 2 ? map : objectFromPairs([...map.keys()], [...map.values()]);
}

/**
 * The object with `keys[i]` → `values[i]`, keys in jsonb order, the last of duplicate keys
 * winning. Input already in order (as jsonb text always is) is not sorted again.
 */
export function objectFromPairs(keys: readonly string[], values: readonly JsonValue[]): JsonObject {
  let previousKey = '';
  let previousLength = -1;
  for (const key of keys) {
    const length = utf8Length(key);
    if (
      length < previousLength ||
      (length === previousLength && compareCodePoints(previousKey, key) >= 0)
    ) {
      return sortedObject(keys, values);
    }
    previousKey = key;
    previousLength = length;
  }
  const result = new Map<string, JsonValue>();
  for (let i = 0; i < keys.length; i++) result.set(keys[i] ?? '', values[i] ?? null);
  return result;
}

function sortedObject(keys: readonly string[], values: readonly JsonValue[]): JsonObject {
  const lengths = keys.map(utf8Length);
  // A stable sort keeps duplicates in input order, so the last of each run is the one kept.
  const order = keys
    .map((_, i) => i)
    .sort((i, j) => {
      const dl = (lengths[i] ?? 0) - (lengths[j] ?? 0);
      return dl !== 0 ? dl : compareCodePoints(keys[i] ?? '', keys[j] ?? '');
    });
  const result = new Map<string, JsonValue>();
  for (let k = 0; k < order.length; k++) {
    const i = order[k] ?? 0;
    const next = order[k + 1];
    if (next !== undefined && keys[next] === keys[i]) continue;
    result.set(keys[i] ?? '', values[i] ?? null);
  }
  return result;
}
