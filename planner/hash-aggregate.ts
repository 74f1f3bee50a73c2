import type { Value } from '../udf/function.js';
import type { AggregateCall, AggregatePlan } from './aggregate-plan.js';
import { DecimalSum, divideDecimal } from './decimal-sum.js';
import { evaluate, type EvalEnv } from './expr.js';
import { orderOf, type ValueOrder } from './value-order.js';
import { arrayTypeOf, encodeText, OID } from './wire-values.js';

const INTEGER_TYPES = new Set<number>([OID.int2, OID.int4]);
const FLOAT_TYPES = new Set<number>([OID.float4, OID.float8]);

interface Accumulator {
  count: bigint;
  /** Exact sum of integers. */
  sum: bigint;
  /** Sum of floating-point values. */
  float: number;
  /** Exact sum of numeric values (made at the first one). */
  decimal: DecimalSum | undefined;
  best: Value;
  all: boolean;
  any: boolean;
  values: (string | null)[];
  seen: Set<string> | undefined;
}

interface Group {
  readonly keys: Value[];
  readonly accumulators: Accumulator[];
}

/**
 * GROUP BY and aggregates in the proxy: one hash table entry per group, one accumulator per
 * aggregate call; memory grows with the number of groups, not rows (array_agg and DISTINCT
 * aggregates keep their values).
 */
export class HashAggregate {
  private readonly groups = new Map<string, Group>();
  /** Per aggregate: how sum and avg add its argument (from its type, decided once). */
  private readonly sumKinds: readonly SumKind[];
  /** Per GROUP BY key and per aggregate argument: equality (the group key) and order. */
  private readonly keyOrders: readonly ValueOrder[];
  private readonly argOrders: readonly ValueOrder[];

  constructor(
    private readonly plan: AggregatePlan,
    /** Type OIDs of the GROUP BY keys. */
    keyTypes: readonly number[],
    /** Type OIDs of the aggregates' arguments (from the pushed columns and DocFusion calls). */
    private readonly argTypes: readonly number[],
  ) {
    this.sumKinds = plan.aggregates.map((_, i) => sumKind(argTypes[i] ?? OID.text));
    this.keyOrders = plan.keys.map((_, i) => orderOf(keyTypes[i] ?? OID.text));
    this.argOrders = plan.aggregates.map((_, i) => orderOf(argTypes[i] ?? OID.text));
  }

  add(row: number, env: EvalEnv): void {
    const keys = this.plan.keys.map((key) => evaluate(key, row, env));
    const id = keys.map((key, i) => groupKey(this.keyOrders[i], key)).join('\u0000');
    let group = this.groups.get(id);
    if (group === undefined) {
      group = { keys, accumulators: this.plan.aggregates.map(newAccumulator) };
      this.groups.set(id, group);
    }
    this.plan.aggregates.forEach((call, i) => {
      const acc = group.accumulators[i];
      if (acc === undefined) return;
      const value = call.arg === undefined ? true : evaluate(call.arg, row, env);
      accumulate(call, acc, value, this.sumKinds[i] ?? 'decimal', this.argOrders[i]);
    });
  }

  /** Group rows: [keys…, aggregate results…]. Without GROUP BY there is always one group. */
  rows(): Value[][] {
    if (this.groups.size === 0 && this.plan.keys.length === 0) {
      return [this.plan.aggregates.map((call, i) => this.result(call, newAccumulator(), i))];
    }
    return [...this.groups.values()].map((group) => [
      ...group.keys,
      ...this.plan.aggregates.map((call, i) => {
        const acc = group.accumulators[i];
        return acc === undefined ? null : this.result(call, acc, i);
      }),
    ]);
  }

  /** Type OIDs of the aggregate results, as Postgres types them. */
  resultTypes(): number[] {
    return this.plan.aggregates.map((call, i) => resultType(call, this.argTypes[i] ?? OID.text));
  }

  private result(call: AggregateCall, acc: Accumulator, i: number): Value {
    const argType = this.argTypes[i] ?? OID.text;
    switch (call.name) {
      case 'count':
        return acc.count;
      case 'sum':
        if (acc.count === 0n) return null;
        if (INTEGER_TYPES.has(argType)) return acc.sum;
        if (argType === OID.int8) return acc.sum.toString();
        if (FLOAT_TYPES.has(argType)) return acc.float;
        return (acc.decimal ?? new DecimalSum()).sumText();
      case 'avg':
        if (acc.count === 0n) return null;
        if (INTEGER_TYPES.has(argType) || argType === OID.int8) {
          return divideDecimal(acc.sum, 0, acc.count);
        }
        if (FLOAT_TYPES.has(argType)) return acc.float / Number(acc.count);
        return (acc.decimal ?? new DecimalSum()).averageText(acc.count);
      case 'min':
      case 'max':
        return acc.count === 0n ? null : acc.best;
      case 'bool_and':
      case 'every':
        return acc.count === 0n ? null : acc.all;
      case 'bool_or':
        return acc.count === 0n ? null : acc.any;
      case 'array_agg':
        return acc.values.length === 0 ? null : acc.values;
    }
  }
}

function newAccumulator(): Accumulator {
  return {
    count: 0n,
    sum: 0n,
    float: 0,
    decimal: undefined,
    best: null,
    all: true,
    any: false,
    values: [],
    seen: undefined,
  };
}

type SumKind = 'integer' | 'float' | 'decimal';

/** How sum and avg add an argument: integers exactly, floats as doubles, the rest as decimals. */
function sumKind(argType: number): SumKind {
  if (INTEGER_TYPES.has(argType) || argType === OID.int8) return 'integer';
  return FLOAT_TYPES.has(argType) ? 'float' : 'decimal';
}

function accumulate(
  call: AggregateCall,
  acc: Accumulator,
  value: Value,
  kind: SumKind,
  order: ValueOrder = orderOf(OID.text),
): void {
  if (call.name === 'array_agg') {
    if (!distinctNew(call, acc, value, order)) return;
    acc.count++;
    acc.values.push(value === null ? null : textOf(value));
    return;
  }
  if (value === null || !distinctNew(call, acc, value, order)) return;
  acc.count++;
  switch (call.name) {
    case 'sum':
    case 'avg':
      if (kind === 'decimal') {
        acc.decimal ??= new DecimalSum();
        acc.decimal.add(textOf(value));
      } else if (kind === 'float') acc.float += Number(value);
      else if (typeof value === 'bigint') acc.sum += value;
      else acc.sum += BigInt(Math.trunc(Number(value)));
      break;
    case 'min':
    case 'max': {
      const c = acc.count === 1n || acc.best === null ? 0 : order.compare(value, acc.best);
      if (acc.count === 1n || (call.name === 'min' ? c < 0 : c > 0)) acc.best = value;
      break;
    }
    case 'bool_and':
    case 'every':
      acc.all = acc.all && value === true;
      break;
    case 'bool_or':
      acc.any = acc.any || value === true;
      break;
    default:
      break;
  }
}

function distinctNew(
  call: AggregateCall,
  acc: Accumulator,
  value: Value,
  order: ValueOrder,
): boolean {
  if (!call.distinct) return true;
  acc.seen ??= new Set();
  const key = groupKey(order, value);
  if (acc.seen.has(key)) return false;
  acc.seen.add(key);
  return true;
}

function resultType(call: AggregateCall, argType: number): number {
  switch (call.name) {
    case 'count':
      return OID.int8;
    case 'sum':
      if (INTEGER_TYPES.has(argType)) return OID.int8;
      return FLOAT_TYPES.has(argType) ? OID.float8 : OID.numeric;
    case 'avg':
      return FLOAT_TYPES.has(argType) ? OID.float8 : OID.numeric;
    case 'min':
    case 'max':
      return argType;
    case 'bool_and':
    case 'bool_or':
    case 'every':
      return OID.bool;
    case 'array_agg':
      return arrayTypeOf(argType) ?? OID.textArray;
  }
}

function textOf(value: Exclude<Value, null>): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return encodeText(OID.float8, value);
  return encodeText(OID.text, value);
}

/** Equal for values Postgres's equality of their type calls equal; NULLs group together. */
function groupKey(order: ValueOrder | undefined, value: Value): string {
  if (value === null) return 'N';
  return (order ?? orderOf(OID.text)).key(value);
}
