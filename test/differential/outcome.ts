/**
 * Turns the backend messages of one statement into comparable events, applies the suite's
 * normalisation rules, and finds the first difference between two sides.
 *
 * Normalisation rules (everything else is compared byte for byte):
 * 1. Database name: the two sides use different databases of the same cluster, named with equal
 *    length; every occurrence of the proxy side's database name in a message body is replaced
 *    by the direct side's before decoding (equal length keeps binary values well-formed).
 * 2. Local OIDs: objects created by the fixture template have identical OIDs on both sides;
 *    objects created later (by a group's setup or statements) do not. OIDs at or above the
 *    threshold (the first OID allocated after the template was built) are replaced by
 *    `local#k`, numbered per side in order of first appearance within the group run, so they
 *    must correspond one to one. This applies to RowDescription table and type OIDs,
 *    ParameterDescription, values of `oid` columns (and of reg* columns in binary, which carry
 *    the OID), and the element/field type OIDs embedded in binary arrays and records of local
 *    types. In statements compared as multisets every local OID becomes `local`.
 * 3. NotificationResponse process ids become `<pid>` (the proxy's client key is its own).
 */
import {
  decodeCommandComplete,
  decodeDataRow,
  decodeErrorFields,
  decodeParameterDescription,
  decodeParameterStatus,
  decodeRowDescription,
  type DecodedField,
} from '../../protocol/backend-decoders.js';
import type { WireMessage } from './wire.js';

export type Event = { readonly m: string } & Readonly<Record<string, unknown>>;

/**
 * oid and the reg* alias types: text output is the number (oid) or a name (reg*), binary output
 * is the 4-byte OID in both cases.
 */
const OID_LIKE_TYPES = new Set([
  26, // oid
  24, // regproc
  2202, // regprocedure
  2203, // regoper
  2204, // regoperator
  2205, // regclass
  2206, // regtype
  3734, // regconfig
  3769, // regdictionary
  4089, // regnamespace
  4096, // regrole
  4191, // regcollation
]);
const RECORD_TYPE = 2249;
const RECORD_ARRAY_TYPE = 2287;

/** Rule 2: per side and group run, local OIDs → `local#k` in order of first appearance. */
export class OidNormalizer {
  private readonly tokens = new Map<number, string>();
  /**
   * For statements compared as multisets, where order of first appearance is not defined:
   * every local OID becomes `local`.
   */
  anonymous = false;
  constructor(readonly threshold: number) {}

  isLocal(oid: number): boolean {
    return oid >= this.threshold;
  }

  norm(oid: number): number | string {
    if (!this.isLocal(oid)) return oid;
    if (this.anonymous) return 'local';
    let token = this.tokens.get(oid);
    if (token === undefined) {
      token = `local#${this.tokens.size + 1}`;
      this.tokens.set(oid, token);
    }
    return token;
  }

  reset(): void {
    this.tokens.clear();
  }
}

export interface DecodeContext {
  readonly oids: OidNormalizer;
  /** Rule 1: [from, to] database names (the same length) for the proxy side; undefined for direct. */
  readonly rename?: readonly [Buffer, Buffer];
}

function renameAll(body: Buffer, from: Buffer, to: Buffer): Buffer {
  let at = body.indexOf(from);
  if (at < 0) return body;
  const copy = Buffer.from(body);
  while (at >= 0) {
    to.copy(copy, at);
    at = copy.indexOf(from, at + from.length);
  }
  return copy;
}

/** A value as text when it is valid UTF-8 in a text-format column, else as hex. */
function showBytes(bytes: Buffer, text: boolean): string {
  if (text) {
    const s = bytes.toString('utf8');
    if (Buffer.from(s, 'utf8').equals(bytes)) return s;
  }
  return `\\x${bytes.toString('hex')}`;
}

/** Rule 2 inside binary values: arrays and records carry type OIDs of their elements/fields. */
function normalizeBinary(bytes: Buffer, typeOid: number, oids: OidNormalizer): string | undefined {
  return parseBinaryComposite(bytes, typeOid, oids, 0);
}

function parseBinaryComposite(
  bytes: Buffer,
  typeOid: number,
  oids: OidNormalizer,
  depth: number,
): string | undefined {
  if (depth > 8) return undefined;
  const asArray = typeOid === RECORD_TYPE ? undefined : parseArray(bytes, oids, depth);
  if (asArray !== undefined) return asArray;
  if (typeOid === RECORD_TYPE || oids.isLocal(typeOid)) return parseRecord(bytes, oids, depth);
  return undefined;
}

function parseArray(bytes: Buffer, oids: OidNormalizer, depth: number): string | undefined {
  if (bytes.length < 12) return undefined;
  const ndim = bytes.readInt32BE(0);
  const flags = bytes.readInt32BE(4);
  const elem = bytes.readUInt32BE(8);
  if (ndim < 0 || ndim > 6 || (flags !== 0 && flags !== 1)) return undefined;
  if (bytes.length < 12 + 8 * ndim) return undefined;
  let count = ndim === 0 ? 0 : 1;
  const dims: string[] = [];
  for (let i = 0; i < ndim; i++) {
    const size = bytes.readInt32BE(12 + 8 * i);
    const lower = bytes.readInt32BE(16 + 8 * i);
    if (size < 0) return undefined;
    count *= size;
    dims.push(`${size}@${lower}`);
  }
  let at = 12 + 8 * ndim;
  const items: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) return undefined;
    const len = bytes.readInt32BE(at);
    at += 4;
    if (len === -1) {
      items.push('NULL');
      continue;
    }
    if (len < 0 || at + len > bytes.length) return undefined;
    const item = bytes.subarray(at, at + len);
    at += len;
    items.push(
      elem === RECORD_TYPE || oids.isLocal(elem)
        ? (parseBinaryComposite(item, elem, oids, depth + 1) ?? showBytes(item, false))
        : showBytes(item, false),
    );
  }
  if (at !== bytes.length) return undefined;
  return `array(elem=${String(oids.norm(elem))} dims=${dims.join(',')} null=${flags} [${items.join(' ')}])`;
}

function parseRecord(bytes: Buffer, oids: OidNormalizer, depth: number): string | undefined {
  if (bytes.length < 4) return undefined;
  const n = bytes.readInt32BE(0);
  if (n < 0 || n > 1664) return undefined;
  let at = 4;
  const fields: string[] = [];
  for (let i = 0; i < n; i++) {
    if (at + 8 > bytes.length) return undefined;
    const oid = bytes.readUInt32BE(at);
    const len = bytes.readInt32BE(at + 4);
    at += 8;
    if (len === -1) {
      fields.push(`${String(oids.norm(oid))}:NULL`);
      continue;
    }
    if (len < 0 || at + len > bytes.length) return undefined;
    const value = bytes.subarray(at, at + len);
    at += len;
    const inner =
      oid === RECORD_TYPE || oid === RECORD_ARRAY_TYPE || oids.isLocal(oid)
        ? (parseBinaryComposite(value, oid, oids, depth + 1) ?? showBytes(value, false))
        : showBytes(value, false);
    fields.push(`${String(oids.norm(oid))}:${inner}`);
  }
  if (at !== bytes.length) return undefined;
  return `record(${fields.join(' ')})`;
}

function normalizeValue(
  value: Buffer | null,
  field: DecodedField | undefined,
  oids: OidNormalizer,
): string | null {
  if (value === null) return null;
  if (field === undefined) return showBytes(value, true);
  const text = field.format === 0;
  if (OID_LIKE_TYPES.has(field.typeOid)) {
    if (text && /^[0-9]+$/.test(value.toString('latin1'))) {
      return String(oids.norm(Number(value.toString('latin1'))));
    }
    if (!text && value.length === 4) return `oid:${String(oids.norm(value.readUInt32BE(0)))}`;
  }
  if (
    !text &&
    (field.typeOid === RECORD_TYPE ||
      field.typeOid === RECORD_ARRAY_TYPE ||
      oids.isLocal(field.typeOid))
  ) {
    const structured = normalizeBinary(value, field.typeOid, oids);
    if (structured !== undefined) return structured;
  }
  return showBytes(value, text);
}

function errorFields(body: Buffer): Record<string, string> {
  const fields = decodeErrorFields(body);
  const out: Record<string, string> = {};
  for (const key of [...fields.keys()].sort()) out[key] = fields.get(key) ?? '';
  return out;
}

function copyResponse(name: string, body: Buffer): Event {
  const format = body.readInt8(0);
  const n = body.readInt16BE(1);
  const columns: number[] = [];
  for (let i = 0; i < n; i++) columns.push(body.readInt16BE(3 + 2 * i));
  return { m: name, format, columns };
}

const SIMPLE: Readonly<Record<string, string>> = {
  '1': 'ParseComplete',
  '2': 'BindComplete',
  '3': 'CloseComplete',
  n: 'NoData',
  I: 'EmptyQueryResponse',
  s: 'PortalSuspended',
  c: 'CopyDone',
};

/** Decode and normalise the messages of one statement (one or more batches). */
export function toEvents(messages: readonly WireMessage[], ctx: DecodeContext): Event[] {
  const events: Event[] = [];
  let fields: DecodedField[] = [];
  for (const msg of messages) {
    const body = ctx.rename ? renameAll(msg.body, ctx.rename[0], ctx.rename[1]) : msg.body;
    const simple = SIMPLE[msg.type];
    if (simple !== undefined) {
      events.push({ m: simple });
      continue;
    }
    switch (msg.type) {
      case 'T':
        fields = decodeRowDescription(body);
        events.push({
          m: 'RowDescription',
          fields: fields.map((f) => ({
            name: f.name,
            tableOid: ctx.oids.norm(f.tableOid),
            columnAttr: f.columnAttr,
            typeOid: ctx.oids.norm(f.typeOid),
            typeSize: f.typeSize,
            typeModifier: f.typeModifier,
            format: f.format,
          })),
        });
        break;
      case 'D': {
        const values = decodeDataRow(body);
        events.push({
          m: 'DataRow',
          values: values.map((v, i) => normalizeValue(v, fields[i], ctx.oids)),
        });
        break;
      }
      case 'C':
        events.push({ m: 'CommandComplete', tag: decodeCommandComplete(body) });
        break;
      case 'E':
        events.push({ m: 'ErrorResponse', fields: errorFields(body) });
        break;
      case 'N':
        events.push({ m: 'NoticeResponse', fields: errorFields(body) });
        break;
      case 'Z':
        events.push({ m: 'ReadyForQuery', status: String.fromCharCode(body[0] ?? 0) });
        break;
      case 'S': {
        const p = decodeParameterStatus(body);
        events.push({ m: 'ParameterStatus', name: p.name, value: p.value });
        break;
      }
      case 't':
        events.push({
          m: 'ParameterDescription',
          types: decodeParameterDescription(body).map((o) => ctx.oids.norm(o)),
        });
        break;
      case 'H':
        events.push(copyResponse('CopyOutResponse', body));
        break;
      case 'G':
        events.push(copyResponse('CopyInResponse', body));
        break;
      case 'd':
        events.push({ m: 'CopyData', data: showBytes(body, true) });
        break;
      case 'A': {
        const nul = body.indexOf(0, 4);
        const channel = body.subarray(4, nul).toString('utf8');
        const payload = body.subarray(nul + 1, body.length - 1).toString('utf8');
        events.push({ m: 'NotificationResponse', pid: '<pid>', channel, payload });
        break;
      }
      default:
        events.push({ m: `message '${msg.type}'`, body: showBytes(body, false) });
    }
  }
  return events;
}

/** Rows of each result set sorted (for statements whose row order is not defined). */
export function sortRowRuns(events: readonly Event[]): Event[] {
  const out: Event[] = [];
  let run: Event[] = [];
  const flush = (): void => {
    run.sort((a, b) => {
      const x = JSON.stringify(a);
      const y = JSON.stringify(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    out.push(...run);
    run = [];
  };
  for (const e of events) {
    if (e.m === 'DataRow') {
      run.push(e);
    } else {
      flush();
      out.push(e);
    }
  }
  flush();
  return out;
}

export interface Difference {
  /** Index of the first differing event. */
  readonly index: number;
  /** Message kind at that index (direct side's, else the proxy's). */
  readonly message: string;
  /** Field path inside the event, e.g. `fields[2].typeOid`, `values[0]`, `fields.M`. */
  readonly path: string;
  readonly direct: unknown;
  readonly proxy: unknown;
}

function firstDiff(a: unknown, b: unknown, path: string): [string, unknown, unknown] | undefined {
  if (a === b) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (i >= a.length || i >= b.length) {
        return [
          `${path}[${i}]`,
          i < a.length ? a[i] : '<absent>',
          i < b.length ? b[i] : '<absent>',
        ];
      }
      const d = firstDiff(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])];
    for (const key of keys) {
      if (!(key in ra) || !(key in rb)) {
        return [
          path === '' ? key : `${path}.${key}`,
          key in ra ? ra[key] : '<absent>',
          key in rb ? rb[key] : '<absent>',
        ];
      }
      const d = firstDiff(ra[key], rb[key], path === '' ? key : `${path}.${key}`);
      if (d) return d;
    }
    return undefined;
  }
  return [path, a, b];
}

/** The first difference between two event lists, or undefined when they are identical. */
export function compareEvents(
  direct: readonly Event[],
  proxy: readonly Event[],
): Difference | undefined {
  const n = Math.max(direct.length, proxy.length);
  for (let i = 0; i < n; i++) {
    const a = direct[i];
    const b = proxy[i];
    if (a === undefined || b === undefined) {
      return {
        index: i,
        message: (a ?? b)?.m ?? '?',
        path: '<message>',
        direct: a ?? '<no more messages>',
        proxy: b ?? '<no more messages>',
      };
    }
    if (a.m !== b.m) {
      return { index: i, message: a.m, path: '<message>', direct: a, proxy: b };
    }
    const d = firstDiff(a, b, '');
    if (d) return { index: i, message: a.m, path: d[0], direct: d[1], proxy: d[2] };
  }
  return undefined;
}

function show(value: unknown, max = 600): string {
  const s = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value, null, 0);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

/** A readable report of a difference. */
export function formatDifference(args: {
  readonly statement: string;
  readonly variant: string;
  readonly mode: string;
  readonly difference: Difference;
  readonly direct: readonly Event[];
  readonly proxy: readonly Event[];
}): string {
  const d = args.difference;
  return [
    `DIFFERENCE in pool mode ${args.mode}, variant ${args.variant}`,
    `  statement: ${args.statement.length > 400 ? args.statement.slice(0, 400) + '…' : args.statement}`,
    `  message #${d.index} (${d.message}), field ${d.path}`,
    `    direct: ${show(d.direct)}`,
    `    proxy:  ${show(d.proxy)}`,
    `  direct messages: ${args.direct.map((e) => e.m).join(' ')}`,
    `  proxy messages:  ${args.proxy.map((e) => e.m).join(' ')}`,
  ].join('\n');
}
