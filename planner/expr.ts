import type { Vector } from 'apache-arrow';
import { vectorValue } from '../udf/kernel.js';
import type { DocFusionFunction, ScalarFn, Value } from '../udf/function.js';

export type CompareOp = '=' | '<>' | '<' | '<=' | '>' | '>=';

/** An expression the proxy evaluates over a batch (small immutable nodes with a `kind`). */
export type Expr =
  /** A column of the pushed query (computed by Postgres). */
  | { readonly kind: 'column'; readonly index: number }
  | { readonly kind: 'const'; readonly value: Value }
  | {
      readonly kind: 'call';
      readonly fn: DocFusionFunction;
      readonly args: readonly Expr[];
      readonly scalar: ScalarFn;
    }
  | { readonly kind: 'compare'; readonly op: CompareOp; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'bool'; readonly op: 'and' | 'or'; readonly args: readonly Expr[] }
  | { readonly kind: 'not'; readonly arg: Expr }
  | { readonly kind: 'nulltest'; readonly arg: Expr; readonly isNull: boolean };

/** Reads the value of a pushed column in a row. */
export type ColumnReader = (index: number, row: number) => Value;

/** Calls already evaluated over the whole batch by their Arrow kernels. */
export type KernelResults = ReadonlyMap<Expr, Vector>;

/** How a comparison orders its two (non-null) operands. */
export type Ordering = (a: Exclude<Value, null>, b: Exclude<Value, null>) => number;

/** What evaluating an expression reads besides the expression itself. */
export interface EvalEnv {
  readonly column: ColumnReader;
  /** Calls whose kernel ran over the batch. */
  readonly kernels?: KernelResults | undefined;
  /**
   * The order of each comparison node, from its operands' types (see expr-types.ts); a node
   * not in it compares with `compareValues`.
   */
  readonly orderings?: ReadonlyMap<Expr, Ordering> | undefined;
}

/**
 * Evaluate `expr` for one row (SQL three-valued logic; NULL is null). A call whose kernel ran
 * over the batch is read from `env.kernels`.
 */
export function evaluate(expr: Expr, row: number, env: EvalEnv): Value {
  switch (expr.kind) {
    case 'column':
      return env.column(expr.index, row);
    case 'const':
      return expr.value;
    case 'call': {
      const computed = env.kernels?.get(expr);
      if (computed !== undefined) return vectorValue(computed, row);
      const args: Value[] = [];
      for (const arg of expr.args) {
        const value = evaluate(arg, row, env);
        if (value === null) return null; // every DocFusion function is strict
        args.push(value);
      }
      return expr.scalar(args);
    }
    case 'compare': {
      const left = evaluate(expr.left, row, env);
      const right = evaluate(expr.right, row, env);
      if (left === null || right === null) return null;
      const order = env.orderings?.get(expr) ?? compareValues;
      return holds(expr.op, order(left, right));
    }
    case 'bool': {
      let sawNull = false;
      for (const arg of expr.args) {
        const value = evaluate(arg, row, env);
        if (value === null) sawNull = true;
        else if (expr.op === 'and' && value === false) return false;
        else if (expr.op === 'or' && value === true) return true;
      }
      return sawNull ? null : expr.op === 'and';
    }
    case 'not': {
      const value = evaluate(expr.arg, row, env);
      return value === null ? null : value !== true;
    }
    case 'nulltest': {
      const value = evaluate(expr.arg, row, env);
      return (value === null) === expr.isNull;
    }
  }
}

/** Every node of an expression, parents before children. */
export function forEachExpr(expr: Expr, visit: (node: Expr) => void): void {
  visit(expr);
  switch (expr.kind) {
    case 'call':
    case 'bool':
      for (const arg of expr.args) forEachExpr(arg, visit);
      break;
    case 'compare':
      forEachExpr(expr.left, visit);
      forEachExpr(expr.right, visit);
      break;
    case 'not':
    case 'nulltest':
      forEachExpr(expr.arg, visit);
      break;
    default:
      break;
  }
}

function holds(op: CompareOp, order: number): boolean {
  switch (op) {
    case '=':
      return order === 0;
    case '<>':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
  }
}

/**
 * Order two non-null values as Postgres would for the types at hand: numbers numerically (an
 * untyped literal takes the other side's type), booleans false < true, text by bytes (the C
 * collation; see docs/planner.md), arrays element by element.
 */
export function compareValues(a: Exclude<Value, null>, b: Exclude<Value, null>): number {
  if (
    typeof a === 'bigint' ||
    typeof b === 'bigint' ||
    typeof a === 'number' ||
    typeof b === 'number'
  ) {
    const x = exactInteger(toNumber(a));
    const y = exactInteger(toNumber(b));
    if (typeof x === 'bigint' && typeof y === 'bigint') return x < y ? -1 : x > y ? 1 : 0;
    const nx = Number(x);
    const ny = Number(y);
    if (Number.isNaN(nx) || Number.isNaN(ny))
      return Number.isNaN(nx) ? (Number.isNaN(ny) ? 0 : 1) : -1;
    return nx < ny ? -1 : nx > ny ? 1 : 0;
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') {
    const x = typeof a === 'boolean' ? a : parseBoolean(String(a));
    const y = typeof b === 'boolean' ? b : parseBoolean(String(b));
    return x === y ? 0 : x ? 1 : -1;
  }
  if (typeof a === 'string' && typeof b === 'string')
    return Buffer.compare(Buffer.from(a), Buffer.from(b));
  const x = asList(a);
  const y = asList(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i] ?? null;
    const q = y[i] ?? null;
    if (p === q) continue;
    if (p === null) return 1;
    if (q === null) return -1;
    const c = Buffer.compare(Buffer.from(p), Buffer.from(q));
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

function asList(value: Exclude<Value, null>): readonly (string | null)[] {
  if (typeof value === 'object') return value;
  return typeof value === 'string' ? parseTextArray(value) : [String(value)];
}

/** An integral double is compared exactly, as the bigint it is. */
function exactInteger(value: number | bigint): number | bigint {
  return typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : value;
}

/** boolin: t, true, y, yes, on, 1 (and unique prefixes), any case; the rest is false. */
export function parseBoolean(text: string): boolean {
  return /^\s*(?:t(?:r(?:ue?)?)?|y(?:es?)?|on|1)\s*$/i.test(text);
}

/** A one-dimensional array literal ('{a,"b c",NULL}') as its elements; anything else as one. */
export function parseTextArray(text: string): (string | null)[] {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return [text];
  const body = trimmed.slice(1, -1);
  const out: (string | null)[] = [];
  if (body.trim() === '') return out;
  let i = 0;
  while (i <= body.length) {
    while (body[i] === ' ') i++;
    if (body[i] === '"') {
      let value = '';
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') i++;
        value += body[i] ?? '';
        i++;
      }
      out.push(value);
      i++;
    } else {
      const end = body.indexOf(',', i);
      const raw = body.slice(i, end < 0 ? body.length : end).trim();
      out.push(raw.toUpperCase() === 'NULL' ? null : raw);
      i = end < 0 ? body.length : end;
    }
    while (body[i] === ' ') i++;
    if (body[i] !== ',') break;
    i++;
  }
  return out;
}

function toNumber(value: Exclude<Value, null>): number | bigint {
  if (typeof value === 'bigint' || typeof value === 'number') return value;
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) return BigInt(value.trim());
  return Number(value);
}

/** Does `expr` produce a value only the proxy computes (contains a residual call)? */
export function describeExpr(expr: Expr, columns: readonly string[]): string {
  switch (expr.kind) {
    case 'column':
      return columns[expr.index] ?? `#${String(expr.index)}`;
    case 'const':
      return expr.value === null ? 'NULL' : `'${String(expr.value)}'`;
    case 'call':
      return `${expr.fn.name}(${expr.args.map((a) => describeExpr(a, columns)).join(', ')})`;
    case 'compare':
      return `${describeExpr(expr.left, columns)} ${expr.op} ${describeExpr(expr.right, columns)}`;
    case 'bool':
      return `(${expr.args.map((a) => describeExpr(a, columns)).join(` ${expr.op.toUpperCase()} `)})`;
    case 'not':
      return `NOT ${describeExpr(expr.arg, columns)}`;
    case 'nulltest':
      return `${describeExpr(expr.arg, columns)} IS ${expr.isNull ? '' : 'NOT '}NULL`;
  }
}
