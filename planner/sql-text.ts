/**
 * Byte-level scanning of SQL text, for what libpg-query does not give: where an expression ends.
 * Node locations are byte offsets into the UTF-8 text; every syntax character that matters here
 * is ASCII, so scanning bytes is exact. Strings ('…', E'…' with backslashes, $tag$…$tag$),
 * quoted identifiers and comments are skipped as Postgres's scanner does.
 */

const QUOTE = 0x27; // '
const DQUOTE = 0x22; // "
const DOLLAR = 0x24; // $
const DASH = 0x2d; // -
const SLASH = 0x2f; // /
const STAR = 0x2a; // *
const OPEN = 0x28; // (
const CLOSE = 0x29; // )
const LBRACKET = 0x5b; // [
const RBRACKET = 0x5d; // ]
const COMMA = 0x2c; // ,
const BACKSLASH = 0x5c; // \
const NEWLINE = 0x0a;

function isIdentStart(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || b >= 0x80;
}

function isIdentPart(b: number): boolean {
  return isIdentStart(b) || (b >= 0x30 && b <= 0x39) || b === DOLLAR;
}

function byteAt(sql: Buffer, i: number): number {
  return sql[i] ?? -1;
}

/**
 * If a string, quoted identifier, comment or dollar-quoted string starts at `i`, the offset just
 * past it; otherwise `i`.
 */
export function skipOpaque(sql: Buffer, i: number): number {
  const b = byteAt(sql, i);
  if (b === QUOTE) {
    const prev = byteAt(sql, i - 1);
    const escapes = (prev === 0x45 || prev === 0x65) && !isIdentPart(byteAt(sql, i - 2));
    return skipQuoted(sql, i, QUOTE, escapes);
  }
  if (b === DQUOTE) return skipQuoted(sql, i, DQUOTE, false);
  if (b === DASH && byteAt(sql, i + 1) === DASH) {
    const end = sql.indexOf(NEWLINE, i);
    return end < 0 ? sql.length : end + 1;
  }
  if (b === SLASH && byteAt(sql, i + 1) === STAR) {
    let depth = 1;
    let j = i + 2;
    while (j < sql.length && depth > 0) {
      if (byteAt(sql, j) === SLASH && byteAt(sql, j + 1) === STAR) {
        depth++;
        j += 2;
      } else if (byteAt(sql, j) === STAR && byteAt(sql, j + 1) === SLASH) {
        depth--;
        j += 2;
      } else j++;
    }
    return j;
  }
  if (b === DOLLAR && !isIdentPart(byteAt(sql, i - 1))) {
    let j = i + 1;
    while (j < sql.length && isIdentPart(byteAt(sql, j)) && byteAt(sql, j) !== DOLLAR) j++;
    if (byteAt(sql, j) !== DOLLAR) return i; // $1 or not a tag
    const tag = sql.subarray(i, j + 1);
    if (/^\$[0-9]/.test(tag.toString('latin1'))) return i;
    const end = sql.indexOf(tag, j + 1);
    return end < 0 ? sql.length : end + tag.length;
  }
  return i;
}

function skipQuoted(sql: Buffer, i: number, quote: number, escapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const b = byteAt(sql, j);
    if (escapes && b === BACKSLASH) {
      j += 2;
      continue;
    }
    if (b === quote) {
      if (byteAt(sql, j + 1) === quote) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return sql.length;
}

/** The parenthesised argument list of a call whose name starts at `location`. */
export interface CallSpan {
  readonly start: number;
  /** Just past the closing parenthesis. */
  readonly end: number;
  /** Each argument's byte range, trimmed of surrounding whitespace. */
  readonly args: readonly (readonly [number, number])[];
}

/** Find the argument list of the call at `location` (the function name's first byte). */
export function callSpan(sql: Buffer, location: number): CallSpan | undefined {
  let i = location;
  // Skip the (possibly qualified, possibly quoted) name.
  while (i < sql.length && byteAt(sql, i) !== OPEN) {
    const next = skipOpaque(sql, i);
    i = next === i ? i + 1 : next;
  }
  if (byteAt(sql, i) !== OPEN) return undefined;
  const args: [number, number][] = [];
  let depth = 0;
  let argStart = i + 1;
  for (let j = i; j < sql.length;) {
    const next = skipOpaque(sql, j);
    if (next !== j) {
      j = next;
      continue;
    }
    const b = byteAt(sql, j);
    if (b === OPEN || b === LBRACKET) depth++;
    else if (b === CLOSE || b === RBRACKET) {
      depth--;
      if (depth === 0) {
        if (trim(sql, argStart, j)[0] < j || args.length > 0) args.push(trim(sql, argStart, j));
        return { start: location, end: j + 1, args };
      }
    } else if (b === COMMA && depth === 1) {
      args.push(trim(sql, argStart, j));
      argStart = j + 1;
    }
    j++;
  }
  return undefined;
}

function trim(sql: Buffer, start: number, end: number): [number, number] {
  let s = start;
  let e = end;
  while (s < e && isSpace(byteAt(sql, s))) s++;
  while (e > s && isSpace(byteAt(sql, e - 1))) e--;
  return [s, e];
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0c;
}

/** The end of the single token (literal, identifier, parameter or number) starting at `i`. */
export function tokenEnd(sql: Buffer, i: number): number {
  const opaque = skipOpaque(sql, i);
  if (opaque !== i) return opaque;
  const b = byteAt(sql, i);
  if ((b === 0x45 || b === 0x65) && byteAt(sql, i + 1) === QUOTE) return skipOpaque(sql, i + 1);
  let j = i + 1;
  if (b === DOLLAR || isIdentPart(b)) {
    while (j < sql.length && (isIdentPart(byteAt(sql, j)) || byteAt(sql, j) === 0x2e)) j++;
  }
  return j;
}

/**
 * Byte offsets of every occurrence of a word (case-insensitive ASCII, whole identifier) outside
 * strings and comments. `words` tells which (lower-case) words are wanted; only identifiers of a
 * wanted length and first letter are decoded to ask it (a string per identifier is what such a
 * scan would otherwise spend its time on).
 */
export function findWords(sql: Buffer, words: WordSet): number[] {
  const found: number[] = [];
  for (let i = 0; i < sql.length;) {
    const next = skipOpaque(sql, i);
    if (next !== i) {
      i = next;
      continue;
    }
    const b = byteAt(sql, i);
    if (isIdentStart(b)) {
      let j = i + 1;
      while (j < sql.length && isIdentPart(byteAt(sql, j))) j++;
      if (words.mayHave(b, j - i) && words.has(sql.toString('latin1', i, j).toLowerCase())) {
        found.push(i);
      }
      i = j;
      continue;
    }
    i++;
  }
  return found;
}

/** Lower-case ASCII words findWords looks for, with a byte-level pre-check. */
export class WordSet {
  private readonly words: ReadonlySet<string>;
  private readonly lengths = new Set<number>();
  /** Lower-case first bytes of the words. */
  private readonly firsts = new Set<number>();

  constructor(words: Iterable<string>) {
    this.words = new Set(words);
    for (const word of this.words) {
      this.lengths.add(word.length);
      this.firsts.add(word.charCodeAt(0) | 0x20);
    }
  }

  /** Could an identifier of `length` bytes starting with byte `first` be one of the words? */
  mayHave(first: number, length: number): boolean {
    return this.lengths.has(length) && this.firsts.has(first < 0x80 ? first | 0x20 : first);
  }

  has(word: string): boolean {
    return this.words.has(word);
  }
}

/**
 * A constant as the client wrote it: a plain string literal ('…', no backslash, no E/B/X/U&
 * prefix or type name glued to it) or an unsigned number. `kind`: 'S' string, 'I' integer,
 * 'D' decimal or exponent.
 */
export interface Literal {
  readonly start: number;
  readonly end: number;
  readonly kind: 'S' | 'I' | 'D';
}

const DOT = 0x2e;
const AMPERSAND = 0x26;

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/**
 * The literals of a statement, in order, outside comments, quoted identifiers and dollar-quoted
 * strings; undefined when a string is not terminated. Anything this scan is unsure of (a prefixed
 * string, a backslash, `1_000`, `0x1f`, `$1`) is not reported, so it stays part of whatever the
 * caller compares byte for byte.
 */
export function findLiterals(sql: Buffer): Literal[] | undefined {
  const out: Literal[] = [];
  for (let i = 0; i < sql.length;) {
    const b = byteAt(sql, i);
    if (b === QUOTE) {
      const prev = byteAt(sql, i - 1);
      if (isIdentPart(prev) || prev === AMPERSAND) {
        i = skipOpaque(sql, i); // E'…', B'…', X'…', N'…', U&'…', typename'…'
        continue;
      }
      let j = i + 1;
      let plain = true;
      for (;;) {
        if (j >= sql.length) return undefined;
        const c = byteAt(sql, j);
        if (c === QUOTE) {
          if (byteAt(sql, j + 1) !== QUOTE) break;
          j += 2;
          continue;
        }
        if (c === BACKSLASH) plain = false;
        j++;
      }
      if (plain) out.push({ start: i, end: j + 1, kind: 'S' });
      i = j + 1;
      continue;
    }
    const next = skipOpaque(sql, i);
    if (next !== i) {
      i = next;
      continue;
    }
    if (isIdentStart(b) || b === DOLLAR) {
      let j = i + 1;
      while (j < sql.length && isIdentPart(byteAt(sql, j))) j++;
      i = j;
      continue;
    }
    if (isDigit(b) || (b === DOT && isDigit(byteAt(sql, i + 1)))) {
      let j = i;
      let kind: Literal['kind'] = 'I';
      while (isDigit(byteAt(sql, j))) j++;
      if (byteAt(sql, j) === DOT) {
        kind = 'D';
        j++;
        while (isDigit(byteAt(sql, j))) j++;
      }
      const e = byteAt(sql, j);
      if (e === 0x65 || e === 0x45) {
        const sign = byteAt(sql, j + 1) === 0x2b || byteAt(sql, j + 1) === DASH ? 1 : 0;
        if (isDigit(byteAt(sql, j + 1 + sign))) {
          kind = 'D';
          j += 1 + sign;
          while (isDigit(byteAt(sql, j))) j++;
        }
      }
      const after = byteAt(sql, j);
      if (isIdentPart(after) || after === DOT || byteAt(sql, i - 1) === DOT) {
        // Trailing junk, a hex or underscored number, a qualified name: not a plain literal.
        while (j < sql.length && (isIdentPart(byteAt(sql, j)) || byteAt(sql, j) === DOT)) j++;
      } else {
        out.push({ start: i, end: j, kind });
      }
      i = j;
      continue;
    }
    i++;
  }
  return out;
}
