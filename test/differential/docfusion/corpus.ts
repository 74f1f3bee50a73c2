/**
 * The seeded document corpus of the DocFusion differential suite: at least 10,000 JSON
 * documents built as a small JSON model (so number lexemes such as `1E+2`, `-0` or
 * `9223372036854775808` survive exactly) and written as JSON text in varied styles (escaped or
 * literal unicode, `\/`, whitespace, a few duplicate keys). Everything is a pure function of the
 * seed.
 */

/** A JSON value with its number lexemes kept; objects keep duplicate keys as written. */
export type JsonNode =
  | { readonly t: 'null' }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'num'; readonly lexeme: string }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'arr'; readonly items: readonly JsonNode[] }
  | { readonly t: 'obj'; readonly entries: readonly (readonly [string, JsonNode])[] };

/** mulberry32: small, fast, good enough for test data, and the same on every platform. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  /** `k` distinct items in a random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    const copy = [...items];
    const out: T[] = [];
    while (out.length < k && copy.length > 0) out.push(...copy.splice(this.int(copy.length), 1));
    return out;
  }
}

export const nul: JsonNode = { t: 'null' };
export const bool = (v: boolean): JsonNode => ({ t: 'bool', v });
export const num = (lexeme: string): JsonNode => ({ t: 'num', lexeme });
export const str = (v: string): JsonNode => ({ t: 'str', v });
export const arr = (items: readonly JsonNode[]): JsonNode => ({ t: 'arr', items });
export const obj = (entries: readonly (readonly [string, JsonNode])[]): JsonNode => ({
  t: 'obj',
  entries,
});

/** Integers, decimals, exponents, negatives, -0, bigint edges, float8 edges (over/underflow). */
export const NUMBER_LEXEMES = [
  '0', '-0', '1', '-1', '2', '7', '10', '42', '-17', '100', '1.0', '1.50', '-2.5', '0.1', '0.5',
  '3.14159', '12.000', '-0.0', '0.1e1', '5e-1', '1e2', '1E+2', '1e-2', '2.5e-3', '-1.5E3', '1e-7',
  '0.000001', '1e18', '1e19', '9223372036854775807', '9223372036854775808',
  '-9223372036854775808', '-9223372036854775809', '9007199254740992', '9007199254740993',
  '123456789012345678901234567890', '123.4567890123456789', '1e308', '1.7976931348623157e308',
  '1.8e308', '1e400', '4.9e-324', '1e-320', '2e-324', '1e-400', '0e10', '-1e-400', '2147483648',
] as const; // prettier-ignore

/** Strings: empty, numeric-looking, keywords, escapes, combining and astral characters, RTL. */
export const STRINGS = [
  '', ' ', 'a', 'b', 'A', 'hello world', 'ü', 'naïve', 'e\u0301', 'é', '😀', '👩‍👩‍👧', '𝒳', '日本語',
  'עברית', 'null', 'NULL', 'true', 'false', '42', '3.14', '1e5', '-0', '0', 'with "quotes"',
  'back\\slash', 'tab\tstop', 'line\nbreak', '\u0001ctl', '\u001f', '\u007f', '/slash', '\u2028',
  '\ufeffbom', 'a,b', '{x}', "it's", '\u00a0nbsp', '\uff21', 'Ω≈ç√', 'x'.repeat(40),
] as const; // prettier-ignore

/**
 * Object keys that need escaping somewhere (JSON, SQL literals, text[] literals), look like
 * array indexes, or sort differently in UTF-16 and in jsonb's byte order (U+FF21 against an
 * astral character of the same UTF-8 length).
 */
export const WEIRD_KEYS = [
  '', ' ', 'a b', 'q"uote', 'back\\slash', 'comma,key', '{br}', "it's", 'NULL', 'ключ', '😀',
  'e\u0301', '\uff21a', '\u00a0', 'tab\tkey', 'new\nline', '0', '1', '-1', '$1', 'über',
] as const; // prettier-ignore

const KINDS = ['a', 'b', 'c', 'ü', '😀', '', 'A'] as const;
const TAGS = ['red', 'green', 'blue', 't1', 't2', 'ü', '😀', '', '42', 'null'] as const;
const SKUS = ['x1', 'x2', 'y', 'z-9', 'É'] as const;

function pickNumber(rng: Rng): JsonNode {
  // Mostly small integers, so that comparisons and groups have something to bite on.
  if (rng.chance(0.55)) return num(String(rng.int(60) - 10));
  return num(rng.pick(NUMBER_LEXEMES));
}

function scalar(rng: Rng): JsonNode {
  switch (rng.int(6)) {
    case 0:
      return nul;
    case 1:
      return bool(rng.chance(0.5));
    case 2:
    case 3:
      return pickNumber(rng);
    default:
      return str(rng.pick(STRINGS));
  }
}

/** `n`: the polymorphic field: numbers, numeric strings, booleans, nulls. */
function polymorphic(rng: Rng): JsonNode {
  const r = rng.next();
  if (r < 0.5) return pickNumber(rng);
  if (r < 0.65) return str(rng.pick(['12', '3.14', '1e3', '-5', '0', 'NaN', 'abc', '']));
  if (r < 0.75) return bool(rng.chance(0.5));
  if (r < 0.85) return nul;
  if (r < 0.93) return arr([pickNumber(rng), pickNumber(rng)]);
  return obj([['v', pickNumber(rng)]]);
}

function value(rng: Rng, depth: number): JsonNode {
  if (depth >= 4 || rng.chance(0.55)) return scalar(rng);
  if (rng.chance(0.5)) {
    const n = rng.int(5);
    return arr(Array.from({ length: n }, () => value(rng, depth + 1)));
  }
  const n = rng.int(4);
  const keys = rng.sample(['v', 'w', 'x', 'deep', 'k', ...WEIRD_KEYS.slice(0, 6)], n);
  return obj(keys.map((k) => [k, value(rng, depth + 1)] as const));
}

function objectDoc(rng: Rng, id: number): JsonNode {
  const entries: [string, JsonNode][] = [];
  const add = (p: number, key: string, make: () => JsonNode): void => {
    if (rng.chance(p)) entries.push([key, make()]);
  };
  add(0.9, 'id', () => num(String(id)));
  add(0.85, 'kind', () =>
    rng.chance(0.9) ? str(rng.pick(KINDS)) : rng.pick([nul, num('1'), arr([str('a')])]),
  );
  add(0.85, 'n', () => polymorphic(rng));
  add(0.5, 'price', () =>
    rng.chance(0.8)
      ? num(`${String(rng.int(100))}.${String(rng.int(100)).padStart(2, '0')}`)
      : str('9.99'),
  );
  add(0.6, 'flag', () =>
    rng.chance(0.8) ? bool(rng.chance(0.5)) : rng.pick([str('true'), num('1'), nul, str('f')]),
  );
  add(0.7, 'tags', () => {
    if (rng.chance(0.1)) return str(rng.pick(TAGS));
    const n = rng.int(5);
    return arr(
      rng
        .sample(TAGS, n)
        .map((t) => (rng.chance(0.1) ? (rng.chance(0.5) ? num('42') : nul) : str(t))),
    );
  });
  add(0.6, 'nested', () => {
    const inner: [string, JsonNode][] = [];
    if (rng.chance(0.8)) {
      const deep: [string, JsonNode][] = [['v', num(String(rng.int(10)))]];
      if (rng.chance(0.5)) deep.push(['w', str(rng.pick(STRINGS))]);
      if (rng.chance(0.3)) deep.push(['x', value(rng, 2)]);
      inner.push(['deep', obj(deep)]);
    }
    if (rng.chance(0.7)) inner.push(['flag', rng.chance(0.9) ? bool(rng.chance(0.5)) : nul]);
    if (rng.chance(0.4)) inner.push(['list', arr([pickNumber(rng), str(rng.pick(TAGS))])]);
    if (rng.chance(0.2)) inner.push(['n', polymorphic(rng)]);
    return obj(inner);
  });
  add(0.4, 'items', () =>
    arr(
      Array.from({ length: 1 + rng.int(3) }, () => {
        const item: [string, JsonNode][] = [['sku', str(rng.pick(SKUS))]];
        if (rng.chance(0.8)) item.push(['qty', num(String(rng.int(5)))]);
        if (rng.chance(0.3)) item.push(['attrs', obj([['color', str(rng.pick(TAGS))]])]);
        if (rng.chance(0.2)) item.push(['price', pickNumber(rng)]);
        return obj(item);
      }),
    ),
  );
  add(0.25, 'meta', () =>
    obj(rng.sample(WEIRD_KEYS, 1 + rng.int(4)).map((k) => [k, scalar(rng)] as const)),
  );
  add(0.15, 'empty_o', () => obj([]));
  add(0.15, 'empty_a', () => arr([]));
  add(0.15, 'nul', () => nul);
  add(0.3, 'text', () => str(rng.pick(STRINGS)));
  add(0.12, 'matrix', () =>
    arr([arr([num('1'), num('2')]), arr([]), arr([arr([str('deep')])]), obj([])]),
  );
  add(0.2, 'free', () => value(rng, 1));
  add(0.15, rng.pick(WEIRD_KEYS), () => scalar(rng));
  // A duplicate key: jsonb keeps the last value (and the raw text keeps both).
  if (rng.chance(0.03)) entries.push(['kind', str('dup')]);
  return obj(entries);
}

/** Document `id` (1-based). SQL NULL documents are `undefined`. */
export function makeDocument(rng: Rng, id: number): JsonNode | undefined {
  if (id % 499 === 0) return undefined;
  const r = rng.next();
  if (r < 0.86) return objectDoc(rng, id);
  if (r < 0.92) {
    const n = rng.int(6);
    return arr(
      Array.from({ length: n }, () =>
        rng.chance(0.3) ? objectDoc(rng, id) : rng.chance(0.5) ? value(rng, 1) : scalar(rng),
      ),
    );
  }
  if (r < 0.97) return scalar(rng);
  if (r < 0.985) return obj([]);
  return arr([]);
}

/** How a JSON text is written: the same value can be spelled many ways. */
export interface JsonStyle {
  /** Escape every non-ASCII character as \uXXXX (astral ones as surrogate pairs). */
  readonly asciiOnly: boolean;
  /** Write `/` as `\/`. */
  readonly escapeSlash: boolean;
  /** Whitespace around structural characters. */
  readonly spaced: boolean;
}

export const COMPACT: JsonStyle = { asciiOnly: false, escapeSlash: false, spaced: false };

export function randomStyle(rng: Rng): JsonStyle {
  return { asciiOnly: rng.chance(0.2), escapeSlash: rng.chance(0.1), spaced: rng.chance(0.3) };
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

export function jsonString(s: string, style: JsonStyle = COMPACT): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s.charAt(i);
    const code = s.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code < 0x20 || (style.asciiOnly && code > 0x7e))
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    else if (ch === '/' && style.escapeSlash) out += '\\/';
    else out += ch;
  }
  return `${out}"`;
}

/** JSON text of a node. */
export function writeJson(node: JsonNode, style: JsonStyle = COMPACT): string {
  const sep = style.spaced ? ', ' : ',';
  const colon = style.spaced ? ' : ' : ':';
  switch (node.t) {
    case 'null':
      return 'null';
    case 'bool':
      return node.v ? 'true' : 'false';
    case 'num':
      return node.lexeme;
    case 'str':
      return jsonString(node.v, style);
    case 'arr':
      return `[${node.items.map((item) => writeJson(item, style)).join(sep)}]`;
    case 'obj':
      return `{${node.entries.map(([k, v]) => `${jsonString(k, style)}${colon}${writeJson(v, style)}`).join(sep)}}`;
  }
}

/** Object entries with duplicate keys resolved as jsonb resolves them (the last one wins). */
export function lastWins(entries: readonly (readonly [string, JsonNode])[]): Map<string, JsonNode> {
  const map = new Map<string, JsonNode>();
  for (const [k, v] of entries) {
    map.delete(k);
    map.set(k, v);
  }
  return map;
}

export interface Corpus {
  readonly seed: number;
  /** Models by id (index id - 1); undefined for SQL NULL documents. */
  readonly models: readonly (JsonNode | undefined)[];
  /** JSON text as stored in the text and json columns (null for SQL NULL). */
  readonly texts: readonly (string | null)[];
}

export const DEFAULT_SEED = 0x0d0cf05e;
export const DOCUMENT_COUNT = 10_000;

export function generateCorpus(seed = DEFAULT_SEED, count = DOCUMENT_COUNT): Corpus {
  const rng = new Rng(seed);
  const models: (JsonNode | undefined)[] = [];
  const texts: (string | null)[] = [];
  for (let id = 1; id <= count; id++) {
    const model = makeDocument(rng, id);
    models.push(model);
    texts.push(model === undefined ? null : writeJson(model, randomStyle(rng)));
  }
  return { seed, models, texts };
}
