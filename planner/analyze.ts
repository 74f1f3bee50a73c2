import { PgError, SqlState } from '../protocol/pg-error.js';
import type { DocFusionFunction, Value } from '../udf/function.js';
import {
  asNode,
  field,
  fieldList,
  isFields,
  integer,
  location,
  names,
  stringConstant,
  struct,
  text,
  walk,
  type Node,
} from './ast.js';
import type { RelationInfo } from './catalog.js';
import { callSpan, type CallSpan } from './sql-text.js';

/** What the planner knows about an expression's type. */
export type TypeClass =
  | 'jsonb'
  | 'json'
  | 'text'
  /** An untyped literal or parameter: Postgres resolves it from context. */
  | 'unknown'
  /** A known type that is not JSON or text (int, bool, …). */
  | 'other'
  /** An expression whose type the planner does not work out. */
  | 'opaque';

export interface CallArg {
  readonly node: Node;
  /** Byte range in the statement text. */
  readonly span: readonly [number, number];
  readonly type: TypeClass;
  /** The value when the argument is a literal (or NULL), known at plan time. */
  readonly constant: Value | undefined;
}

/** One call of a DocFusion function in the statement. */
export interface DocFusionCall {
  readonly fn: DocFusionFunction;
  readonly node: Node;
  readonly span: CallSpan;
  readonly args: readonly CallArg[];
  /** Key path from the statement root (e.g. `whereClause`, `targetList`). */
  readonly path: readonly string[];
}

/** Functions that are also Postgres built-ins on `json`, with the built-in's argument counts. */
const BUILTIN_ON_JSON: Readonly<Record<string, (argc: number) => boolean>> = {
  json_extract_path: (argc) => argc >= 2,
  json_typeof: (argc) => argc === 1,
  json_array_length: (argc) => argc === 1,
};

const TEXT_OIDS = new Set([25, 1043, 1042, 19]);

export function typeClassOfOid(oid: number): TypeClass {
  if (oid === 3802) return 'jsonb';
  if (oid === 114) return 'json';
  if (oid === 0 || oid === 705) return 'unknown';
  return TEXT_OIDS.has(oid) ? 'text' : 'other';
}

function typeClassOfName(name: string): TypeClass {
  switch (name.toLowerCase()) {
    case 'jsonb':
      return 'jsonb';
    case 'json':
      return 'json';
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
      return 'text';
    default:
      return 'other';
  }
}

export interface AnalyzeInput {
  readonly sql: Buffer;
  /** The parsed statement (libpg-query's `stmt`). */
  readonly statement: unknown;
  readonly functions: ReadonlyMap<string, DocFusionFunction>;
  /** Parameter types the client declared in Parse (0 = let Postgres infer). */
  readonly paramTypes: readonly number[];
  /** Relations named in the statement, from the catalog. */
  readonly relations: ReadonlyMap<string, readonly RelationInfo[]>;
}

/** Every relation name in the statement (what the catalog must describe). */
export function relationNames(statement: unknown): string[] {
  const out = new Set<string>();
  walk(statement, (node) => {
    if (node.kind === 'RangeVar') {
      const name = text(node.fields, 'relname');
      if (name !== undefined) out.add(name);
    }
  });
  return [...out];
}

interface RangeRef {
  readonly alias: string | undefined;
  readonly schema: string | undefined;
  /** '' for a CTE, subquery or function in FROM: its columns' types are not in the catalog. */
  readonly name: string;
  /** A CTE's columns, typed from its own SELECT list (simple column references, casts…). */
  readonly cte?: string;
}

/** FROM items visible to an expression, innermost SELECT first. */
type ScopeChain = readonly (readonly RangeRef[])[];

/** For every FuncCall, the FROM scopes it sees (its SELECT's, then the enclosing ones). */
function scopesOfCalls(
  statement: unknown,
  cteNames: ReadonlySet<string>,
): Map<unknown, ScopeChain> {
  const out = new Map<unknown, ScopeChain>();
  const visit = (value: unknown, chain: ScopeChain): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, chain);
      return;
    }
    if (!isFields(value)) return;
    const node = asNode(value);
    let inner = chain;
    if (node?.kind === 'SelectStmt') {
      inner = [rangesOf(fieldList(node.fields, 'fromClause'), cteNames), ...chain];
    } else if (node?.kind === 'FuncCall') {
      out.set(node.fields, chain);
    }
    for (const child of Object.values(node?.fields ?? value)) {
      if (typeof child === 'object' && child !== null) visit(child, inner);
    }
  };
  visit(statement, []);
  return out;
}

/** Column types of CTEs whose query is a plain SELECT, by column name. */
class CteColumns {
  private readonly cache = new Map<string, Map<string, TypeClass> | undefined>();
  private readonly busy = new Set<string>();

  constructor(
    private readonly input: AnalyzeInput,
    private readonly ctes: ReadonlyMap<string, Node>,
    private readonly cteNames: ReadonlySet<string>,
  ) {}

  /** The column's type, or undefined when the CTE's columns are not known. */
  typeOf(cte: string, column: string): TypeClass | undefined {
    return this.columns(cte)?.get(column);
  }

  /** Whether the CTE has this column (undefined: its columns are not known). */
  defines(cte: string, column: string): boolean | undefined {
    const columns = this.columns(cte);
    return columns === undefined ? undefined : columns.has(column);
  }

  private columns(cte: string): Map<string, TypeClass> | undefined {
    if (this.cache.has(cte)) return this.cache.get(cte);
    if (this.busy.has(cte)) return undefined; // recursive CTE
    this.busy.add(cte);
    const definition = this.ctes.get(cte);
    const query = definition ? field(definition.fields, 'ctequery') : undefined;
    let columns: Map<string, TypeClass> | undefined;
    if (query?.kind === 'SelectStmt' && (query.fields.op ?? 'SETOP_NONE') === 'SETOP_NONE') {
      const resolver = new TypeResolver(
        this.input,
        [rangesOf(fieldList(query.fields, 'fromClause'), this.cteNames)],
        this,
      );
      const renamed = names(fieldList(definition?.fields ?? {}, 'aliascolnames'));
      columns = new Map();
      fieldList(query.fields, 'targetList').forEach((target, i) => {
        const value = field(target.fields, 'val');
        if (value === undefined) return;
        const own =
          text(target.fields, 'name') ??
          (value.kind === 'ColumnRef' ? names(fieldList(value.fields, 'fields')).pop() : undefined);
        const name = renamed[i] ?? own;
        if (name !== undefined && name !== '*') columns?.set(name, resolver.typeOf(value));
      });
      if (
        fieldList(query.fields, 'targetList').some((t) => {
          const value = field(t.fields, 'val');
          return (
            value?.kind === 'ColumnRef' && names(fieldList(value.fields, 'fields')).includes('*')
          );
        })
      ) {
        columns = undefined; // SELECT *: the columns are the FROM items'
      }
    }
    this.busy.delete(cte);
    this.cache.set(cte, columns);
    return columns;
  }
}

function rangesOf(items: readonly Node[], cteNames: ReadonlySet<string>): RangeRef[] {
  const out: RangeRef[] = [];
  for (const item of items) {
    if (item.kind === 'RangeVar') {
      const name = text(item.fields, 'relname') ?? '';
      const schema = text(item.fields, 'schemaname');
      const cte = schema === undefined && cteNames.has(name);
      out.push({
        name: cte ? '' : name,
        schema,
        alias: aliasOf(item) ?? (cte ? name : undefined),
        ...(cte ? { cte: name } : {}),
      });
    } else if (item.kind === 'JoinExpr') {
      out.push(
        ...rangesOf(
          [field(item.fields, 'larg'), field(item.fields, 'rarg')].filter((n) => n !== undefined),
          cteNames,
        ),
      );
    } else {
      out.push({ name: '', schema: undefined, alias: aliasOf(item) }); // subquery, function…
    }
  }
  return out;
}

/**
 * Find the DocFusion calls in a statement and what their arguments are. Calls that keep
 * Postgres's built-in meaning (a `json` argument) are left out. Throws PgError 42883 for a
 * wrong argument count or type, and the function's own errors for bad constant arguments.
 */
export function findCalls(input: AnalyzeInput): DocFusionCall[] {
  // A name a WITH clause defines is the CTE, not a table of the catalog (its columns' types are
  // not known here: they count as opaque).
  const ctes = new Map<string, Node>();
  walk(input.statement, (node) => {
    if (node.kind === 'CommonTableExpr') {
      const name = text(node.fields, 'ctename');
      if (name !== undefined) ctes.set(name, node);
    }
  });
  const cteNames = new Set(ctes.keys());
  const scopes = scopesOfCalls(input.statement, cteNames);
  const cteColumns = new CteColumns(input, ctes, cteNames);
  const calls: DocFusionCall[] = [];
  walk(input.statement, (node, path) => {
    if (node.kind !== 'FuncCall') return;
    const fn = functionOf(node, input.functions);
    if (fn === undefined) return;
    const start = location(node);
    if (start === undefined) return;
    const span = callSpan(input.sql, start);
    const argNodes = fieldList(node.fields, 'args');
    if (span?.args.length !== argNodes.length) return; // not a plain call (VARIADIC, named args…)
    const args = argNodes.map((arg, i): CallArg => {
      const range = span.args[i] ?? [start, start];
      return {
        node: arg,
        span: range,
        type: new TypeResolver(input, scopes.get(node.fields) ?? [], cteColumns).typeOf(arg),
        constant: constantOf(arg),
      };
    });
    const builtin = BUILTIN_ON_JSON[fn.name];
    const first = args[0];
    if (
      builtin?.(args.length) === true &&
      first !== undefined &&
      (first.type === 'json' || first.type === 'unknown' || first.type === 'opaque')
    ) {
      return; // Postgres's own json function
    }
    checkArguments(fn, args, input.sql, start);
    calls.push({ fn, node, span, args, path: [...path] });
  });
  return calls;
}

function aliasOf(node: Node): string | undefined {
  const alias = node.fields.alias;
  return isFields(alias) ? text(alias, 'aliasname') : undefined;
}

/** The DocFusion function a FuncCall names (unqualified, or qualified with `docfusion`). */
export function functionOf(
  node: Node,
  functions: ReadonlyMap<string, DocFusionFunction>,
): DocFusionFunction | undefined {
  const parts = names(fieldList(node.fields, 'funcname'));
  const name = parts[parts.length - 1];
  if (name === undefined || parts.length > 2) return undefined;
  if (parts.length === 2 && parts[0] !== 'docfusion') return undefined;
  if (node.fields.agg_star === true || node.fields.func_variadic === true) return undefined;
  if (node.fields.over !== undefined || node.fields.agg_order !== undefined) return undefined;
  return functions.get(name);
}

function constantOf(node: Node): Value | undefined {
  if (node.kind !== 'A_Const') return undefined;
  if (node.fields.isnull === true) return null;
  return stringConstant(node);
}

/** Character position (1-based, as Postgres reports it) of a byte offset. */
export function characterPosition(sql: Buffer, byteOffset: number): number {
  const text = sql.toString('utf8', 0, byteOffset);
  const pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0;
  return text.length - pairs + 1;
}

function checkArguments(
  fn: DocFusionFunction,
  args: readonly CallArg[],
  sql: Buffer,
  callStart: number,
): void {
  const count = args.length;
  const fits =
    count >= fn.minArgs && (fn.variadic === undefined ? count <= fn.params.length : true);
  const badType = args.findIndex((arg, i) => {
    const role = i < fn.params.length ? fn.params[i] : fn.variadic;
    if (role === 'key') return arg.type === 'jsonb' || arg.type === 'json';
    return arg.type === 'other';
  });
  if (fits && badType < 0) {
    try {
      fn.bind(args.map((arg) => arg.constant));
    } catch (error) {
      if (error instanceof PgError && error.position === undefined) {
        const at =
          args.find((arg, i) => fn.params[i] === 'json' && typeof arg.constant === 'string') ??
          args.find((arg) => typeof arg.constant === 'string');
        throw new PgError(error.code, error.message, {
          ...(error.detail === undefined ? {} : { detail: error.detail }),
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          position: characterPosition(sql, at?.span[0] ?? callStart),
        });
      }
      throw error;
    }
    return;
  }
  const shown = args.map((arg) => (arg.type === 'opaque' ? 'unknown' : arg.type)).join(', ');
  throw new PgError(SqlState.UndefinedFunction, `function ${fn.name}(${shown}) does not exist`, {
    hint: `DocFusion's ${fn.name} takes ${fn.signature}.`,
    position: characterPosition(sql, args[badType]?.span[0] ?? callStart),
  });
}

class TypeResolver {
  constructor(
    private readonly input: AnalyzeInput,
    private readonly scopes: ScopeChain,
    private readonly ctes: CteColumns | undefined,
  ) {}

  typeOf(node: Node): TypeClass {
    switch (node.kind) {
      case 'A_Const':
        if (node.fields.isnull === true || stringConstant(node) !== undefined) return 'unknown';
        return 'other';
      case 'ParamRef': {
        const n = integer(node.fields, 'number') ?? 0;
        return typeClassOfOid(this.input.paramTypes[n - 1] ?? 0);
      }
      case 'TypeCast': {
        const typeName = struct(node.fields, 'typeName');
        if (!typeName) return 'opaque';
        if (fieldList(typeName, 'arrayBounds').length > 0) return 'other';
        const parts = names(fieldList(typeName, 'names'));
        return typeClassOfName(parts[parts.length - 1] ?? '');
      }
      case 'ColumnRef':
        return this.columnType(names(fieldList(node.fields, 'fields')));
      case 'A_Expr': {
        const op = names(fieldList(node.fields, 'name'))[0];
        const left = field(node.fields, 'lexpr');
        if ((op === '->' || op === '#>') && left) {
          const type = this.typeOf(left);
          return type === 'jsonb' || type === 'json' ? type : 'opaque';
        }
        if (op === '->>' || op === '#>>' || op === '||') return 'text';
        return 'opaque';
      }
      case 'FuncCall': {
        const fn = functionOf(node, this.input.functions);
        if (fn?.returns.oid === 3802) return 'jsonb';
        if (fn?.returns.oid === 25) return 'text';
        return fn ? 'other' : 'opaque';
      }
      default:
        return 'opaque';
    }
  }

  private columnType(parts: readonly string[]): TypeClass {
    const column = parts[parts.length - 1];
    if (column === undefined || column === '*') return 'opaque';
    const qualifier = parts.length >= 2 ? parts[parts.length - 2] : undefined;
    const schema = parts.length >= 3 ? parts[parts.length - 3] : undefined;
    for (const ranges of this.scopes) {
      const candidates = ranges.filter((range) =>
        qualifier === undefined
          ? true
          : range.alias !== undefined
            ? range.alias === qualifier
            : range.name === qualifier && (schema === undefined || schema === range.schema),
      );
      if (candidates.length === 0) continue;
      // A CTE in scope may define the column (typed from its SELECT list); a subquery or a
      // function in FROM may too, with a type not known here.
      for (const range of candidates) {
        if (range.name !== '') continue;
        const type = range.cte === undefined ? undefined : this.ctes?.typeOf(range.cte, column);
        if (type !== undefined) return type;
        if (range.cte === undefined || qualifier !== undefined) return 'opaque';
        if (this.ctes?.defines(range.cte, column) !== false) return 'opaque';
      }
      const found = new Set<TypeClass>();
      for (const range of candidates) {
        for (const relation of this.input.relations.get(range.name) ?? []) {
          const inSchema =
            range.schema === undefined ? relation.visible : relation.schema === range.schema;
          if (!inSchema) continue;
          const oid = relation.columns.get(column);
          if (oid !== undefined) found.add(typeClassOfOid(oid));
        }
      }
      if (found.size === 0) continue; // an outer query's column (correlated subquery)
      const only = [...found];
      return only.length === 1 && only[0] !== undefined ? only[0] : 'opaque';
    }
    return 'opaque';
  }
}
