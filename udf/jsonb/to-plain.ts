import { JsonNumber } from './json-number.js';
import { isJsonObject, type JsonValue } from './json-value.js';

/** A plain JS value as JSON.parse would give it (for ajv). */
export type PlainJson =
  null | boolean | number | string | PlainJson[] | { [key: string]: PlainJson };

/**
 * The value as plain JS data: numbers become JS numbers (nearest double), objects become
 * prototype-free records so that keys such as `__proto__` stay ordinary properties.
 */
export function toPlainJson(value: JsonValue): PlainJson {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (value instanceof JsonNumber) return value.toNumber();
  if (isJsonObject(value)) {
    const record: Record<string, PlainJson> = Object.create(null) as Record<string, PlainJson>;
    for (const [key, item] of value) {
      Object.defineProperty(record, key, {
        value: toPlainJson(item),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return record;
  }
  return value.map(toPlainJson);
}
