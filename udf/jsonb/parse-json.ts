import { PgError } from '../../protocol/pg-error.js';
import { JsonLexer, type TokenKind } from './json-lexer.js';
import { JsonNumber } from './json-number.js';
import type { JsonValue } from './json-value.js';
import { objectFromPairs } from './key-order.js';

/**
 * Deepest nesting of arrays and objects accepted. Postgres's limit comes from its stack
 * (max_stack_depth, some tens of thousands of levels); ours keeps every recursive walker
 * (serialize, contains, merge patch, ajv's input) far from the JS stack limit, with room for
 * the caller's own frames. Deeper documents raise 54001 as Postgres does at its limit.
 */
export const MAX_JSON_DEPTH = 1000;

/** What the parser expected when it met a token it cannot use: Postgres's JsonParseContext. */
const Expected = {
  value: 'Expected JSON value',
  string: 'Expected string',
  arrayNext: 'Expected "," or "]"',
  objectStart: 'Expected string or "}"',
  objectNext: 'Expected "," or "}"',
  colon: 'Expected ":"',
  end: 'Expected end of input',
} as const;

type Frame =
  | { readonly kind: 'array'; readonly items: JsonValue[] }
  | { readonly kind: 'object'; readonly keys: string[]; readonly values: JsonValue[] };

/**
 * Parses JSON text the way `::jsonb` does: duplicate keys keep the last value, keys are sorted
 * into jsonb order, numbers become Postgres numerics, `\u0000` is rejected (22P05), surrogate
 * pairs are combined, and every syntax error is 22P02 `invalid input syntax for type json`
 * with Postgres's detail plus the character offset of the offending token.
 */
export function parseJson(text: string): JsonValue {
  const lexer = new JsonLexer(text);
  const stack: Frame[] = [];
  let token: TokenKind = lexer.next();
  for (;;) {
    // A value starts at `token`.
    let value: JsonValue;
    // Postgres converts a number (numeric_in, which may raise 22003) only after lexing the
    // token that follows it, so a lexical error there is reported first.
    let numberLexeme: string | undefined;
    switch (token) {
      case 'string':
        value = lexer.value;
        break;
      case 'number':
        numberLexeme = lexer.value;
        value = null;
        break;
      case 'true':
        value = true;
        break;
      case 'false':
        value = false;
        break;
      case 'null':
        value = null;
        break;
      case '[': {
        checkDepth(stack.length);
        token = lexer.next();
        if (token === ']') {
          value = [];
          break;
        }
        stack.push({ kind: 'array', items: [] });
        continue;
      }
      case '{': {
        checkDepth(stack.length);
        token = lexer.next();
        if (token === '}') {
          value = new Map<string, JsonValue>();
          break;
        }
        if (token !== 'string') throw unexpected(lexer, Expected.objectStart);
        const keys = [lexer.value];
        expectColon(lexer);
        stack.push({ kind: 'object', keys, values: [] });
        token = lexer.next();
        continue;
      }
      default:
        throw unexpected(lexer, Expected.value);
    }

    // `value` is complete: hand it to the enclosing containers, closing those that end here.
    for (;;) {
      const frame = stack.at(-1);
      token = lexer.next();
      if (numberLexeme !== undefined) {
        value = JsonNumber.fromLexeme(numberLexeme);
        numberLexeme = undefined;
      }
      if (frame === undefined) {
        if (token !== 'end') throw unexpected(lexer, Expected.end);
        return value;
      }
      if (frame.kind === 'array') {
        frame.items.push(value);
        if (token === ',') break;
        if (token !== ']') throw unexpected(lexer, Expected.arrayNext);
        value = frame.items;
      } else {
        frame.values.push(value);
        if (token === ',') {
          if (lexer.next() !== 'string') throw unexpected(lexer, Expected.string);
          frame.keys.push(lexer.value);
          expectColon(lexer);
          break;
        }
        if (token !== '}') throw unexpected(lexer, Expected.objectNext);
        value = objectFromPairs(frame.keys, frame.values);
      }
      stack.pop();
    }
    token = lexer.next();
  }
}

function expectColon(lexer: JsonLexer): void {
  if (lexer.next() !== ':') throw unexpected(lexer, Expected.colon);
}

function unexpected(lexer: JsonLexer, expected: string): PgError {
  if (lexer.kind === 'end') return lexer.error('The input string ended unexpectedly.');
  return lexer.error(`${expected}, but found "${lexer.tokenText()}".`);
}

function checkDepth(depth: number): void {
  if (depth < MAX_JSON_DEPTH) return;
  throw new PgError('54001', 'stack depth limit exceeded', {
    detail: `DocFusionDB evaluates JSON nested at most ${MAX_JSON_DEPTH} levels deep.`,
  });
}
