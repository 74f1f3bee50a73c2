import type { DocFusionFunction } from '../udf/function.js';
import { functionOf } from './analyze.js';
import { asNode, isFields, location } from './ast.js';
import type { Plan } from './planner.js';
import type { DerivedPiece, Piece } from './pushdown.js';
import { findLiterals, type Literal } from './sql-text.js';

/**
 * Plans shared by statements that differ only in constants. A statement's shape is its text with
 * every literal replaced by a marker of its kind (string, integer, decimal); a template is the
 * plan made for one statement of that shape, with the literals whose values the plan provably
 * does not depend on marked as holes. A statement of the same shape whose other literals are
 * byte-equal to the template's gets the template's plan, with its own literals spliced into the
 * holes exactly as the client wrote them: the pushed SQL is the one planning it afresh would give.
 *
 * A literal is a hole only when all of this holds (anything else is compared byte for byte):
 * - the scan of the text and libpg-query agree that it is a constant (an A_Const starts there);
 * - no expression it is part of, below AND / OR / NOT and the clause, involves a DocFusion call
 *   (so call arguments such as keys, paths and patterns, the value an Inexact superset is built
 *   from, COALESCE / CASE / IN lists around a call are all compared);
 * - it is not in ORDER BY, GROUP BY, DISTINCT ON, WINDOW, LIMIT or OFFSET;
 * - the statement is a single SELECT, INSERT, UPDATE or DELETE, planned `forward`, or `rewrite`
 *   with pushdown on (residual and EXPLAIN plans read constants; they are cached by exact text);
 * - in a rewrite, the literal lies in text the rewrite copies verbatim.
 */

export interface StatementShape {
  /** The text with each literal replaced by NUL and its kind (SQL text holds no NUL). */
  readonly key: string;
  readonly literals: readonly Literal[];
  /** The text, one character per byte (latin1): byte-exact comparisons and ASCII slices. */
  readonly bytes: string;
  /** Every byte is ASCII: `bytes` slices are the UTF-8 text. */
  readonly ascii: boolean;
}

// eslint-disable-next-line no-control-regex -- bytes ≥ 0x80, as latin1 characters
const NON_ASCII = /[^\x00-\x7f]/;

/** The shape of a statement, or undefined when it has none (a NUL byte, an open string). */
export function shapeOf(sql: Buffer): StatementShape | undefined {
  if (sql.indexOf(0) >= 0) return undefined;
  const literals = findLiterals(sql);
  if (literals === undefined) return undefined;
  const bytes = sql.toString('latin1');
  let key = '';
  let at = 0;
  for (const literal of literals) {
    key += `${bytes.slice(at, literal.start)}\0${literal.kind}`;
    at = literal.end;
  }
  key += bytes.slice(at);
  return { key, literals, bytes, ascii: !NON_ASCII.test(bytes) };
}

export interface PlanTemplate {
  /** The plan made for the statement the template was built from (forward or rewrite). */
  readonly plan: Plan & { readonly kind: 'forward' | 'rewrite' };
  /** Per literal of the shape: its exact text (latin1) when it must match, undefined for a hole. */
  readonly fixed: readonly (string | undefined)[];
  /**
   * A rewrite's SQL: text; a literal index, where the statement's own literal goes as written;
   * or text derived from a literal's value (the value must be one `accepts` takes).
   */
  readonly parts: readonly Part[];
}

type Part = string | number | { readonly literal: number; readonly derived: DerivedPiece };

export interface TemplateInput {
  readonly sql: Buffer;
  readonly shape: StatementShape;
  /** The parsed statement (there must be exactly one). */
  readonly statement: unknown;
  readonly functions: ReadonlyMap<string, DocFusionFunction>;
  readonly plan: Plan;
  /** A rewrite: how its SQL was rendered (verbatim byte ranges and generated text). */
  readonly pieces: readonly Piece[] | undefined;
}

const SHAREABLE = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt']);

/** A template of `input.plan`, or undefined when the plan cannot be shared. */
export function templateOf(input: TemplateInput): PlanTemplate | undefined {
  const { plan, shape, sql } = input;
  if (plan.kind !== 'forward' && plan.kind !== 'rewrite') return undefined;
  const kind = asNode(input.statement)?.kind;
  if (kind === undefined || !SHAREABLE.has(kind)) return undefined;
  if (plan.kind === 'rewrite' && input.pieces === undefined) return undefined;
  const pieces = input.pieces ?? [];
  const free =
    shape.literals.length === 0
      ? new Map<number, 'S' | 'N'>()
      : valueFreeConstants(input.statement, input.functions);
  const indexAt = new Map(shape.literals.map((literal, i) => [literal.start, i]));
  // A string literal a derived piece reads (the value of an Inexact superset) is a hole although
  // it sits beside a DocFusion call: the piece is the planner's only use of its value.
  const derivedFrom = new Set<number>();
  for (const piece of pieces) {
    if (typeof piece === 'string' || !('render' in piece)) continue;
    const i = indexAt.get(piece.literal[0]);
    const literal = i === undefined ? undefined : shape.literals[i];
    if (i !== undefined && literal?.kind === 'S' && literal.end === piece.literal[1]) {
      derivedFrom.add(i);
    }
  }
  const verbatim = pieces.filter(isVerbatim);
  const holes = shape.literals.map((literal, i) => {
    const constant = free.get(literal.start);
    const valueFree = constant !== undefined && constant === (literal.kind === 'S' ? 'S' : 'N');
    if (!valueFree && !derivedFrom.has(i)) return false;
    if (plan.kind === 'forward') return true;
    return verbatim.some(([start, end]) => start <= literal.start && literal.end <= end);
  });
  const fixed = shape.literals.map((literal, i) =>
    holes[i] ? undefined : shape.bytes.slice(literal.start, literal.end),
  );
  const parts: Part[] = [];
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      parts.push(piece);
    } else if ('render' in piece) {
      const i = indexAt.get(piece.literal[0]);
      parts.push(
        i !== undefined && holes[i] === true
          ? { literal: i, derived: piece }
          : piece.render(piece.value),
      );
    } else {
      let at = piece[0];
      shape.literals.forEach((literal, i) => {
        if (holes[i] !== true || literal.start < piece[0] || literal.end > piece[1]) return;
        parts.push(sql.toString('utf8', at, literal.start), i);
        at = literal.end;
      });
      parts.push(sql.toString('utf8', at, piece[1]));
    }
  }
  return { plan, fixed, parts: mergeText(parts) };
}

/** Does the statement of `shape` (same key as the template's) match the template's constants? */
export function matches(template: PlanTemplate, shape: StatementShape): boolean {
  const { fixed } = template;
  if (fixed.length !== shape.literals.length) return false;
  for (let i = 0; i < fixed.length; i++) {
    const text = fixed[i];
    if (text === undefined) continue;
    const literal = shape.literals[i];
    if (literal === undefined || shape.bytes.slice(literal.start, literal.end) !== text) {
      return false;
    }
  }
  return true;
}

/**
 * The template's plan for a statement it matches: its literals spliced into the holes. Undefined
 * when a literal's value is one the planner would have planned differently (plan it afresh).
 * A rewrite's `calls` and `inexact` describe the statement the template was made from.
 */
export function instantiate(
  template: PlanTemplate,
  shape: StatementShape,
  sql: Buffer,
): Plan | undefined {
  const plan = template.plan;
  if (plan.kind === 'forward') return plan;
  const textOf = (literal: Literal): string =>
    shape.ascii
      ? shape.bytes.slice(literal.start, literal.end)
      : sql.toString('utf8', literal.start, literal.end);
  let text = '';
  for (const part of template.parts) {
    if (typeof part === 'string') {
      text += part;
      continue;
    }
    const literal = shape.literals[typeof part === 'number' ? part : part.literal];
    if (literal === undefined) return undefined;
    if (typeof part === 'number') {
      text += textOf(literal);
      continue;
    }
    // A plain string literal (no backslash: see findLiterals): its value is its text unquoted.
    const value = textOf(literal).slice(1, -1).replaceAll("''", "'");
    if (!part.derived.accepts(value)) return undefined;
    text += part.derived.render(value);
  }
  return { kind: 'rewrite', sql: text, calls: plan.calls, inexact: plan.inexact };
}

/** Nodes that separate an expression from its neighbours: a call in one taints not the other. */
const BOUNDARIES = new Set([
  'SelectStmt',
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'BoolExpr',
  'ResTarget',
  'RangeSubselect',
  'CommonTableExpr',
  'JoinExpr',
]);

/** Clauses whose constants always count (they may change row count, order or positions). */
const KEYED_CLAUSES = new Set([
  'sortClause',
  'groupClause',
  'distinctClause',
  'windowClause',
  'limitCount',
  'limitOffset',
]);

/**
 * Byte offsets of the A_Const nodes outside every expression involving a DocFusion call and
 * outside the keyed clauses, with their kind ('S' string, 'N' number; others are left out). One
 * pass, bottom up: a subtree reports whether it holds a DocFusion call and its constants still
 * free; a node that is not a boundary and holds a call frees none of them.
 */
function valueFreeConstants(
  statement: unknown,
  functions: ReadonlyMap<string, DocFusionFunction>,
): Map<number, 'S' | 'N'> {
  const free = new Map<number, 'S' | 'N'>();
  interface Found {
    call: boolean;
    constants: [number, 'S' | 'N'][];
  }
  const merge = (into: Found, from: Found): void => {
    into.call ||= from.call;
    for (const constant of from.constants) into.constants.push(constant);
  };
  const visit = (value: unknown): Found => {
    const found: Found = { call: false, constants: [] };
    if (Array.isArray(value)) {
      for (const item of value) merge(found, visit(item));
      return found;
    }
    if (!isFields(value)) return found;
    const node = asNode(value);
    if (node?.kind === 'A_Const') {
      const at = location(node);
      if (at === undefined) return found;
      if (isFields(node.fields.sval)) found.constants.push([at, 'S']);
      else if (isFields(node.fields.ival) || isFields(node.fields.fval)) {
        found.constants.push([at, 'N']);
      }
      return found;
    }
    found.call = node?.kind === 'FuncCall' && functionOf(node, functions) !== undefined;
    for (const key in node?.fields ?? value) {
      const child = (node?.fields ?? value)[key];
      if (typeof child !== 'object' || child === null) continue;
      const inner = visit(child);
      if (KEYED_CLAUSES.has(key)) inner.constants = [];
      merge(found, inner);
    }
    if (found.call && node !== undefined && !BOUNDARIES.has(node.kind)) found.constants = [];
    return found;
  };
  for (const [at, kind] of visit(statement).constants) free.set(at, kind);
  return free;
}

function isVerbatim(piece: Piece): piece is readonly [number, number] {
  return typeof piece !== 'string' && !('render' in piece);
}

function mergeText(parts: readonly Part[]): Part[] {
  const out: Part[] = [];
  for (const part of parts) {
    const last = out[out.length - 1];
    if (typeof part === 'string' && typeof last === 'string') out[out.length - 1] = last + part;
    else if (part !== '') out.push(part);
  }
  return out;
}
