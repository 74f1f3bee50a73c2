import { PG, type DocFusionFunction } from './function.js';
import { JsonNumber } from './jsonb/json-number.js';
import type { JsonValue } from './jsonb/json-value.js';
import { getPath } from './jsonb/path.js';
import { serializeJsonb } from './jsonb/serialize.js';
import { bindJson, bindKeys, strict } from './support/json-args.js';
import { pathTextSql } from './support/pushdown-sql.js';

/** `json_extract_path(doc, key, …)`: the value at the path as text, like `doc #>> ARRAY[keys]`. */
export const jsonExtractPath: DocFusionFunction = {
  name: 'json_extract_path',
  params: ['document', 'key'],
  variadic: 'key',
  minArgs: 2,
  returns: PG.text,
  volatility: 'immutable',
  signature: 'json_extract_path(doc jsonb, key text [, key text ...])',
  summary:
    'The value at the path as text, like doc #>> ARRAY[keys]: strings unquoted, objects and arrays as jsonb text, JSON null and missing paths as NULL.',
  pushdown: pathTextSql,
  bind: (constants) => {
    const doc = bindJson(constants, 0);
    const keys = bindKeys(constants, 1);
    return strict((args) => jsonbText(getPath(doc(args), keys(args))));
  },
};

/** A JSON value as `#>>` prints it; JSON null and missing values are SQL NULL. */
export function jsonbText(value: JsonValue | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof JsonNumber) return value.text;
  return serializeJsonb(value);
}
