import { PgError, SqlState } from '../protocol/pg-error.js';
import type { DocFusionFunction } from '../udf/function.js';
import { findCalls, relationNames, type DocFusionCall } from './analyze.js';
import { asNode, field } from './ast.js';
import type { Catalog } from './catalog.js';
import { Prefilter } from './prefilter.js';
import { templateOf, type PlanTemplate, type StatementShape } from './plan-template.js';
import { callEdits, inexactEdits, TextRenderer, type InexactNote, type Piece } from './pushdown.js';
import { planResidual, type ResidualPlan } from './residual-plan.js';
import type { Token } from './select-clauses.js';
import { findWords, WordSet } from './sql-text.js';

/** What the planner decided for one Query or Parse. */
export type Plan =
  /** No DocFusion call: the original bytes go upstream. */
  | { readonly kind: 'forward' }
  /** Every call pushed down: this SQL goes upstream instead, and replies pass through. */
  | {
      readonly kind: 'rewrite';
      readonly sql: string;
      readonly calls: readonly DocFusionCall[];
      readonly inexact: readonly InexactNote[];
    }
  /** Part of the work runs in the proxy over Arrow batches. */
  | { readonly kind: 'residual'; readonly plan: ResidualPlan }
  /** EXPLAIN of a planned statement: the DocFusion plan, then Postgres's plan of `sql`. */
  | {
      readonly kind: 'explain';
      readonly sql: string;
      readonly lines: readonly string[];
      /** EXPLAIN ANALYZE of a residual plan: the proxy runs it too, for rows and time. */
      readonly analyze?: ResidualPlan;
    };

export interface PlanOptions {
  /** SET docfusion.pushdown: off evaluates every DocFusion call in the proxy. */
  readonly pushdown: boolean;
  /** Parameter types declared in Parse. */
  readonly paramTypes: readonly number[];
}

/** A name libpg-query's grammar reserves (SQL/JSON JSON_EXISTS): masked before parsing. */
const MASKED: Readonly<Record<string, string>> = { json_exists: '__df_exists' };
const MASKED_WORDS = new WordSet(Object.keys(MASKED));

/** A parser: libpg-query's parseSync, injected so the planner stays free of loading concerns. */
export type ParseFn = (sql: string) => readonly { readonly stmt: unknown }[];

/** The scanner: libpg-query's scanSync, injected like the parser. */
export type ScanFn = (sql: string) => readonly Token[];

export class Planner {
  private readonly prefilter: Prefilter;
  private readonly functions: ReadonlyMap<string, DocFusionFunction>;

  constructor(
    functions: ReadonlyMap<string, DocFusionFunction>,
    private readonly parse: ParseFn,
    private readonly scan: ScanFn,
  ) {
    const all = new Map(functions);
    for (const [name, masked] of Object.entries(MASKED)) {
      const fn = functions.get(name);
      if (fn) all.set(masked, fn);
    }
    this.functions = all;
    this.prefilter = new Prefilter(new Set(functions.keys()));
  }

  /** Tokens of the statement from its SELECT (or WITH) on, past any EXPLAIN prefix. */
  private selectTokens(sql: Buffer): readonly Token[] {
    let tokens: readonly Token[];
    try {
      tokens = this.scan(sql.toString('utf8'));
    } catch {
      return []; // the scanner refused the text (control characters): no clause boundaries
    }
    let depth = 0;
    for (let i = 0; i < tokens.length; i++) {
      const word = tokens[i]?.text.toLowerCase();
      if (word === '(') depth++;
      else if (word === ')') depth--;
      else if (depth === 0 && (word === 'select' || word === 'with')) return tokens.slice(i);
    }
    return tokens;
  }

  /** Pushdown off, but the proxy cannot evaluate the statement: every call pushed after all. */
  private pushedAnyway(sql: Buffer, catalog: Catalog, options: PlanOptions): Promise<Plan> {
    return this.plan(sql, catalog, { ...options, pushdown: true });
  }

  /** The cheap test every Query and Parse goes through. */
  mayPlan(sql: Buffer): boolean {
    return this.prefilter.mayCall(sql);
  }

  /**
   * Plan one Query or Parse text that passed the prefilter. Throws PgError for bad calls
   * (42883, 22P02, 22023, 0A000).
   */
  async plan(sql: Buffer, catalog: Catalog, options: PlanOptions): Promise<Plan> {
    return (await this.planWith(sql, undefined, catalog, options)).plan;
  }

  /**
   * Plan like `plan`, and also give a template of the plan that statements of the same shape
   * (differing only in constants the plan does not depend on) may share (see plan-template.ts).
   */
  async planShared(
    sql: Buffer,
    shape: StatementShape | undefined,
    catalog: Catalog,
    options: PlanOptions,
  ): Promise<SharedPlan & { readonly relations: readonly string[] }> {
    const relations: string[] = [];
    const planned = await this.planWith(sql, shape, catalog, options, relations);
    return { ...planned, relations };
  }

  /** `relations` gets the names of the relations whose columns the plan was made from. */
  private async planWith(
    sql: Buffer,
    shape: StatementShape | undefined,
    catalog: Catalog,
    options: PlanOptions,
    relations: string[] = [],
  ): Promise<SharedPlan> {
    const masked = mask(sql);
    let statements: readonly { readonly stmt: unknown }[];
    try {
      statements = this.parse(masked.toString('utf8'));
    } catch {
      return { plan: { kind: 'forward' }, template: undefined }; // Postgres reports the error
    }
    const template = (plan: Plan, pieces?: readonly Piece[]): SharedPlan => ({
      plan,
      template:
        shape !== undefined && statements.length === 1
          ? templateOf({
              sql,
              shape,
              statement: statements[0]?.stmt,
              functions: this.functions,
              plan,
              pieces,
            })
          : undefined,
    });
    const names = statements.flatMap((s) => relationNames(s.stmt));
    relations.push(...names);
    const columns = catalog.cached(names) ?? (await catalog.relations(names));
    const calls: DocFusionCall[] = [];
    let explain: { analyze: boolean; query: unknown } | undefined;
    for (const { stmt } of statements) {
      const node = asNode(stmt);
      if (
        node?.kind === 'ExplainStmt' &&
        statements.length === 1 &&
        !hasOption(node.fields.options, 'format')
      ) {
        explain = { analyze: hasOption(node.fields.options, 'analyze'), query: node.fields.query };
      }
      calls.push(
        ...findCalls({
          sql: masked,
          statement: stmt,
          functions: this.functions,
          paramTypes: options.paramTypes,
          relations: columns,
        }),
      );
    }
    if (calls.length === 0) return template({ kind: 'forward' });
    const arrowOnly = calls.filter((call) => call.fn.pushdown === undefined);
    if (arrowOnly.length === 0 && options.pushdown) {
      const inexact: InexactNote[] = [];
      const edits = [
        ...statements.flatMap(({ stmt }) => callEdits(stmt, calls)),
        ...statements.flatMap(({ stmt }) => inexactEdits(masked, stmt, calls, inexact)),
      ];
      const renderer = new TextRenderer(sql, edits);
      if (explain) return unshared(explainPlan(renderer.range(0, sql.length), calls, inexact));
      const pieces = renderer.pieces(0, sql.length);
      return template({ kind: 'rewrite', sql: renderer.text(pieces), calls, inexact }, pieces);
    }
    const only = statements.length === 1 ? asNode(statements[0]?.stmt) : undefined;
    const select = explain ? asNode(explain.query) : only;
    if (select?.kind === 'SelectStmt') {
      const residual = planResidual({
        sql,
        select,
        tokens: this.selectTokens(masked),
        calls,
        pushdown: options.pushdown,
      });
      if (residual.kind === 'planned') {
        if (explain) {
          const prefix = sql.toString('utf8', 0, this.selectTokens(masked)[0]?.start ?? 0);
          return unshared({
            kind: 'explain',
            sql: `${prefix}${residual.plan.pushedSql}`,
            lines: [...residual.plan.explain, 'Postgres plan of the pushed SQL:'],
            ...(explain.analyze ? { analyze: residual.plan } : {}),
          });
        }
        return unshared({ kind: 'residual', plan: residual.plan });
      }
      if (arrowOnly.length === 0) return unshared(await this.pushedAnyway(sql, catalog, options));
      throw unsupported(residual.reason);
    }
    if (arrowOnly.length === 0) return unshared(await this.pushedAnyway(sql, catalog, options));
    const first = arrowOnly[0];
    throw unsupported(
      `${first?.fn.name ?? 'this function'} runs only in the proxy, which evaluates it in the ` +
        `result of a single SELECT (not in ${describe(only?.kind)})`,
    );
  }
}

/** A plan and, when statements of its shape may share it, its template. */
export interface SharedPlan {
  readonly plan: Plan;
  readonly template: PlanTemplate | undefined;
}

function unshared(plan: Plan): SharedPlan {
  return { plan, template: undefined };
}

function unsupported(reason: string): PgError {
  return new PgError(
    SqlState.FeatureNotSupported,
    `DocFusion cannot plan this statement: ${reason}`,
  );
}

function describe(kind: string | undefined): string {
  switch (kind) {
    case undefined:
      return 'a multi-statement query';
    case 'InsertStmt':
      return 'INSERT';
    case 'UpdateStmt':
      return 'UPDATE';
    case 'DeleteStmt':
      return 'DELETE';
    case 'ExplainStmt':
      return 'EXPLAIN';
    default:
      return kind.replace(/Stmt$/, '').toUpperCase();
  }
}

function hasOption(options: unknown, name: string): boolean {
  if (!Array.isArray(options)) return false;
  return options.some((option) => {
    const node = asNode(option);
    if (node?.kind !== 'DefElem' || node.fields.defname !== name) return false;
    const arg = field(node.fields, 'arg');
    return arg?.fields.boolval !== false;
  });
}

function explainPlan(
  sql: string,
  calls: readonly DocFusionCall[],
  inexact: readonly InexactNote[],
): Plan {
  const lines = ['DocFusion plan: pushed down entirely'];
  for (const call of calls) lines.push(`  ${call.fn.name}: Exact (native SQL)`);
  for (const note of inexact) lines.push(`  Inexact superset for the index: ${note.inexact}`);
  lines.push('Postgres plan of the pushed SQL:');
  return { kind: 'explain', sql, lines };
}

function mask(sql: Buffer): Buffer {
  let out: Buffer | undefined;
  for (const at of findWords(sql, MASKED_WORDS)) {
    out ??= Buffer.from(sql);
    const word = sql.toString('latin1', at, at + 11).toLowerCase();
    const replacement = MASKED[word];
    if (replacement !== undefined) out.write(replacement, at, 'latin1');
  }
  return out ?? sql;
}
