import type { DocFusionFunction, PgType, Value } from '../function.js';
import type { JsonValue } from '../jsonb/json-value.js';
import { getPath } from '../jsonb/path.js';
import { bindJson, bindKeys, strict } from './json-args.js';
import { pathValueSql } from './pushdown-sql.js';

/** What distinguishes one typed path helper (json_typeof, json_get_int, …) from another. */
export interface PathFunctionSpec {
  readonly name: string;
  readonly returns: PgType;
  readonly summary: string;
  /** The result for the value at the path (undefined when the path does not exist). */
  readonly result: (value: JsonValue | undefined) => Value;
  /** Native SQL given the SQL of the value at the path (`doc #> path`) and all arguments. */
  readonly pushdown: (value: string, args: readonly string[]) => string;
}

/**
 * A function `name(doc [, key ...])` of the value at the path given by the keys (no keys: the
 * document itself), with `#>` path semantics (see jsonb/path.ts).
 */
export function pathFunction(spec: PathFunctionSpec): DocFusionFunction {
  return {
    name: spec.name,
    params: ['document'],
    variadic: 'key',
    minArgs: 1,
    returns: spec.returns,
    volatility: 'immutable',
    signature: `${spec.name}(doc jsonb [, key text ...])`,
    summary: spec.summary,
    pushdown: (args) => spec.pushdown(pathValueSql(args), args),
    bind: (constants) => {
      const doc = bindJson(constants, 0);
      const keys = bindKeys(constants, 1);
      return strict((args) => spec.result(getPath(doc(args), keys(args))));
    },
  };
}
