import { ApiError } from './api-error.js';

/** `\u0000` not itself escaped: Postgres's jsonb cannot store it. */
const NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/;

/** Why a JSON text cannot be a document (null when it can): Postgres rejects \u0000 in jsonb. */
export function jsonTextProblem(text: string): string | null {
  return NUL_ESCAPE.test(text) ? 'contains \\u0000, which Postgres jsonb cannot store' : null;
}

/**
 * A request value as document JSON text, or a 400 naming `where`. `raw`, the text `value` was
 * parsed from, is sent as it is (Postgres parses it anyway), so numbers keep every digit and the
 * document is not serialized again.
 */
export function documentText(
  value: unknown,
  where: string,
  index?: number,
  raw?: string | null,
): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(
      400,
      'invalid_document',
      `${where}: a document must be a JSON object`,
      where,
      index === undefined ? {} : { index },
    );
  }
  const text = raw ?? JSON.stringify(value);
  const problem = jsonTextProblem(text);
  if (problem !== null) {
    throw new ApiError(
      400,
      'invalid_document',
      `${where}: ${problem}`,
      where,
      index === undefined ? {} : { index },
    );
  }
  return text;
}

/** The expected version from If-Match: a version, `*`, '0' for a tag that cannot match, or null. */
export function ifMatchVersion(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (trimmed === '*') return '*';
  const match = /^"(\d{1,18})"$/.exec(trimmed);
  return match?.[1] ?? '0';
}
