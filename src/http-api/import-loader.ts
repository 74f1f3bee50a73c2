import type { UpstreamConnection } from '../upstream-connection.js';
import { copyIn, runStatement } from '../upstream-query.js';
import { PgError } from '../../protocol/pg-error.js';
import { jsonTextProblem } from './document-input.js';
import type { ImportItem } from './import-reader.js';
import type { ImportResult } from './schemas.js';

const MAX_REPORTED_ERRORS = 1000;

/** A document's JSON text in COPY text format (backslash, newline, CR and tab escaped). */
function copyText(text: string): string {
  return /[\\\n\r\t]/.test(text)
    ? text.replace(/[\\\n\r\t]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t',
      )
    : text;
}

/**
 * Loads validated documents through `COPY … FROM STDIN` in batches. Each item is parsed and
 * checked (a JSON object Postgres can store); bad ones are counted and reported with their line.
 * Not atomic: every batch commits on its own, and a batch Postgres refuses is loaded again
 * document by document to find the bad ones. Atomic: one transaction; the first bad item stops
 * loading, the rest is only validated (so the report is complete), and nothing is committed.
 */
export class ImportLoader {
  private batch: string[] = [];
  private batchLines: number[] = [];
  private inserted = 0;
  private rejected = 0;
  private readonly errors: { line: number; message: string }[] = [];
  private began = false;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly connection: UpstreamConnection,
    private readonly table: string,
    private readonly batchSize: number,
    private readonly atomic: boolean,
  ) {}

  async add(item: ImportItem): Promise<void> {
    const problem = item.kind === 'too-long' ? 'line too long' : validate(item.text);
    if (problem !== null) {
      this.reject(item.number, problem);
      return;
    }
    if (item.kind !== 'item' || (this.atomic && this.rejected > 0)) return;
    this.batch.push(copyText(item.text));
    this.batchLines.push(item.number);
    if (this.batch.length >= this.batchSize) await this.dispatch();
  }

  /** Load what is left and commit (or roll back, atomic with rejects). */
  async finish(): Promise<ImportResult> {
    if (!(this.atomic && this.rejected > 0)) await this.dispatch();
    await this.settle();
    if (this.atomic && this.rejected > 0) {
      if (this.began) await runStatement(this.connection, { sql: 'ROLLBACK' });
      return this.result(0, false);
    }
    if (this.began) await runStatement(this.connection, { sql: 'COMMIT' });
    return this.result(this.inserted, true);
  }

  /** The import broke off (bad body, client gone): roll back an atomic import. */
  async abandon(): Promise<void> {
    await this.settle().catch(() => undefined);
    if (this.began && !this.connection.isClosed) {
      await runStatement(this.connection, { sql: 'ROLLBACK' }).catch(() => undefined);
    }
  }

  private result(inserted: number, committed: boolean): ImportResult {
    const errors = [...this.errors].sort((a, b) => a.line - b.line);
    return { inserted, rejected: this.rejected, committed, errors };
  }

  private reject(line: number, message: string): void {
    this.rejected++;
    if (this.errors.length < MAX_REPORTED_ERRORS) this.errors.push({ line, message });
  }

  /**
   * Start loading the current batch and return without waiting for it, so the next batch is
   * read and validated while Postgres runs this one's COPY (one COPY in flight at a time).
   */
  private async dispatch(): Promise<void> {
    await this.settle();
    if (this.batch.length === 0) return;
    const rows = this.batch;
    const lines = this.batchLines;
    this.batch = [];
    this.batchLines = [];
    if (this.atomic && !this.began) {
      await runStatement(this.connection, { sql: 'BEGIN' });
      this.began = true;
    }
    const loading = this.load(rows, lines);
    // Its error surfaces in settle(); meanwhile it must not count as unhandled.
    loading.catch(() => undefined);
    this.inflight = loading;
  }

  /** Wait for the batch in flight (its error, if any, is thrown here). */
  private async settle(): Promise<void> {
    const inflight = this.inflight;
    this.inflight = undefined;
    if (inflight) await inflight;
  }

  private async load(rows: readonly string[], lines: readonly number[]): Promise<void> {
    const sql = `COPY ${this.table} (doc) FROM STDIN`;
    try {
      const result = await copyIn(this.connection, sql, [Buffer.from(`${rows.join('\n')}\n`)]);
      this.inserted += result.rowCount;
    } catch (error) {
      if (!(error instanceof PgError)) throw error;
      if (this.atomic) {
        // The transaction is lost; report where and keep validating the rest.
        this.reject(lines[0] ?? 0, `batch refused by Postgres: ${error.message}`);
        return;
      }
      await this.oneByOne(rows, lines);
    }
  }

  private async oneByOne(rows: readonly string[], lines: readonly number[]): Promise<void> {
    for (const [i, row] of rows.entries()) {
      try {
        await copyIn(this.connection, `COPY ${this.table} (doc) FROM STDIN`, [
          Buffer.from(`${row}\n`),
        ]);
        this.inserted++;
      } catch (error) {
        if (!(error instanceof PgError)) throw error;
        this.reject(lines[i] ?? 0, error.message);
      }
    }
  }
}

/** Why a line is not a document, or null. */
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
