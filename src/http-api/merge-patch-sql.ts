import { isJsonObject, type JsonValue } from './merge-patch.js';

/**
 * A JSON Merge Patch (RFC 7396) compiled to one SQL expression over a jsonb column, so a bulk
 * update patches every matching row inside Postgres in one statement. The patch's keys and
 * values become Bind parameters (`$n` from `firstParam` on); nothing of it is spliced into the
 * SQL text. Agrees with applyMergePatch (tested with Postgres as the oracle).
 */
export interface CompiledPatch {
  readonly sql: string;
  readonly params: string[];
}

export function compileMergePatch(
  column: string,
  patch: JsonValue,
  firstParam: number,
): CompiledPatch {
  const params: string[] = [];
  const param = (value: string): string => {
    params.push(value);
    return `$${firstParam + params.length - 1}`;
  };
  const compile = (target: string, value: JsonValue): string => {
    if (!isJsonObject(value)) return `${param(JSON.stringify(value))}::jsonb`;
    let expression = `(CASE WHEN jsonb_typeof(${target}) = 'object' THEN ${target} ELSE '{}'::jsonb END)`;
    for (const [key, child] of Object.entries(value)) {
      const keyParam = param(key);
      if (child === null) {
        expression = `(${expression} - ${keyParam}::text)`;
      } else {
        const inner = compile(`(${target} -> ${keyParam}::text)`, child);
        expression = `(${expression} || jsonb_build_object(${keyParam}::text, ${inner}))`;
      }
    }
    return expression;
  };
  return { sql: compile(column, patch), params };
}
