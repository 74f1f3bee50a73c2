import type { Vector } from 'apache-arrow';

/** A Postgres type a DocFusion function takes or returns, by name and OID. */
export interface PgType {
  readonly name: string;
  readonly oid: number;
}

export const PG = {
  bool: { name: 'boolean', oid: 16 },
  int8: { name: 'bigint', oid: 20 },
  int4: { name: 'integer', oid: 23 },
  text: { name: 'text', oid: 25 },
  json: { name: 'json', oid: 114 },
  float8: { name: 'double precision', oid: 701 },
  numeric: { name: 'numeric', oid: 1700 },
  jsonb: { name: 'jsonb', oid: 3802 },
  textArray: { name: 'text[]', oid: 1009 },
} as const satisfies Record<string, PgType>;

/**
 * How an argument is used. `document`: a JSON document (jsonb, json or text holding JSON);
 * `json`: a JSON value such as a pattern, schema or patch; `key`: a text path element.
 */
export type ArgRole = 'document' | 'json' | 'key';

/**
 * A value in the proxy's evaluator, by Postgres type: text, json and jsonb are strings (JSON
 * text; jsonb in Postgres's canonical output form), boolean is boolean, bigint is bigint,
 * integer and double precision are number, text[] is an array of strings (elements may be
 * null). SQL NULL is null.
 */
export type Value = string | boolean | number | bigint | readonly (string | null)[] | null;

/** One evaluation of the function over a row's argument values (already bound). */
export type ScalarFn = (args: readonly Value[]) => Value;

/**
 * A DocFusion function: one file in udf/ each, collected by `registerAll()`.
 * Every function is strict: a NULL argument gives NULL without calling `bind`'s result.
 */
export interface DocFusionFunction {
  readonly name: string;
  /** Leading arguments, in order. */
  readonly params: readonly ArgRole[];
  /** Repeated trailing arguments (path keys), if any; `minArgs` says how many are required. */
  readonly variadic?: ArgRole;
  readonly minArgs: number;
  readonly returns: PgType;
  readonly volatility: 'immutable' | 'stable' | 'volatile';
  /** As shown in 42883 hints, e.g. `json_extract_path(doc jsonb, key text [, key text ...])`. */
  readonly signature: string;
  /** One sentence for docs/functions.md and EXPLAIN. */
  readonly summary: string;
  /**
   * Native SQL equal to the call, given the SQL text of each argument: documents and json
   * arguments arrive already of type jsonb (the planner adds casts), keys as text expressions.
   * Absent when only the proxy can evaluate the function.
   */
  readonly pushdown?: (args: readonly string[]) => string;
  /**
   * Prepare an evaluator for one statement. `constants[i]` is the value of argument i when it is
   * known at plan time (a literal), else undefined: the fast path for constant patterns and
   * schemas (parse or compile once). Throws a PgError for bad constant input (22P02, 22023).
   */
  readonly bind: (constants: readonly (Value | undefined)[]) => ScalarFn;
}

/** An argument of a kernel call: a column of the batch or a constant. */
export type KernelArg =
  | { readonly kind: 'vector'; readonly vector: Vector }
  | { readonly kind: 'constant'; readonly value: Value };
