/**
 * One call of a DocFusion function, written three ways:
 * - `docfusion`: the call itself, sent through the proxy;
 * - `native`: hand-written native JSONB SQL with the documented meaning, independent of the
 *   proxy's code (`doc #>> '{a,b}'`, `doc @> p`, pg_input_is_valid for float8 range, ...);
 * - `pushdown`: the function's own `pushdown` SQL from udf/ (what the planner sends upstream).
 * Postgres runs `native` directly as the oracle; `pushdown` is checked against `native` too.
 */
import { lookupFunction } from '../../../udf/registry.js';

export const FUNCTIONS = [
  'json_extract_path',
  'json_contains',
  'json_multi_contains',
  'json_exists',
  'json_typeof',
  'json_array_length',
  'json_get_int',
  'json_get_float',
  'json_get_bool',
  'json_keys',
] as const;
export type FnName = (typeof FUNCTIONS)[number];

/** An argument: a string literal (a path key or JSON text), or an SQL expression. */
export type Arg =
  { readonly lit: string } | { readonly sql: string; readonly type: 'jsonb' | 'text' | 'unknown' };

export const lit = (value: string): Arg => ({ lit: value });
export const col = (sql: string, type: 'jsonb' | 'text' | 'unknown' = 'jsonb'): Arg => ({
  sql,
  type,
});
/** A `$n` parameter (type inferred by Postgres). */
export const param = (n: number): Arg => ({ sql: `$${String(n)}`, type: 'unknown' });

export interface Call {
  readonly fn: FnName;
  readonly args: readonly Arg[];
}

export type DialectName = 'docfusion' | 'native' | 'pushdown';

/** An SQL string literal (standard_conforming_strings on). */
export function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A text[] literal such as `'{"a","b c"}'`, every element quoted. */
export function textArrayLiteral(items: readonly string[]): string {
  const body = items.map((item) => `"${item.replace(/(["\\])/g, '\\$1')}"`).join(',');
  return `${sqlLiteral(`{${body}}`)}::text[]`;
}

function argSql(arg: Arg): string {
  return 'lit' in arg ? sqlLiteral(arg.lit) : arg.sql;
}

/** A document or JSON argument as jsonb. */
function asJsonb(arg: Arg): string {
  if ('lit' in arg) return `${sqlLiteral(arg.lit)}::jsonb`;
  return arg.type === 'jsonb' ? arg.sql : `(${arg.sql})::jsonb`;
}

/** A text[] path from key arguments: a literal when every key is one. */
function pathArray(keys: readonly Arg[]): string {
  const literals = keys.flatMap((k) => ('lit' in k ? [k.lit] : []));
  if (literals.length === keys.length) return textArrayLiteral(literals);
  return `ARRAY[${keys.map((k) => `(${argSql(k)})::text`).join(', ')}]`;
}

/** Conditions making a strict function NULL: NULL arguments that are expressions. */
function strictGuard(args: readonly Arg[]): string {
  const exprs = args.flatMap((a) => ('lit' in a ? [] : [`${a.sql} IS NOT NULL`]));
  return exprs.length === 0 ? 'true' : exprs.join(' AND ');
}

function native(call: Call): string {
  const [docArg, ...rest] = call.args;
  if (docArg === undefined) throw new Error(`${call.fn} without a document`);
  const doc = asJsonb(docArg);
  const value = rest.length === 0 ? doc : `(${doc} #> ${pathArray(rest)})`;
  switch (call.fn) {
    case 'json_extract_path':
      return `(${doc} #>> ${pathArray(rest)})`;
    case 'json_contains':
    case 'json_multi_contains': {
      const pattern = rest[0];
      if (pattern === undefined) throw new Error(`${call.fn} without a pattern`);
      return `(${doc} @> ${asJsonb(pattern)})`;
    }
    case 'json_exists':
      return `CASE WHEN ${strictGuard(call.args)} THEN ${value} IS NOT NULL END`;
    case 'json_typeof':
      return `jsonb_typeof(${value})`;
    case 'json_array_length':
      return `CASE jsonb_typeof(${value}) WHEN 'array' THEN jsonb_array_length(${value}) END`;
    case 'json_get_int':
      return (
        `CASE WHEN jsonb_typeof(${value}) = 'number' AND (${value})::numeric % 1 = 0 ` +
        `AND (${value})::numeric >= -9223372036854775808 AND (${value})::numeric <= 9223372036854775807 ` +
        `THEN (${value})::numeric::int8 END`
      );
    case 'json_get_float':
      // numeric → float8 is float8in(numeric_out(x)): pg_input_is_valid asks the same question.
      return (
        `CASE WHEN jsonb_typeof(${value}) = 'number' AND pg_input_is_valid(${value} #>> '{}', 'float8') ` +
        `THEN (${value} #>> '{}')::float8 END`
      );
    case 'json_get_bool':
      return `CASE WHEN jsonb_typeof(${value}) = 'boolean' THEN (${value})::boolean END`;
    case 'json_keys':
      return (
        `CASE WHEN jsonb_typeof(${value}) = 'object' THEN coalesce((SELECT array_agg(jk.k ORDER BY jk.o) ` +
        `FROM jsonb_object_keys(${value}) WITH ORDINALITY AS jk (k, o)), '{}'::text[]) END`
      );
  }
}

function pushdown(call: Call): string {
  const fn = lookupFunction(call.fn);
  if (fn?.pushdown === undefined) throw new Error(`${call.fn} has no pushdown`);
  return fn.pushdown(
    call.args.map((arg, i) => {
      const role = i < fn.params.length ? fn.params[i] : fn.variadic;
      return role === 'key' ? argSql(arg) : asJsonb(arg);
    }),
  );
}

/** The call in one dialect. */
export function render(call: Call, dialect: DialectName): string {
  switch (dialect) {
    case 'docfusion':
      return `${call.fn}(${call.args.map(argSql).join(', ')})`;
    case 'native':
      return native(call);
    case 'pushdown':
      return pushdown(call);
  }
}

/** A select-list item without an alias: named after the function, as Postgres would name it. */
export function bare(call: Call, dialect: DialectName): string {
  return dialect === 'docfusion' ? render(call, dialect) : `${render(call, dialect)} AS ${call.fn}`;
}

/** Shorthands for building calls. */
export function call(fn: FnName, doc: Arg, ...rest: readonly Arg[]): Call {
  return { fn, args: [doc, ...rest] };
}

export function pathCall(fn: FnName, doc: Arg, path: readonly string[]): Call {
  return call(fn, doc, ...path.map(lit));
}
