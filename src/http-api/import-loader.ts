import { isUtf8 } from 'node:buffer';
import type { UpstreamConnection } from '../upstream-connection.js';
import { copyIn, runStatement } from '../upstream-query.js';
import { PgError } from '../../protocol/pg-error.js';
import { jsonTextProblem } from './document-input.js';
import type { ImportItem } from './import-reader.js';
import { RowCollector } from './rows.js';
import type { ImportResult } from './schemas.js';

const MAX_REPORTED_ERRORS = 1000;
const NEWLINE = Buffer.from('\n');
const NUL_ESCAPE = Buffer.from('\\u0000');
const UNDEFINED_TABLE = '42P01';

/** Runs `work` on an upstream connection leased for it. */
export type ConnectionRunner = <T>(
  work: (connection: UpstreamConnection) => Promise<T>,
) => Promise<T>;

/** Where an import's batches go. */
export type ImportMode =
  /** One transaction on this connection; one batch loads while the next is read. */
  | { readonly kind: 'atomic'; readonly connection: UpstreamConnection }
  /**
   * Every batch commits on its own, on a connection leased for it; up to `parallel` load at
   * once. With more than one, each batch first reserves its ids from `sequence` (in line order,
   * one batch after the other), so ids still follow the lines whatever batch finishes first.
   */
  | {
      readonly kind: 'batches';
      readonly run: ConnectionRunner;
      readonly parallel: number;
      readonly sequence: string | null;
    };

interface Batch {
  /** Documents in COPY text format, without the newline. */
  readonly rows: readonly Buffer[];
  /** Each document as received (checked here when Postgres refuses the batch). */
  readonly sources: readonly Buffer[];
  /** Their line (or element) numbers. */
  readonly lines: readonly number[];
}

const BACKSLASH = 0x5c;
/** COPY text escapes: the byte after the backslash, by the byte escaped. */
const COPY_ESCAPES = new Map([
  [BACKSLASH, BACKSLASH],
  [0x0a, 0x6e], // newline: \n
  [0x0d, 0x72], // CR: \r
  [0x09, 0x74], // tab: \t
]);

/** UTF-8 JSON text as a COPY text field: backslash, newline, CR and tab escaped. */
export function copyField(bytes: Buffer): Buffer {
  let extra = 0;
  for (const special of COPY_ESCAPES.keys()) {
    for (let at = bytes.indexOf(special); at !== -1; at = bytes.indexOf(special, at + 1)) extra++;
  }
  if (extra === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + extra);
  let o = 0;
  for (const byte of bytes) {
    const escaped = COPY_ESCAPES.get(byte);
    if (escaped === undefined) {
      out[o++] = byte;
    } else {
      out[o++] = BACKSLASH;
      out[o++] = escaped;
    }
  }
  return out;
}

/**
 * Whether checking this item can be left to Postgres: it looks like one JSON object (`{` first,
 * `}` last, so if it is valid JSON at all it is an object), is valid UTF-8 and holds no
 * `\u0000`. Postgres's JSON parser accepts no text that JSON.parse refuses (it is the stricter
 * one: lone surrogates), so a bad item makes Postgres refuse its batch, which is then checked
 * here item by item and reported exactly as if it had been checked first.
 */
export function leaveToPostgres(bytes: Buffer): boolean {
  return (
    bytes[0] === 0x7b &&
    bytes[bytes.length - 1] === 0x7d &&
    !bytes.includes(NUL_ESCAPE) &&
    isUtf8(bytes)
  );
}

/** An item's trimmed text, and its UTF-8 bytes (those received when nothing changed). */
function decoded(bytes: Buffer): { readonly text: string; readonly bytes: Buffer } {
  const raw = bytes.toString('utf8');
  const text = raw.trim();
  // Invalid UTF-8 became U+FFFD in the text, which is what was checked: send that.
  const same = text.length === raw.length && !raw.includes('\ufffd');
  return { text, bytes: same ? bytes : Buffer.from(text, 'utf8') };
}

/**
 * Loads documents through `COPY … FROM STDIN` in batches. Bad items are counted and reported
 * with their line. Batches mode: every batch commits on its own; a batch Postgres refuses is
 * checked here item by item, loaded again without the bad JSON, and if Postgres still refuses,
 * loaded document by document to find the documents it refuses. Atomic: every item is parsed
 * here, in one transaction; the first bad item stops loading, the rest is only validated (so the
 * report is complete), and nothing is committed.
 */
export class ImportLoader {
  private rows: Buffer[] = [];
  private sources: Buffer[] = [];
  private lines: number[] = [];
  private inserted = 0;
  private rejected = 0;
  private errors: { line: number; message: string }[] = [];
  private began = false;
  private readonly inflight = new Set<Promise<void>>();
  /** The first failure of a batch that is not a refused document (it ends the import). */
  private failure: { readonly error: unknown } | undefined;

  constructor(
    private readonly table: string,
    private readonly batchSize: number,
    private readonly mode: ImportMode,
  ) {}

  private get atomic(): boolean {
    return this.mode.kind === 'atomic';
  }

  /** Check an item (unless Postgres can: leaveToPostgres) and queue it for loading. */
  async add(item: ImportItem): Promise<void> {
    if (item.kind === 'too-long') {
      this.reject(item.number, 'line too long');
      return;
    }
    let bytes = item.bytes;
    if (this.atomic || !leaveToPostgres(bytes)) {
      const checked = decoded(bytes);
      const problem = validate(checked.text);
      if (problem !== null) {
        this.reject(item.number, problem);
        return;
      }
      bytes = checked.bytes;
    }
    if (this.atomic && this.rejected > 0) return;
    this.rows.push(copyField(bytes));
    this.sources.push(item.bytes);
    this.lines.push(item.number);
    if (this.rows.length >= this.batchSize) await this.dispatch();
  }

  /** Load what is left and commit (or roll back, atomic with rejects). */
  async finish(): Promise<ImportResult> {
    if (!(this.atomic && this.rejected > 0)) await this.dispatch();
    await this.settle();
    if (this.mode.kind === 'atomic') {
      const { connection } = this.mode;
      if (this.rejected > 0) {
        if (this.began) await runStatement(connection, { sql: 'ROLLBACK' });
        return this.result(0, false);
      }
      if (this.began) await runStatement(connection, { sql: 'COMMIT' });
    }
    return this.result(this.inserted, true);
  }

  /** The import broke off (bad body, client gone): wait for batches, roll back an atomic one. */
  async abandon(): Promise<void> {
    await this.settle().catch(() => undefined);
    if (this.mode.kind === 'atomic' && this.began && !this.mode.connection.isClosed) {
      await runStatement(this.mode.connection, { sql: 'ROLLBACK' }).catch(() => undefined);
    }
  }

  private result(inserted: number, committed: boolean): ImportResult {
    this.trimErrors();
    return { inserted, rejected: this.rejected, committed, errors: this.errors };
  }

  /** Batches finish out of line order: keep the errors of the lowest lines. */
  private reject(line: number, message: string): void {
    this.rejected++;
    this.errors.push({ line, message });
    if (this.errors.length >= 2 * MAX_REPORTED_ERRORS) this.trimErrors();
  }

  private trimErrors(): void {
    this.errors.sort((a, b) => a.line - b.line);
    if (this.errors.length > MAX_REPORTED_ERRORS) this.errors.length = MAX_REPORTED_ERRORS;
  }

  /**
   * Start loading the current batch and return without waiting for it to finish, so the next
   * batch is read and checked meanwhile; first wait while `parallel` batches load.
   */
  private async dispatch(): Promise<void> {
    if (this.rows.length === 0) return;
    const batch: Batch = { rows: this.rows, sources: this.sources, lines: this.lines };
    this.rows = [];
    this.sources = [];
    this.lines = [];
    const limit = this.mode.kind === 'atomic' ? 1 : Math.max(1, this.mode.parallel);
    while (this.inflight.size >= limit) await Promise.race(this.inflight);
    this.throwFailure();
    if (this.mode.kind === 'atomic') {
      const { connection } = this.mode;
      if (!this.began) {
        await runStatement(connection, { sql: 'BEGIN' });
        this.began = true;
      }
      this.track(this.load(connection, batch, null));
      return;
    }
    const { run, sequence } = this.mode;
    const reserve = limit > 1 && sequence !== null;
    let reserved: () => void = () => undefined;
    const idsTaken = new Promise<void>((resolve) => {
      reserved = resolve;
    });
    const loading = run(async (connection) => {
      const ids = reserve ? await reserveIds(connection, sequence, batch.rows.length) : null;
      reserved();
      await this.load(connection, batch, ids);
    });
    this.track(loading);
    // The next batch reserves its ids only after this one has (or has failed).
    await Promise.race([idsTaken, loading]).catch(() => undefined);
  }

  private track(loading: Promise<void>): void {
    const settled: Promise<void> = loading
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.inflight.delete(settled);
      });
    this.inflight.add(settled);
  }

  /** Wait for every batch in flight; a failure of one is thrown here. */
  private async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    this.throwFailure();
  }

  private throwFailure(): void {
    if (this.failure) throw this.failure.error;
  }

  private async load(
    connection: UpstreamConnection,
    batch: Batch,
    ids: readonly string[] | null,
  ): Promise<void> {
    const sql = `COPY ${this.table} ${ids ? '(id, doc)' : '(doc)'} FROM STDIN`;
    const all = batch.rows.map((_, i) => i);
    const refusal = await this.copy(connection, sql, batch, ids, all);
    if (refusal === null) {
      this.inserted += all.length;
      return;
    }
    if (this.atomic) {
      // The transaction is lost; report where and keep validating the rest.
      this.reject(batch.lines[0] ?? 0, `batch refused by Postgres: ${refusal.message}`);
      return;
    }
    // Check here what was left to Postgres: bad JSON is reported as it always is, and the rest
    // is loaded again in one go; if Postgres refuses that too, document by document.
    const valid: number[] = [];
    for (const i of all) {
      const problem = validate(decoded(batch.sources[i] ?? NEWLINE).text);
      if (problem === null) valid.push(i);
      else this.reject(batch.lines[i] ?? 0, problem);
    }
    if (valid.length === 0) return;
    if (valid.length < all.length) {
      if ((await this.copy(connection, sql, batch, ids, valid)) === null) {
        this.inserted += valid.length;
        return;
      }
    }
    for (const i of valid) {
      const refused = await this.copy(connection, sql, batch, ids, [i]);
      if (refused === null) this.inserted++;
      else this.reject(batch.lines[i] ?? 0, refused.message);
    }
  }

  /** COPY the batch's rows `which`: null when they are in, else Postgres's refusal. */
  private async copy(
    connection: UpstreamConnection,
    sql: string,
    batch: Batch,
    ids: readonly string[] | null,
    which: readonly number[],
  ): Promise<PgError | null> {
    try {
      await copyIn(connection, sql, [copyData(batch.rows, ids, which)]);
      return null;
    } catch (error) {
      if (!(error instanceof PgError) || error.code === UNDEFINED_TABLE) throw error;
      return error;
    }
  }
}

/** The rows `which` as COPY text, each with its id first when there are ids. */
function copyData(
  rows: readonly Buffer[],
  ids: readonly string[] | null,
  which: readonly number[],
): Buffer {
  const parts: Buffer[] = [];
  for (const i of which) {
    if (ids) parts.push(Buffer.from(`${ids[i] ?? ''}\t`, 'latin1'));
    parts.push(rows[i] ?? NEWLINE, NEWLINE);
  }
  return Buffer.concat(parts);
}

/** `count` new values of `sequence`, ascending. */
async function reserveIds(
  connection: UpstreamConnection,
  sequence: string,
  count: number,
): Promise<string[]> {
  const rows = new RowCollector();
  await runStatement(connection, {
    sql: 'SELECT v FROM (SELECT nextval($1::regclass) AS v FROM generate_series(1, $2::int)) s ORDER BY v',
    params: [sequence, String(count)],
    sink: rows,
  });
  return rows.rows.map(([id]) => id ?? '');
}

/** Why a (trimmed) item is not a document, or null. */
function validate(text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `invalid JSON: ${error instanceof Error ? error.message : 'parse error'}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'not a JSON object';
  }
  return jsonTextProblem(text);
}
