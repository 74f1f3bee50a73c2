import { JsonNumber } from './json-number.js';
import { isJsonObject, type JsonValue } from './json-value.js';

/**
 * jsonb's output text (JsonbToCString): `{"a": 1, "b": [1, 2]}` with `", "` between items and
 * `": "` after keys, keys in jsonb order (as the parser and makeObject keep them), numbers in
 * numeric's canonical form and strings escaped as Postgres's escape_json does.
 */
export function serializeJsonb(value: JsonValue): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join('');
}

function write(value: JsonValue, out: string[]): void {
  if (value === null) out.push('null');
  else if (typeof value === 'boolean') out.push(value ? 'true' : 'false');
  else if (typeof value === 'string') out.push(quoteJsonString(value));
  else if (value instanceof JsonNumber) out.push(value.text);
  else if (isJsonObject(value)) {
    out.push('{');
    let first = true;
    for (const [key, item] of value) {
      out.push(first ? '' : ', ', quoteJsonString(key), ': ');
      first = false;
      write(item, out);
    }
    out.push('}');
  } else {
    out.push('[');
    let first = true;
    for (const item of value) {
      if (!first) out.push(', ');
      first = false;
      write(item, out);
    }
    out.push(']');
  }
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/** A JSON string literal as Postgres's escape_json writes it. */
export function quoteJsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(run, i) + escapeChar(c);
    run = i + 1;
  }
  return `${out}${s.slice(run)}"`;
}

function escapeChar(c: number): string {
  switch (c) {
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x22:
      return '\\"';
    case 0x5c:
      return '\\\\';
    default:
      return `\\u${c.toString(16).padStart(4, '0')}`;
  }
}
