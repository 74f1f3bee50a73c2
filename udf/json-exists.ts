import { PG } from './function.js';
import { pathFunction } from './support/path-function.js';
import { noNullsSql } from './support/pushdown-sql.js';

/**
 * `json_exists(doc [, key …])`: whether the path exists, even when its value is JSON null.
 * Pushed down with `#>` (exact) rather than `?`: `doc ? 'k'` is also true for an array holding
 * the string 'k' and false for an array index, so it is not the same test.
 */
export const jsonExists = pathFunction({
  name: 'json_exists',
  returns: PG.bool,
  summary: 'True when the path exists in the document, even if its value is JSON null.',
  result: (value) => value !== undefined,
  pushdown: (value, args) => `CASE WHEN ${noNullsSql(args)} THEN ${value} IS NOT NULL END`,
});
