import {
  Bool,
  DateDay,
  Field,
  Float64,
  Int16,
  Int32,
  Int64,
  makeBuilder,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  TimestampMillisecond,
  Utf8,
  type Builder,
  type DataType,
} from 'apache-arrow';
import type { ResultColumn } from '../upstream-query.js';
import { PgType } from './pg-types.js';

const BATCH_ROWS = 8192;

interface ColumnCodec {
  readonly type: DataType;
  /** Text-format value → the builder's value. */
  readonly decode: (text: string) => unknown;
}

const asText: ColumnCodec = { type: new Utf8(), decode: (text) => text };

/** The Arrow type for a column: from its Postgres type, text for the rest (numeric too). */
function codecFor(oid: number): ColumnCodec {
  switch (oid) {
    case PgType.bool:
      return { type: new Bool(), decode: (text) => text === 't' };
    case PgType.int2:
      return { type: new Int16(), decode: Number };
    case PgType.int4:
      return { type: new Int32(), decode: Number };
    case PgType.int8:
      return { type: new Int64(), decode: (text) => BigInt(text) };
    case PgType.float4:
    case PgType.float8:
      return { type: new Float64(), decode: Number };
    case PgType.date:
      return { type: new DateDay(), decode: (text) => Date.parse(`${text}T00:00:00Z`) };
    case PgType.timestamp:
      return { type: new TimestampMillisecond(), decode: (text) => timestampMillis(`${text}Z`) };
    case PgType.timestamptz:
      return { type: new TimestampMillisecond('UTC'), decode: (text) => timestampMillis(text) };
    default:
      return asText;
  }
}

/**
 * `2024-05-01 10:00:00.123456+02` (DateStyle ISO) → milliseconds since the epoch (apache-arrow's
 * builders take timestamps as millisecond numbers; microseconds are truncated).
 */
function timestampMillis(text: string): number {
  const match =
    /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d(?::?\d\d){0,2})?$/.exec(text);
  if (!match) throw new Error(`unsupported timestamp text ${text}`);
  const [, date, time, fraction = '', zone = 'Z'] = match;
  const offset =
    zone === 'Z'
      ? 'Z'
      : zone.length === 3
        ? `${zone}:00`
        : zone.slice(0, 6).replace(/^([+-]\d\d)(\d\d)$/, '$1:$2');
  return Date.parse(`${date ?? ''}T${time ?? ''}.${fraction.padEnd(3, '0').slice(0, 3)}${offset}`);
}

/** The IPC end-of-stream marker: continuation token and a zero length. */
const END_OF_STREAM = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/**
 * Rows (text-format values) → an Arrow IPC stream, batch by batch, in constant memory: `add`
 * rows, and each full batch comes back as IPC bytes; `finish` returns the rest and the
 * end-of-stream marker. The schema comes from the columns' Postgres types (int8 → Int64,
 * numeric → Utf8, timestamps → milliseconds, dates → days).
 */
export class ArrowStreamEncoder {
  private readonly codecs: ColumnCodec[];
  private readonly schema: Schema;
  private readonly schemaBytes: number;
  private builders: Builder<DataType>[];
  private rows = 0;
  private started = false;

  constructor(columns: readonly ResultColumn[]) {
    this.codecs = columns.map((column) => codecFor(column.typeOid));
    this.schema = new Schema(
      columns.map((column, i) => new Field(column.name, this.codecs[i]?.type ?? new Utf8(), true)),
    );
    this.builders = this.newBuilders();
    this.schemaBytes = this.writer().finish().toUint8Array(true).byteLength - END_OF_STREAM.length;
  }

  /** Add one row; returns IPC bytes when a batch is complete. */
  add(values: readonly (Buffer | null)[]): Uint8Array | undefined {
    this.codecs.forEach((codec, i) => {
      const value = values[i];
      this.builders[i]?.append(
        value === null || value === undefined ? null : codec.decode(value.toString('utf8')),
      );
    });
    this.rows++;
    return this.rows >= BATCH_ROWS ? this.batch() : undefined;
  }

  /** The remaining rows and the end-of-stream marker (the schema too when nothing came yet). */
  finish(): Uint8Array {
    const parts: Uint8Array[] = [];
    if (this.rows > 0) parts.push(this.batch());
    if (!this.started) parts.push(this.writer().finish().toUint8Array(true));
    else parts.push(END_OF_STREAM);
    return Buffer.concat(parts);
  }

  /** One IPC record batch message; the first one is preceded by the schema message. */
  private batch(): Uint8Array {
    const children = this.builders.map((builder) => builder.finish().flush());
    const data = makeData({ type: new Struct(this.schema.fields), length: this.rows, children });
    const writer = this.writer();
    writer.write(new RecordBatch(this.schema, data));
    const bytes = writer.toUint8Array(true);
    this.builders = this.newBuilders();
    this.rows = 0;
    const first = !this.started;
    this.started = true;
    return first ? bytes : bytes.subarray(this.schemaBytes);
  }

  /** A fresh writer per batch: the library's writer keeps every byte it wrote. */
  private writer(): RecordBatchStreamWriter {
    return new RecordBatchStreamWriter().reset(undefined, this.schema);
  }

  private newBuilders(): Builder<DataType>[] {
    // apache-arrow types a builder for a runtime-chosen DataType as Builder<any>.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-return
    return this.codecs.map((codec) =>
      makeBuilder<DataType, null>({ type: codec.type, nullValues: [null] }),
    );
  }
}
