import { PG } from './function.js';
import { isJsonObject } from './jsonb/json-value.js';
import { pathFunction } from './support/path-function.js';

/** `json_keys(doc [, key …])` → text[]: the keys of the object at the path in jsonb order. */
export const jsonKeys = pathFunction({
  name: 'json_keys',
  returns: PG.textArray,
  summary:
    "The keys of the object at the path, in jsonb's order (shorter keys first, then bytewise); NULL when the value is not an object.",
  result: (value) => (value !== undefined && isJsonObject(value) ? [...value.keys()] : null),
  // A sub-select without FROM adds no names that could capture the document's column.
  pushdown: (value) =>
    `CASE WHEN jsonb_typeof(${value}) = 'object' THEN ARRAY(SELECT jsonb_object_keys(${value})) END`,
});
