import * as be from '../protocol/backend-encoders.js';
import { decodeRowDescription, type DecodedField } from '../protocol/backend-decoders.js';
import { BackendCode } from '../protocol/message-codes.js';
import { PgError } from '../protocol/pg-error.js';
import type { Value } from '../udf/function.js';
import type { Vector } from 'apache-arrow';
import type { KernelArg } from '../udf/function.js';
import { evaluateKernel } from '../udf/kernel.js';
import {
  evaluate,
  forEachExpr,
  type ColumnReader,
  type EvalEnv,
  type Expr,
  type KernelResults,
  type Ordering,
} from './expr.js';
import { exprType, typeComparisons } from './expr-types.js';
import { HashAggregate } from './hash-aggregate.js';
import type { ResidualPlan, SortKey } from './residual-plan.js';
import { RowBatch } from './row-batch.js';
import { TopN } from './top-n.js';
import { orderOf, type Comparable, type ValueOrder } from './value-order.js';
import { decodeText, encodeBinary, encodeText, OID } from './wire-values.js';

const BATCH_ROWS = 1024;

/** Which reply the executor is rewriting. */
export type ExecutorMode =
  /** A simple Query: RowDescription, rows, CommandComplete. */
  | 'query'
  /** Describe of the statement or portal: only the RowDescription. */
  | 'describe'
  /** A Describe the proxy injected before Execute: swallowed, it tells the column types. */
  | 'inject-describe'
  /** Execute of a portal: rows and CommandComplete. */
  | 'execute';

/** Session settings that change how the proxy prints values. */
export interface OutputSettings {
  /** extra_float_digits: at 0 and below double precision prints rounded (float8Text). */
  readonly extraFloatDigits: number;
}

/** Shared between the injected Describe and the Execute of one portal. */
export interface ExecutionState {
  fields: DecodedField[] | undefined;
}

/**
 * A portal the client reads a few rows at a time (Execute with a row limit). The pushed query
 * runs to completion on the first Execute; rows past the limit wait here for the next ones.
 */
export interface PortalCursor {
  readonly maxRows: number;
  readonly pending: Buffer[];
}

/** Rows and time per operator, for EXPLAIN ANALYZE. */
export interface OperatorStats {
  /** Rows of the pushed query (batch building). */
  rowsIn: number;
  batches: number;
  /** Rows left by the proxy's filter. */
  rowsAfterFilter: number;
  /** Groups of the hash aggregate. */
  groups: number;
  /** Rows that went through the sort (after DISTINCT). */
  sorted: number;
  /** Rows sent (after OFFSET/LIMIT). */
  rowsOut: number;
  /** Milliseconds in batch building, filter, projection and aggregation, per batch. */
  batchMs: number;
  /** Milliseconds producing groups and sorting, at the end. */
  finishMs: number;
}

/**
 * Runs a residual plan over the rows Postgres sends for its pushed query. Rows are gathered in
 * batches (columns the proxy reads become Arrow vectors, see RowBatch), filtered and projected
 * batch by batch, and written out as DataRows in the client's formats. Memory: one batch, plus
 * what the statement asks for — groups for GROUP BY, seen rows for DISTINCT, the rows to sort
 * (only the first OFFSET+LIMIT of them for a top-N).
 */
export class ResidualExecutor {
  private batch: Buffer[] = [];
  private produced = 0;
  private skipped = 0;
  private readonly seen = new Set<string>();
  private readonly sorted: TopN<{ row: (Buffer | null)[]; keys: (Comparable | null)[] }>;
  private aggregate: HashAggregate | undefined;
  /** Output column type OIDs, known once the pushed query's columns are. */
  private types: number[] = [];
  /** Typed once the column types are known (prepare): comparisons, sort keys, DISTINCT. */
  private readonly orderings = new Map<Expr, Ordering>();
  private sortOrders: ValueOrder[] = [];
  /** Per output column (after `*` expands): its DISTINCT key from the encoded value. */
  private distinctKeys: ((value: Buffer) => string)[] = [];
  readonly stats: OperatorStats = {
    rowsIn: 0,
    batches: 0,
    rowsAfterFilter: 0,
    groups: 0,
    sorted: 0,
    rowsOut: 0,
    batchMs: 0,
    finishMs: 0,
  };

  constructor(
    private readonly plan: ResidualPlan,
    /** The client's result format codes as Bind gave them ([] = all text). */
    private readonly formats: readonly number[],
    private readonly mode: ExecutorMode,
    private readonly state: ExecutionState = { fields: undefined },
    /** Set for an Execute with a row limit. */
    private readonly cursor?: PortalCursor,
    private readonly settings: OutputSettings = { extraFloatDigits: 1 },
  ) {
    const keep = plan.limit === undefined ? undefined : plan.limit + plan.offset;
    this.sorted = new TopN((a, b) => compareKeys(plan.sort, this.sortOrders, a.keys, b.keys), keep);
  }

  /**
   * An error while evaluating (a bad `$n` pattern, a document nested too deep) ends the
   * statement with an ErrorResponse in place of its remaining rows, as a failing Postgres
   * statement would; only this statement is affected.
   */
  onFrame(type: number, body: Buffer): Buffer[] {
    if (this.failed) return [];
    try {
      return this.step(type, body);
    } catch (error) {
      this.failed = true;
      const pgError =
        error instanceof PgError
          ? error
          : new PgError('XX000', 'internal error while DocFusion evaluated the statement');
      return [be.errorFromPgError(pgError)];
    }
  }

  private failed = false;

  private step(type: number, body: Buffer): Buffer[] {
    switch (type) {
      case BackendCode.RowDescription: {
        this.state.fields = decodeRowDescription(body);
        this.prepare();
        if (this.mode === 'inject-describe') return [];
        const textOnly = this.mode === 'describe' && this.formats.length === 0;
        return [be.rowDescription(this.outputFields(textOnly))];
      }
      case BackendCode.NoData:
        return this.mode === 'inject-describe' ? [] : [be.noData()];
      case BackendCode.DataRow:
        if (this.types.length === 0 && this.plan.outputs.length > 0) this.prepare();
        this.batch.push(Buffer.from(body));
        return this.batch.length >= BATCH_ROWS ? this.flush() : [];
      case BackendCode.CommandComplete:
        return (() => {
          const out = [...this.flush(), ...this.finish()];
          const cursor = this.cursor;
          const suspended = cursor !== undefined && this.produced >= cursor.maxRows;
          out.push(
            suspended
              ? be.portalSuspended()
              : be.commandComplete(`SELECT ${String(this.produced)}`),
          );
          return out;
        })();
      case BackendCode.PortalSuspended:
        return [...this.flush(), be.portalSuspended()];
      default:
        return [be.emptyQueryResponse()];
    }
  }

  private get fields(): DecodedField[] {
    return this.state.fields ?? [];
  }

  private get passCount(): number {
    return this.fields.length - this.plan.internal.length;
  }

  /** Pushed column index of an Expr column reference (internal ones are negative). */
  private at(index: number): number {
    return index < 0 ? this.passCount + (-1 - index) : index;
  }

  /**
   * Output types, the aggregation state and the order of every comparison, sort key and
   * DISTINCT column, once the pushed query's columns are known.
   */
  private prepare(): void {
    const aggregate = this.plan.aggregate;
    const pushedType = (index: number): number => this.fields[this.at(index)]?.typeOid ?? OID.text;
    /** Outputs, HAVING and sort keys read group rows when there is an aggregate. */
    let rowType = pushedType;
    this.orderings.clear();
    typeComparisons(this.plan.filters, pushedType, this.orderings);
    if (aggregate) {
      const argTypes = aggregate.aggregates.map((a) =>
        a.arg === undefined ? OID.bool : exprType(a.arg, pushedType),
      );
      const keyTypes = aggregate.keys.map((k) => exprType(k, pushedType));
      this.aggregate = new HashAggregate(aggregate, keyTypes, argTypes);
      const groupTypes = [...keyTypes, ...this.aggregate.resultTypes()];
      rowType = (index) => groupTypes[index] ?? OID.text;
      const roots = [...aggregate.keys, ...aggregate.aggregates.flatMap((a) => a.arg ?? [])];
      typeComparisons(roots, pushedType, this.orderings);
      if (aggregate.having) typeComparisons([aggregate.having], rowType, this.orderings);
    }
    this.types = this.plan.outputs.map((output) => {
      if (output.kind === 'pushed') return 0;
      return output.type?.oid ?? exprType(output.expr, rowType);
    });
    const computed = this.plan.outputs.flatMap((o) => (o.kind === 'computed' ? [o.expr] : []));
    typeComparisons(computed, rowType, this.orderings);
    this.sortOrders = this.plan.sort.map((key) => {
      if (key.expr.kind === 'output') return orderOf(this.types[key.expr.index] ?? OID.text);
      typeComparisons([key.expr], rowType, this.orderings);
      return orderOf(exprType(key.expr, rowType));
    });
    this.distinctKeys = this.plan.distinct ? this.outputColumnTypes().map(distinctKey) : [];
  }

  /** Each output column's type and format, `*` expanded (as outputFields lists them). */
  private outputColumnTypes(): { oid: number; format: number }[] {
    return this.outputFields(false).map((field) => ({
      oid: field.typeOid,
      format: field.format,
    }));
  }

  /** How many pushed columns each output column takes (a `*` takes the rest). */
  private widths(): number[] {
    const pushedFixed = this.plan.outputs.filter((o) => o.kind === 'pushed' && !o.star).length;
    const starWidth = this.passCount - pushedFixed;
    return this.plan.outputs.map((o) => (o.kind === 'computed' ? 0 : o.star ? starWidth : 1));
  }

  private formatOf(column: number): number {
    if (this.formats.length === 0) return 0;
    if (this.formats.length === 1) return this.formats[0] ?? 0;
    return this.formats[column] ?? 0;
  }

  private outputFields(textOnly: boolean): be.FieldDescription[] {
    const out: be.FieldDescription[] = [];
    const widths = this.widths();
    let pushed = 0;
    this.plan.outputs.forEach((output, i) => {
      if (output.kind === 'computed') {
        const oid = this.types[i] ?? OID.text;
        out.push({
          name: output.name,
          tableOid: 0,
          columnAttr: 0,
          typeOid: oid,
          typeSize: typeSize(oid),
          typeModifier: -1,
          format: textOnly ? 0 : this.formatOf(out.length),
        });
        return;
      }
      for (let k = 0; k < (widths[i] ?? 0); k++) {
        const field = this.fields[pushed++];
        if (field) out.push({ ...field, format: textOnly ? 0 : this.formatOf(out.length) });
      }
    });
    return out;
  }

  private flush(): Buffer[] {
    const rows = this.batch;
    this.batch = [];
    if (rows.length === 0) return [];
    const started = performance.now();
    this.stats.rowsIn += rows.length;
    this.stats.batches++;
    const batch = new RowBatch(rows, this.fields.length);
    const cache = new Map<number, Value[]>();
    const column: ColumnReader = (index, row) => {
      const at = this.at(index);
      let values = cache.get(at);
      if (values === undefined) {
        const oid = this.fields[at]?.typeOid ?? OID.text;
        values = batch.textColumn(at).map((text) => (text === null ? null : decodeText(oid, text)));
        cache.set(at, values);
      }
      return values[row] ?? null;
    };
    const out: Buffer[] = [];
    const widths = this.widths();
    const env: EvalEnv = { column, kernels: this.runKernels(batch), orderings: this.orderings };
    const filters = this.plan.filters;
    for (let row = 0; row < rows.length; row++) {
      if (!filters.every((f) => evaluate(f, row, env) === true)) continue;
      this.stats.rowsAfterFilter++;
      if (this.aggregate) {
        this.aggregate.add(row, env);
        continue;
      }
      const values: (Buffer | null)[] = [];
      /** Per select-list item: the computed value (sort keys refer to these). */
      const outputValues: Value[] = [];
      let pushed = 0;
      this.plan.outputs.forEach((output, i) => {
        if (output.kind === 'computed') {
          const value = evaluate(output.expr, row, env);
          outputValues.push(value);
          values.push(this.encode(i, value, values.length));
          return;
        }
        outputValues.push(null);
        for (let k = 0; k < (widths[i] ?? 0); k++) values.push(batch.raw(row, pushed++));
      });
      const emitted = this.accept(values, outputValues, row, env);
      if (emitted) out.push(emitted);
    }
    this.stats.batchMs += performance.now() - started;
    return out;
  }

  /**
   * DocFusion calls over batch columns and constants, run as Arrow kernels over the whole batch
   * (documents parsed once per column): the filter's always; the rest only when no filter drops
   * rows first (then they run row by row, for the rows that pass).
   */
  private runKernels(batch: RowBatch): KernelResults {
    const kernels = new Map<Expr, Vector>();
    const roots: Expr[] = [...this.plan.filters];
    if (roots.length === 0) {
      for (const output of this.plan.outputs)
        if (output.kind === 'computed') roots.push(output.expr);
      const aggregate = this.plan.aggregate;
      if (aggregate) {
        roots.push(...aggregate.keys);
        for (const call of aggregate.aggregates) if (call.arg) roots.push(call.arg);
      }
    }
    for (const root of roots) {
      forEachExpr(root, (expr) => {
        if (expr.kind !== 'call' || kernels.has(expr)) return;
        const args: KernelArg[] = [];
        for (const arg of expr.args) {
          if (arg.kind === 'const') args.push({ kind: 'constant', value: arg.value });
          else if (arg.kind === 'column')
            args.push({ kind: 'vector', vector: batch.vector(this.at(arg.index)) });
          else return;
        }
        kernels.set(expr, evaluateKernel(expr.fn, expr.scalar, args, batch.length));
      });
    }
    return kernels;
  }

  /** DISTINCT, then sort (kept for the end) or OFFSET/LIMIT and out. */
  private accept(
    values: (Buffer | null)[],
    outputValues: readonly Value[],
    row: number,
    env: EvalEnv,
  ): Buffer | undefined {
    if (this.plan.distinct) {
      const key = values
        .map((v, i) => {
          if (v === null) return '\u0000N';
          return this.distinctKeys[i]?.(v) ?? v.toString('latin1');
        })
        .join('\u0000|');
      if (this.seen.has(key)) return undefined;
      this.seen.add(key);
    }
    if (this.plan.sort.length > 0) {
      const keys = this.plan.sort.map((k, i) => {
        const value = sortValue(k, row, env, outputValues);
        return value === null ? null : (this.sortOrders[i]?.prepare(value) ?? value);
      });
      this.stats.sorted++;
      this.sorted.add({ row: values, keys });
      return undefined;
    }
    return this.emit(values);
  }

  private finish(): Buffer[] {
    const started = performance.now();
    const out: Buffer[] = [];
    const aggregate = this.aggregate;
    if (aggregate) {
      const having = this.plan.aggregate?.having;
      const groups = aggregate.rows();
      this.stats.groups = groups.length;
      for (const groupRow of groups) {
        const env: EvalEnv = {
          column: (index) => groupRow[index] ?? null,
          orderings: this.orderings,
        };
        if (having !== undefined && evaluate(having, 0, env) !== true) continue;
        const outputValues = this.plan.outputs.map((output) =>
          output.kind === 'computed' ? evaluate(output.expr, 0, env) : null,
        );
        const values = outputValues.map((value, i) => this.encode(i, value, i));
        const emitted = this.accept(values, outputValues, 0, env);
        if (emitted) out.push(emitted);
      }
    }
    for (const entry of this.sorted.drain()) {
      const emitted = this.emit(entry.row);
      if (emitted) out.push(emitted);
    }
    this.stats.finishMs += performance.now() - started;
    return out;
  }

  /** OFFSET and LIMIT in the proxy, then the DataRow. */
  private emit(values: (Buffer | null)[]): Buffer | undefined {
    if (this.skipped < this.plan.offset) {
      this.skipped++;
      return undefined;
    }
    if (this.plan.limit !== undefined && this.stats.rowsOut >= this.plan.limit) return undefined;
    this.stats.rowsOut++;
    const row = be.dataRow(values);
    if (this.cursor !== undefined && this.produced >= this.cursor.maxRows) {
      this.cursor.pending.push(row);
      return undefined;
    }
    this.produced++;
    return row;
  }

  /** Output item `output`'s value in the format the client asked for column `column`. */
  private encode(output: number, value: Value, column: number): Buffer | null {
    if (value === null) return null;
    const oid = this.types[output] ?? OID.text;
    return this.formatOf(column) === 1
      ? encodeBinary(oid, value)
      : Buffer.from(encodeText(oid, value, this.settings.extraFloatDigits));
  }
}

function sortValue(key: SortKey, row: number, env: EvalEnv, outputs: readonly Value[]): Value {
  if (key.expr.kind === 'output') return outputs[key.expr.index] ?? null;
  return evaluate(key.expr, row, env);
}

/** ORDER BY: each key ascending or descending (in its type's order), NULLs first or last. */
function compareKeys(
  keys: readonly SortKey[],
  orders: readonly ValueOrder[],
  a: readonly (Comparable | null)[],
  b: readonly (Comparable | null)[],
): number {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (key === undefined || (x === null && y === null)) continue;
    if (x === null || y === null) return (x === null) === key.nullsFirst ? -1 : 1;
    const c = (orders[i] ?? orderOf(OID.text)).comparePrepared(x, y);
    if (c !== 0) return key.descending ? -c : c;
  }
  return 0;
}

/**
 * The DISTINCT key of an encoded value of type `oid` in `format`: its bytes, except where
 * Postgres's equality is not byte equality (jsonb, numeric and double precision values).
 */
function distinctKey(column: { oid: number; format: number }): (value: Buffer) => string {
  const order = orderOf(column.oid);
  if (column.format === 1) {
    switch (column.oid) {
      case OID.jsonb:
        return (value) => order.key(value.toString('utf8', 1));
      case OID.numeric:
        // numeric_send: ndigits, weight, sign, dscale, digits; equal values differ in dscale only.
        return (value) =>
          Buffer.concat([value.subarray(0, 6), value.subarray(8)]).toString('latin1');
      case OID.float8:
        return (value) => order.key(value.readDoubleBE(0));
      case OID.float4:
        return (value) => order.key(value.readFloatBE(0));
      default:
        return (value) => value.toString('latin1');
    }
  }
  if (column.oid === OID.jsonb || column.oid === OID.numeric)
    return (value) => order.key(value.toString('utf8'));
  if (column.oid === OID.float4 || column.oid === OID.float8)
    return (value) => order.key(Number(value.toString('latin1')));
  return (value) => value.toString('latin1');
}

function typeSize(oid: number): number {
  switch (oid) {
    case OID.bool:
      return 1;
    case OID.int2:
      return 2;
    case OID.int4:
    case OID.float4:
      return 4;
    case OID.int8:
    case OID.float8:
      return 8;
    default:
      return -1;
  }
}

/**
 * A later Execute of a row-limited portal: Postgres answers the exhausted portal with an empty
 * CommandComplete, and the proxy sends the next rows it kept instead.
 */
export class CursorContinuation {
  constructor(
    private readonly cursor: PortalCursor,
    private readonly maxRows: number,
  ) {}

  onFrame(type: number): Buffer[] {
    if (type !== BackendCode.CommandComplete) return [];
    const take = this.maxRows > 0 ? this.maxRows : this.cursor.pending.length;
    const rows = this.cursor.pending.splice(0, take);
    const suspended = this.maxRows > 0 && rows.length === this.maxRows;
    return [
      ...rows,
      suspended ? be.portalSuspended() : be.commandComplete(`SELECT ${String(rows.length)}`),
    ];
  }
}
