/**
 * The protocol fuzzer's input model: a script is a list of tokens (literal frames, plus the
 * parts that can only be computed while talking to the proxy — the startup packet with the
 * target's user and database, the SCRAM messages, waits for a reply, a CancelRequest for the
 * session's own key). A fuzz case picks a script (canonical, recorded from a real client, or
 * generated) and mutates it: structural edits of the token list (duplicate, drop, swap, splice
 * a frame of another script, insert a generated frame), byte edits of single tokens (bit flips,
 * truncation, length-field corruption, inserted bytes), random chunking of the byte stream and
 * a way to end (settle and close, half-close, abort, or linger to see the proxy's timeouts).
 */

export type Token =
  | { readonly kind: 'bytes'; readonly bytes: Buffer; readonly label: string }
  | {
      readonly kind: 'startup';
      /** Values `$USER`, `$DB` and `$ADMIN_DB` are replaced by the target's. */
      readonly params: readonly (readonly [string, string])[];
      readonly minor: number;
    }
  | { readonly kind: 'sasl-initial' }
  | { readonly kind: 'sasl-final' }
  /** Wait for `count` more ReadyForQuery / one CopyInResponse / the end of login. */
  | { readonly kind: 'wait'; readonly until: 'ready' | 'copy-in' | 'login'; readonly count: number }
  /** A CancelRequest on a second socket with this session's BackendKeyData. */
  | { readonly kind: 'cancel-self' }
  | { readonly kind: 'pause'; readonly ms: number };

export interface Script {
  readonly name: string;
  readonly tokens: readonly Token[];
}

export type Target = 'session' | 'transaction';

export type StructOp =
  | { readonly op: 'dup'; readonly i: number }
  | { readonly op: 'drop'; readonly i: number }
  | { readonly op: 'swap'; readonly i: number; readonly j: number }
  | { readonly op: 'splice'; readonly i: number; readonly script: number; readonly token: number }
  | { readonly op: 'insert'; readonly i: number; readonly frame: Buffer }
  | { readonly op: 'stop'; readonly i: number };

export type ByteOp =
  | { readonly op: 'flip'; readonly i: number; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly i: number; readonly at: number; readonly value: number }
  | { readonly op: 'cut'; readonly i: number; readonly keep: number }
  | {
      readonly op: 'length';
      readonly i: number;
      readonly value: number;
      readonly relative: boolean;
    }
  | { readonly op: 'insert'; readonly i: number; readonly at: number; readonly bytes: Buffer };

export type Chunking =
  | { readonly kind: 'whole' }
  | { readonly kind: 'sizes'; readonly sizes: readonly number[]; readonly delayMs: number };

export type Ending = 'settle' | 'end' | 'abort' | 'linger';

/** What the generator produces: indices into the corpus, edits, chunking, ending. */
export interface FuzzCase {
  readonly source:
    | { readonly kind: 'corpus'; readonly script: number }
    | { readonly kind: 'generated'; readonly tokens: readonly Token[]; readonly name: string };
  readonly target: Target;
  readonly struct: readonly StructOp[];
  readonly bytes: readonly ByteOp[];
  readonly chunking: Chunking;
  readonly ending: Ending;
}

/** A case with its script applied: everything the driver needs, and what a replay file holds. */
export interface Materialized {
  readonly name: string;
  readonly target: Target;
  readonly tokens: readonly Token[];
  /** Byte edits with `i` already an index into `tokens`. */
  readonly bytes: readonly ByteOp[];
  readonly chunking: Chunking;
  readonly ending: Ending;
}

// ---- wire helpers ------------------------------------------------------------------------------

export function frame(type: number | string, body: Buffer, declared = body.length + 4): Buffer {
  const header = Buffer.alloc(5);
  header[0] = typeof type === 'string' ? type.charCodeAt(0) : type;
  header.writeInt32BE(declared | 0, 1);
  return Buffer.concat([header, body]);
}

export function untyped(body: Buffer, declared = body.length + 4): Buffer {
  const header = Buffer.alloc(4);
  header.writeInt32BE(declared | 0, 0);
  return Buffer.concat([header, body]);
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0, 0);
  return b;
}

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE((n << 16) >> 16, 0);
  return b;
}

export const cstr = (s: string | Buffer): Buffer =>
  Buffer.concat([typeof s === 'string' ? Buffer.from(s) : s, Buffer.from([0])]);

export const bytesToken = (bytes: Buffer, label?: string): Token => ({
  kind: 'bytes',
  bytes,
  label: label ?? String.fromCharCode(bytes[0] ?? 0x3f),
});

// ---- applying a case ------------------------------------------------------------------------------

/** Apply the structural edits; byte edits get token indices into the result. */
export function materialize(c: FuzzCase, corpus: readonly Script[]): Materialized {
  const base =
    c.source.kind === 'corpus'
      ? corpus[c.source.script % corpus.length]
      : { name: c.source.name, tokens: c.source.tokens };
  if (!base) throw new Error('empty corpus');
  const tokens = [...base.tokens];
  const names: string[] = [];
  for (const op of c.struct) {
    const n = tokens.length;
    if (n === 0) break;
    const i = op.i % n;
    switch (op.op) {
      case 'dup': {
        const t = tokens[i];
        if (t) tokens.splice(i, 0, t);
        break;
      }
      case 'drop':
        tokens.splice(i, 1);
        break;
      case 'swap': {
        const j = op.j % n;
        const a = tokens[i];
        const b = tokens[j];
        if (a && b) {
          tokens[i] = b;
          tokens[j] = a;
        }
        break;
      }
      case 'splice': {
        const other = corpus[op.script % corpus.length];
        const frames = other?.tokens.filter((t) => t.kind === 'bytes') ?? [];
        const t = frames[op.token % Math.max(1, frames.length)];
        if (t) tokens.splice(i, 0, t);
        break;
      }
      case 'insert':
        tokens.splice(i, 0, bytesToken(op.frame));
        break;
      case 'stop':
        tokens.splice(Math.max(1, i));
        break;
    }
    names.push(op.op);
  }
  const bytes = c.bytes.map((op) => ({ ...op, i: tokens.length === 0 ? 0 : op.i % tokens.length }));
  return {
    name: [base.name, ...names].join('+'),
    target: c.target,
    tokens,
    bytes,
    chunking: c.chunking,
    ending: c.ending,
  };
}

/** Apply the byte edits aimed at token `index` to its resolved bytes. */
export function editBytes(
  input: Buffer,
  index: number,
  ops: readonly ByteOp[],
  typed: boolean,
): Buffer {
  let bytes = Buffer.from(input);
  for (const op of ops) {
    if (op.i !== index || bytes.length === 0) continue;
    switch (op.op) {
      case 'flip': {
        const at = op.at % bytes.length;
        bytes[at] = (bytes[at] ?? 0) ^ (1 << op.bit);
        break;
      }
      case 'set':
        bytes[op.at % bytes.length] = op.value;
        break;
      case 'cut':
        bytes = bytes.subarray(0, op.keep % bytes.length);
        break;
      case 'length': {
        const at = typed ? 1 : 0;
        if (bytes.length < at + 4) break;
        const current = bytes.readInt32BE(at);
        bytes.writeInt32BE(op.relative ? (current + op.value) | 0 : op.value | 0, at);
        break;
      }
      case 'insert': {
        const at = op.at % (bytes.length + 1);
        bytes = Buffer.concat([bytes.subarray(0, at), op.bytes, bytes.subarray(at)]);
        break;
      }
    }
  }
  return bytes;
}

// ---- replay files ---------------------------------------------------------------------------------

export function toJson(m: Materialized): unknown {
  const hex = (b: Buffer): string => b.toString('hex');
  return {
    ...m,
    tokens: m.tokens.map((t) => (t.kind === 'bytes' ? { ...t, bytes: hex(t.bytes) } : t)),
    bytes: m.bytes.map((op) => (op.op === 'insert' ? { ...op, bytes: hex(op.bytes) } : op)),
  };
}

export function fromJson(value: unknown): Materialized {
  type JsonToken =
    Exclude<Token, { kind: 'bytes' }> | { kind: 'bytes'; bytes: string; label: string };
  type JsonByteOp =
    Exclude<ByteOp, { op: 'insert' }> | { op: 'insert'; i: number; at: number; bytes: string };
  const m = value as Omit<Materialized, 'tokens' | 'bytes'> & {
    tokens: JsonToken[];
    bytes: JsonByteOp[];
  };
  const tokens = m.tokens.map((t): Token =>
    t.kind === 'bytes' ? { ...t, bytes: Buffer.from(t.bytes, 'hex') } : t,
  );
  const bytes = m.bytes.map((op): ByteOp =>
    op.op === 'insert' ? { ...op, bytes: Buffer.from(op.bytes, 'hex') } : op,
  );
  return { ...m, tokens, bytes };
}
