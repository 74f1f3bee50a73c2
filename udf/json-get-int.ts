import { PG } from './function.js';
import { JsonNumber } from './jsonb/json-number.js';
import { pathFunction } from './support/path-function.js';

/**
 * `json_get_int(doc [, key …])` → bigint: the number at the path when its value is an integer
 * in bigint range. Never rounds: 1.0 and 1e2 are integers (1, 100), 1.5 is NULL, and so is
 * anything outside -9223372036854775808..9223372036854775807, a numeric string or a boolean.
 */
export const jsonGetInt = pathFunction({
  name: 'json_get_int',
  returns: PG.int8,
  summary:
    'The number at the path as bigint when it is an integral value in bigint range (1.0 counts, 1.5 does not); otherwise NULL.',
  result: (value) => (value instanceof JsonNumber ? value.toInt64() : null),
  pushdown: (value) =>
    `CASE WHEN jsonb_typeof(${value}) = 'number' THEN CASE WHEN (${value})::numeric = trunc((${value})::numeric) ` +
    `AND (${value})::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 THEN (${value})::bigint END END`,
});
