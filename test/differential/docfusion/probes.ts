/**
 * Paths, containment patterns and values drawn from the corpus itself (so probes hit real
 * documents: existing and missing keys, array indexes counted from either end, keys needing
 * escapes), plus the edge cases a corpus would rarely produce on its own.
 */
import {
  arr,
  lastWins,
  nul,
  num,
  obj,
  Rng,
  str,
  writeJson,
  randomStyle,
  type Corpus,
  type JsonNode,
} from './corpus.js';

export type Path = readonly string[];

export interface Probes {
  /** Paths ordered from most to least frequent in the corpus, then synthetic ones. */
  readonly paths: readonly Path[];
  /** The 40 most frequent paths (a prefix of `paths`). */
  readonly frequent: readonly Path[];
  /** Paths ending at an array in many documents. */
  readonly arrayPaths: readonly Path[];
  /** Paths ending at an object in many documents. */
  readonly objectPaths: readonly Path[];
  /** Array subscripts Postgres reads with strtoint(): whitespace, signs, overflow. */
  readonly indexEdgePaths: readonly Path[];
  /** JSON text of containment patterns (objects, arrays, scalars), in varied styles. */
  readonly patterns: readonly string[];
  /** Object patterns only (json_multi_contains). */
  readonly objectPatterns: readonly string[];
  /** (path, text) pairs where `doc #>> path = text` holds for some documents. */
  readonly values: readonly { readonly path: Path; readonly text: string }[];
}

/** `#>>` text of a string, or of an integer whose lexeme is already canonical; else null. */
function extractText(node: JsonNode): string | null {
  if (node.t === 'str') return node.v;
  if (node.t === 'num' && /^(?:0|-?[1-9]\d{0,5})$/.test(node.lexeme)) return node.lexeme;
  if (node.t === 'bool') return node.v ? 'true' : 'false';
  return null;
}

function walk(node: JsonNode, path: Path, visit: (path: Path, node: JsonNode) => void): void {
  visit(path, node);
  if (path.length >= 4) return;
  if (node.t === 'obj') {
    for (const [k, v] of lastWins(node.entries)) walk(v, [...path, k], visit);
  } else if (node.t === 'arr') {
    node.items.forEach((item, i) => {
      walk(item, [...path, String(i)], visit);
      if (i === node.items.length - 1) walk(item, [...path, '-1'], visit);
    });
  }
}

/** A random part of `node` that `node @> part` holds for. */
function containedPart(rng: Rng, node: JsonNode, depth: number): JsonNode {
  if (node.t === 'obj') {
    const entries = [...lastWins(node.entries)];
    const keep = rng.sample(entries, Math.min(entries.length, 1 + rng.int(2)));
    return obj(keep.map(([k, v]) => [k, depth > 2 ? v : containedPart(rng, v, depth + 1)]));
  }
  if (node.t === 'arr') {
    if (node.items.length === 0 || rng.chance(0.15)) return arr([]);
    return arr([containedPart(rng, rng.pick(node.items), depth + 1)]);
  }
  if (node.t === 'num' && rng.chance(0.3)) return num(sameNumber(node.lexeme));
  return node;
}

/** Another spelling of the same numeric value (containment compares numerically). */
function sameNumber(lexeme: string): string {
  if (/^-?\d+$/.test(lexeme)) return `${lexeme}.00`;
  if (/^-?\d+\.\d+$/.test(lexeme)) return `${lexeme}0e0`;
  return lexeme;
}

/** Edge patterns: empty containers, scalars, type confusions, numeric spellings, nulls. */
const EDGE_PATTERNS = [
  '{}', '[]', 'null', '"a"', '1', '1.0', 'true', '[[]]', '[{}]', '{"nul": null}', '{"tags": []}',
  '{"tags": "red"}', '{"tags": ["red", "red"]}', '{"n": 1}', '{"n": "12"}', '{"n": 1e2}',
  '{"n": 100.000}', '{"nested": {}}', '{"nested": {"deep": {}}}', '{"nested": {"deep": {"v": 3}}}',
  '{"kind": "a", "kind": "b"}', '{"empty_o": {}}', '{"empty_a": []}', '{"empty_o": []}',
  '{"matrix": [[1]]}', '{"matrix": [[[]]]}', '{"items": [{"sku": "y"}]}', '["red"]', '[42]',
  '{"price": 9.99}', '{"flag": true}', '{"flag": "true"}', '{"meta": {"NULL": null}}',
  '{"\\u00fcber": 1}', '{"text": "\\ud83d\\ude00"}', '{"text": "e\\u0301"}', '{"kind": "\\u00fc"}',
  '{"n": -0}', '{"n": 0.0}', '{"n": 9223372036854775808}', '{"it\'s": true}', '  { "kind" : "c" } ',
] as const; // prettier-ignore

const INDEX_EDGES = [
  ' 1',
  '+1',
  '01',
  '1 ',
  '-0',
  '\t0',
  '2147483648',
  '-2147483648',
  '1.0',
  '0x1',
];

export function deriveProbes(corpus: Corpus, seed = corpus.seed ^ 0x5eed): Probes {
  const rng = new Rng(seed);
  const counts = new Map<string, { path: Path; n: number; arrays: number; objects: number }>();
  const valueCounts = new Map<string, { path: Path; text: string; n: number }>();
  const sample = corpus.models.slice(0, 3000);
  for (const model of sample) {
    if (model === undefined) continue;
    walk(model, [], (path, node) => {
      if (path.length === 0) return;
      const key = JSON.stringify(path);
      const entry = counts.get(key) ?? { path, n: 0, arrays: 0, objects: 0 };
      entry.n++;
      if (node.t === 'arr') entry.arrays++;
      if (node.t === 'obj') entry.objects++;
      counts.set(key, entry);
      const text = extractText(node);
      if (text !== null) {
        const vkey = `${key}=${text}`;
        const v = valueCounts.get(vkey) ?? { path, text, n: 0 };
        v.n++;
        valueCounts.set(vkey, v);
      }
    });
  }
  const byFrequency = [...counts.values()].sort(
    (a, b) => b.n - a.n || JSON.stringify(a.path).localeCompare(JSON.stringify(b.path)),
  );
  const frequent = byFrequency.slice(0, 40).map((e) => e.path);
  const rare = rng.sample(
    byFrequency.slice(40).map((e) => e.path),
    25,
  );
  const missing: Path[] = [
    ['missing'],
    ['nested', 'missing'],
    ['nested', 'deep', 'v', 'below-a-scalar'],
    ['tags', '99'],
    ['tags', '-99'],
    ['tags', 'red'],
    ['items', 'sku'],
    ['0', '0'],
    ['kind', '0'],
  ];
  const arrayPaths = byFrequency
    .filter((e) => e.arrays >= 20)
    .slice(0, 12)
    .map((e) => e.path);
  const objectPaths = byFrequency
    .filter((e) => e.objects >= 20)
    .slice(0, 12)
    .map((e) => e.path);
  const indexEdgePaths = INDEX_EDGES.flatMap((i): Path[] => [['tags', i], [i]]);

  const patterns: string[] = [...EDGE_PATTERNS];
  const objectPatterns: string[] = EDGE_PATTERNS.filter((p) => p.trim().startsWith('{'));
  const docs = corpus.models.filter((m): m is JsonNode => m !== undefined);
  while (patterns.length < EDGE_PATTERNS.length + 60) {
    const doc = rng.pick(docs);
    const part = containedPart(rng, doc, 0);
    const text = writeJson(part, randomStyle(rng));
    patterns.push(text);
    if (part.t === 'obj') objectPatterns.push(text);
  }
  // A few patterns that almost match: a real pair with the value's type changed.
  for (let i = 0; i < 8; i++) {
    const doc = rng.pick(docs);
    if (doc.t !== 'obj' || doc.entries.length === 0) continue;
    const [k, v] = rng.pick([...lastWins(doc.entries)]);
    const changed =
      v.t === 'num' ? str(v.lexeme) : v.t === 'str' ? arr([v]) : v.t === 'null' ? str('') : nul;
    const text = writeJson(obj([[k, changed]]));
    patterns.push(text);
    objectPatterns.push(text);
  }

  const values = [...valueCounts.values()]
    .sort((a, b) => b.n - a.n || a.text.localeCompare(b.text))
    .filter((v, i) => i < 25 || v.n === 1)
    .slice(0, 40)
    .map(({ path, text }) => ({ path, text }));

  return {
    paths: dedupe([...frequent, ...rare, ...missing]),
    frequent,
    arrayPaths,
    objectPaths,
    indexEdgePaths,
    patterns: dedupe(patterns),
    objectPatterns: dedupe(objectPatterns),
    values,
  };
}

function dedupe<T>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = JSON.stringify(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
