import { isJsonArray, isJsonObject, type JsonValue } from './json-value.js';

/**
 * `doc #> path` (jsonb_get_element): follows object keys and array indexes; undefined when
 * the path does not exist (SQL NULL). An empty path gives the document itself. Array elements
 * are addressed by integer text as Postgres reads it with strtoint(): leading whitespace and a
 * sign are allowed, trailing characters are not, and negative indexes count from the end. A
 * scalar has no elements, not even at index 0.
 */
export function getPath(doc: JsonValue, path: readonly string[]): JsonValue | undefined {
  let current: JsonValue = doc;
  for (const key of path) {
    let next: JsonValue | undefined;
    if (isJsonObject(current)) {
      next = current.get(key);
    } else if (isJsonArray(current)) {
      const index = parseArrayIndex(key);
      if (index === undefined) return undefined;
      next = current[index < 0 ? current.length + index : index];
    } else {
      return undefined;
    }
    if (next === undefined) return undefined;
    current = next;
  }
  return current;
}

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

/**
 * C's strtol(text, &end, 10) followed by Postgres's checks: the whole text must be consumed
 * and the value must fit in int4 (INT_MIN itself is rejected for negative subscripts).
 */
export function parseArrayIndex(text: string): number | undefined {
  let i = 0;
  while (i < text.length && isCSpace(text.charCodeAt(i))) i++;
  let negative = false;
  const sign = text.charCodeAt(i);
  if (sign === 0x2b || sign === 0x2d) {
    negative = sign === 0x2d;
    i++;
  }
  const digitsStart = i;
  let value = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
    value = value * 10 + (c - 0x30);
    if (value > INT32_MAX + 1) return undefined;
  }
  if (i === digitsStart) return undefined;
  const index = negative ? -value : value;
  return index <= INT32_MIN || index > INT32_MAX ? undefined : index;
}

/** isspace() in the C locale: space, \t, \n, \v, \f, \r. */
function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
