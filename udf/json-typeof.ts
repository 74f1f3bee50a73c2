import { PG } from './function.js';
import { jsonTypeOf } from './jsonb/json-value.js';
import { pathFunction } from './support/path-function.js';

/** `json_typeof(doc [, key …])`: jsonb_typeof of the value at the path. */
export const jsonTypeof = pathFunction({
  name: 'json_typeof',
  returns: PG.text,
  summary:
    'The type of the value at the path as jsonb_typeof names it (object, array, string, number, boolean, null); NULL when the path is missing.',
  result: (value) => (value === undefined ? null : jsonTypeOf(value)),
  pushdown: (value) => `jsonb_typeof(${value})`,
});
