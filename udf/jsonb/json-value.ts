import { JsonNumber } from './json-number.js';

/**
 * A JSON value modelled on Postgres jsonb: objects are Maps whose keys are unique and kept in
 * jsonb's storage order (see key-order.ts), numbers are Postgres numerics (JsonNumber).
 * Values are shared between functions by the parse cache, so they are never mutated.
 */
export type JsonValue = null | boolean | string | JsonNumber | JsonArray | JsonObject;
export type JsonArray = readonly JsonValue[];
export type JsonObject = ReadonlyMap<string, JsonValue>;

/** The name jsonb_typeof gives each kind of value. */
export type JsonType = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export function isJsonObject(value: JsonValue): value is JsonObject {
  return value instanceof Map;
}

export function isJsonArray(value: JsonValue): value is JsonArray {
  return Array.isArray(value);
}

/** True for objects and arrays. */
export function isContainer(value: JsonValue): value is JsonObject | JsonArray {
  return value instanceof Map || Array.isArray(value);
}

export function jsonTypeOf(value: JsonValue): JsonType {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'string';
  if (value instanceof JsonNumber) return 'number';
  return value instanceof Map ? 'object' : 'array';
}
