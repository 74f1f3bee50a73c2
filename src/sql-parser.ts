import { createRequire } from 'node:module';

/** A statement of libpg-query's parse tree. */
export interface ParsedStatement {
  readonly stmt: Record<string, unknown>;
  readonly stmt_location?: number;
  readonly stmt_len?: number;
}

/** A token of libpg-query's scanner: byte offsets into the UTF-8 text. */
export interface SqlToken {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

interface LibPgQuery {
  parseSync(sql: string): { stmts?: ParsedStatement[] };
  scanSync(sql: string): { tokens?: SqlToken[] };
  normalizeSync(sql: string): string;
  loadModule(): Promise<void>;
}

const require = createRequire(import.meta.url);
let parser: LibPgQuery | undefined;

/**
 * libpg-query (Postgres's own parser compiled to WASM) must be loaded once before the first
 * synchronous call; the server does it at start.
 */
export async function loadParser(): Promise<void> {
  if (parser) return;
  const module = require('libpg-query') as LibPgQuery;
  await module.loadModule();
  parser = module;
}

export class ParserNotLoadedError extends Error {
  override readonly name = 'ParserNotLoadedError';
  constructor() {
    super('SQL parser not loaded (call loadParser first)');
  }
}

function loaded(): LibPgQuery {
  if (!parser) throw new ParserNotLoadedError();
  return parser;
}

/** Parse SQL text; throws on a syntax error. Locations are byte offsets into the UTF-8 text. */
export function parseSql(sql: string): ParsedStatement[] {
  return loaded().parseSync(sql).stmts ?? [];
}

/**
 * The statement with every literal replaced by a placeholder ($1, $2, …), for logs: no values
 * from the client survive. Unparsable text is reduced to its first word.
 */
export function normalizeSql(sql: string): string {
  try {
    return loaded().normalizeSync(sql);
  } catch {
    const first = /^\s*([A-Za-z]+)/.exec(sql)?.[1];
    return first === undefined ? '(unparsable statement)' : `${first} … (unparsable statement)`;
  }
}

/** The scanner's tokens (comments and whitespace left out). */
export function scanSql(sql: string): SqlToken[] {
  return loaded().scanSync(sql).tokens ?? [];
}
