import type { Value } from '../udf/function.js';

/** Type OIDs the proxy decodes and encodes itself. */
export const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  float4: 700,
  float8: 701,
  varchar: 1043,
  numeric: 1700,
  jsonb: 3802,
  textArray: 1009,
} as const;

/**
 * A value Postgres sent in text format, as the evaluator sees it. A numeric stays its exact
 * text (planner/value-order.ts compares it as a decimal, decimal-sum.ts adds it).
 */
export function decodeText(oid: number, text: string): Value {
  switch (oid) {
    case OID.bool:
      return text === 't';
    case OID.int8:
      return BigInt(text);
    case OID.int2:
    case OID.int4:
    case OID.float4:
    case OID.float8:
      return Number(text);
    default:
      return text;
  }
}

/**
 * Postgres's text output of a value of type `oid`; double precision and real as
 * `extraFloatDigits` asks (the session's extra_float_digits; 1 is Postgres's default).
 */
export function encodeText(oid: number, value: Value, extraFloatDigits = 1): string {
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (oid === OID.int4 || oid === OID.int2) return String(value);
    return oid === OID.float4 && extraFloatDigits <= 0
      ? float4Text(value, extraFloatDigits)
      : float8Text(value, extraFloatDigits);
  }
  if (typeof value === 'string') return value;
  if (value === null) return '';
  const element = ARRAY_ELEMENT.get(oid);
  // Float elements are kept in their shortest exact text: rounded here when the session asks.
  const rounded =
    extraFloatDigits <= 0 && (element === OID.float8 || element === OID.float4)
      ? value.map((item) =>
          item === null ? null : encodeText(element, Number(item), extraFloatDigits),
        )
      : value;
  return `{${rounded.map(arrayElement).join(',')}}`;
}

/** float4out at extra_float_digits 0 and below: `%.{6 + extra}g` (FLT_DIG is 6). */
function float4Text(value: number, extraFloatDigits: number): string {
  if (!Number.isFinite(value)) return float8Text(value);
  return printfG(value, Math.max(1, FLT_DIG + extraFloatDigits));
}

/**
 * float8out: with extra_float_digits > 0 (the default, 1) the shortest exact digits, exponent
 * form outside 1e-4 … 1e15 (as Postgres 12+); at 0 or below, `%.{15 + extra}g` (at least 1
 * digit), the rounded form older clients ask for.
 */
export function float8Text(value: number, extraFloatDigits = 1): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (extraFloatDigits <= 0) return printfG(value, Math.max(1, DBL_DIG + extraFloatDigits));
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const [mantissa = '0', exponent = '0'] = value.toExponential().split('e');
  const exp = Number(exponent);
  if (exp < -4 || exp >= 15) {
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${mantissa}e${exp < 0 ? '-' : '+'}${digits}`;
  }
  return String(value);
}

/** Significant decimal digits a double and a float always keep (float.h's DBL_DIG, FLT_DIG). */
const DBL_DIG = 15;
const FLT_DIG = 6;

/**
 * C's `%.{precision}g` of a finite double: rounded from its exact decimal value, half to even
 * (as glibc's printf), trailing zeros dropped, exponent form below 1e-4 or from 10^precision.
 */
function printfG(value: number, precision: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  let { digits, exponent } = exactDigits(Math.abs(value));
  if (digits.length > precision) {
    const kept = digits.slice(0, precision);
    const rest = digits.slice(precision); // not empty, and it ends in a non-zero digit
    const next = rest.charCodeAt(0) - 0x30;
    const odd = (kept.charCodeAt(kept.length - 1) - 0x30) % 2 === 1;
    // Exactly half way only when the rest is "5": then to the even neighbour.
    const up = next > 5 || (next === 5 && (rest !== '5' || odd));
    const rounded = up ? (BigInt(kept) + 1n).toString() : kept;
    if (rounded.length > kept.length) exponent++;
    digits = rounded.slice(0, precision).replace(/0+$/, '') || '0';
  }
  const sign = value < 0 ? '-' : '';
  if (exponent < -4 || exponent >= precision) {
    const mantissa = digits.length > 1 ? `${digits[0] ?? ''}.${digits.slice(1)}` : digits;
    const power = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${power}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

/**
 * The exact decimal value of a finite positive double: its significant digits (no trailing
 * zeros) and the power of ten of the first one (1234.5 → "12345", 3).
 */
function exactDigits(value: number): { digits: string; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const power2 = (biased === 0 ? 1 : biased) - 1075; // value = mantissa × 2^power2
  const integer = power2 >= 0 ? mantissa << BigInt(power2) : mantissa * 5n ** BigInt(-power2);
  const text = integer.toString(); // value = text × 10^min(power2, 0)
  const scale = Math.min(power2, 0);
  const digits = text.replace(/0+$/, '');
  return { digits, exponent: text.length - 1 + scale };
}

function arrayElement(element: string | null): string {
  if (element === null) return 'NULL';
  // array_out quotes ASCII whitespace only (scanner_isspace), not U+00A0 and friends.
  if (element !== '' && !/[{}",\\ \t\n\r\v\f]/.test(element) && element.toUpperCase() !== 'NULL')
    return element;
  return `"${element.replace(/(["\\])/g, '\\$1')}"`;
}

/** Postgres's binary send format of a value of type `oid`. */
export function encodeBinary(oid: number, value: Value): Buffer {
  switch (oid) {
    case OID.bool:
      return Buffer.from([value === true ? 1 : 0]);
    case OID.int8: {
      const out = Buffer.alloc(8);
      out.writeBigInt64BE(typeof value === 'bigint' ? value : BigInt(Number(value)));
      return out;
    }
    case OID.int4: {
      const out = Buffer.alloc(4);
      out.writeInt32BE(Number(value));
      return out;
    }
    case OID.float8: {
      const out = Buffer.alloc(8);
      out.writeDoubleBE(Number(value));
      return out;
    }
    case OID.jsonb:
      return Buffer.concat([Buffer.from([1]), Buffer.from(String(value))]);
    case OID.numeric:
      return numericBinary(typeof value === 'string' ? value : encodeText(OID.numeric, value));
    default: {
      const element = ARRAY_ELEMENT.get(oid);
      if (element !== undefined) return arrayBinary(element, Array.isArray(value) ? value : []);
      return Buffer.from(typeof value === 'string' ? value : encodeText(oid, value));
    }
  }
}

/** Array type OID → element type OID, for the arrays the proxy builds (array_agg, json_keys). */
export const ARRAY_ELEMENT: ReadonlyMap<number, number> = new Map([
  [1000, OID.bool],
  [1005, OID.int2],
  [1007, OID.int4],
  [1016, OID.int8],
  [OID.textArray, OID.text],
  [1015, OID.varchar],
  [1021, OID.float4],
  [1022, OID.float8],
  [1231, OID.numeric],
  [199, OID.json],
  [3807, OID.jsonb],
]);

/** Element type OID → its array type OID. */
export function arrayTypeOf(element: number): number | undefined {
  for (const [array, item] of ARRAY_ELEMENT) if (item === element) return array;
  return undefined;
}

/**
 * numeric_send's sign word and display scale for the values without digits (NUMERIC_NAN, _PINF,
 * _NINF; Postgres sends the infinities with display scale 32, as numeric_send shows).
 */
const NUMERIC_SPECIAL_SIGNS = new Map<string, readonly [number, number]>([
  ['NaN', [0xc000, 0]],
  ['Infinity', [0xd000, 32]],
  ['-Infinity', [0xf000, 32]],
]);

/** numeric_send: base-10000 digits with weight, sign and display scale. */
export function numericBinary(text: string): Buffer {
  const header = Buffer.alloc(8);
  const special = NUMERIC_SPECIAL_SIGNS.get(text);
  if (special !== undefined) {
    header.writeUInt16BE(special[0], 4);
    header.writeUInt16BE(special[1], 6);
    return header;
  }
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = text.replace(/^[-+]/, '').split('.');
  const dscale = fraction.length;
  const intDigits = whole.replace(/^0+/, '');
  const padInt = intDigits.padStart(Math.ceil(intDigits.length / 4) * 4, '0');
  const padFrac = fraction.padEnd(Math.ceil(fraction.length / 4) * 4, '0');
  const groups: number[] = [];
  for (let i = 0; i < padInt.length; i += 4) groups.push(Number(padInt.slice(i, i + 4)));
  const intGroups = groups.length;
  for (let i = 0; i < padFrac.length; i += 4) groups.push(Number(padFrac.slice(i, i + 4)));
  let weight = intGroups - 1;
  while (groups.length > 0 && groups[0] === 0) {
    groups.shift();
    weight--;
  }
  while (groups.length > 0 && groups[groups.length - 1] === 0) groups.pop();
  if (groups.length === 0) weight = 0;
  const out = Buffer.alloc(8 + groups.length * 2);
  out.writeInt16BE(groups.length, 0);
  out.writeInt16BE(weight, 2);
  out.writeUInt16BE(negative && groups.length > 0 ? 0x4000 : 0, 4);
  out.writeInt16BE(dscale, 6);
  groups.forEach((group, i) => out.writeInt16BE(group, 8 + i * 2));
  return out;
}

function arrayBinary(elementOid: number, elements: readonly (string | null)[]): Buffer {
  if (elements.length === 0) {
    const empty = Buffer.alloc(12);
    empty.writeInt32BE(elementOid, 8);
    return empty;
  }
  const parts: Buffer[] = [];
  const header = Buffer.alloc(20);
  header.writeInt32BE(1, 0); // dimensions
  header.writeInt32BE(elements.includes(null) ? 1 : 0, 4);
  header.writeInt32BE(elementOid, 8);
  header.writeInt32BE(elements.length, 12);
  header.writeInt32BE(1, 16); // lower bound
  parts.push(header);
  for (const element of elements) {
    const length = Buffer.alloc(4);
    if (element === null) {
      length.writeInt32BE(-1);
      parts.push(length);
      continue;
    }
    const bytes = encodeBinary(elementOid, decodeText(elementOid, element));
    length.writeInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}
