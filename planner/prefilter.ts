import { findWords, WordSet } from './sql-text.js';

const J = 0x6a; // j
const S = 0x73; // s
const O = 0x6f; // o
const N = 0x6e; // n
const UNDERSCORE = 0x5f;

/**
 * The cheap first stage of routing: can this SQL call a DocFusion function? A byte scan for
 * `json_` (any case) rejects almost every statement without decoding it; a hit is confirmed by
 * looking for a registered name outside strings and comments. The parser has the last word.
 */
export class Prefilter {
  private readonly names: WordSet;

  constructor(names: ReadonlySet<string>) {
    this.names = new WordSet(names);
  }

  mayCall(sql: Buffer): boolean {
    return hasJsonPrefix(sql) && findWords(sql, this.names).length > 0;
  }
}

function hasJsonPrefix(sql: Buffer): boolean {
  const last = sql.length - 5;
  for (
    let i = sql.indexOf(UNDERSCORE, 4);
    i >= 0 && i - 4 <= last;
    i = sql.indexOf(UNDERSCORE, i + 1)
  ) {
    if (
      ((sql[i - 4] ?? 0) | 0x20) === J &&
      ((sql[i - 3] ?? 0) | 0x20) === S &&
      ((sql[i - 2] ?? 0) | 0x20) === O &&
      ((sql[i - 1] ?? 0) | 0x20) === N
    ) {
      return true;
    }
  }
  return false;
}
