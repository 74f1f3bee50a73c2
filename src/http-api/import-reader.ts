/**
 * Splits an import body into items as it streams: NDJSON lines, or the elements of one
 * top-level JSON array. Each item keeps its number (1-based line, or element) for reports; an
 * item longer than the limit is reported as such and skipped without being buffered whole.
 */
export type ImportItem =
  | {
      readonly kind: 'item';
      readonly number: number;
      /** The item's bytes as received, not decoded or trimmed (often a view of the chunk). */
      readonly bytes: Buffer;
    }
  | { readonly kind: 'too-long'; readonly number: number };

/**
 * The pieces of the item being read, across chunks, up to the limit: past it only the fact that
 * it overflowed is kept, so a huge item is never buffered whole.
 */
class PendingItem {
  private parts: Buffer[] = [];
  private size = 0;
  overflow = false;

  constructor(private readonly maxBytes: number) {}

  get empty(): boolean {
    return this.size === 0 && !this.overflow;
  }

  take(piece: Buffer): void {
    if (this.overflow || piece.length === 0) return;
    if (this.size + piece.length > this.maxBytes) {
      this.overflow = true;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(piece);
    this.size += piece.length;
  }

  /** The item's bytes (without a copy when there is one piece); starts the next item. */
  finish(): Buffer {
    const bytes =
      this.parts.length === 1 && this.parts[0]
        ? this.parts[0]
        : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.overflow = false;
    return bytes;
  }
}

/** Nothing but whitespace (String.prototype.trim's), decoding only when the ends are not ASCII text. */
function isBlank(bytes: Buffer): boolean {
  const first = bytes[0];
  const last = bytes[bytes.length - 1];
  if (first === undefined || last === undefined) return true;
  if (first > 0x20 && first < 0x80 && last > 0x20 && last < 0x80) return false;
  return bytes.toString('utf8').trim() === '';
}

export interface ItemSplitter {
  push(chunk: Buffer): ImportItem[];
  end(): ImportItem[];
}

const NEWLINE = 0x0a;

export class NdjsonSplitter implements ItemSplitter {
  private readonly pending: PendingItem;
  private line = 0;

  constructor(maxItemBytes: number) {
    this.pending = new PendingItem(maxItemBytes);
  }

  push(chunk: Buffer): ImportItem[] {
    const items: ImportItem[] = [];
    let start = 0;
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, start)) {
      this.pending.take(chunk.subarray(start, at));
      this.emit(items);
      start = at + 1;
    }
    this.pending.take(chunk.subarray(start));
    return items;
  }

  end(): ImportItem[] {
    const items: ImportItem[] = [];
    if (!this.pending.empty) this.emit(items);
    return items;
  }

  private emit(items: ImportItem[]): void {
    this.line++;
    const overflow = this.pending.overflow;
    const bytes = this.pending.finish();
    if (overflow) items.push({ kind: 'too-long', number: this.line });
    else if (!isBlank(bytes)) items.push({ kind: 'item', number: this.line, bytes });
  }
}

/** `[ {...}, {...} ]` split into element texts by a scanner that tracks strings and depth. */
export class JsonArraySplitter implements ItemSplitter {
  private state: 'before' | 'between' | 'in-item' | 'after' = 'before';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private readonly pending: PendingItem;
  private element = 0;

  constructor(maxItemBytes: number) {
    this.pending = new PendingItem(maxItemBytes);
  }

  push(chunk: Buffer): ImportItem[] {
    const items: ImportItem[] = [];
    let itemStart = this.state === 'in-item' ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] ?? 0;
      if (this.state === 'in-item') {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (byte === 0x5c) this.escaped = true;
          else if (byte === 0x22) this.inString = false;
          continue;
        }
        if (byte === 0x22) this.inString = true;
        else if (byte === 0x7b || byte === 0x5b) this.depth++;
        else if (byte === 0x7d || byte === 0x5d) {
          if (this.depth === 0) {
            // The closing bracket of the array ends the last element.
            this.pending.take(chunk.subarray(itemStart, i));
            this.emit(items);
            this.state = 'after';
            itemStart = -1;
            continue;
          }
          this.depth--;
        } else if (byte === 0x2c && this.depth === 0) {
          this.pending.take(chunk.subarray(itemStart, i));
          this.emit(items);
          this.state = 'between';
          itemStart = -1;
        }
        continue;
      }
      if (isSpace(byte)) continue;
      if (this.state === 'before') {
        if (byte !== 0x5b) throw new SyntaxError('the body is not a JSON array');
        this.state = 'between';
      } else if (this.state === 'between') {
        if (byte === 0x5d && this.element === 0) {
          this.state = 'after';
          continue;
        }
        this.state = 'in-item';
        this.depth = 0;
        itemStart = i;
        i--; // scan this byte as part of the element
      } else {
        throw new SyntaxError('unexpected data after the JSON array');
      }
    }
    if (this.state === 'in-item' && itemStart >= 0) this.pending.take(chunk.subarray(itemStart));
    return items;
  }

  end(): ImportItem[] {
    if (this.state !== 'after') throw new SyntaxError('the JSON array is not closed');
    return [];
  }

  private emit(items: ImportItem[]): void {
    this.element++;
    const overflow = this.pending.overflow;
    const bytes = this.pending.finish();
    // A blank element (`[1,,2]`) is an item too: invalid JSON, reported as such.
    items.push(
      overflow
        ? { kind: 'too-long', number: this.element }
        : { kind: 'item', number: this.element, bytes },
    );
  }
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
