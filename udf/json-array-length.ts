import { PG } from './function.js';
import { isJsonArray } from './jsonb/json-value.js';
import { pathFunction } from './support/path-function.js';

/** `json_array_length(doc [, key …])`: the length of the array at the path, else NULL. */
export const jsonArrayLength = pathFunction({
  name: 'json_array_length',
  returns: PG.int4,
  summary:
    'The number of elements of the array at the path; NULL when the value is not an array or the path is missing (never an error).',
  result: (value) => (value !== undefined && isJsonArray(value) ? value.length : null),
  pushdown: (value) =>
    `CASE WHEN jsonb_typeof(${value}) = 'array' THEN jsonb_array_length(${value}) END`,
});
