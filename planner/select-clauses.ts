/** A token with byte offsets (libpg-query's scanner). */
export interface Token {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

export type Span = readonly [number, number];

/** The byte ranges of a plain SELECT's clauses, found from its tokens at parenthesis depth 0. */
export interface SelectClauses {
  /** `WITH …` up to (not including) SELECT. */
  readonly with: Span | undefined;
  readonly distinct: boolean;
  /** Each select-list item, its alias removed. */
  readonly targets: readonly Span[];
  readonly from: Span | undefined;
  readonly where: Span | undefined;
  /** WHERE split on its top-level AND (BETWEEN … AND … kept whole). */
  readonly conjuncts: readonly Span[];
  readonly groupBy: Span | undefined;
  readonly having: Span | undefined;
  /** Each ORDER BY item, with its direction and NULLS. */
  readonly orderBy: readonly Span[];
  readonly limit: Span | undefined;
  readonly offset: Span | undefined;
}

const CLAUSES = new Set(['from', 'where', 'group', 'having', 'order', 'limit', 'offset']);
/** Clauses the residual planner does not take apart: such statements are not split. */
const UNSUPPORTED = new Set([
  'window',
  'fetch',
  'for',
  'union',
  'intersect',
  'except',
  'into',
  'select',
]);

/**
 * Split a SELECT's text into clauses, or undefined when it has a shape this splitter does not
 * know (set operations, WINDOW, FETCH, FOR UPDATE, INTO, DISTINCT ON). `aliases[i]` tells
 * whether select-list item i ends in an alias to strip.
 */
export function splitSelect(
  tokens: readonly Token[],
  aliases: readonly boolean[],
): SelectClauses | undefined {
  let depth = 0;
  const top: { index: number; word: string }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === undefined) continue;
    if (token.text === '(' || token.text === '[') depth++;
    else if (token.text === ')' || token.text === ']') depth--;
    else if (depth === 0) {
      const word = token.text.toLowerCase();
      // `IS DISTINCT FROM` is an operator, not the FROM clause.
      if (word === 'from' && tokens[i - 1]?.text.toLowerCase() === 'distinct' && i > 1) {
        if (tokens[i - 2]?.text.toLowerCase() !== 'select') continue;
      }
      top.push({ index: i, word });
    }
  }
  const selectAt = top.find((t) => t.word === 'select');
  if (selectAt === undefined) return undefined;
  const withSpan: Span | undefined =
    top[0]?.word === 'with' && selectAt.index > 0
      ? [tokens[0]?.start ?? 0, tokens[selectAt.index - 1]?.end ?? 0]
      : undefined;
  if (withSpan === undefined && selectAt.index !== 0) return undefined;
  const after = top.filter((t) => t.index > selectAt.index);
  const boundaries: { index: number; word: string }[] = [];
  for (const t of after) {
    if (UNSUPPORTED.has(t.word)) return undefined;
    if (CLAUSES.has(t.word)) boundaries.push(t);
  }
  let listStart = selectAt.index + 1;
  let distinct = false;
  const first = tokens[listStart]?.text.toLowerCase();
  if (first === 'distinct') {
    if (tokens[listStart + 1]?.text.toLowerCase() === 'on') return undefined;
    distinct = true;
    listStart++;
  } else if (first === 'all') listStart++;
  const end = tokens.length;
  const clauseEnd = (from: number): number => boundaries.find((b) => b.index > from)?.index ?? end;
  const range = (from: number, to: number): Span | undefined => {
    const a = tokens[from];
    const b = tokens[to - 1];
    if (a === undefined || b === undefined || to <= from) return undefined;
    return [a.start, b.end];
  };
  const clause = (word: string, skip = 1): { from: number; to: number } | undefined => {
    const at = boundaries.find((b) => b.word === word);
    if (at === undefined) return undefined;
    return { from: at.index + skip, to: clauseEnd(at.index) };
  };
  const listEnd = clauseEnd(selectAt.index);
  const targets = splitOn(tokens, listStart, listEnd, ',').map((item, i) => {
    const from = item[0];
    let to = item[1];
    if (aliases[i] === true) {
      to--; // the alias
      if (tokens[to - 1]?.text.toLowerCase() === 'as') to--;
    }
    return range(from, to);
  });
  if (targets.some((t) => t === undefined)) return undefined;
  const fromClause = clause('from');
  const whereClause = clause('where');
  const group = clause('group', 2);
  const having = clause('having');
  const order = clause('order', 2);
  const limit = clause('limit');
  const offset = clause('offset');
  const conjuncts = whereClause
    ? splitConjuncts(tokens, whereClause.from, whereClause.to).map(([a, b]) => range(a, b))
    : [];
  if (conjuncts.some((c) => c === undefined)) return undefined;
  const orderBy = order
    ? splitOn(tokens, order.from, order.to, ',').map(([a, b]) => range(a, b))
    : [];
  return {
    with: withSpan,
    distinct,
    targets: targets.filter((t) => t !== undefined),
    from: fromClause && range(fromClause.from, fromClause.to),
    where: whereClause && range(whereClause.from, whereClause.to),
    conjuncts: conjuncts.filter((c) => c !== undefined),
    groupBy: group && range(group.from, group.to),
    having: having && range(having.from, having.to),
    orderBy: orderBy.filter((o) => o !== undefined),
    limit: limit && range(limit.from, limit.to),
    offset: offset && range(offset.from, offset.to),
  };
}

function splitOn(
  tokens: readonly Token[],
  from: number,
  to: number,
  separator: string,
): [number, number][] {
  const out: [number, number][] = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    const text = tokens[i]?.text;
    if (text === '(' || text === '[') depth++;
    else if (text === ')' || text === ']') depth--;
    else if (depth === 0 && text === separator) {
      out.push([start, i]);
      start = i + 1;
    }
  }
  out.push([start, to]);
  return out;
}

function splitConjuncts(tokens: readonly Token[], from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  let depth = 0;
  let betweens = 0;
  let start = from;
  for (let i = from; i < to; i++) {
    const text = tokens[i]?.text.toLowerCase();
    if (text === '(' || text === '[') depth++;
    else if (text === ')' || text === ']') depth--;
    else if (depth === 0 && text === 'between') betweens++;
    else if (depth === 0 && text === 'and') {
      if (betweens > 0) {
        betweens--;
        continue;
      }
      out.push([start, i]);
      start = i + 1;
    }
  }
  out.push([start, to]);
  return out;
}
