/**
 * Pieces of pushdown SQL. Arguments arrive as SQL text: documents and JSON values already of
 * type jsonb, keys as text expressions (literals, columns or `$n` parameters). Every argument
 * is parenthesised, and keys are cast with `(<key>)::text` so that an untyped `$n` or a
 * non-text expression still makes a text[] path.
 */

/** `ARRAY[(<k1>)::text, …]`: a text[] path from key expressions. */
export function pathArraySql(keys: readonly string[]): string {
  if (keys.length === 0) return 'ARRAY[]::text[]';
  return `ARRAY[${keys.map((key) => `(${key})::text`).join(', ')}]`;
}

/** `doc #> path` as jsonb; the document itself for an empty path. */
export function pathValueSql(args: readonly string[]): string {
  const [doc = 'NULL', ...keys] = args;
  if (keys.length === 0) return `(${doc})`;
  return `((${doc}) #> ${pathArraySql(keys)})`;
}

/** `doc #>> path` as text. */
export function pathTextSql(args: readonly string[]): string {
  const [doc = 'NULL', ...keys] = args;
  return `((${doc}) #>> ${pathArraySql(keys)})`;
}

/**
 * `num_nulls((<doc>)::jsonb, (<key>)::text, …) = 0`: true when no argument is NULL
 * (strictness inside a CASE). num_nulls takes VARIADIC "any", so each argument is cast.
 */
export function noNullsSql(args: readonly string[]): string {
  const [doc = 'NULL', ...keys] = args;
  return `num_nulls((${doc})::jsonb${keys.map((key) => `, (${key})::text`).join('')}) = 0`;
}
