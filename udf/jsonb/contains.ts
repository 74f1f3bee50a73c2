import { JsonNumber } from './json-number.js';
import {
  isContainer,
  isJsonArray,
  isJsonObject,
  type JsonArray,
  type JsonObject,
  type JsonValue,
} from './json-value.js';

/**
 * Postgres's `doc @> pattern` (jsonb_contains / JsonbDeepContains): objects contain objects
 * pair by pair, recursively; arrays contain arrays element by element in any order (duplicates
 * allowed); a top-level array contains a bare scalar (jsonb stores a top-level scalar as a
 * one-element "raw scalar" array) but a scalar never contains an array; object vs array never;
 * scalars compare by type and value (numbers numerically: 1.0 = 1).
 */
export function jsonbContains(doc: JsonValue, pattern: JsonValue): boolean {
  const docIsObject = isJsonObject(doc);
  if (docIsObject !== isJsonObject(pattern)) return false;
  if (isJsonObject(doc) && isJsonObject(pattern)) return objectContains(doc, pattern);
  if (!isJsonArray(doc) && isJsonArray(pattern)) return false;
  return arrayContains(asArray(doc), asArray(pattern));
}

/** Equality of two scalars as jsonb defines it (equalsJsonbScalarValue). */
export function scalarEquals(a: JsonValue, b: JsonValue): boolean {
  if (a instanceof JsonNumber) return b instanceof JsonNumber && a.equals(b);
  return a === b;
}

function asArray(value: JsonValue): JsonArray {
  return isJsonArray(value) ? value : [value];
}

function deepContains(value: JsonObject | JsonArray, pattern: JsonObject | JsonArray): boolean {
  if (isJsonObject(value)) return isJsonObject(pattern) && objectContains(value, pattern);
  return !isJsonObject(pattern) && arrayContains(value, pattern);
}

function objectContains(value: JsonObject, pattern: JsonObject): boolean {
  if (value.size < pattern.size) return false;
  for (const [key, wanted] of pattern) {
    const found = value.get(key);
    if (found === undefined) return false;
    if (isContainer(found) && isContainer(wanted)) {
      if (!deepContains(found, wanted)) return false;
    } else if (!scalarEquals(found, wanted)) {
      return false;
    }
  }
  return true;
}

function arrayContains(value: JsonArray, pattern: JsonArray): boolean {
  let containers: (JsonObject | JsonArray)[] | undefined;
  for (const wanted of pattern) {
    if (isContainer(wanted)) {
      containers ??= value.filter(isContainer);
      if (!containers.some((candidate) => deepContains(candidate, wanted))) return false;
    } else if (
      !value.some((candidate) => !isContainer(candidate) && scalarEquals(candidate, wanted))
    ) {
      return false;
    }
  }
  return true;
}
