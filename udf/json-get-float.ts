import { PG } from './function.js';
import { JsonNumber } from './jsonb/json-number.js';
import { pathFunction } from './support/path-function.js';

/**
 * `json_get_float(doc [, key …])` → double precision: the number at the path as the nearest
 * double (what `::float8` gives), NULL when the value is not a number or when that conversion
 * would fail in Postgres: beyond ±1.7976931348623157e308, or non-zero but below the smallest
 * subnormal (subnormals are kept). Numeric strings are not numbers.
 */
export const jsonGetFloat = pathFunction({
  name: 'json_get_float',
  returns: PG.float8,
  summary:
    'The number at the path as double precision; NULL when it is not a number or is out of double precision range.',
  result: (value) => (value instanceof JsonNumber ? value.toFloat64() : null),
  // jsonpath's .double() converts exactly as ::float8 does, and silently fails where it would.
  pushdown: (value) =>
    `CASE WHEN jsonb_typeof(${value}) = 'number' AND jsonb_path_exists(${value}, 'strict $.double()', '{}', true) ` +
    `THEN (${value})::float8 END`,
});
