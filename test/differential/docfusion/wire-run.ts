/**
 * Running one statement over a raw wire connection (test/differential/wire.ts) and comparing
 * what came back: column descriptions (name, table, type OID, size, modifier, format), every
 * row byte for byte (text or binary), the command tag and the SQLSTATE of an error.
 */
import {
  decodeCommandComplete,
  decodeDataRow,
  decodeErrorFields,
  decodeRowDescription,
} from '../../../protocol/backend-decoders.js';
import type { DecodedField } from '../../../protocol/backend-decoders.js';
import * as fe from '../../../protocol/frontend-encoders.js';
import type { WireConnection, WireMessage } from '../wire.js';
import type { Classification } from './statement.js';

/** simple: one Query (text results). extended-*: Parse/Bind/Describe/Execute/Sync. */
export const VARIANTS = ['simple', 'extended-text', 'extended-binary'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface Outcome {
  readonly fields: readonly DecodedField[] | undefined;
  /** Each row: the DataRow body as a latin1 string (exact bytes, cheap to sort and compare). */
  readonly rows: readonly string[];
  readonly tag: string | undefined;
  readonly error: { readonly code: string; readonly message: string } | undefined;
}

/** `$n` replaced by quoted literals outside string literals (for the simple protocol). */
export function inlineParams(sql: string, params: readonly (string | null)[]): string {
  if (params.length === 0) return sql;
  let out = '';
  let inString = false;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql.charAt(i);
    if (ch === "'") inString = !inString;
    const digits = inString || ch !== '$' ? '' : (/^\d+/.exec(sql.slice(i + 1))?.[0] ?? '');
    const value = digits === '' ? undefined : params[Number(digits) - 1];
    if (value === undefined) {
      out += ch;
      continue;
    }
    out += value === null ? 'NULL' : `'${value.replaceAll("'", "''")}'`;
    i += digits.length;
  }
  return out;
}

function frames(variant: Variant, sql: string, params: readonly (string | null)[]): Buffer[] {
  if (variant === 'simple') return [fe.query(inlineParams(sql, params))];
  return [
    fe.parse('', sql),
    fe.bind({ params, resultFormats: variant === 'extended-binary' ? [1] : [] }),
    fe.describe('P'),
    fe.execute(),
    fe.sync(),
  ];
}

export function toOutcome(messages: readonly WireMessage[]): Outcome {
  let fields: DecodedField[] | undefined;
  const rows: string[] = [];
  let tag: string | undefined;
  let error: Outcome['error'];
  for (const m of messages) {
    if (m.type === 'T') fields = decodeRowDescription(m.body);
    else if (m.type === 'D') rows.push(m.body.toString('latin1'));
    else if (m.type === 'C') tag = decodeCommandComplete(m.body);
    else if (m.type === 'E' && error === undefined) {
      const f = decodeErrorFields(m.body);
      error = { code: f.code, message: f.message };
    }
  }
  return { fields, rows, tag, error };
}

export async function run(
  conn: WireConnection,
  sql: string,
  params: readonly (string | null)[],
  variant: Variant,
): Promise<Outcome> {
  const outcome = toOutcome(
    await conn.exchange(frames(variant, sql, params), 1, variant !== 'simple'),
  );
  if (conn.txStatus !== 'I') await conn.exchange([fe.query('ROLLBACK')]);
  return outcome;
}

/** How the proxy plans the statement, from EXPLAIN (params inlined). */
export async function classify(
  conn: WireConnection,
  sql: string,
  params: readonly (string | null)[],
): Promise<Classification> {
  const outcome = await run(conn, `EXPLAIN ${sql}`, params, 'simple');
  if (outcome.error) return { error: outcome.error.code };
  const line = cells(outcome.rows[0])[0]?.toString('utf8') ?? '';
  if (line.startsWith('DocFusion plan: pushed down entirely')) return 'pushed';
  if (line.startsWith('DocFusion plan: evaluated partly in the proxy')) return 'proxy';
  return 'forwarded';
}

function fieldText(f: DecodedField): string {
  return `${f.name} [type ${String(f.typeOid)}, table ${String(f.tableOid)}/${String(f.columnAttr)}, size ${String(f.typeSize)}, mod ${String(f.typeModifier)}, format ${String(f.format)}]`;
}

/** The cells of a row kept as a latin1 string. */
export function cells(row: string | undefined): (Buffer | null)[] {
  return row === undefined ? [] : decodeDataRow(Buffer.from(row, 'latin1'));
}

/** A row as text for reports: text cells as strings, binary ones as hex (long ones cut). */
export function showRow(
  row: string | undefined,
  fields: readonly DecodedField[] | undefined,
): string {
  if (row === undefined) return '(no row)';
  const shown = cells(row).map((cell, i) => {
    if (cell === null) return 'NULL';
    const text =
      fields?.[i]?.format === 1
        ? `\\x${cell.toString('hex')}`
        : JSON.stringify(cell.toString('utf8'));
    return text.length > 160 ? `${text.slice(0, 160)}…` : text;
  });
  return `(${shown.join(', ')})`;
}

/** The first difference between the oracle's outcome and the proxy's, or undefined. */
export function difference(want: Outcome, got: Outcome, ordered: boolean): string | undefined {
  if (want.error || got.error) {
    if (want.error?.code === got.error?.code) return undefined;
    return `error: expected ${want.error ? `${want.error.code} ${want.error.message}` : 'success'}, got ${got.error ? `${got.error.code} ${got.error.message}` : 'success'}`;
  }
  const wf = (want.fields ?? []).map(fieldText);
  const gf = (got.fields ?? []).map(fieldText);
  if (wf.join('; ') !== gf.join('; ')) {
    return `columns differ:\n    expected ${wf.join('; ')}\n    got      ${gf.join('; ')}`;
  }
  const w = ordered ? want.rows : [...want.rows].sort();
  const g = ordered ? got.rows : [...got.rows].sort();
  if (w.length !== g.length || w.some((row, i) => row !== g[i])) {
    const i = w.findIndex((row, k) => row !== g[k]);
    const at = i < 0 ? Math.min(w.length, g.length) : i;
    const wantSet = new Set(w);
    const gotSet = new Set(g);
    const missing = w.filter((row) => !gotSet.has(row)).slice(0, 3);
    const extra = g.filter((row) => !wantSet.has(row)).slice(0, 3);
    return (
      `rows differ (${ordered ? 'in order' : 'as a multiset'}): expected ${String(w.length)} rows, got ${String(g.length)}; ` +
      `first difference at ${String(at)}: expected ${showRow(w[at], want.fields)}, got ${showRow(g[at], got.fields)}` +
      (missing.length > 0
        ? `\n    missing e.g. ${missing.map((r) => showRow(r, want.fields)).join(' ')}`
        : '') +
      (extra.length > 0
        ? `\n    unexpected e.g. ${extra.map((r) => showRow(r, got.fields)).join(' ')}`
        : '')
    );
  }
  if (want.tag !== got.tag)
    return `command tag: expected ${want.tag ?? '-'}, got ${got.tag ?? '-'}`;
  return undefined;
}

/** A small pool of connections, leased one test at a time; a closed one is reopened. */
export class ConnectionPool {
  private readonly idle: WireConnection[] = [];
  private readonly all: WireConnection[] = [];
  private readonly waiting: ((conn: WireConnection) => void)[] = [];

  private constructor(private readonly open: () => Promise<WireConnection>) {}

  static async create(size: number, open: () => Promise<WireConnection>): Promise<ConnectionPool> {
    const pool = new ConnectionPool(open);
    const conns = await Promise.all(Array.from({ length: size }, open));
    pool.all.push(...conns);
    pool.idle.push(...conns);
    return pool;
  }

  async use<T>(work: (conn: WireConnection) => Promise<T>): Promise<T> {
    let conn =
      this.idle.pop() ??
      (await new Promise<WireConnection>((resolve) => this.waiting.push(resolve)));
    if (conn.closed) {
      const fresh = await this.open();
      this.all.splice(this.all.indexOf(conn), 1, fresh);
      conn = fresh;
    }
    try {
      return await work(conn);
    } finally {
      const next = this.waiting.shift();
      if (next) next(conn);
      else this.idle.push(conn);
    }
  }

  close(): void {
    for (const conn of this.all) conn.close();
  }
}
