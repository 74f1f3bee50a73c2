import type { DocFusionFunction } from './function.js';
import { jsonArrayLength } from './json-array-length.js';
import { jsonContains } from './json-contains.js';
import { jsonExists } from './json-exists.js';
import { jsonExtractPath } from './json-extract-path.js';
import { jsonGetBool } from './json-get-bool.js';
import { jsonGetFloat } from './json-get-float.js';
import { jsonGetInt } from './json-get-int.js';
import { jsonKeys } from './json-keys.js';
import { jsonMergePatch } from './json-merge-patch.js';
import { jsonMultiContains } from './json-multi-contains.js';
import { jsonSchemaValid } from './json-schema-valid.js';
import { jsonTypeof } from './json-typeof.js';

const ALL: readonly DocFusionFunction[] = [
  jsonExtractPath,
  jsonContains,
  jsonMultiContains,
  jsonExists,
  jsonTypeof,
  jsonArrayLength,
  jsonGetInt,
  jsonGetFloat,
  jsonGetBool,
  jsonKeys,
  jsonSchemaValid,
  jsonMergePatch,
];

/** Every DocFusion function by name (lower case, as Postgres folds unquoted identifiers). */
export function registerAll(): ReadonlyMap<string, DocFusionFunction> {
  return new Map(ALL.map((fn) => [fn.name, fn]));
}

const registry = registerAll();

/**
 * The function called `name`: unquoted identifiers match case-insensitively (Postgres folds
 * them to lower case); pass `quoted` for a quoted identifier, which must match exactly.
 */
export function lookupFunction(name: string, quoted = false): DocFusionFunction | undefined {
  return registry.get(quoted ? name : name.toLowerCase());
}

/** Whether `fn` accepts `count` arguments. */
export function acceptsArgCount(fn: DocFusionFunction, count: number): boolean {
  return count >= fn.minArgs && (fn.variadic !== undefined || count <= fn.params.length);
}
