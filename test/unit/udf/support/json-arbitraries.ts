import fc from 'fast-check';

/**
 * Generated JSON documents, kept as a tree so that patterns and paths can be derived from them
 * and rendered as text in several ways (whitespace, escapes, duplicate keys).
 */
export type GenJson =
  | { readonly kind: 'null' }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'number'; readonly lexeme: string }
  | { readonly kind: 'string'; readonly value: string; readonly escape: number }
  | { readonly kind: 'array'; readonly items: readonly GenJson[]; readonly space: string }
  | {
      readonly kind: 'object';
      readonly entries: readonly (readonly [string, GenJson])[];
      readonly space: string;
    };

const digit = fc.constantFrom(...Array.from('0123456789'));
const digits = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: digit, minLength, maxLength });

/** Numbers that sit on the edges of the typed getters' rules. */
export const EDGE_NUMBERS = [
  '0',
  '-0',
  '-0.0',
  '1.0',
  '1.5',
  '-1.5',
  '2.5',
  '0.10',
  '1e2',
  '1E+2',
  '1.50e1',
  '1E-2',
  '100e-2',
  '0e10',
  '1e18',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '-9223372036854775809',
  '9223372036854775807.0',
  '9223372036854775806.5',
  '2147483647',
  '1e308',
  '1.7976931348623157e308',
  '1.7976931348623158e308',
  '1.8e308',
  '-1e309',
  '2.2250738585072014e-308',
  '4.9e-324',
  '3e-324',
  '2.4703282292062328e-324',
  '2.4703282292062327e-324',
  '2e-324',
  '1e-400',
  '-1e-400',
  '123456789012345678901234567890.123456789',
];

export const numberLexeme: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.boolean(),
        fc.oneof(
          fc.constant('0'),
          fc
            .tuple(fc.constantFrom(...Array.from('123456789')), digits(0, 22))
            .map(([a, b]) => a + b),
        ),
        fc.option(digits(1, 10), { nil: undefined }),
        fc.option(
          fc.tuple(
            fc.constantFrom('e', 'E'),
            fc.constantFrom('', '+', '-'),
            fc.integer({ min: 0, max: 40 }),
            fc.boolean(),
          ),
          { nil: undefined },
        ),
      )
      .map(([negative, int, frac, exp]) => {
        let text = (negative ? '-' : '') + int;
        if (frac !== undefined) text += `.${frac}`;
        if (exp !== undefined) text += `${exp[0]}${exp[1]}${exp[3] ? '0' : ''}${exp[2]}`;
        return text;
      }),
  },
);

const specialChar = fc.constantFrom(
  '"',
  '\\',
  '/',
  '\n',
  '\t',
  '\r',
  '\b',
  '\f',
  '\u0001',
  '\u001f',
  '\u007f',
  'é',
  'ß',
  '\u00a0',
  '\u2028',
  '\ue000',
  '\uffff',
  '😀',
  '𝄞',
  ' ',
);
const anyChar = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 1 })
  .map((c) => (c === '\u0000' ? '\u0001' : c));
const textChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Array.from('abcxyz01 AZ_-.')) },
  { weight: 2, arbitrary: specialChar },
  { weight: 1, arbitrary: anyChar },
);
export const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: textChar, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('1', '1.0', 'true', 'null', '', '-5') },
);

/** Keys collide often (so containment and duplicates matter) and sort in unusual ways. */
export const key: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('a', 'b', 'c', 'aa', 'ab', 'ba', 'key', 'id', '0', '1', ''),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom('é', 'e\u0301', '😀', '\uffffa', '\ue000a', 'A', 'Z', 'a b'),
  },
  { weight: 2, arbitrary: fc.string({ unit: textChar, maxLength: 4 }) },
);

const space = fc.constantFrom('', '', '', ' ', '\n\t ', '\r\n');

const scalar: fc.Arbitrary<GenJson> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'null' } as const) },
  { weight: 1, arbitrary: fc.boolean().map((value) => ({ kind: 'bool', value }) as const) },
  { weight: 3, arbitrary: numberLexeme.map((lexeme) => ({ kind: 'number', lexeme }) as const) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(text, fc.integer({ min: 0, max: 3 }))
      .map(([value, escape]) => ({ kind: 'string', value, escape }) as const),
  },
);

export const json: fc.Arbitrary<GenJson> = fc.letrec<{
  value: GenJson;
  array: GenJson;
  object: GenJson;
}>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, tie('array'), tie('object')),
  array: fc
    .tuple(fc.array(tie('value'), { maxLength: 5 }), space)
    .map(([items, s]) => ({ kind: 'array', items, space: s }) as const),
  object: fc
    .tuple(fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }), space)
    .map(([entries, s]) => ({ kind: 'object', entries, space: s }) as const),
})).value;

/** Documents that are mostly containers, as stored documents are. */
export const documentJson: fc.Arbitrary<GenJson> = fc.oneof(
  { weight: 1, arbitrary: scalar },
  { weight: 6, arbitrary: json.filter((j) => j.kind === 'object' || j.kind === 'array') },
);

/** JSON text of a generated value; `escape` picks how each string is written. */
export function render(value: GenJson): string {
  switch (value.kind) {
    case 'null':
      return 'null';
    case 'bool':
      return value.value ? 'true' : 'false';
    case 'number':
      return value.lexeme;
    case 'string':
      return renderString(value.value, value.escape);
    case 'array':
      return `[${value.space}${value.items.map(render).join(`,${value.space}`)}${value.space}]`;
    case 'object': {
      const s = value.space;
      const entries = value.entries.map(([k, v]) => `${renderString(k, 0)}${s}:${s}${render(v)}`);
      return `{${s}${entries.join(`,${s}`)}${s}}`;
    }
  }
}

/** 0: escape what must be escaped; 1: every non-ASCII as \u (surrogate pairs); 2: also `\/`; 3: raw JSON.stringify. */
function renderString(s: string, escape: number): string {
  if (escape === 3) return JSON.stringify(s);
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '/' && escape === 2) out += '\\/';
    else if (code < 0x20 || (escape >= 1 && code > 0x7e)) {
      for (let i = 0; i < ch.length; i++) {
        const unit = ch.charCodeAt(i).toString(16);
        out += `\\u${(i === 0 && escape === 2 ? unit.toUpperCase() : unit).padStart(4, '0')}`;
      }
    } else out += ch;
  }
  return `${out}"`;
}

/** The value jsonb keeps for an object: the last of duplicate keys. */
function dedupe(entries: readonly (readonly [string, GenJson])[]): (readonly [string, GenJson])[] {
  return [...new Map(entries.map(([k, v]) => [k, v] as const)).entries()];
}

/** The same number written differently: 15 → 15e0, 15.0; 1.5e1 → 1.50e1. */
function equivalentNumbers(lexeme: string): string[] {
  const match = /^([^eE]*)([eE].*)?$/.exec(lexeme);
  const mantissa = match?.[1] ?? lexeme;
  const exponent = match?.[2];
  const padded = mantissa.includes('.') ? `${mantissa}0` : `${mantissa}.0`;
  if (exponent === undefined) return [lexeme, `${lexeme}e0`, padded];
  return [lexeme, `${padded}${exponent}`];
}

/**
 * Patterns derived from a document, so that `@>` is true often: sub-objects, sub-arrays with
 * elements repeated or reordered, numbers written differently; sometimes mutated or random.
 */
export function derivedPattern(doc: GenJson, depth = 0): fc.Arbitrary<GenJson> {
  const derived = derive(doc, depth);
  const options: fc.WeightedArbitrary<GenJson>[] = [
    { weight: 8, arbitrary: derived },
    { weight: 1, arbitrary: json },
  ];
  if (depth === 0 && doc.kind === 'array') {
    const scalars = doc.items.filter((item) => item.kind !== 'array' && item.kind !== 'object');
    if (scalars.length > 0) options.push({ weight: 2, arbitrary: fc.constantFrom(...scalars) });
  }
  return fc.oneof(...options);
}

function derive(doc: GenJson, depth: number): fc.Arbitrary<GenJson> {
  switch (doc.kind) {
    case 'object': {
      const entries = dedupe(doc.entries);
      return fc
        .subarray(entries)
        .chain((chosen) =>
          fc.tuple(
            ...chosen.map(([k, v]) => derivedPattern(v, depth + 1).map((p) => [k, p] as const)),
          ),
        )
        .map((pairs) => ({ kind: 'object', entries: pairs, space: '' }) as const);
    }
    case 'array':
      if (doc.items.length === 0) return fc.constant(doc);
      return fc
        .array(
          fc.constantFrom(...doc.items).chain((item) => derivedPattern(item, depth + 1)),
          { maxLength: 4 },
        )
        .map((items) => ({ kind: 'array', items, space: '' }) as const);
    case 'number':
      return fc
        .constantFrom(...equivalentNumbers(doc.lexeme))
        .map((lexeme) => ({ kind: 'number', lexeme }) as const);
    default:
      return fc.constant(doc);
  }
}

/** Paths into a document: existing keys and indexes (written as Postgres accepts them), or not. */
export function derivedPath(doc: GenJson, maxLength = 3): fc.Arbitrary<string[]> {
  if (maxLength === 0) return fc.constant([]);
  const stop = fc.constant<string[]>([]);
  const random = fc.array(fc.oneof(key, fc.constantFrom('0', '-1', '1', ' 1', 'x')), {
    minLength: 1,
    maxLength,
  });
  let step: fc.Arbitrary<string[]> | undefined;
  if (doc.kind === 'object' && doc.entries.length > 0) {
    const entries = dedupe(doc.entries);
    step = fc
      .constantFrom(...entries)
      .chain(([k, v]) => derivedPath(v, maxLength - 1).map((rest) => [k, ...rest]));
  } else if (doc.kind === 'array' && doc.items.length > 0) {
    const n = doc.items.length;
    step = fc
      .integer({ min: 0, max: n - 1 })
      .chain((i) =>
        fc
          .tuple(
            fc.constantFrom(
              String(i),
              String(i - n),
              ` ${i}`,
              `+${i}`,
              `0${i}`,
              `${i}.0`,
              String(i + n),
              `\t${i}`,
              `${i} `,
            ),
            derivedPath(doc.items[i] ?? { kind: 'null' }, maxLength - 1),
          )
          .map(([index, rest]) => [index, ...rest]),
      );
  }
  const options: fc.WeightedArbitrary<string[]>[] = [
    { weight: 1, arbitrary: stop },
    { weight: 1, arbitrary: random },
  ];
  if (step !== undefined) options.push({ weight: 5, arbitrary: step });
  return fc.oneof(...options);
}
