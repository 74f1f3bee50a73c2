import { PgError, SqlState } from '../protocol/pg-error.js';
import { PG, type DocFusionFunction } from './function.js';
import { jsonbContains } from './jsonb/contains.js';
import { isJsonObject, jsonTypeOf, type JsonObject, type JsonValue } from './jsonb/json-value.js';
import { bindJson, strict } from './support/json-args.js';

const MESSAGE = 'json_multi_contains: pattern must be a JSON object, got';

/**
 * `json_multi_contains(doc, pattern)`: the pattern must be an object (22023 otherwise); true
 * when the document is an object containing every top-level key/value pair of the pattern
 * (each value contained as `@>` contains it). For an object pattern that is exactly
 * `doc @> pattern`: `{}` is contained in every object and in nothing else. The pushdown
 * raises for a non-object pattern even where the kernel, being strict, would not look at it
 * (a NULL document).
 */
export const jsonMultiContains: DocFusionFunction = {
  name: 'json_multi_contains',
  params: ['document', 'json'],
  minArgs: 2,
  returns: PG.bool,
  volatility: 'immutable',
  signature: 'json_multi_contains(doc jsonb, pattern jsonb)',
  summary:
    'True when the document is an object containing every key/value pair of the object pattern (doc @> pattern); a non-object pattern is an error.',
  pushdown: ([doc = 'NULL', pattern = 'NULL']) =>
    // A non-object pattern raises 22023 (convert_from reports the text it cannot use as an
    // encoding name; that text is a `name`, so it must stay within 63 bytes). Inside the operand, so `doc @> <constant or $n>` stays GIN-indexable:
    // for a constant object pattern Postgres folds the CASE away.
    `((${doc}) @> CASE WHEN jsonb_typeof(${pattern}) <> 'object' ` +
    `THEN convert_from(''::bytea, '${MESSAGE} ' || jsonb_typeof(${pattern}))::jsonb ELSE (${pattern}) END)`,
  bind: (constants) => {
    const doc = bindJson(constants, 0);
    const pattern = bindJson(constants, 1);
    if (constants[1] !== undefined && constants[1] !== null) objectPattern(pattern([]));
    return strict((args) => jsonbContains(doc(args), objectPattern(pattern(args))));
  },
};

function objectPattern(pattern: JsonValue): JsonObject {
  if (isJsonObject(pattern)) return pattern;
  throw new PgError(SqlState.InvalidParameterValue, `${MESSAGE} ${jsonTypeOf(pattern)}`);
}
