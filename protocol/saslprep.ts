/**
 * SASLprep (RFC 4013) as PostgreSQL's pg_saslprep() applies it to SCRAM passwords: ASCII
 * passwords are used as is; others are mapped, NFKC-normalised and checked, and when the check
 * fails (or the bytes are not UTF-8) the raw bytes are used instead.
 *
 * Limitation: the Unicode 3.2 tables of RFC 3454 are approximated. "Unassigned in 3.2" (A.1) is
 * taken as "unassigned today, or in a block added after 3.2", and bidi category L (D.2) as
 * letters, spacing marks and non-ASCII digits outside right-to-left scripts; NFKC uses Node's
 * ICU version. A password that Postgres and this code classify differently gets a different
 * verifier (only exotic non-ASCII passwords are affected).
 */

/** Inclusive code point ranges, flattened: [lo, hi, lo, hi, ...] (as in Postgres). */
type Ranges = readonly number[];
const NON_ASCII_SPACE: Ranges = [
  0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200b, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000,
];
const MAPPED_TO_NOTHING: Ranges = [
  0xad, 0xad, 0x34f, 0x34f, 0x1806, 0x1806, 0x180b, 0x180d, 0x200b, 0x200d, 0x2060, 0x2060, 0xfe00,
  0xfe0f, 0xfeff, 0xfeff,
];
const PROHIBITED: Ranges = [
  0x0, 0x1f, 0x7f, 0xa0, 0x340, 0x341, 0x6dd, 0x6dd, 0x70f, 0x70f, 0x1680, 0x1680, 0x180e, 0x180e,
  0x2000, 0x200f, 0x2028, 0x202f, 0x205f, 0x2063, 0x206a, 0x206f, 0x2ff0, 0x2ffb, 0x3000, 0x3000,
  0xd800, 0xf8ff, 0xfdd0, 0xfdef, 0xfeff, 0xfeff, 0xfff9, 0xffff, 0x1d173, 0x1d17a, 0xe0001,
  0xe0001, 0xe0020, 0xe007f, 0xf0000, 0x10ffff,
];
/** Blocks (wholly or largely) unassigned in Unicode 3.2, from RFC 3454 table A.1. */
const UNASSIGNED_32: Ranges = [
  0x221, 0x221, 0x234, 0x24f, 0x2ae, 0x2af, 0x2ef, 0x2ff, 0x350, 0x35f, 0x510, 0x530, 0x74b, 0x77f,
  0x7b2, 0x900, 0xfd0, 0xfff, 0x105a, 0x109f, 0x18aa, 0x1dff, 0x20b2, 0x20cf, 0x23cf, 0x23ff,
  0x268a, 0x2700, 0x2b00, 0x2e7f, 0x31b8, 0x31ef, 0x4db6, 0x4dff, 0x9fa6, 0x9fff, 0xa4c7, 0xabff,
  0xd7a4, 0xd7ff, 0xfa6b, 0xfaff, 0x10000, 0x102ff, 0x1034b, 0x103ff, 0x1044e, 0x1cfff, 0x1d1de,
  0x1d3ff, 0x1d800, 0x1fffd, 0x2a6d7, 0x2f7ff, 0x2fa1e, 0x2fffd, 0x30000, 0xdffff, 0xe0000, 0xe0000,
  0xe0002, 0xe001f, 0xe0080, 0xefffd,
];
/** RFC 3454 table D.1: bidi categories R and AL. */
const RAND_AL: Ranges = [
  0x5be, 0x5be, 0x5c0, 0x5c0, 0x5c3, 0x5c3, 0x5d0, 0x5ea, 0x5f0, 0x5f4, 0x61b, 0x61b, 0x61f, 0x61f,
  0x621, 0x63a, 0x640, 0x64a, 0x66d, 0x66f, 0x671, 0x6d5, 0x6dd, 0x6dd, 0x6e5, 0x6e6, 0x6fa, 0x6fe,
  0x700, 0x70d, 0x710, 0x710, 0x712, 0x72c, 0x780, 0x7a5, 0x7b1, 0x7b1, 0x200f, 0x200f, 0xfb1d,
  0xfb1d, 0xfb1f, 0xfb28, 0xfb2a, 0xfb36, 0xfb38, 0xfb3c, 0xfb3e, 0xfb3e, 0xfb40, 0xfb41, 0xfb43,
  0xfb44, 0xfb46, 0xfbb1, 0xfbd3, 0xfd3d, 0xfd50, 0xfd8f, 0xfd92, 0xfdc7, 0xfdf0, 0xfdfc, 0xfe70,
  0xfe74, 0xfe76, 0xfefc,
];
const UNASSIGNED_NOW = /\p{Cn}/u;
const L_CAT = /[\p{L}\p{Mc}\p{Nd}]/u;
const RTL_SCRIPT =
  /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;

function inRanges(cp: number, ranges: Ranges): boolean {
  for (let i = 0; i + 1 < ranges.length; i += 2) {
    if (cp >= (ranges[i] ?? 0) && cp <= (ranges[i + 1] ?? -1)) return true;
  }
  return false;
}

function isLCat(cp: number): boolean {
  // ASCII, fullwidth and mathematical digits are EN, not L
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0xff10 && cp <= 0xff19)) return false;
  if (cp >= 0x1d7ce && cp <= 0x1d7ff) return false;
  const ch = String.fromCodePoint(cp);
  return L_CAT.test(ch) && !RTL_SCRIPT.test(ch) && !inRanges(cp, RAND_AL);
}

/**
 * SASLprep as Postgres's pg_saslprep() applies it; null when the string is prohibited (the
 * caller then uses the raw bytes). Like Postgres, the prohibition and bidi checks look at the
 * mapped input rather than the normalised output.
 */
export function saslPrep(input: string): string | null {
  const mapped: number[] = [];
  for (const ch of input) {
    const cp = ch.codePointAt(0) ?? 0;
    if (inRanges(cp, NON_ASCII_SPACE)) mapped.push(0x20);
    else if (!inRanges(cp, MAPPED_TO_NOTHING)) mapped.push(cp);
  }
  if (mapped.length === 0) return null;
  let text = '';
  for (const cp of mapped) {
    if (inRanges(cp, PROHIBITED) || inRanges(cp, UNASSIGNED_32)) return null;
    const ch = String.fromCodePoint(cp);
    if (UNASSIGNED_NOW.test(ch)) return null;
    text += ch;
  }
  const first = mapped[0] ?? 0;
  const last = mapped[mapped.length - 1] ?? 0;
  if (mapped.some((cp) => inRanges(cp, RAND_AL))) {
    if (!inRanges(first, RAND_AL) || !inRanges(last, RAND_AL) || mapped.some(isLCat)) return null;
  }
  return text.normalize('NFKC');
}

/** The bytes SCRAM hashes for a password, as Postgres computes them. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function scramPasswordBytes(password: string | Buffer): Buffer {
  const raw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (!raw.some((b) => b >= 0x80)) return raw;
  let text: string;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    return raw;
  }
  const prepped = saslPrep(text);
  return prepped === null ? raw : Buffer.from(prepped, 'utf8');
}
