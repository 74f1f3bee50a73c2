import { isJsonObject, type JsonObject, type JsonValue } from './json-value.js';
import { sortObject } from './key-order.js';

/**
 * RFC 7396 JSON Merge Patch: a non-object patch replaces the target; an object patch is
 * applied key by key to the target (to `{}` when the target is not an object), `null`
 * removing a key and any other value being merged recursively. Inputs are not modified.
 */
export function mergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return patch;
  const base: JsonObject = isJsonObject(target) ? target : new Map<string, JsonValue>();
  const result = new Map(base);
  for (const [key, value] of patch) {
    if (value === null) result.delete(key);
    else result.set(key, mergePatch(base.get(key) ?? null, value));
  }
  return sortObject(result);
}
