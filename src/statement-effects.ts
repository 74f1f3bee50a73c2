import { ParserNotLoadedError, parseSql, type ParsedStatement } from './sql-parser.js';

/** What a statement does to session state that a transaction pooler must know about. */
export type SessionEffect =
  /** `SET name …` (not LOCAL): replay `sql` on whatever connection the client lands on next. */
  | { readonly kind: 'set'; readonly name: string; readonly sql: string }
  /**
   * `SET LOCAL name …`: lasts until the end of the transaction, so nothing to replay; followed
   * only for the proxy's own settings (docfusion.*), whose current value the proxy needs.
   */
  | { readonly kind: 'set-local'; readonly name: string; readonly sql: string }
  | { readonly kind: 'reset'; readonly name: string }
  | { readonly kind: 'reset-all' }
  | { readonly kind: 'discard-all' }
  /** `DEALLOCATE name` / `DEALLOCATE ALL` (name null). */
  | { readonly kind: 'deallocate'; readonly name: string | null }
  /** State that cannot move between connections: the client keeps its connection from now on. */
  | { readonly kind: 'pin'; readonly reason: string }
  /** Transaction control, so SETs inside transactions and savepoints count only if kept. */
  | { readonly kind: 'begin' | 'commit' | 'rollback' }
  | { readonly kind: 'savepoint' | 'release' | 'rollback-to'; readonly name: string };

const FIRST_WORDS = new Set([
  'set',
  'reset',
  'discard',
  'deallocate',
  'prepare',
  'listen',
  'create',
  'declare',
  'savepoint',
  'release',
  'rollback',
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
  } catch (error) {
    if (error instanceof ParserNotLoadedError) throw error;
    return []; // a syntax error: Postgres will reject it the same way
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
  if (/\bset_config\s*\(/.test(lower)) {
    // set_config(name, value, false) changes the session; its arguments may be expressions.
    effects.push({ kind: 'pin', reason: 'set_config' });
  }
  return effects;
}

/**
 * The hot path's check, on the raw bytes of a statement's text (`bytes[start, end)`, without its
 * NUL): true only when the text is plain ASCII and provably has no session effects, so it need
 * not even be decoded. It errs towards false (decode and look: `sessionEffects`): any byte outside
 * ASCII or a NUL, a comment or anything else before the first word, a first word that
 * `mayHaveEffects` looks at, any "temp", "set_config" or "advisory_lock" in any letter case,
 * or a second statement.
 */
export function provablyWithoutEffects(bytes: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end && isAsciiSpace(bytes[i] ?? 0)) i++;
  let j = i;
  while (j < end && isAsciiLetter(bytes[j] ?? 0)) j++;
  if (j === i) return false;
  if (j - i <= LONGEST_FIRST_WORD && FIRST_WORDS.has(bytes.toString('latin1', i, j).toLowerCase()))
    return false;
  let statementEnded = false;
  for (let k = start; k < end; k++) {
    const b = bytes[k] ?? 0;
    if (b === 0 || b >= 0x80) return false;
    if (statementEnded) {
      if (!isAsciiSpace(b)) return false;
      continue;
    }
    if (b === 0x3b /* ; */) {
      statementEnded = true;
      continue;
    }
    const c = b | 0x20; // lower case for letters (other bytes are compared only against letters)
    if (
      (c === 0x74 /* t */ && matchesAt(bytes, k, end, TEMP)) ||
      (c === 0x73 /* s */ && matchesAt(bytes, k, end, SET_CONFIG)) ||
      (c === 0x61 /* a */ && matchesAt(bytes, k, end, ADVISORY_LOCK))
    ) {
      return false;
    }
  }
  return true;
}

const LONGEST_FIRST_WORD = Math.max(...[...FIRST_WORDS].map((word) => word.length));

/** First words of statements that can change settings or undo changes to them. */
const SETTINGS_WORDS = new Set(['set', 'reset', 'discard', 'savepoint', 'release', 'rollback']);

/**
 * Session mode's check, on the raw bytes of a statement's text: the first word (after white
 * space) is one of SET, RESET, DISCARD, SAVEPOINT, RELEASE, ROLLBACK, so the statement may change
 * settings or undo changes (see `sessionEffects`). BEGIN and COMMIT need no look: the link sees
 * a transaction end in ReadyForQuery and its command tag.
 */
export function mayChangeSettings(bytes: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end && isAsciiSpace(bytes[i] ?? 0)) i++;
  let j = i;
  while (j < end && j - i <= 9 && isAsciiLetter(bytes[j] ?? 0)) j++;
  return j > i && SETTINGS_WORDS.has(bytes.toString('latin1', i, j).toLowerCase());
}
const TEMP = Buffer.from('temp');
const SET_CONFIG = Buffer.from('set_config');
const ADVISORY_LOCK = Buffer.from('advisory_lock');

/** `needle` (lower case) at `at`, ASCII letters compared in any case. */
function matchesAt(bytes: Buffer, at: number, end: number, needle: Buffer): boolean {
  if (end - at < needle.length) return false;
  for (let n = 0; n < needle.length; n++) {
    const b = bytes[at + n] ?? 0;
    const lower = b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
    if (lower !== needle[n]) return false;
  }
  return true;
}

function isAsciiSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function isAsciiLetter(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/** Text that can matter wherever it appears in a single statement. */
const ANYWHERE = /advisory_lock|set_config|pg_temp|\binto\s+(temp|temporary)\b/i;

function mayHaveEffects(sql: string): boolean {
  const first = firstWord(sql);
  if (first !== undefined && FIRST_WORDS.has(first)) return true;
  if (ANYWHERE.test(sql)) return true;
  const semicolon = sql.indexOf(';');
  const hasMore = semicolon >= 0 && sql.slice(semicolon + 1).trim() !== '';
  return hasMore && TRIGGERS.test(sql);
}

/** The first keyword, after white space and comments (block comments nest, as in Postgres). */
function firstWord(sql: string): string | undefined {
  let i = 0;
  for (;;) {
    while (i < sql.length && /\s/.test(sql.charAt(i))) i++;
    if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      if (end < 0) return undefined;
      i = end + 1;
    } else if (sql.startsWith('/*', i)) {
      let depth = 0;
      do {
        if (sql.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else {
          i++;
        }
      } while (depth > 0 && i < sql.length);
    } else {
      return /^[a-z]+/i.exec(sql.slice(i, i + 16))?.[0].toLowerCase();
    }
  }
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
      const name = typeof n.name === 'string' ? n.name.toLowerCase() : '';
      if (n.is_local === true) {
        return n.kind === 'VAR_SET_VALUE' || n.kind === 'VAR_SET_DEFAULT'
          ? { kind: 'set-local', name, sql: text }
          : undefined;
      }
      switch (n.kind) {
        case 'VAR_SET_MULTI':
          // SET TRANSACTION … lasts one transaction; SET SESSION CHARACTERISTICS sets several
          // default_transaction_* settings at once: rare enough to pin rather than replay.
          return name === 'transaction'
            ? undefined
            : { kind: 'pin', reason: 'SET SESSION CHARACTERISTICS' };
        case 'VAR_SET_VALUE':
        case 'VAR_SET_CURRENT':
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
    case 'TransactionStmt': {
      const savepoint = typeof n.savepoint_name === 'string' ? n.savepoint_name : '';
      switch (n.kind) {
        case 'TRANS_STMT_BEGIN':
        case 'TRANS_STMT_START':
          return { kind: 'begin' };
        case 'TRANS_STMT_COMMIT':
          return { kind: 'commit' };
        case 'TRANS_STMT_ROLLBACK':
          return { kind: 'rollback' };
        case 'TRANS_STMT_SAVEPOINT':
          return { kind: 'savepoint', name: savepoint };
        case 'TRANS_STMT_RELEASE':
          return { kind: 'release', name: savepoint };
        case 'TRANS_STMT_ROLLBACK_TO':
          return { kind: 'rollback-to', name: savepoint };
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
    case 'CreateTableAsStmt':
    case 'SelectStmt': {
      // CREATE TEMP …, CREATE … AS, SELECT … INTO TEMP, and anything created in pg_temp.
      const into = (n.into ?? n.intoClause) as Record<string, unknown> | undefined;
      const relation = (n.relation ?? n.sequence ?? n.view ?? into?.rel) as
        { relpersistence?: string; schemaname?: string } | undefined;
      const temporary = relation?.relpersistence === 't' || relation?.schemaname === 'pg_temp';
      return temporary ? { kind: 'pin', reason: 'temporary table' } : undefined;
    }
    default:
      return undefined;
  }
}
