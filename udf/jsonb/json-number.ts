import { PgError } from '../../protocol/pg-error.js';

/** SQLSTATE 22003: a number that Postgres's `numeric` cannot store. */
const NumericValueOutOfRange = '22003';

/** Postgres `numeric` limits (src/include/utils/numeric.h and numeric.c). */
const MAX_EXPONENT = 1_073_741_823; // PG_INT32_MAX / 2, checked while reading the exponent
const MAX_DISPLAY_SCALE = 16_383; // NUMERIC_DSCALE_MAX
const MAX_INTEGER_DIGITS = 131_072; // (NUMERIC_WEIGHT_MAX + 1) * DEC_DIGITS

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A JSON number as jsonb stores it: a Postgres `numeric`, kept as its canonical output text
 * (`1e2` → `100`, `1.50e1` → `15.0`, `-0` → `0`, `1E-2` → `0.01`, `0.10` → `0.10`). Two numbers
 * are equal when their values are (`1.0` = `1`), as jsonb compares them.
 */
export class JsonNumber {
  /** Canonical text, exactly as Postgres prints the numeric. */
  readonly text: string;
  private valueKey: string | undefined;

  private constructor(text: string) {
    this.text = text;
  }

  /** The value with trailing fractional zeros removed: equal values have equal keys. */
  get key(): string {
    this.valueKey ??= valueKey(this.text);
    return this.valueKey;
  }

  /**
   * From a JSON number lexeme (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, already
   * validated by the lexer). Throws 22003 where Postgres's numeric_in would.
   */
  static fromLexeme(lexeme: string): JsonNumber {
    return new JsonNumber(canonicalNumericText(lexeme));
  }

  /** From a JS number (finite), for values built outside the parser. */
  static fromNumber(value: number): JsonNumber {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
    return JsonNumber.fromLexeme(Object.is(value, -0) ? '0' : String(value).replace('e+', 'e'));
  }

  /** From a bigint. */
  static fromBigInt(value: bigint): JsonNumber {
    return new JsonNumber(value.toString());
  }

  equals(other: JsonNumber): boolean {
    return this.key === other.key;
  }

  /** The value when it is an integer in bigint range (`1.0` and `1e2` count), else null. */
  toInt64(): bigint | null {
    const key = this.key;
    if (key.includes('.') || key.length > 20) return null;
    const value = BigInt(key);
    return value < INT64_MIN || value > INT64_MAX ? null : value;
  }

  /**
   * The nearest double, or null where Postgres's numeric → float8 conversion fails: overflow
   * to infinity, or a non-zero value that underflows to zero (subnormal results are kept).
   */
  toFloat64(): number | null {
    const value = Number(this.text);
    if (!Number.isFinite(value)) return null;
    if (value === 0 && this.key !== '0') return null;
    return value;
  }

  /** The nearest JS number (±Infinity or 0 when out of range), for ajv. */
  toNumber(): number {
    return Number(this.text);
  }

  toString(): string {
    return this.text;
  }
}

/**
 * Numeric order of two plain decimal texts (`-?digits[.digits]`, as numeric_out prints them;
 * leading zeros allowed): negative < zero < positive, then by magnitude.
 */
export function compareDecimalText(a: string, b: string): number {
  const signA = decimalSign(a);
  const signB = decimalSign(b);
  if (signA !== signB) return signA < signB ? -1 : 1;
  if (signA === 0) return 0;
  const magnitude = compareMagnitude(
    signA < 0 ? a.slice(1) : a.replace(/^\+/, ''),
    signB < 0 ? b.slice(1) : b.replace(/^\+/, ''),
  );
  return signA < 0 ? -magnitude : magnitude;
}

function decimalSign(text: string): -1 | 0 | 1 {
  if (!/[1-9]/.test(text)) return 0;
  return text.charCodeAt(0) === 0x2d ? -1 : 1;
}

function compareMagnitude(a: string, b: string): number {
  const pointA = a.indexOf('.');
  const pointB = b.indexOf('.');
  const wholeA = (pointA < 0 ? a : a.slice(0, pointA)).replace(/^0+/, '');
  const wholeB = (pointB < 0 ? b : b.slice(0, pointB)).replace(/^0+/, '');
  if (wholeA.length !== wholeB.length) return wholeA.length < wholeB.length ? -1 : 1;
  if (wholeA !== wholeB) return wholeA < wholeB ? -1 : 1;
  const fractionA = pointA < 0 ? '' : a.slice(pointA + 1);
  const fractionB = pointB < 0 ? '' : b.slice(pointB + 1);
  const width = Math.max(fractionA.length, fractionB.length);
  const x = fractionA.padEnd(width, '0');
  const y = fractionB.padEnd(width, '0');
  return x === y ? 0 : x < y ? -1 : 1;
}

function valueKey(text: string): string {
  if (!text.includes('.')) return text;
  let end = text.length;
  while (text.charCodeAt(end - 1) === 0x30) end--;
  if (text.charCodeAt(end - 1) === 0x2e) end--;
  const key = text.slice(0, end);
  return key === '-0' ? '0' : key;
}

function overflow(): PgError {
  return new PgError(NumericValueOutOfRange, 'value overflows numeric format');
}

/**
 * Postgres numeric_in then numeric_out on a JSON number lexeme: the display scale is the
 * number of fractional digits minus the exponent (at least 0), and the value is printed with
 * exactly that many fractional digits, no exponent, no leading zeros and no negative zero.
 */
function canonicalNumericText(lexeme: string): string {
  if (lexeme.length < 64 && !/[eE]/.test(lexeme)) {
    // Without an exponent the lexeme is canonical already, except for a negative zero.
    return lexeme.charCodeAt(0) === 0x2d && /^-0(\.0*)?$/.test(lexeme) ? lexeme.slice(1) : lexeme;
  }
  let i = 0;
  const negative = lexeme.charCodeAt(0) === 0x2d;
  if (negative) i++;
  const intStart = i;
  while (i < lexeme.length && isDigit(lexeme.charCodeAt(i))) i++;
  const intDigits = lexeme.slice(intStart, i);
  let fracDigits = '';
  if (lexeme.charCodeAt(i) === 0x2e) {
    const fracStart = ++i;
    while (i < lexeme.length && isDigit(lexeme.charCodeAt(i))) i++;
    fracDigits = lexeme.slice(fracStart, i);
  }
  let exponent = 0;
  if (i < lexeme.length) {
    i++; // e or E
    let expNegative = false;
    const sign = lexeme.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) {
      expNegative = sign === 0x2d;
      i++;
    }
    for (; i < lexeme.length; i++) {
      exponent = exponent * 10 + (lexeme.charCodeAt(i) - 0x30);
      if (exponent > MAX_EXPONENT) throw overflow();
    }
    if (expNegative) exponent = -exponent;
  }

  const scale = Math.max(0, fracDigits.length - exponent);
  if (scale > MAX_DISPLAY_SCALE) throw overflow();
  const digits = intDigits + fracDigits;
  let firstNonZero = 0;
  while (firstNonZero < digits.length && digits.charCodeAt(firstNonZero) === 0x30) firstNonZero++;
  if (firstNonZero === digits.length) return scale > 0 ? `0.${'0'.repeat(scale)}` : '0';

  // Position of the decimal point inside `digits`, counted from the left.
  const point = intDigits.length + exponent;
  if (point - firstNonZero > MAX_INTEGER_DIGITS) throw overflow();
  let integer: string;
  if (point <= firstNonZero) integer = '0';
  else if (point >= digits.length)
    integer = digits.slice(firstNonZero) + '0'.repeat(point - digits.length);
  else integer = digits.slice(firstNonZero, point);
  let text = negative ? `-${integer}` : integer;
  if (scale > 0) {
    const fraction = point < 0 ? '0'.repeat(-point) + digits : digits.slice(point);
    text += `.${fraction}`;
  }
  return text;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}
