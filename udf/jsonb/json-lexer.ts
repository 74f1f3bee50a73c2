import { PgError, SqlState } from '../../protocol/pg-error.js';

/**
 * The tokens of Postgres's JSON lexer (src/common/jsonapi.c), with the same token boundaries
 * and the same error details, so DocFusionDB rejects exactly what `::jsonb` rejects and says
 * the same thing about it.
 */
export type TokenKind =
  'string' | 'number' | 'true' | 'false' | 'null' | '{' | '}' | '[' | ']' | ',' | ':' | 'end';

/** SQLSTATE 22P05, raised for `\u0000` as jsonb does. */
const UntranslatableCharacter = '22P05';

export class JsonLexer {
  readonly text: string;
  private pos = 0;
  /** The current token: its kind, its bounds in `text`, and its value for strings and numbers. */
  kind: TokenKind = 'end';
  start = 0;
  end = 0;
  value = '';

  constructor(text: string) {
    this.text = text;
  }

  /** Advances to the next token. */
  next(): TokenKind {
    const text = this.text;
    let pos = this.pos;
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      pos++;
    }
    this.start = pos;
    if (pos >= text.length) return this.token('end', pos);
    const c = text.charCodeAt(pos);
    switch (c) {
      case 0x7b:
        return this.token('{', pos + 1);
      case 0x7d:
        return this.token('}', pos + 1);
      case 0x5b:
        return this.token('[', pos + 1);
      case 0x5d:
        return this.token(']', pos + 1);
      case 0x2c:
        return this.token(',', pos + 1);
      case 0x3a:
        return this.token(':', pos + 1);
      case 0x22:
        return this.string(pos);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number(pos);
        return this.word(pos);
    }
  }

  /** Text of the current token, as Postgres quotes it in "but found" details. */
  tokenText(): string {
    return this.text.slice(this.start, this.end);
  }

  /** A 22P02 error whose detail is Postgres's, plus the character offset of `at`. */
  error(detail: string, at: number = this.start): PgError {
    return syntaxError(this.text, detail, at);
  }

  private token(kind: TokenKind, end: number): TokenKind {
    this.kind = kind;
    this.end = end;
    this.pos = end;
    return kind;
  }

  private invalidToken(end: number): PgError {
    this.end = end;
    return this.error(`Token "${this.tokenText()}" is invalid.`);
  }

  /** true, false, null, or an invalid token spanning a run of "alphanumeric" characters. */
  private word(start: number): TokenKind {
    const text = this.text;
    let pos = start;
    while (pos < text.length && isAlphanumeric(text.charCodeAt(pos))) pos++;
    if (pos === start) throw this.invalidToken(start + 1);
    const word = text.slice(start, pos);
    if (word === 'true' || word === 'false' || word === 'null') return this.token(word, pos);
    throw this.invalidToken(pos);
  }

  /** A number lexeme, validated as Postgres's json_lex_number does. */
  private number(start: number): TokenKind {
    const text = this.text;
    let pos = start;
    let error = false;
    if (text.charCodeAt(pos) === 0x2d) pos++;
    if (text.charCodeAt(pos) === 0x30) pos++;
    else if (isDigit(text.charCodeAt(pos))) pos = skipDigits(text, pos);
    else error = true;
    if (text.charCodeAt(pos) === 0x2e) {
      pos++;
      if (isDigit(text.charCodeAt(pos))) pos = skipDigits(text, pos);
      else error = true;
    }
    const e = text.charCodeAt(pos);
    if (e === 0x65 || e === 0x45) {
      pos++;
      const sign = text.charCodeAt(pos);
      if (sign === 0x2b || sign === 0x2d) pos++;
      if (isDigit(text.charCodeAt(pos))) pos = skipDigits(text, pos);
      else error = true;
    }
    while (pos < text.length && isAlphanumeric(text.charCodeAt(pos))) {
      pos++;
      error = true;
    }
    if (error) throw this.invalidToken(pos);
    this.value = text.slice(start, pos);
    return this.token('number', pos);
  }

  /** A string token; `value` receives the de-escaped contents. */
  private string(start: number): TokenKind {
    const text = this.text;
    let pos = start + 1;
    let out = '';
    let runStart = pos;
    let highSurrogate = -1;
    for (;;) {
      if (pos >= text.length) throw this.invalidToken(text.length);
      const c = text.charCodeAt(pos);
      if (c === 0x22) break;
      if (c === 0x5c) {
        out += text.slice(runStart, pos);
        const escape = pos;
        pos++;
        if (pos >= text.length) throw this.invalidToken(text.length);
        const e = text.charCodeAt(pos);
        if (e === 0x75) {
          let code = 0;
          for (let i = 0; i < 4; i++) {
            pos++;
            if (pos >= text.length) throw this.invalidToken(text.length);
            const h = hexValue(text.charCodeAt(pos));
            if (h < 0) {
              throw this.error('"\\u" must be followed by four hexadecimal digits.', escape);
            }
            code = code * 16 + h;
          }
          pos++;
          if (code >= 0xd800 && code <= 0xdbff) {
            if (highSurrogate !== -1) {
              throw this.error('Unicode high surrogate must not follow a high surrogate.', escape);
            }
            highSurrogate = code;
            runStart = pos;
            continue;
          }
          if (code >= 0xdc00 && code <= 0xdfff) {
            if (highSurrogate === -1) throw lowSurrogateError(this, escape);
            out += String.fromCharCode(highSurrogate, code);
            highSurrogate = -1;
            runStart = pos;
            continue;
          }
          if (highSurrogate !== -1) throw lowSurrogateError(this, escape);
          if (code === 0) {
            throw new PgError(UntranslatableCharacter, 'unsupported Unicode escape sequence', {
              detail: withOffset('\\u0000 cannot be converted to text.', text, escape),
            });
          }
          out += String.fromCharCode(code);
          runStart = pos;
          continue;
        }
        if (highSurrogate !== -1) throw lowSurrogateError(this, escape);
        const simple = simpleEscape(e);
        if (simple === undefined) {
          const ch = String.fromCodePoint(text.codePointAt(pos) ?? e);
          throw this.error(`Escape sequence "\\${ch}" is invalid.`, escape);
        }
        out += simple;
        pos++;
        runStart = pos;
        continue;
      }
      if (highSurrogate !== -1) throw lowSurrogateError(this, pos);
      if (c < 0x20) {
        const hex = c.toString(16).padStart(2, '0');
        throw this.error(`Character with value 0x${hex} must be escaped.`, pos);
      }
      pos++;
    }
    if (highSurrogate !== -1) throw lowSurrogateError(this, pos);
    this.value = out + text.slice(runStart, pos);
    return this.token('string', pos + 1);
  }
}

function lowSurrogateError(lexer: JsonLexer, at: number): PgError {
  return lexer.error('Unicode low surrogate must follow a high surrogate.', at);
}

/** 22P02 `invalid input syntax for type json`, the detail naming the character offset. */
export function syntaxError(text: string, detail: string, at: number): PgError {
  return new PgError(SqlState.InvalidTextRepresentation, 'invalid input syntax for type json', {
    detail: withOffset(detail, text, at),
  });
}

/** `Token "x" is invalid.` → `Token "x" is invalid (character offset 3).` (code points, from 0) */
function withOffset(detail: string, text: string, at: number): string {
  let offset = 0;
  for (let i = 0; i < at && i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0xdc00 || unit > 0xdfff || i === 0) offset++;
    else if (text.charCodeAt(i - 1) < 0xd800 || text.charCodeAt(i - 1) > 0xdbff) offset++;
  }
  const sentence = detail.endsWith('.') ? detail.slice(0, -1) : detail;
  return `${sentence} (character offset ${offset}).`;
}

/** Postgres's JSON_ALPHANUMERIC_CHAR: ASCII letters, digits, `_` and any non-ASCII byte. */
function isAlphanumeric(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c >= 0x80
  );
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function skipDigits(text: string, pos: number): number {
  let p = pos;
  while (isDigit(text.charCodeAt(p))) p++;
  return p;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function simpleEscape(c: number): string | undefined {
  switch (c) {
    case 0x22:
      return '"';
    case 0x5c:
      return '\\';
    case 0x2f:
      return '/';
    case 0x62:
      return '\b';
    case 0x66:
      return '\f';
    case 0x6e:
      return '\n';
    case 0x72:
      return '\r';
    case 0x74:
      return '\t';
    default:
      return undefined;
  }
}
