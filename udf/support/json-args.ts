import { PgError, SqlState } from '../../protocol/pg-error.js';
import type { Value } from '../function.js';
import { JsonNumber } from '../jsonb/json-number.js';
import type { JsonValue } from '../jsonb/json-value.js';
import { parseJson } from '../jsonb/parse-json.js';

/**
 * Documents already parsed for the row being evaluated, handed over by the kernel from its
 * per-vector cache (arrow/document-cache.ts): a ScalarFn receives Values (JSON text), so the
 * kernel "primes" the parsed form of exactly the strings it passes, and jsonArg finds them
 * there instead of parsing again (comparing a string with itself takes constant time).
 */
const primedTexts: string[] = [];
const primedValues: JsonValue[] = [];

export function primeParsed(text: string, value: JsonValue): void {
  primedTexts.push(text);
  primedValues.push(value);
}

export function clearPrimed(): void {
  primedTexts.length = 0;
  primedValues.length = 0;
}

/**
 * A document or JSON argument as a JSON value. Strings are JSON text (json, jsonb or text
 * holding JSON) and are parsed; other SQL values convert as to_jsonb would convert them.
 */
export function jsonArg(value: Value): JsonValue {
  if (typeof value === 'string') {
    for (let i = 0; i < primedTexts.length; i++) {
      if (primedTexts[i] === value) return primedValues[i] ?? null;
    }
    return parseJson(value);
  }
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return JsonNumber.fromBigInt(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return String(value);
    return JsonNumber.fromNumber(value);
  }
  return value.map((item) => item);
}

/** A path key as text, as the pushdown's `(<key>)::text` cast makes it. */
export function keyArg(value: Value): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  throw new PgError(SqlState.InvalidParameterValue, 'a JSON path key must be a scalar');
}

/** jsonArg for argument `index`, parsed once when its value is a plan-time constant. */
export function bindJson(
  constants: readonly (Value | undefined)[],
  index: number,
): (args: readonly Value[]) => JsonValue {
  const constant = constants[index];
  if (constant !== undefined && constant !== null) {
    const parsed = jsonArg(constant);
    return () => parsed;
  }
  return (args) => jsonArg(args[index] ?? null);
}

/** The path keys from argument `from` on, converted once when all are constants. */
export function bindKeys(
  constants: readonly (Value | undefined)[],
  from: number,
): (args: readonly Value[]) => string[] {
  const keys = constants.slice(from);
  if (keys.every((key) => key !== undefined && key !== null)) {
    const fixed = keys.map(keyArg);
    return (args) => (args.length - from === fixed.length ? fixed : args.slice(from).map(keyArg));
  }
  return (args) => args.slice(from).map(keyArg);
}

/** A ScalarFn that returns NULL when any argument is NULL, as every DocFusion function does. */
export function strict(fn: (args: readonly Value[]) => Value): (args: readonly Value[]) => Value {
  return (args) => (args.includes(null) ? null : fn(args));
}
