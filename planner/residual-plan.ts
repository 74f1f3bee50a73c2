import { PgError, SqlState } from '../protocol/pg-error.js';
import type { PgType } from '../udf/function.js';
import type { DocFusionCall } from './analyze.js';
import {
  field,
  fieldList,
  integer,
  location,
  names,
  numberConstant,
  stringConstant,
  struct,
  text,
  walk,
  type Node,
} from './ast.js';
import {
  AggregateUnsupported,
  callsAggregate,
  GroupRowCompiler,
  groupKeyNode,
  type AggregatePlan,
} from './aggregate-plan.js';
import { describeExpr, type CompareOp, type Expr } from './expr.js';
import { callEdits, inexactEdits, TextRenderer, type InexactNote } from './pushdown.js';
import { splitSelect, type Span, type Token } from './select-clauses.js';
import { tokenEnd } from './sql-text.js';

/** One column of the client's result. */
export type OutputColumn =
  /** Columns of the pushed query passed through untouched (a `*` may stand for several). */
  | { readonly kind: 'pushed'; readonly star: boolean }
  | {
      readonly kind: 'computed';
      readonly name: string;
      /** Undefined: decided when the pushed query's column types are known (aggregates). */
      readonly type: PgType | undefined;
      readonly expr: Expr;
    };

export interface SortKey {
  readonly expr: Expr | { readonly kind: 'output'; readonly index: number };
  readonly descending: boolean;
  readonly nullsFirst: boolean;
}

/** A statement split between Postgres (the pushed query) and the proxy (the rest). */
export interface ResidualPlan {
  readonly pushedSql: string;
  /** Columns of the pushed query that only the proxy reads, after the pass-through ones. */
  readonly internal: readonly string[];
  readonly outputs: readonly OutputColumn[];
  readonly filters: readonly Expr[];
  /** GROUP BY / aggregates in the proxy: outputs, sort keys and HAVING read the group row. */
  readonly aggregate: AggregatePlan | undefined;
  readonly distinct: boolean;
  readonly sort: readonly SortKey[];
  readonly limit: number | undefined;
  readonly offset: number;
  /** EXPLAIN lines: verdicts per conjunct and the operators the proxy runs. */
  readonly explain: readonly string[];
}

export interface ResidualInput {
  readonly sql: Buffer;
  readonly select: Node;
  readonly tokens: readonly Token[];
  readonly calls: readonly DocFusionCall[];
  readonly pushdown: boolean;
}

export type ResidualResult =
  | { readonly kind: 'planned'; readonly plan: ResidualPlan }
  | { readonly kind: 'unsupported'; readonly reason: string };

const COMPARE = new Set<string>(['=', '<>', '!=', '<', '<=', '>', '>=']);

class Unsupported extends Error {}

/**
 * Split a single SELECT into the query Postgres runs (FROM as written, the conjuncts it can
 * evaluate, every expression it can compute) and the operators the proxy runs over its rows:
 * filter by the other conjuncts, compute DocFusion calls, then distinct, sort, offset/limit.
 * ORDER BY and LIMIT stay upstream only when nothing in the proxy changes rows or order.
 */
export function planResidual(input: ResidualInput): ResidualResult {
  try {
    return { kind: 'planned', plan: new ResidualPlanner(input).plan() };
  } catch (error) {
    if (error instanceof Unsupported) return { kind: 'unsupported', reason: error.message };
    throw error;
  }
}

class ResidualPlanner {
  private readonly residualCalls: Map<unknown, DocFusionCall>;
  /** DocFusion calls Postgres evaluates (pushed down as native SQL). */
  private readonly pushedCalls: Map<unknown, DocFusionCall>;
  private readonly text: TextRenderer;
  private readonly internal: string[] = [];
  private readonly inexact: InexactNote[] = [];
  /** Residual calls compiled into proxy operators (any other would reach Postgres unplanned). */
  private readonly compiled = new Set<unknown>();

  constructor(private readonly input: ResidualInput) {
    const residual = input.calls.filter((c) => !input.pushdown || c.fn.pushdown === undefined);
    this.residualCalls = new Map(residual.map((call) => [call.node.fields, call]));
    const pushedCalls = input.calls.filter((c) => !this.residualCalls.has(c.node.fields));
    this.pushedCalls = new Map(pushedCalls.map((call) => [call.node.fields, call]));
    const edits = input.pushdown
      ? [
          ...callEdits(input.select.fields, pushedCalls),
          ...inexactEdits(
            input.sql,
            { SelectStmt: input.select.fields },
            pushedCalls,
            this.inexact,
          ),
        ]
      : [];
    this.text = new TextRenderer(input.sql, edits);
  }

  plan(): ResidualPlan {
    const select = this.input.select.fields;
    if (select.op !== undefined && select.op !== 'SETOP_NONE')
      throw new Unsupported('a set operation');
    if (
      fieldList(select, 'distinctClause').some(
        (d) => d.kind !== 'NullTest' && Object.keys(d.fields).length > 0,
      )
    ) {
      throw new Unsupported('DISTINCT ON');
    }
    for (const key of ['windowClause', 'lockingClause', 'intoClause']) {
      if (select[key] !== undefined)
        throw new Unsupported(`${clauseName(key)} with a function evaluated in the proxy`);
    }
    walk(select.targetList, (node) => {
      if (node.kind === 'FuncCall' && node.fields.over !== undefined)
        throw new Unsupported('a window function beside a function evaluated in the proxy');
    });
    const targets = fieldList(select, 'targetList');
    const clauses = splitSelect(
      this.input.tokens,
      targets.map((t) => text(t.fields, 'name') !== undefined),
    );
    if (clauses?.targets.length !== targets.length) throw new Unsupported('this SELECT shape');
    const where = field(select, 'whereClause');
    const whereArgs =
      where === undefined
        ? []
        : where.kind === 'BoolExpr' && where.fields.boolop === 'AND_EXPR'
          ? fieldList(where.fields, 'args')
          : [where];
    if (whereArgs.length !== clauses.conjuncts.length)
      throw new Unsupported('this WHERE clause shape');

    const explain: string[] = [];
    const pushedConjuncts: string[] = [];
    const filters: Expr[] = [];
    whereArgs.forEach((conjunct, i) => {
      const span = clauses.conjuncts[i] ?? [0, 0];
      const original = this.input.sql.toString('utf8', span[0], span[1]);
      if (this.hasResidual(conjunct)) {
        filters.push(this.compile(conjunct));
        explain.push(`  WHERE ${original}: Unsupported (evaluated in the proxy)`);
      } else {
        const before = this.inexact.length;
        pushedConjuncts.push(this.text.range(span[0], span[1]));
        const inexact = this.inexact.length > before;
        explain.push(
          `  WHERE ${original}: ${inexact ? 'Exact, with an Inexact superset for the index' : 'Exact (pushed)'}`,
        );
      }
    });

    const targetValues = targets.map((target) => {
      const value = field(target.fields, 'val');
      if (value === undefined) throw new Unsupported('a select-list item');
      return value;
    });
    const having = field(select, 'havingClause');
    const grouped =
      select.groupClause !== undefined ||
      having !== undefined ||
      callsAggregate([...targetValues, ...fieldList(select, 'sortClause')]);
    const passThrough: string[] = [];
    const outputs: OutputColumn[] = [];
    let aggregate: AggregatePlan | undefined;
    let sortKeyOf = (node: Node): SortKey => this.sortKey(node, targets);
    if (grouped) {
      const planned = this.planAggregate(targets, targetValues, having);
      aggregate = planned.aggregate;
      outputs.push(...planned.outputs);
      sortKeyOf = planned.sortKey;
      explain.push(
        `  HashAggregate (proxy): ${String(aggregate.keys.length)} key(s), ${aggregate.aggregates.map((a) => `${a.name}${a.distinct ? ' distinct' : ''}`).join(', ') || 'no aggregates'}${aggregate.having ? ', HAVING' : ''}`,
      );
    } else {
      targets.forEach((target, i) => {
        const value = targetValues[i];
        const span = clauses.targets[i] ?? [0, 0];
        const alias = text(target.fields, 'name');
        if (value === undefined) return;
        if (!this.hasResidual(value)) {
          const star =
            value.kind === 'ColumnRef' && names(fieldList(value.fields, 'fields')).includes('*');
          passThrough.push(
            this.text.range(span[0], span[1]) +
              (alias === undefined ? '' : ` AS ${quoteIdent(alias)}`),
          );
          outputs.push({ kind: 'pushed', star });
          return;
        }
        const expr = this.compile(value);
        outputs.push({
          kind: 'computed',
          name: alias ?? this.callName(value) ?? columnName(value),
          type: typeOf(expr),
          expr,
        });
      });
    }
    if (outputs.filter((o) => o.kind === 'pushed' && o.star).length > 1)
      throw new Unsupported('more than one * beside computed columns');

    const sortNodes = fieldList(select, 'sortClause');
    const residualRows = filters.length > 0 || clauses.distinct || grouped;
    // A sort key naming a column the proxy computes (by alias or position) sorts in the proxy.
    const sortsComputed = sortNodes.some((node) => {
      const expr = field(node.fields, 'node');
      const target = expr ? targetOf(expr, targets) : undefined;
      return target !== undefined && outputs[target.index]?.kind === 'computed';
    });
    const residualOrder =
      sortNodes.some((s) => this.hasResidual(s)) || residualRows || sortsComputed;
    const limit = this.count(field(select, 'limitCount'), 'LIMIT');
    const offset = this.count(field(select, 'limitOffset'), 'OFFSET') ?? 0;
    // Sort keys may push columns of their own: plan them before the pushed SELECT is written.
    const sort = residualOrder ? sortNodes.map(sortKeyOf) : [];
    let sql = clauses.with === undefined ? '' : `${this.text.range(...clauses.with)} `;
    sql += `SELECT ${[...passThrough, ...this.internal.map((c, i) => `${c} AS _df${String(i + 1)}`)].join(', ') || 'NULL'}`;
    if (clauses.from) sql += ` FROM ${this.text.range(...clauses.from)}`;
    if (pushedConjuncts.length > 0) sql += ` WHERE ${pushedConjuncts.join(' AND ')}`;
    if (!residualOrder) {
      if (clauses.orderBy.length > 0)
        sql += ` ORDER BY ${clauses.orderBy.map((s) => this.pushedSortItem(s)).join(', ')}`;
      if (clauses.limit) sql += ` LIMIT ${this.text.range(...clauses.limit)}`;
      if (clauses.offset) sql += ` OFFSET ${this.text.range(...clauses.offset)}`;
    }
    if (outputs.some((o) => o.kind === 'pushed' && o.star) && this.internal.length > 0) {
      // The width of `*` is known only from the pushed query's RowDescription, too late for
      // the per-column result formats Bind must ask Postgres for.
      throw new Unsupported('SELECT * beside columns the proxy computes');
    }
    if (this.compiled.size < this.residualCalls.size) {
      throw new Unsupported(
        'a DocFusion call the proxy must evaluate inside a CTE, subquery, JOIN condition or FROM item',
      );
    }
    const pushedLimits = !residualOrder;
    explain.unshift(`  Pushed SQL: ${sql}`);
    explain.unshift('DocFusion plan: evaluated partly in the proxy');
    const columns = [...passThrough, ...this.internal];
    for (const filter of filters)
      explain.push(`  Filter (proxy): ${describeExpr(filter, columns)}`);
    for (const output of outputs) {
      if (output.kind === 'computed')
        explain.push(`  Project (proxy): ${describeExpr(output.expr, columns)} AS ${output.name}`);
    }
    if (clauses.distinct) explain.push('  Distinct (proxy)');
    if (sort.length > 0)
      explain.push(
        `  ${limit === undefined ? 'Sort' : 'Top-N sort'} (proxy): ${String(sort.length)} key(s)`,
      );
    if (!pushedLimits && (limit !== undefined || offset > 0)) {
      explain.push(
        `  Limit (proxy): ${limit === undefined ? 'ALL' : String(limit)} offset ${String(offset)}`,
      );
    }
    return {
      pushedSql: sql,
      internal: [...this.internal],
      outputs,
      filters,
      aggregate,
      distinct: clauses.distinct,
      sort,
      limit: pushedLimits ? undefined : limit,
      offset: pushedLimits ? 0 : offset,
      explain,
    };
  }

  /** GROUP BY, HAVING and aggregates evaluated in the proxy over the pushed rows. */
  private planAggregate(
    targets: readonly Node[],
    targetValues: readonly Node[],
    having: Node | undefined,
  ): { aggregate: AggregatePlan; outputs: OutputColumn[]; sortKey: (node: Node) => SortKey } {
    try {
      const groupItems = fieldList(this.input.select.fields, 'groupClause');
      if (groupItems.some((item) => item.kind === 'GroupingSet')) {
        throw new Unsupported(
          'GROUPING SETS, ROLLUP or CUBE with a function evaluated in the proxy',
        );
      }
      const keyNodes = groupItems.map((item) => groupKeyNode(item, targets));
      const keys = keyNodes.map((node) => this.compile(node));
      const rows = new GroupRowCompiler(
        keyNodes,
        (node) => this.compile(node),
        (node) => {
          this.markCompiled(node);
        },
      );
      const outputs: OutputColumn[] = targets.map((target, i) => {
        const value = targetValues[i];
        if (value === undefined) throw new Unsupported('a select-list item');
        const name = text(target.fields, 'name') ?? this.callName(value) ?? columnName(value);
        return { kind: 'computed', name, type: undefined, expr: rows.compile(value) };
      });
      const havingExpr = having === undefined ? undefined : rows.compile(having);
      const sortKey = (node: Node): SortKey => {
        const expr = field(node.fields, 'node');
        if (!expr) throw new Unsupported('ORDER BY item');
        const descending = node.fields.sortby_dir === 'SORTBY_DESC';
        const nulls = node.fields.sortby_nulls;
        const nullsFirst =
          nulls === 'SORTBY_NULLS_FIRST' || (nulls !== 'SORTBY_NULLS_LAST' && descending);
        const target = targetOf(expr, targets);
        return {
          expr: target ? { kind: 'output', index: target.index } : rows.compile(expr),
          descending,
          nullsFirst,
        };
      };
      return {
        aggregate: { keys, aggregates: rows.aggregates, having: havingExpr },
        outputs,
        sortKey,
      };
    } catch (error) {
      if (error instanceof AggregateUnsupported) throw new Unsupported(error.message);
      throw error;
    }
  }

  /** The name Postgres gives an unaliased DocFusion call (its function's, not a masked one). */
  private callName(node: Node): string | undefined {
    return (this.residualCalls.get(node.fields) ?? this.pushedCalls.get(node.fields))?.fn.name;
  }

  private hasResidual(root: Node): boolean {
    let found = false;
    walk({ [root.kind]: root.fields }, (node) => {
      if (node.kind === 'FuncCall' && this.residualCalls.has(node.fields)) found = true;
    });
    return found;
  }

  /** The residual calls in `root` are evaluated by the proxy (as part of a group key). */
  private markCompiled(root: Node): void {
    walk({ [root.kind]: root.fields }, (node) => {
      if (node.kind === 'FuncCall' && this.residualCalls.has(node.fields))
        this.compiled.add(node.fields);
    });
  }

  /** An expression containing a residual call, as an evaluator tree. */
  private compile(node: Node): Expr {
    if (!this.hasResidual(node)) return this.leaf(node);
    switch (node.kind) {
      case 'FuncCall': {
        const call = this.residualCalls.get(node.fields);
        if (call !== undefined) this.compiled.add(node.fields);
        if (call === undefined)
          throw new Unsupported('a function call around a DocFusion call evaluated in the proxy');
        const args = call.args.map((arg, i) => {
          if (this.hasResidual(arg.node)) return this.compile(arg.node);
          if (arg.constant !== undefined) return { kind: 'const', value: arg.constant } as const;
          const role = i < call.fn.params.length ? call.fn.params[i] : call.fn.variadic;
          const sql = this.text.range(arg.span[0], arg.span[1], true);
          return this.pushColumn(role === 'key' ? `(${sql})::text` : `(${sql})::jsonb`);
        });
        const constants = call.args.map((arg) => arg.constant);
        return { kind: 'call', fn: call.fn, args, scalar: call.fn.bind(constants) };
      }
      case 'A_Expr': {
        const op = names(fieldList(node.fields, 'name')).join('.');
        const left = field(node.fields, 'lexpr');
        const right = field(node.fields, 'rexpr');
        if (node.fields.kind !== 'AEXPR_OP' || !COMPARE.has(op) || !left || !right) {
          throw new Unsupported(`the operator ${op} over a DocFusion call evaluated in the proxy`);
        }
        const compareOp: CompareOp = op === '!=' ? '<>' : (op as CompareOp);
        const compiled = { left: this.compile(left), right: this.compile(right) };
        checkComparison(compiled.left, compiled.right, op);
        checkComparison(compiled.right, compiled.left, op);
        return { kind: 'compare', op: compareOp, ...compiled };
      }
      case 'BoolExpr': {
        const args = fieldList(node.fields, 'args').map((a) => this.compile(a));
        if (node.fields.boolop === 'NOT_EXPR' && args[0]) return { kind: 'not', arg: args[0] };
        return { kind: 'bool', op: node.fields.boolop === 'OR_EXPR' ? 'or' : 'and', args };
      }
      case 'NullTest': {
        const arg = field(node.fields, 'arg');
        if (!arg) throw new Unsupported('IS NULL');
        return {
          kind: 'nulltest',
          arg: this.compile(arg),
          isNull: node.fields.nulltesttype === 'IS_NULL',
        };
      }
      default:
        throw new Unsupported(`${node.kind} around a DocFusion call evaluated in the proxy`);
    }
  }

  /** A sub-expression Postgres computes: a literal stays in the proxy, the rest is pushed. */
  private leaf(node: Node): Expr {
    if (node.kind === 'A_Const') {
      if (node.fields.isnull === true) return { kind: 'const', value: null };
      const value = stringConstant(node) ?? numberConstant(node);
      if (value !== undefined) return { kind: 'const', value };
    }
    const call = this.pushedCalls.get(node.fields);
    const span: Span | undefined = call
      ? [call.span.start, call.span.end]
      : simpleSpan(this.input.sql, node);
    if (span === undefined)
      throw new Unsupported(`${node.kind} beside a DocFusion call evaluated in the proxy`);
    return this.pushColumn(this.text.range(span[0], span[1], true));
  }

  private pushColumn(sql: string): Expr {
    const existing = this.internal.indexOf(sql);
    if (existing >= 0) return { kind: 'column', index: -1 - existing };
    this.internal.push(sql);
    return { kind: 'column', index: -this.internal.length };
  }

  private count(node: Node | undefined, what: string): number | undefined {
    if (node === undefined) return undefined;
    if (node.kind === 'A_Const' && node.fields.isnull === true) return undefined;
    const value = node.kind === 'A_Const' ? numberConstant(node) : undefined;
    if (typeof value !== 'bigint' || value < 0n)
      throw new Unsupported(`${what} other than a number`);
    return Number(value);
  }

  private pushedSortItem(span: Span): string {
    return this.text.range(span[0], span[1]);
  }

  private sortKey(node: Node, targets: readonly Node[]): SortKey {
    const expr = field(node.fields, 'node');
    if (!expr) throw new Unsupported('ORDER BY item');
    const descending = node.fields.sortby_dir === 'SORTBY_DESC';
    if (node.fields.sortby_dir === 'SORTBY_USING') throw new Unsupported('ORDER BY … USING');
    const nulls = node.fields.sortby_nulls;
    const nullsFirst =
      nulls === 'SORTBY_NULLS_FIRST' || (nulls !== 'SORTBY_NULLS_LAST' && descending);
    const target = targetOf(expr, targets);
    if (target !== undefined) {
      const value = field(target.node.fields, 'val');
      if (value === undefined) throw new Unsupported('ORDER BY item');
      // A computed column is sorted by its value; one Postgres computes is read again as text.
      if (this.hasResidual(value)) {
        return { expr: { kind: 'output', index: target.index }, descending, nullsFirst };
      }
      return { expr: this.compile(value), descending, nullsFirst };
    }
    return { expr: this.compile(expr), descending, nullsFirst };
  }
}

/** The select-list item an ORDER BY item names: by position, alias or column name. */
function targetOf(expr: Node, targets: readonly Node[]): { index: number; node: Node } | undefined {
  const ordinal = expr.kind === 'A_Const' ? numberConstant(expr) : undefined;
  if (typeof ordinal === 'bigint') {
    const node = targets[Number(ordinal) - 1];
    if (node === undefined) throw new Unsupported('ORDER BY position out of range');
    return { index: Number(ordinal) - 1, node };
  }
  if (expr.kind !== 'ColumnRef') return undefined;
  const parts = names(fieldList(expr.fields, 'fields'));
  if (parts.length !== 1) return undefined;
  const index = targets.findIndex((t) => text(t.fields, 'name') === parts[0]);
  const node = targets[index];
  return node === undefined ? undefined : { index, node };
}

/** Spans of the simple expressions the planner pushes beside residual calls. */
function simpleSpan(sql: Buffer, node: Node): Span | undefined {
  const at = location(node);
  switch (node.kind) {
    case 'ColumnRef':
    case 'ParamRef':
    case 'A_Const':
      return at === undefined ? undefined : [at, tokenEnd(sql, at)];
    case 'TypeCast': {
      const arg = field(node.fields, 'arg');
      const typeName = struct(node.fields, 'typeName');
      const inner = arg ? simpleSpan(sql, arg) : undefined;
      const typeAt = typeName ? integer(typeName, 'location') : undefined;
      if (!inner || typeAt === undefined) return undefined;
      return [inner[0], tokenEnd(sql, typeAt)];
    }
    default:
      return undefined;
  }
}

/**
 * Postgres types a comparison before running it: a literal takes the other side's type (or
 * fails to: 22P02), and there is no operator between text or boolean and a number (42883).
 */
function checkComparison(side: Expr, other: Expr, op: string): void {
  if (side.kind !== 'call') return;
  const type = side.fn.returns;
  if (other.kind !== 'const' || other.value === null) return;
  const value = other.value;
  const numeric = type.oid === 20 || type.oid === 23 || type.oid === 701;
  if (typeof value === 'bigint' || typeof value === 'number') {
    if (numeric) return;
    const operand =
      typeof value === 'bigint'
        ? value > 2147483647n || value < -2147483648n
          ? 'bigint'
          : 'integer'
        : 'numeric';
    throw new PgError(
      SqlState.UndefinedFunction,
      `operator does not exist: ${type.name} ${op} ${operand}`,
      {
        hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.',
      },
    );
  }
  if (typeof value !== 'string') return;
  const pattern =
    type.oid === 701 ? /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/ : /^\s*[+-]?\d+\s*$/;
  if (numeric && !pattern.test(value) && !/^\s*(?:nan|[+-]?inf(?:inity)?)\s*$/i.test(value)) {
    throw new PgError(
      SqlState.InvalidTextRepresentation,
      `invalid input syntax for type ${type.name}: "${value}"`,
    );
  }
  if (
    type.oid === 16 &&
    !/^\s*(?:t(?:r(?:ue?)?)?|y(?:es?)?|on|1|f(?:a(?:l(?:se?)?)?)?|no?|off?|0)\s*$/i.test(value)
  ) {
    throw new PgError(
      SqlState.InvalidTextRepresentation,
      `invalid input syntax for type boolean: "${value}"`,
    );
  }
}

function typeOf(expr: Expr): PgType {
  switch (expr.kind) {
    case 'call':
      return expr.fn.returns;
    case 'column':
    case 'const':
      return { name: 'text', oid: 25 };
    default:
      return { name: 'boolean', oid: 16 };
  }
}

/** The column name Postgres gives an unaliased select-list expression. */
function columnName(node: Node): string {
  if (node.kind === 'FuncCall')
    return names(fieldList(node.fields, 'funcname')).pop() ?? '?column?';
  if (node.kind === 'ColumnRef') return names(fieldList(node.fields, 'fields')).pop() ?? '?column?';
  if (node.kind === 'TypeCast') {
    const arg = field(node.fields, 'arg');
    const inner = arg ? columnName(arg) : '?column?';
    if (inner !== '?column?') return inner;
    const typeName = struct(node.fields, 'typeName');
    return (typeName && names(fieldList(typeName, 'names')).pop()) ?? '?column?';
  }
  return '?column?';
}

function clauseName(key: string): string {
  return (
    {
      groupClause: 'GROUP BY',
      havingClause: 'HAVING',
      windowClause: 'WINDOW',
      lockingClause: 'FOR UPDATE/SHARE',
      intoClause: 'SELECT INTO',
    }[key] ?? key
  );
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
