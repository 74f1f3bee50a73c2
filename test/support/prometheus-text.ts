/**
 * A strict parser and validator of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), for tests of `GET /metrics`.
 *
 * Checked: line syntax (`# HELP`, `# TYPE`, other comments, samples), metric and label names,
 * label value escapes (`\\`, `\"`, `\n` only), values as Go's ParseFloat reads them (so NaN, +Inf
 * and -Inf in any letter case), optional integer timestamps, at most one HELP and one TYPE per
 * family with TYPE before the family's first sample, every family in one group, no duplicate
 * series, no duplicate or reserved (`__`) label names, and the histogram and summary rules:
 * `le` / `quantile` labels, `_bucket` buckets ascending and cumulative with a `+Inf` bucket equal
 * to `_count`, `_sum` and `_count` present for every label set. Any violation throws a
 * PrometheusTextError naming the line.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name, e.g. `foo_bucket` in family `foo`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestamp?: number;
  /** 1-based line number in the exposition. */
  readonly line: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly samples: readonly Sample[];
}

export interface Exposition {
  /** Families by name, in the order they appeared. */
  readonly families: ReadonlyMap<string, MetricFamily>;
  /** Every sample, in order. */
  readonly samples: readonly Sample[];
}

export class PrometheusTextError extends Error {
  override readonly name = 'PrometheusTextError';
  constructor(
    message: string,
    readonly line: number,
    readonly text: string,
  ) {
    super(`line ${line}: ${message}: ${JSON.stringify(text)}`);
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** Go strconv.ParseFloat, decimal forms (hex floats are not produced by any client library). */
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)$/i;
const TIMESTAMP = /^-?\d+$/;

interface MutableFamily {
  name: string;
  type: MetricType;
  typeLine: number | undefined;
  help: string | undefined;
  samples: Sample[];
}

/** Parse and validate `text`; throws PrometheusTextError on the first violation. */
export function parsePrometheusText(text: string): Exposition {
  const families = new Map<string, MutableFamily>();
  const samples: Sample[] = [];
  const closed = new Set<string>();
  const seenSeries = new Set<string>();
  let current: MutableFamily | undefined;

  const family = (name: string): MutableFamily => {
    let found = families.get(name);
    if (found === undefined) {
      found = { name, type: 'untyped', typeLine: undefined, help: undefined, samples: [] };
      families.set(name, found);
    }
    return found;
  };
  const enter = (target: MutableFamily, lineNo: number, raw: string): void => {
    if (current === target) return;
    if (closed.has(target.name)) {
      throw new PrometheusTextError(
        `metric family ${target.name} appears again after other families (must be one group)`,
        lineNo,
        raw,
      );
    }
    if (current !== undefined) closed.add(current.name);
    current = target;
  };

  const lines = text.split('\n');
  if (text.length > 0 && !text.endsWith('\n')) {
    throw new PrometheusTextError('the exposition must end with a line feed', lines.length, '');
  }
  for (const [index, raw] of lines.entries()) {
    const lineNo = index + 1;
    if (raw.includes('\r')) throw new PrometheusTextError('carriage return in line', lineNo, raw);
    if (raw.trim() === '') continue;
    if (raw.startsWith('#')) {
      const match = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(raw);
      if (match === null) continue; // an ordinary comment
      const [, keyword, name = '', rest] = match;
      if (!METRIC_NAME.test(name)) throw new PrometheusTextError('bad metric name', lineNo, raw);
      const target = family(name);
      enter(target, lineNo, raw);
      if (keyword === 'HELP') {
        if (target.help !== undefined)
          throw new PrometheusTextError(`second HELP for ${name}`, lineNo, raw);
        target.help = unescapeHelp(rest ?? '', lineNo, raw);
      } else {
        const type = (rest ?? '').trim();
        if (!TYPES.has(type)) throw new PrometheusTextError('unknown metric type', lineNo, raw);
        if (target.typeLine !== undefined)
          throw new PrometheusTextError(`second TYPE for ${name}`, lineNo, raw);
        if (target.samples.length > 0)
          throw new PrometheusTextError(`TYPE for ${name} after its samples`, lineNo, raw);
        target.type = type as MetricType;
        target.typeLine = lineNo;
      }
      continue;
    }

    const sample = parseSampleLine(raw, lineNo);
    const owner = familyOf(sample.name, families);
    const target = owner ?? family(sample.name);
    enter(target, lineNo, raw);
    checkSampleAgainstType(target, sample, raw);
    const key = seriesKey(sample.name, sample.labels);
    if (seenSeries.has(key)) throw new PrometheusTextError('duplicate series', lineNo, raw);
    seenSeries.add(key);
    target.samples.push(sample);
    samples.push(sample);
  }

  for (const f of families.values()) {
    if (f.type === 'histogram') checkHistogram(f);
    if (f.type === 'summary') checkSummary(f);
  }
  const frozen = new Map<string, MetricFamily>();
  for (const [name, f] of families) {
    frozen.set(name, { name, type: f.type, help: f.help, samples: f.samples });
  }
  return { families: frozen, samples };
}

/** The family a sample belongs to: its own name, or a histogram/summary it is a part of. */
function familyOf(name: string, families: Map<string, MutableFamily>): MutableFamily | undefined {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = families.get(name.slice(0, -suffix.length));
    if (base === undefined) continue;
    if (base.type === 'histogram') return base;
    if (base.type === 'summary' && suffix !== '_bucket') return base;
  }
  return families.get(name);
}

function checkSampleAgainstType(f: MutableFamily, sample: Sample, raw: string): void {
  const fail = (message: string): never => {
    throw new PrometheusTextError(message, sample.line, raw);
  };
  const suffix = sample.name.slice(f.name.length);
  switch (f.type) {
    case 'histogram':
      if (!['_bucket', '_sum', '_count'].includes(suffix))
        fail(`histogram ${f.name} sample must be _bucket, _sum or _count`);
      if (suffix === '_bucket') {
        const le = sample.labels.le;
        if (le === undefined) fail('histogram bucket without an le label');
        else if (!FLOAT.test(le) || Number.isNaN(parseGoFloat(le)))
          fail('le label is not a number');
      } else if ('le' in sample.labels) {
        fail(`${sample.name} must not have an le label`);
      }
      if (suffix !== '_sum' && sample.value < 0) fail('negative histogram count');
      break;
    case 'summary':
      if (suffix === '') {
        const q = sample.labels.quantile;
        if (q === undefined) fail('summary sample without a quantile label');
        else {
          const v = parseGoFloat(q);
          if (!(v >= 0 && v <= 1)) fail('quantile label outside [0, 1]');
        }
      } else if (suffix === '_sum' || suffix === '_count') {
        if ('quantile' in sample.labels) fail(`${sample.name} must not have a quantile label`);
      } else fail(`summary ${f.name} sample must be the quantile, _sum or _count`);
      break;
    case 'counter':
      if (suffix !== '') fail('counter sample name differs from its family');
      if (sample.value < 0) fail('negative counter');
      break;
    default:
      if (suffix !== '') fail('sample name differs from its family');
  }
}

function checkHistogram(f: MutableFamily): void {
  const groups = new Map<
    string,
    { buckets: Sample[]; sum?: Sample; count?: Sample; labels: Record<string, string> }
  >();
  for (const s of f.samples) {
    const labels = Object.fromEntries(Object.entries(s.labels).filter(([k]) => k !== 'le'));
    const key = seriesKey('', labels);
    let g = groups.get(key);
    if (g === undefined) {
      g = { buckets: [], labels };
      groups.set(key, g);
    }
    if (s.name.endsWith('_bucket')) g.buckets.push(s);
    else if (s.name.endsWith('_sum')) g.sum = s;
    else g.count = s;
  }
  for (const [key, g] of groups) {
    const where = `histogram ${f.name}{${key}}`;
    const first = g.buckets[0] ?? g.sum ?? g.count;
    const at = first?.line ?? 0;
    if (g.buckets.length === 0)
      throw new PrometheusTextError(`${where} has no buckets`, at, f.name);
    if (g.count === undefined) throw new PrometheusTextError(`${where} has no _count`, at, f.name);
    if (g.sum === undefined) throw new PrometheusTextError(`${where} has no _sum`, at, f.name);
    let previousLe = -Infinity;
    let previousCount = -Infinity;
    for (const b of g.buckets) {
      const le = parseGoFloat(b.labels.le ?? '');
      if (!(le > previousLe)) {
        throw new PrometheusTextError(
          `${where}: le buckets not strictly ascending`,
          b.line,
          f.name,
        );
      }
      if (b.value < previousCount) {
        throw new PrometheusTextError(`${where}: bucket counts not cumulative`, b.line, f.name);
      }
      previousLe = le;
      previousCount = b.value;
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last === undefined || parseGoFloat(last.labels.le ?? '') !== Infinity) {
      throw new PrometheusTextError(`${where}: no le="+Inf" bucket`, last?.line ?? at, f.name);
    }
    if (last.value !== g.count.value) {
      throw new PrometheusTextError(
        `${where}: +Inf bucket ${last.value} differs from _count ${g.count.value}`,
        g.count.line,
        f.name,
      );
    }
  }
}

function checkSummary(f: MutableFamily): void {
  const groups = new Map<string, { sum: boolean; count: boolean; line: number }>();
  for (const s of f.samples) {
    const labels = Object.fromEntries(Object.entries(s.labels).filter(([k]) => k !== 'quantile'));
    const key = seriesKey('', labels);
    const g = groups.get(key) ?? { sum: false, count: false, line: s.line };
    if (s.name.endsWith('_sum')) g.sum = true;
    if (s.name.endsWith('_count')) g.count = true;
    groups.set(key, g);
  }
  for (const [key, g] of groups) {
    if (!g.sum || !g.count) {
      throw new PrometheusTextError(
        `summary ${f.name}{${key}} lacks _sum or _count`,
        g.line,
        f.name,
      );
    }
  }
}

/** One sample line: name, optional `{labels}`, value, optional timestamp. */
function parseSampleLine(raw: string, lineNo: number): Sample {
  const fail = (message: string): never => {
    throw new PrometheusTextError(message, lineNo, raw);
  };
  let i = 0;
  const skipBlanks = (): void => {
    while (raw[i] === ' ' || raw[i] === '\t') i++;
  };
  skipBlanks();
  const nameStart = i;
  while (i < raw.length && /[a-zA-Z0-9_:]/.test(raw[i] ?? '')) i++;
  const name = raw.slice(nameStart, i);
  if (!METRIC_NAME.test(name)) fail('bad metric name');
  const labels: Record<string, string> = {};
  const afterName = i;
  skipBlanks();
  if (raw[i] !== '{') i = afterName;
  else {
    i++;
    for (;;) {
      skipBlanks();
      if (raw[i] === '}') {
        i++;
        break;
      }
      const labelStart = i;
      while (i < raw.length && /[a-zA-Z0-9_]/.test(raw[i] ?? '')) i++;
      const label = raw.slice(labelStart, i);
      if (!LABEL_NAME.test(label)) fail('bad label name');
      if (label.startsWith('__')) fail(`reserved label name ${label}`);
      if (label in labels) fail(`duplicate label ${label}`);
      skipBlanks();
      if (raw[i] !== '=') fail('expected = after the label name');
      i++;
      skipBlanks();
      if (raw[i] !== '"') fail('expected a quoted label value');
      i++;
      let value = '';
      for (;;) {
        const c = raw[i];
        if (c === undefined) return fail('unterminated label value');
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          const next = raw[i + 1];
          if (next === '\\') value += '\\';
          else if (next === '"') value += '"';
          else if (next === 'n') value += '\n';
          else fail('invalid escape in label value');
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      labels[label] = value;
      skipBlanks();
      if (raw[i] === ',') {
        i++;
        continue;
      }
      if (raw[i] === '}') {
        i++;
        break;
      }
      fail('expected , or } after a label');
    }
  }
  const rest = raw.slice(i);
  if (rest !== '' && !/^[ \t]/.test(rest)) fail('expected blank before the value');
  const fields = rest.trim().split(/[ \t]+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '')
    fail('expected value [timestamp]');
  const [valueText = '', timestampText] = fields;
  if (!FLOAT.test(valueText)) fail('bad sample value');
  const value = parseGoFloat(valueText);
  let timestamp: number | undefined;
  if (timestampText !== undefined) {
    if (!TIMESTAMP.test(timestampText)) fail('bad timestamp');
    timestamp = Number(timestampText);
  }
  return timestamp === undefined
    ? { name, labels, value, line: lineNo }
    : { name, labels, value, timestamp, line: lineNo };
}

/** Go ParseFloat for the forms FLOAT accepts. */
function parseGoFloat(text: string): number {
  const lower = text.toLowerCase();
  const sign = lower.startsWith('-') ? -1 : 1;
  const body = lower.replace(/^[+-]/, '');
  if (body === 'nan') return NaN;
  if (body === 'inf' || body === 'infinity') return sign * Infinity;
  return Number(text);
}

function unescapeHelp(text: string, lineNo: number, raw: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else throw new PrometheusTextError('invalid escape in HELP', lineNo, raw);
    i++;
  }
  return out;
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

// ---- queries for tests ----------------------------------------------------------------------

/** The samples named `name` whose labels include every pair in `match`. */
export function samplesOf(
  exposition: Exposition,
  name: string,
  match: Readonly<Record<string, string>> = {},
): Sample[] {
  return exposition.samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

/** The sum of the values of samples named `name` matching `match` (0 when there are none). */
export function valueOf(
  exposition: Exposition,
  name: string,
  match: Readonly<Record<string, string>> = {},
): number {
  return samplesOf(exposition, name, match).reduce((sum, s) => sum + s.value, 0);
}
