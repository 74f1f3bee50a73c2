import { forEachExpr, type Expr, type Ordering } from './expr.js';
import { comparisonOrder } from './value-order.js';
import { OID } from './wire-values.js';

/** The type OID of an expression, given the types of the columns it reads. */
export function exprType(expr: Expr, columnType: (index: number) => number): number {
  switch (expr.kind) {
    case 'call':
      return expr.fn.returns.oid;
    case 'column':
      return columnType(expr.index);
    case 'const':
      if (typeof expr.value === 'bigint') return OID.int8;
      if (typeof expr.value === 'number') return OID.float8;
      if (typeof expr.value === 'boolean') return OID.bool;
      return OID.text;
    default:
      return OID.bool;
  }
}

/**
 * The order of every comparison in `roots`, from its operands' types, added to `into`: a
 * comparison with a jsonb operand compares as jsonb, one with a numeric operand as numeric
 * (see value-order.ts). A quoted literal takes the other operand's type, as an untyped literal
 * does in Postgres.
 */
export function typeComparisons(
  roots: readonly Expr[],
  columnType: (index: number) => number,
  into: Map<Expr, Ordering>,
): void {
  const operandType = (expr: Expr): number | undefined => {
    if (expr.kind !== 'const') return exprType(expr, columnType);
    // A decimal literal (`2.5`) is a numeric in Postgres; a quoted one is untyped.
    if (typeof expr.value === 'number') return OID.numeric;
    return typeof expr.value === 'string' ? undefined : exprType(expr, columnType);
  };
  for (const root of roots) {
    forEachExpr(root, (node) => {
      if (node.kind !== 'compare') return;
      into.set(node, comparisonOrder(operandType(node.left), operandType(node.right)).compare);
    });
  }
}
