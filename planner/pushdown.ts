import type { DocFusionCall, CallArg } from './analyze.js';
import { field, fieldList, names, stringConstant, location, walk, type Node } from './ast.js';
import { tokenEnd } from './sql-text.js';

/** A replacement of a byte range of the statement text. */
interface Edit {
  readonly start: number;
  readonly end: number;
  readonly render: (text: TextRenderer) => string | readonly Piece[];
  /** Renders its own range again inside (a conjunct wrapped with its superset). */
  readonly wraps?: boolean;
}

/**
 * Generated text that depends on the value of one string literal of the statement (and on
 * nothing else the statement's shape does not fix): a shared plan renders it again for another
 * value that `accepts` takes (see plan-template.ts).
 */
export interface DerivedPiece {
  /** The literal's byte range. */
  readonly literal: readonly [number, number];
  /** Its value in this statement. */
  readonly value: string;
  /** Would the planner have made the same decision for this value? */
  readonly accepts: (value: string) => boolean;
  readonly render: (value: string) => string;
}

/** Rendered text: a byte range of the statement copied verbatim, or generated text. */
export type Piece = string | readonly [number, number] | DerivedPiece;

/** Why an index-friendly superset was added beside an exact conjunct. */
export interface InexactNote {
  readonly exact: string;
  readonly inexact: string;
}

/** How one conjunct was planned, for EXPLAIN. */
export interface Rewritten {
  readonly sql: string;
  readonly inexact: readonly InexactNote[];
}

/**
 * Renders byte ranges of the original statement with DocFusion calls replaced by their native
 * SQL: the client's own text (casing, comments, `$1::jsonb`) survives everywhere else.
 */
export class TextRenderer {
  private readonly edits: Edit[];

  constructor(
    private readonly sql: Buffer,
    edits: readonly Edit[],
  ) {
    // Outer edits first; of two with the same range, the wrapper (a conjunct with its superset)
    // before the call it wraps.
    this.edits = [...edits].sort(
      (a, b) =>
        a.start - b.start || b.end - a.end || Number(b.wraps === true) - Number(a.wraps === true),
    );
  }

  /**
   * The text of [start, end) with every edit inside it applied. `expression`: the range is an
   * expression inside a larger one, so insertions at its very end (a select-list alias) are not
   * part of it.
   */
  range(start: number, end: number, expression = false): string {
    return this.text(this.pieces(start, end, expression));
  }

  /** The text of rendered pieces. */
  text(pieces: readonly Piece[]): string {
    let out = '';
    for (const piece of pieces) {
      if (typeof piece === 'string') out += piece;
      else if ('render' in piece) out += piece.render(piece.value);
      else out += this.sql.toString('utf8', piece[0], piece[1]);
    }
    return out;
  }

  /**
   * What `range` renders, as the byte ranges it copies verbatim and the text edits generate
   * between them (how a plan template knows where the statement's literals land).
   */
  pieces(start: number, end: number, expression = false): Piece[] {
    const out: Piece[] = [];
    let cursor = start;
    for (const edit of this.edits) {
      // An edit rendering its own range (a conjunct wrapped with its superset) sees the calls
      // inside it, not itself.
      if (edit.start < cursor || edit.end > end || this.rendering.has(edit)) continue;
      if (expression && edit.start === end && edit.end === end) continue;
      if (cursor < edit.start) out.push([cursor, edit.start]);
      this.rendering.add(edit);
      try {
        const rendered = edit.render(this);
        if (typeof rendered === 'string') out.push(rendered);
        else out.push(...rendered);
      } finally {
        this.rendering.delete(edit);
      }
      cursor = edit.end;
    }
    if (cursor < end) out.push([cursor, end]);
    return out;
  }

  private readonly rendering = new Set<Edit>();
}

/** An argument as native SQL of the type the pushdown expects (jsonb for documents). */
export function argumentSql(call: DocFusionCall, arg: CallArg, text: TextRenderer): string {
  const index = call.args.indexOf(arg);
  const role = index < call.fn.params.length ? call.fn.params[index] : call.fn.variadic;
  const rendered = text.range(arg.span[0], arg.span[1]);
  if (role === 'key') return rendered;
  if (arg.type === 'jsonb') return isAtom(rendered) ? rendered : `(${rendered})`;
  return isAtom(rendered) ? `${rendered}::jsonb` : `(${rendered})::jsonb`;
}

function isAtom(sql: string): boolean {
  return /^(?:[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*|\$[0-9]+|'(?:[^']|'')*')$/.test(
    sql,
  );
}

/** The native SQL of a call (its arguments rendered recursively). */
export function callSql(call: DocFusionCall, text: TextRenderer): string | undefined {
  const pushdown = call.fn.pushdown;
  if (pushdown === undefined) return undefined;
  return pushdown(call.args.map((arg) => argumentSql(call, arg, text)));
}

/** Edits replacing each pushable call, naming bare select-list calls after the function. */
export function callEdits(statement: unknown, calls: readonly DocFusionCall[]): Edit[] {
  const edits: Edit[] = [];
  const byNode = new Map<unknown, DocFusionCall>(calls.map((call) => [call.node.fields, call]));
  for (const call of calls) {
    edits.push({
      start: call.span.start,
      end: call.span.end,
      render: (text) => callSql(call, text) ?? '',
    });
  }
  walk(statement, (node) => {
    if (node.kind !== 'ResTarget' || node.fields.name !== undefined) return;
    const value = field(node.fields, 'val');
    const call = value ? byNode.get(value.fields) : undefined;
    if (call === undefined) return;
    const name = call.fn.name;
    edits.push({ start: call.span.end, end: call.span.end, render: () => ` AS ${name}` });
  });
  return edits;
}

/**
 * Index-friendly supersets (Inexact verdicts) for WHERE conjuncts of any SELECT:
 * `json_extract_path(doc,'k') = 'v'` also pushes `doc @> '{"k":"v"}'`, and
 * `json_exists(doc,'k')` also pushes `doc ? 'k'`, when that is equivalent-or-wider.
 */
export function inexactEdits(
  sql: Buffer,
  statement: unknown,
  calls: readonly DocFusionCall[],
  notes: InexactNote[],
): Edit[] {
  const byNode = new Map<unknown, DocFusionCall>(calls.map((call) => [call.node.fields, call]));
  const edits: Edit[] = [];
  walk(statement, (node) => {
    if (node.kind !== 'SelectStmt') return;
    const where = field(node.fields, 'whereClause');
    if (!where) return;
    for (const conjunct of conjuncts(where)) {
      const edit = inexactFor(sql, conjunct, byNode, notes);
      if (edit) edits.push(edit);
    }
  });
  return edits;
}

export function conjuncts(where: Node): Node[] {
  if (where.kind === 'BoolExpr' && where.fields.boolop === 'AND_EXPR') {
    return fieldList(where.fields, 'args').flatMap(conjuncts);
  }
  return [where];
}

function inexactFor(
  sql: Buffer,
  conjunct: Node,
  byNode: ReadonlyMap<unknown, DocFusionCall>,
  notes: InexactNote[],
): Edit | undefined {
  if (conjunct.kind === 'FuncCall') {
    const call = byNode.get(conjunct.fields);
    if (call?.fn.name !== 'json_exists' || call.args.length !== 2) return undefined;
    const doc = indexedDocument(call);
    const key = call.args[1]?.constant;
    if (doc === undefined || typeof key !== 'string' || isIndexLike(key)) return undefined;
    const superset = `${doc} ? ${quoteLiteral(key)}`;
    return wrap(call.span.start, call.span.end, [superset], notes);
  }
  if (conjunct.kind !== 'A_Expr' || conjunct.fields.kind !== 'AEXPR_OP') return undefined;
  if (names(fieldList(conjunct.fields, 'name')).join('.') !== '=') return undefined;
  const left = field(conjunct.fields, 'lexpr');
  const right = field(conjunct.fields, 'rexpr');
  if (!left || !right) return undefined;
  const [callNode, constNode] = left.kind === 'FuncCall' ? [left, right] : [right, left];
  const call = byNode.get(callNode.fields);
  const value = stringConstant(constNode);
  const at = location(constNode);
  if (call?.fn.name !== 'json_extract_path' || value === undefined || at === undefined) {
    return undefined;
  }
  const doc = indexedDocument(call);
  const keys = call.args.slice(1).map((arg) => arg.constant);
  if (doc === undefined || !canBeOnlyAString(value)) return undefined;
  const path: string[] = [];
  for (const key of keys) {
    if (typeof key !== 'string' || isIndexLike(key)) return undefined;
    path.push(key);
  }
  const constEnd = tokenEnd(sql, at);
  // The pattern is the one thing here that depends on the value: a shared plan renders it again.
  const pattern: DerivedPiece = {
    literal: [at, constEnd],
    value,
    accepts: canBeOnlyAString,
    render: (v) => {
      let nested: unknown = v;
      for (let i = path.length - 1; i >= 0; i--) nested = { [path[i] ?? '']: nested };
      return quoteLiteral(JSON.stringify(nested));
    },
  };
  const start = Math.min(call.span.start, at);
  const end = Math.max(call.span.end, constEnd);
  return wrap(start, end, [`${doc} @> `, pattern], notes);
}

function wrap(start: number, end: number, superset: readonly Piece[], notes: InexactNote[]): Edit {
  return {
    start,
    end,
    wraps: true,
    render: (text) => {
      const exact = text.pieces(start, end);
      notes.push({ exact: text.text(exact), inexact: text.text(superset) });
      return ['(', ...exact, ' AND ', ...superset, ')'];
    },
  };
}

/** The document argument when it is a plain jsonb column (what a GIN index can serve). */
function indexedDocument(call: DocFusionCall): string | undefined {
  const doc = call.args[0];
  if (doc?.node.kind !== 'ColumnRef' || doc.type !== 'jsonb') return undefined;
  const parts = names(fieldList(doc.node.fields, 'fields'));
  return parts.every((p) => /^[a-z_][a-z0-9_]*$/.test(p)) ? parts.join('.') : undefined;
}

/** A key that could index an array: then `@>`/`?` on objects is not a superset. */
function isIndexLike(key: string): boolean {
  return /^\s*[+-]?\d+\s*$/.test(key);
}

/**
 * `doc #>> '{k}' = v` also holds for numbers, booleans, objects and arrays whose text is `v`;
 * the containment superset only covers strings, so it is pushed only when `v` cannot be the
 * text of anything but a string.
 */
function canBeOnlyAString(value: string): boolean {
  if (value === 'true' || value === 'false') return false;
  if (/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(value)) return false;
  return !value.startsWith('{') && !value.startsWith('[');
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
