import { parseSql, type ParsedStatement } from './sql-parser.js';

/** What a statement does to session state that a transaction pooler must know about. */
export type SessionEffect =
  /** `SET name …` (not LOCAL): replay `sql` on whatever connection the client lands on next. */
  | { readonly kind: 'set'; readonly name: string; readonly sql: string }
  | { readonly kind: 'reset'; readonly name: string }
  | { readonly kind: 'reset-all' }
  | { readonly kind: 'discard-all' }
  /** `DEALLOCATE name` / `DEALLOCATE ALL` (name null). */
  | { readonly kind: 'deallocate'; readonly name: string | null }
  /** State that cannot move between connections: the client keeps its connection from now on. */
  | { readonly kind: 'pin'; readonly reason: string };

const FIRST_WORDS = new Set([
  'set',
  'reset',
  'discard',
  'deallocate',
  'prepare',
  'listen',
  'create',
  'declare',
]);
const TRIGGERS =
  /\b(set|reset|discard|deallocate|prepare|listen|temp|temporary|declare)\b|advisory_lock/i;

/**
 * The session effects of a simple-protocol Query or a Parse. A cheap check of the first word
 * (and, for multi-statement text, of a few keywords) comes first; only candidates are parsed.
 */
export function sessionEffects(sql: string): SessionEffect[] {
  if (!mayHaveEffects(sql)) return [];
  let stmts: ParsedStatement[];
  try {
    stmts = parseSql(sql);
  } catch {
    return []; // Postgres will reject it the same way.
  }
  const bytes = Buffer.from(sql, 'utf8');
  const lower = sql.toLowerCase();
  const effects: SessionEffect[] = [];
  for (const entry of stmts) {
    const text = statementText(bytes, entry);
    const effect = effectOf(entry.stmt, text);
    if (effect) effects.push(effect);
  }
  if (/\bpg_(try_)?advisory_lock(_shared)?\s*\(/.test(lower)) {
    effects.push({ kind: 'pin', reason: 'session advisory lock' });
  }
  return effects;
}

function mayHaveEffects(sql: string): boolean {
  const first = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*([a-z]+)/i
    .exec(sql)?.[1]
    ?.toLowerCase();
  if (first !== undefined && FIRST_WORDS.has(first)) return true;
  const semicolon = sql.indexOf(';');
  const hasMore = semicolon >= 0 && sql.slice(semicolon + 1).trim() !== '';
  return hasMore ? TRIGGERS.test(sql) : /advisory_lock/i.test(sql);
}

/** libpg-query locations are byte offsets into the UTF-8 text. */
function statementText(bytes: Buffer, entry: ParsedStatement): string {
  const start = entry.stmt_location ?? 0;
  const end =
    entry.stmt_len === undefined || entry.stmt_len === 0 ? bytes.length : start + entry.stmt_len;
  return bytes.toString('utf8', start, end).trim();
}

const CURSOR_OPT_HOLD = 0x0020;

function effectOf(stmt: Record<string, unknown>, text: string): SessionEffect | undefined {
  const [type, node] = Object.entries(stmt)[0] ?? [];
  const n = (node ?? {}) as Record<string, unknown>;
  switch (type) {
    case 'VariableSetStmt': {
      if (n.is_local === true) return undefined;
      const name = typeof n.name === 'string' ? n.name.toLowerCase() : '';
      switch (n.kind) {
        case 'VAR_SET_VALUE':
        case 'VAR_SET_CURRENT':
        case 'VAR_SET_MULTI':
          return { kind: 'set', name, sql: text };
        case 'VAR_SET_DEFAULT':
        case 'VAR_RESET':
          return { kind: 'reset', name };
        case 'VAR_RESET_ALL':
          return { kind: 'reset-all' };
        default:
          return undefined;
      }
    }
    case 'DiscardStmt':
      return n.target === 'DISCARD_ALL' ? { kind: 'discard-all' } : undefined;
    case 'DeallocateStmt':
      return {
        kind: 'deallocate',
        name: typeof n.name === 'string' && n.isall !== true ? n.name : null,
      };
    case 'PrepareStmt':
      return { kind: 'pin', reason: 'SQL PREPARE' };
    case 'ListenStmt':
      return { kind: 'pin', reason: 'LISTEN' };
    case 'DeclareCursorStmt':
      return typeof n.options === 'number' && (n.options & CURSOR_OPT_HOLD) !== 0
        ? { kind: 'pin', reason: 'WITH HOLD cursor' }
        : undefined;
    case 'CreateStmt':
    case 'CreateSeqStmt':
    case 'ViewStmt':
    case 'CreateTableAsStmt': {
      const relation = (n.relation ??
        n.sequence ??
        n.view ??
        (n.into as Record<string, unknown> | undefined)?.rel) as
        { relpersistence?: string } | undefined;
      return relation?.relpersistence === 't'
        ? { kind: 'pin', reason: 'temporary table' }
        : undefined;
    }
    default:
      return undefined;
  }
}
