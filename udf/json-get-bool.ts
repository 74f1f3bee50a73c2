import { PG } from './function.js';
import { pathFunction } from './support/path-function.js';

/** `json_get_bool(doc [, key …])` → boolean: the JSON boolean at the path, else NULL. */
export const jsonGetBool = pathFunction({
  name: 'json_get_bool',
  returns: PG.bool,
  summary:
    'The boolean at the path; NULL when the value is not a JSON boolean (strings "true" included).',
  result: (value) => (typeof value === 'boolean' ? value : null),
  pushdown: (value) =>
    `CASE ${value} WHEN 'true'::jsonb THEN true WHEN 'false'::jsonb THEN false END`,
});
