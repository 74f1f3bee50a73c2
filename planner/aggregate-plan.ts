import {
  field,
  fieldList,
  names,
  numberConstant,
  stringConstant,
  text,
  walk,
  type Node,
} from './ast.js';
import type { CompareOp, Expr } from './expr.js';

/** The aggregate functions the proxy computes. */
export type AggregateName =
  'count' | 'sum' | 'avg' | 'min' | 'max' | 'bool_and' | 'bool_or' | 'every' | 'array_agg';

const SUPPORTED = new Set<string>([
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'bool_and',
  'bool_or',
  'every',
  'array_agg',
]);

/** Every aggregate name Postgres has that the residual planner must recognise. */
export const AGGREGATES = new Set([
  ...SUPPORTED,
  'string_agg',
  'json_agg',
  'jsonb_agg',
  'json_object_agg',
  'jsonb_object_agg',
  'stddev',
  'variance',
  'bit_and',
  'bit_or',
]);

export interface AggregateCall {
  readonly name: AggregateName;
  /** Undefined for count(*). */
  readonly arg: Expr | undefined;
  readonly distinct: boolean;
}

/**
 * Hash aggregation in the proxy: group keys and aggregate arguments are evaluated per input row
 * (over pushed columns and DocFusion calls); select-list items, HAVING and ORDER BY are then
 * evaluated per group over [keys…, aggregates…] (columns of the "group row").
 */
export interface AggregatePlan {
  readonly keys: readonly Expr[];
  readonly aggregates: readonly AggregateCall[];
  readonly having: Expr | undefined;
}

export class AggregateUnsupported extends Error {}

const COMPARE = new Set<string>(['=', '<>', '!=', '<', '<=', '>', '>=']);

/** Compiles expressions over the group row: group keys, aggregate calls, constants. */
export class GroupRowCompiler {
  readonly aggregates: AggregateCall[] = [];

  constructor(
    /** The grouped-by expressions as written (after resolving ordinals and aliases). */
    private readonly keyNodes: readonly Node[],
    /** Compiles an expression over an input row (pushed columns and DocFusion calls). */
    private readonly compileInput: (node: Node) => Expr,
    /** Told of an expression read from a group key (its calls are the key's, evaluated once). */
    private readonly readFromKey: (node: Node) => void = () => undefined,
  ) {}

  compile(node: Node): Expr {
    const key = this.keyNodes.findIndex((k) => sameExpression(k, node));
    if (key >= 0) {
      this.readFromKey(node);
      return { kind: 'column', index: key };
    }
    switch (node.kind) {
      case 'A_Const':
        if (node.fields.isnull === true) return { kind: 'const', value: null };
        return { kind: 'const', value: stringConstant(node) ?? numberConstant(node) ?? null };
      case 'FuncCall':
        return this.aggregate(node);
      case 'A_Expr': {
        const op = names(fieldList(node.fields, 'name')).join('.');
        const left = field(node.fields, 'lexpr');
        const right = field(node.fields, 'rexpr');
        if (node.fields.kind !== 'AEXPR_OP' || !isCompare(op) || !left || !right) break;
        return {
          kind: 'compare',
          op: op === '!=' ? '<>' : op,
          left: this.compile(left),
          right: this.compile(right),
        };
      }
      case 'BoolExpr': {
        const args = fieldList(node.fields, 'args').map((a) => this.compile(a));
        if (node.fields.boolop === 'NOT_EXPR' && args[0]) return { kind: 'not', arg: args[0] };
        return { kind: 'bool', op: node.fields.boolop === 'OR_EXPR' ? 'or' : 'and', args };
      }
      case 'NullTest': {
        const arg = field(node.fields, 'arg');
        if (!arg) break;
        return {
          kind: 'nulltest',
          arg: this.compile(arg),
          isNull: node.fields.nulltesttype === 'IS_NULL',
        };
      }
      default:
        break;
    }
    throw new AggregateUnsupported(
      `${node.kind} in a grouped query the proxy evaluates (only group keys, aggregates, comparisons and AND/OR/NOT)`,
    );
  }

  private aggregate(node: Node): Expr {
    const name = names(fieldList(node.fields, 'funcname')).pop() ?? '';
    if (!isSupported(name)) {
      throw new AggregateUnsupported(`${name}() in a grouped query the proxy evaluates`);
    }
    if (node.fields.agg_filter !== undefined || node.fields.agg_order !== undefined) {
      throw new AggregateUnsupported(
        `${name}() with FILTER or ORDER BY in a query the proxy evaluates`,
      );
    }
    const args = fieldList(node.fields, 'args');
    const star = node.fields.agg_star === true;
    if ((star && name !== 'count') || (!star && args.length !== 1)) {
      throw new AggregateUnsupported(`${name}() with ${String(args.length)} arguments`);
    }
    const arg = args[0];
    this.aggregates.push({
      name,
      arg: star || arg === undefined ? undefined : this.compileInput(arg),
      distinct: node.fields.agg_distinct === true,
    });
    return { kind: 'column', index: this.keyNodes.length + this.aggregates.length - 1 };
  }
}

function isSupported(name: string): name is AggregateName {
  return SUPPORTED.has(name);
}

function isCompare(op: string): op is CompareOp | '!=' {
  return COMPARE.has(op);
}

/** Two expressions written the same way (locations aside). */
export function sameExpression(a: Node, b: Node): boolean {
  return canonical({ [a.kind]: a.fields }) === canonical({ [b.kind]: b.fields });
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => (key === 'location' ? undefined : v));
}

/** The grouped-by expression an item of GROUP BY names: by position, alias, or itself. */
export function groupKeyNode(item: Node, targets: readonly Node[]): Node {
  const ordinal = numberConstant(item);
  if (typeof ordinal === 'bigint') {
    const target = targets[Number(ordinal) - 1];
    const value = target ? field(target.fields, 'val') : undefined;
    if (value === undefined) throw new AggregateUnsupported('GROUP BY position out of range');
    return value;
  }
  if (item.kind === 'ColumnRef') {
    const parts = names(fieldList(item.fields, 'fields'));
    const target = targets.find((t) => parts.length === 1 && text(t.fields, 'name') === parts[0]);
    const value = target ? field(target.fields, 'val') : undefined;
    if (value !== undefined) return value;
  }
  return item;
}

/** Do these expressions call an aggregate (not as a window function)? */
export function callsAggregate(nodes: readonly Node[]): boolean {
  let found = false;
  for (const root of nodes) {
    walk({ [root.kind]: root.fields }, (node) => {
      if (node.kind !== 'FuncCall' || node.fields.over !== undefined) return;
      if (AGGREGATES.has(names(fieldList(node.fields, 'funcname')).pop() ?? '')) found = true;
    });
  }
  return found;
}
