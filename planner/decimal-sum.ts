import { PgError, SqlState } from '../protocol/pg-error.js';

/**
 * Exact sum and average of Postgres `numeric` values in the proxy, printed as Postgres prints
 * them. A value is a BigInt mantissa and a display scale (digits after the point, trailing
 * zeros included: `1.50` has scale 2); a sum's scale is the largest of its inputs' (add_var), an
 * average is the sum divided by the count at the scale Postgres's numeric division picks
 * (select_div_scale), rounded half away from zero. NaN and ±Infinity follow Postgres: NaN wins,
 * Infinity plus -Infinity is NaN.
 */
export class DecimalSum {
  private mantissa = 0n;
  private scale = 0;
  private nan = false;
  private positiveInfinity = false;
  private negativeInfinity = false;

  /** Add one value in Postgres's numeric text form; 22P02 for text that is not a numeric. */
  add(text: string): void {
    const special = SPECIAL.test(text) ? text.trim().toLowerCase() : '';
    if (special === 'nan') {
      this.nan = true;
      return;
    }
    if (special === 'infinity' || special === '+infinity' || special === 'inf') {
      this.positiveInfinity = true;
      return;
    }
    if (special === '-infinity' || special === '-inf') {
      this.negativeInfinity = true;
      return;
    }
    const { mantissa, scale } = parseDecimal(text);
    if (scale > this.scale) {
      this.mantissa *= 10n ** BigInt(scale - this.scale);
      this.scale = scale;
    }
    this.mantissa += mantissa * 10n ** BigInt(this.scale - scale);
  }

  /** The sum as Postgres prints sum(numeric). */
  sumText(): string {
    return this.special() ?? formatDecimal(this.mantissa, this.scale);
  }

  /** The sum divided by `count` as Postgres prints avg(numeric). */
  averageText(count: bigint): string {
    return this.special() ?? divideDecimal(this.mantissa, this.scale, count);
  }

  private special(): string | undefined {
    if (this.nan || (this.positiveInfinity && this.negativeInfinity)) return 'NaN';
    if (this.positiveInfinity) return 'Infinity';
    if (this.negativeInfinity) return '-Infinity';
    return undefined;
  }
}

/** NaN and the infinities (any case, optional sign and spaces): the only numeric text with letters. */
const SPECIAL = /^\s*[+-]?[a-z]/i;
const DECIMAL = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/;

/** `-12.340` → mantissa -12340n, scale 3; exponents are applied (`1.5e2` → 150, scale 0). */
export function parseDecimal(text: string): { mantissa: bigint; scale: number } {
  const match = DECIMAL.exec(text);
  const whole = match?.[2] ?? '';
  const fraction = match?.[3] ?? '';
  if (match === null || (whole === '' && fraction === '')) {
    throw new PgError(
      SqlState.InvalidTextRepresentation,
      `invalid input syntax for type numeric: "${text}"`,
    );
  }
  let digits = `${whole}${fraction}`;
  let scale = fraction.length - Number(match[4] ?? '0');
  if (scale < 0) {
    digits += '0'.repeat(-scale);
    scale = 0;
  }
  const magnitude = BigInt(digits === '' ? '0' : digits);
  return { mantissa: match[1] === '-' ? -magnitude : magnitude, scale };
}

/** mantissa × 10^-scale with exactly `scale` digits after the point. */
export function formatDecimal(mantissa: bigint, scale: number): string {
  const negative = mantissa < 0n;
  const digits = (negative ? -mantissa : mantissa).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const text = scale === 0 ? whole : `${whole}.${digits.slice(digits.length - scale)}`;
  return negative ? `-${text}` : text;
}

/**
 * Postgres's numeric weight (of the first non-zero base-10000 digit) and that digit, for
 * mantissa × 10^-scale (non-zero mantissa).
 */
function weightAndFirstDigit(mantissa: bigint, scale: number): [number, number] {
  if (mantissa === 0n) return [0, 0];
  const fractionGroups = Math.ceil(scale / 4);
  const aligned =
    (mantissa < 0n ? -mantissa : mantissa) * 10n ** BigInt(fractionGroups * 4 - scale);
  const digits = aligned.toString();
  const groups = Math.ceil(digits.length / 4);
  const firstLength = digits.length - (groups - 1) * 4;
  return [groups - 1 - fractionGroups, Number(digits.slice(0, firstLength))];
}

/**
 * (mantissa × 10^-scale) / count at the scale select_div_scale picks: at least 16 significant
 * digits (NUMERIC_MIN_SIG_DIGITS, counted in base-10000 weights), at least the dividend's scale,
 * at most 1000; rounded half away from zero.
 */
export function divideDecimal(mantissa: bigint, scale: number, count: bigint): string {
  const [w1, f1] = weightAndFirstDigit(mantissa, scale);
  const [w2, f2] = weightAndFirstDigit(count, 0);
  let qweight = w1 - w2;
  if (f1 <= f2) qweight--;
  const rscale = Math.min(Math.max(16 - qweight * 4, scale, 0), 1000);
  const negative = mantissa < 0n !== count < 0n;
  // |mantissa| × 10^(rscale - scale) / |count|, doubled to round half away from zero.
  const n = (mantissa < 0n ? -mantissa : mantissa) * 10n ** BigInt(rscale - scale) * 2n;
  const d = count < 0n ? -count : count;
  const rounded = (n / d + 1n) / 2n;
  return formatDecimal(negative && rounded !== 0n ? -rounded : rounded, rscale);
}
