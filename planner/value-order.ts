import type { Value } from '../udf/function.js';
import { compareJsonb, jsonbEqualityKey } from '../udf/jsonb/compare.js';
import { compareDecimalText } from '../udf/jsonb/json-number.js';
import type { JsonValue } from '../udf/jsonb/json-value.js';
import { parseJson } from '../udf/jsonb/parse-json.js';
import { serializeJsonb } from '../udf/jsonb/serialize.js';
import { formatDecimal, parseDecimal } from './decimal-sum.js';
import { compareValues } from './expr.js';
import { OID } from './wire-values.js';

export type PlainValue = Exclude<Value, null>;

/** A sort key prepared once per row: a jsonb value is parsed once, not at every comparison. */
export type Comparable = PlainValue | { readonly json: JsonValue };

/**
 * How the proxy orders and equates the values of one Postgres type, as Postgres does: jsonb by
 * jsonb's btree order and equality (`{"v": 1}` = `{"v": 1.0}`), numeric exactly as decimals
 * (NaN above +Infinity, `1.0` = `1`), double precision with -0 = 0 and NaN = NaN, the rest by
 * `compareValues` (text bytewise, the C collation).
 */
export interface ValueOrder {
  readonly compare: (a: PlainValue, b: PlainValue) => number;
  readonly prepare: (value: PlainValue) => Comparable;
  readonly comparePrepared: (a: Comparable, b: Comparable) => number;
  /** Equal exactly when the values are: the DISTINCT, GROUP BY and count(DISTINCT) key. */
  readonly key: (value: PlainValue) => string;
}

const PLAIN: ValueOrder = {
  compare: compareValues,
  prepare: (value) => value,
  comparePrepared: (a, b) => compareValues(plain(a), plain(b)),
  key: plainKey,
};

const JSONB: ValueOrder = {
  compare: (a, b) => compareJsonb(jsonOf(a), jsonOf(b)),
  prepare: (value) => ({ json: jsonOf(value) }),
  comparePrepared: (a, b) => compareJsonb(jsonOf(a), jsonOf(b)),
  key: (value) => `j${jsonbEqualityKey(jsonOf(value))}`,
};

const NUMERIC: ValueOrder = {
  compare: compareNumeric,
  prepare: (value) => value,
  comparePrepared: (a, b) => compareNumeric(plain(a), plain(b)),
  key: (value) => `d${numericKey(value)}`,
};

const FLOAT: ValueOrder = {
  ...PLAIN,
  key: (value) => {
    const n = Number(value);
    return `f${Number.isNaN(n) ? 'NaN' : String(n === 0 ? 0 : n)}`;
  },
};

/** The order of values of type `oid`. */
export function orderOf(oid: number): ValueOrder {
  switch (oid) {
    case OID.jsonb:
      return JSONB;
    case OID.numeric:
      return NUMERIC;
    case OID.float4:
    case OID.float8:
      return FLOAT;
    default:
      return PLAIN;
  }
}

/**
 * The order a comparison `left op right` uses, from its operands' types (undefined: an untyped
 * literal, which takes the other side's type): jsonb if either is; double precision if either
 * is (numeric converts to it); numeric if either is; else the plain order.
 */
export function comparisonOrder(left: number | undefined, right: number | undefined): ValueOrder {
  const types = [left, right];
  if (types.includes(OID.jsonb)) return JSONB;
  if (types.includes(OID.float8) || types.includes(OID.float4)) return FLOAT;
  if (types.includes(OID.numeric)) return NUMERIC;
  return PLAIN;
}

function plain(value: Comparable): PlainValue {
  return typeof value === 'object' && 'json' in value ? serializeJsonb(value.json) : value;
}

function jsonOf(value: Comparable): JsonValue {
  if (typeof value === 'object' && 'json' in value) return value.json;
  return parseJson(typeof value === 'string' ? value : String(value));
}

function plainKey(value: PlainValue): string {
  if (typeof value === 'bigint') return `i${value.toString()}`;
  if (typeof value === 'number')
    return `i${Number.isInteger(value) ? value.toFixed(0) : String(value)}`;
  if (typeof value === 'string') return `s${value}`;
  if (typeof value === 'boolean') return value ? 'T' : 'F';
  return `a${JSON.stringify(value)}`;
}

/** numeric's special values, in numeric's order (above every finite value, NaN highest). */
const SPECIAL_RANK = new Map([
  ['-infinity', -1],
  ['-inf', -1],
  ['infinity', 1],
  ['+infinity', 1],
  ['inf', 1],
  ['+inf', 1],
  ['nan', 2],
]);

const PLAIN_DECIMAL = /^-?\d+(?:\.\d+)?$/;

/** A numeric operand as plain decimal text, or its special rank (±1 infinities, 2 NaN). */
function numericForm(value: PlainValue): string | number {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 2;
    if (!Number.isFinite(value)) return value > 0 ? 1 : -1;
    if (Number.isInteger(value) && Math.abs(value) < 1e21) return value.toFixed(0);
  }
  const text = String(value).trim();
  if (PLAIN_DECIMAL.test(text)) return text;
  const special = SPECIAL_RANK.get(text.toLowerCase());
  if (special !== undefined) return special;
  const { mantissa, scale } = parseDecimal(text);
  return formatDecimal(mantissa, scale);
}

function compareNumeric(a: PlainValue, b: PlainValue): number {
  const x = numericForm(a);
  const y = numericForm(b);
  if (typeof x === 'string' && typeof y === 'string') return compareDecimalText(x, y);
  const rankX = typeof x === 'string' ? 0 : x;
  const rankY = typeof y === 'string' ? 0 : y;
  return rankX === rankY ? 0 : rankX < rankY ? -1 : 1;
}

/** The value without leading zeros, trailing fractional zeros or a negative zero. */
function numericKey(value: PlainValue): string {
  const form = numericForm(value);
  if (typeof form === 'number') return form === 2 ? 'NaN' : form > 0 ? 'Inf' : '-Inf';
  const negative = form.startsWith('-');
  let digits = negative ? form.slice(1) : form;
  if (digits.includes('.')) digits = digits.replace(/0+$/, '').replace(/\.$/, '');
  digits = digits.replace(/^0+(?=\d)/, '');
  return negative && digits !== '0' ? `-${digits}` : digits;
}
