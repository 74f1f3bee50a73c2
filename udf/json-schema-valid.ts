import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { PgError, SqlState } from '../protocol/pg-error.js';
import { PG, type DocFusionFunction, type Value } from './function.js';
import { serializeJsonb } from './jsonb/serialize.js';
import { toPlainJson } from './jsonb/to-plain.js';
import { bindJson, jsonArg, strict } from './support/json-args.js';

/**
 * One ajv instance for every schema: `addUsedSchema: false` keeps compiled schemas out of its
 * registry, so two schemas with the same `$id` do not collide; `strict: false` accepts unknown
 * keywords and formats as annotations, as JSON Schema 2020-12 does.
 */
const ajv = new Ajv2020({ strict: false, logger: false, addUsedSchema: false, allErrors: false });

/** Compiled validators by schema text, most recently used last. */
const compiled = new Map<string, ValidateFunction>();
const CACHE_SIZE = 256;

/**
 * `json_schema_valid(doc, schema)`: whether the document is valid against the JSON Schema
 * (2020-12, ajv). Runs only in the proxy. Numbers reach the validator as JS doubles.
 */
export const jsonSchemaValid: DocFusionFunction = {
  name: 'json_schema_valid',
  params: ['document', 'json'],
  minArgs: 2,
  returns: PG.bool,
  volatility: 'immutable',
  signature: 'json_schema_valid(doc jsonb, schema jsonb)',
  summary:
    'True when the document is valid against the JSON Schema (draft 2020-12, via ajv); evaluated only in the proxy.',
  bind: (constants) => {
    const doc = bindJson(constants, 0);
    const constant = constants[1];
    if (constant !== undefined && constant !== null) {
      const validate = validator(constant);
      return strict((args) => validate(toPlainJson(doc(args))));
    }
    return strict((args) => validator(args[1] ?? null)(toPlainJson(doc(args))));
  },
};

/** The compiled validator of a schema argument, compiled once per schema text. */
function validator(schema: Value): ValidateFunction {
  const text = typeof schema === 'string' ? schema : serializeJsonb(jsonArg(schema));
  let validate = compiled.get(text);
  if (validate !== undefined) {
    compiled.delete(text);
    compiled.set(text, validate);
    return validate;
  }
  const parsed = toPlainJson(jsonArg(text));
  if (
    typeof parsed !== 'boolean' &&
    (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
  ) {
    throw invalidSchema('a JSON Schema must be an object or a boolean');
  }
  try {
    validate = ajv.compile(parsed);
  } catch (error) {
    throw invalidSchema(error instanceof Error ? error.message : String(error));
  }
  compiled.set(text, validate);
  if (compiled.size > CACHE_SIZE) {
    const oldest = compiled.keys().next();
    if (oldest.done !== true) compiled.delete(oldest.value);
  }
  return validate;
}

function invalidSchema(message: string): PgError {
  return new PgError(SqlState.InvalidParameterValue, `invalid JSON Schema: ${message}`);
}
