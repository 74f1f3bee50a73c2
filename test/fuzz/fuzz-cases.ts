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
import fc from 'fast-check';
import * as fe from '../../protocol/frontend-encoders.js';
import { StartupCode } from '../../protocol/message-codes.js';

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

// ---- the SQL the fuzzer may run -----------------------------------------------------------------

/**
 * Statements that are safe to run (and to have mutated) against the shared test Postgres: no
 * locks others wait on, nothing that touches other sessions, bounded work. `$T` is the fuzz table.
 */
export const SAFE_SQL: readonly string[] = [
  'SELECT 1',
  'SELECT $1::int + 1 AS n',
  'SELECT $1::text AS t, $2::int AS n',
  'SELECT generate_series(1, 20) AS n',
  "SELECT repeat('x', 100000) AS big",
  'SELECT n, md5(n::text) FROM generate_series(1, 300) AS n',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SAVEPOINT a',
  'ROLLBACK TO a',
  'RELEASE a',
  "INSERT INTO $T (a, b) VALUES (1, 'x') RETURNING a",
  'SELECT count(*) FROM $T',
  'COPY $T (a, b) FROM STDIN',
  'COPY (SELECT generate_series(1, 100)) TO STDOUT',
  "SET application_name = 'fz2'",
  "SET statement_timeout = '5s'",
  'RESET ALL',
  "SET LOCAL work_mem = '8MB'",
  'SHOW docfusion.version',
  'SHOW docfusion.status',
  'SHOW docfusion.nope',
  'PREPARE p1 AS SELECT 1',
  'EXECUTE p1',
  'DEALLOCATE p1',
  'DEALLOCATE ALL',
  'DISCARD ALL',
  'LISTEN fz',
  'UNLISTEN *',
  'CREATE TEMP TABLE IF NOT EXISTS tt (a int)',
  'SELECT pg_sleep(0.02)',
  'SELECT 1/0',
  'SELEC 1',
  '',
  ';',
  'SELECT 1; SELECT 2',
  "SELECT set_config('application_name', 'fz3', false)",
  'DECLARE c CURSOR WITH HOLD FOR SELECT generate_series(1, 5)',
  'FETCH 2 FROM c',
  'CLOSE c',
  "SELECT '{\"a\": 1}'::jsonb -> 'a'",
  'SELECT $1::bytea',
];

export interface CorpusEnv {
  readonly table: string;
  /** OID of a harmless function for FunctionCall (int4pl). */
  readonly functionOid: number;
}

export const sqlFor = (env: CorpusEnv, sql: string): string => sql.replaceAll('$T', env.table);

// ---- generated frames --------------------------------------------------------------------------

const NAMES = ['', 's1', 's2', 'p1', 'c', 'a_rather_long_statement_name'];
const OIDS = [0, 16, 17, 20, 21, 23, 25, 701, 1043, 3802, 0x7fffffff, -1];

const name = fc.constantFrom(...NAMES);
const smallInt16 = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.constantFrom(-1, -32768, 32767, 1000),
);

function paramValue(): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.constant(int32(-1)), // NULL
    fc
      .constantFrom('1', '41', 'x', '{"a":1}', '')
      .map((s) => Buffer.concat([int32(s.length), Buffer.from(s)])),
    fc.constant(Buffer.concat([int32(4), int32(7)])), // binary int4
    fc
      .constantFrom(-2, 3, 100000, 0x7fffffff)
      .map((n) => Buffer.concat([int32(n), Buffer.from('ab')])), // bad lengths
  );
}

/** One frontend frame after login, structurally valid or nearly so. */
export function frameArb(env: CorpusEnv): fc.Arbitrary<Buffer> {
  const sql = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...SAFE_SQL).map((s) => sqlFor(env, s)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  );
  const parse = fc
    .tuple(name, sql, fc.array(fc.constantFrom(...OIDS), { maxLength: 3 }), fc.boolean())
    .map(([n, q, types, lie]) =>
      frame(
        'P',
        Buffer.concat([
          cstr(n),
          cstr(q),
          int16(lie ? types.length + 1 : types.length),
          ...types.map(int32),
        ]),
      ),
    );
  const bind = fc
    .tuple(
      name,
      name,
      fc.array(fc.integer({ min: -1, max: 2 }), { maxLength: 3 }),
      fc.array(paramValue(), { maxLength: 3 }),
      fc.array(fc.integer({ min: -1, max: 2 }), { maxLength: 3 }),
      smallInt16,
    )
    .map(([portal, statement, formats, values, results, lieCount]) =>
      frame(
        'B',
        Buffer.concat([
          cstr(portal),
          cstr(statement),
          int16(formats.length),
          ...formats.map(int16),
          int16(lieCount === 0 ? values.length : lieCount),
          ...values,
          int16(results.length),
          ...results.map(int16),
        ]),
      ),
    );
  const target = fc.constantFrom('S', 'P', 'S', 'P', 'X');
  const describe = fc
    .tuple(target, name)
    .map(([t, n]) => frame('D', Buffer.concat([Buffer.from(t), cstr(n)])));
  const close = fc
    .tuple(target, name)
    .map(([t, n]) => frame('C', Buffer.concat([Buffer.from(t), cstr(n)])));
  const execute = fc
    .tuple(name, fc.constantFrom(0, 1, 2, -1, 0x7fffffff))
    .map(([n, max]) => frame('E', Buffer.concat([cstr(n), int32(max)])));
  const copyData = fc.oneof(
    fc
      .constantFrom('1\tx\n', '2\ty\n3\tz\n', '\\.\n', 'garbage\n')
      .map((s) => fe.copyData(Buffer.from(s))),
    fc.uint8Array({ maxLength: 32 }).map((b) => fe.copyData(Buffer.from(b))),
  );
  const functionCall = fc.array(fc.integer(), { minLength: 0, maxLength: 3 }).map((args) =>
    fe.functionCall(
      env.functionOid,
      args.map((a) => int32(a)),
    ),
  );
  const raw = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 32 }))
    .map(([type, body]) => frame(type, Buffer.from(body)));
  return fc.oneof(
    { weight: 6, arbitrary: sql.map((q) => fe.query(q)) },
    { weight: 5, arbitrary: parse },
    { weight: 5, arbitrary: bind },
    { weight: 3, arbitrary: describe },
    { weight: 4, arbitrary: execute },
    { weight: 2, arbitrary: close },
    { weight: 6, arbitrary: fc.constant(fe.sync()) },
    { weight: 2, arbitrary: fc.constant(fe.flush()) },
    { weight: 3, arbitrary: copyData },
    { weight: 2, arbitrary: fc.constant(fe.copyDone()) },
    { weight: 1, arbitrary: fc.constant(fe.copyFail('fuzz')) },
    { weight: 1, arbitrary: functionCall },
    { weight: 1, arbitrary: raw },
  );
}

const STARTUP_KEYS = [
  'application_name',
  'options',
  'client_encoding',
  'DateStyle',
  'TimeZone',
  'search_path',
  'replication',
  '_pq_.fuzz',
  'extra_float_digits',
  'x',
];
const STARTUP_VALUES = [
  'fz',
  '',
  '-c search_path=public',
  '-c work_mem=8MB',
  'UTF8',
  'LATIN1',
  'ISO, MDY',
  'UTC',
  'true',
  'database',
  '\u00e9\u00e8',
];

/** A pre-login packet: a startup packet with random parameters, SSL/GSS/cancel requests, junk. */
export function preLoginArb(): fc.Arbitrary<Token> {
  const startup = fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom(...STARTUP_KEYS), fc.constantFrom(...STARTUP_VALUES)), {
        maxLength: 3,
      }),
      fc.constantFrom(0, 0, 0, 1, 2, 3),
      fc.boolean(),
    )
    .map(([extra, minor, withDb]): Token => ({
      kind: 'startup',
      params: [['user', '$USER'], ...(withDb ? [['database', '$DB'] as const] : []), ...extra],
      minor,
    }));
  return fc.oneof(
    { weight: 6, arbitrary: startup },
    { weight: 1, arbitrary: fc.constant(bytesToken(fe.sslRequest(), 'ssl')) },
    { weight: 1, arbitrary: fc.constant(bytesToken(fe.gssencRequest(), 'gss')) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer(), fc.uint8Array({ minLength: 4, maxLength: 8 }))
        .map(([pid, key]) => bytesToken(fe.cancelRequest(pid, Buffer.from(key)), 'cancel')),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 48 })
        .map((b) =>
          bytesToken(
            untyped(Buffer.concat([int32(StartupCode.ProtocolV3), Buffer.from(b)])),
            'startup-junk',
          ),
        ),
    },
  );
}

/** A whole generated session: pre-login packets, maybe a real login, then random frames. */
export function generatedScriptArb(
  env: CorpusEnv,
): fc.Arbitrary<{ name: string; tokens: Token[] }> {
  const login: Token[] = [
    {
      kind: 'startup',
      params: [
        ['user', '$USER'],
        ['database', '$DB'],
        ['application_name', 'fz'],
      ],
      minor: 0,
    },
    { kind: 'sasl-initial' },
    { kind: 'sasl-final' },
    { kind: 'wait', until: 'login', count: 1 },
  ];
  const afterLogin = fc.array(
    fc.oneof(
      { weight: 10, arbitrary: frameArb(env).map((b) => bytesToken(b)) },
      { weight: 1, arbitrary: fc.constant<Token>({ kind: 'wait', until: 'ready', count: 1 }) },
      { weight: 1, arbitrary: fc.constant<Token>({ kind: 'cancel-self' }) },
    ),
    { minLength: 1, maxLength: 12 },
  );
  return fc.oneof(
    {
      weight: 4,
      arbitrary: afterLogin.map((frames) => ({
        name: 'generated:frames',
        tokens: [...login, ...frames],
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.array(preLoginArb(), { minLength: 1, maxLength: 3 }), fc.boolean(), afterLogin)
        .map(([packets, sasl, frames]) => ({
          name: 'generated:pre-login',
          tokens: [
            ...packets,
            ...(sasl ? [{ kind: 'sasl-initial' } as const, { kind: 'sasl-final' } as const] : []),
            { kind: 'wait', until: 'login', count: 1 } as const,
            ...frames,
          ],
        })),
    },
  );
}

// ---- case generator ------------------------------------------------------------------------------

export interface CaseProfile {
  /** Relative weight of `linger` endings (the others weigh 100 in total). */
  readonly lingerWeight: number;
}

export function caseArb(
  corpus: readonly Script[],
  env: CorpusEnv,
  profile: CaseProfile,
): fc.Arbitrary<FuzzCase> {
  const index = fc.nat({ max: 10_000 });
  const struct: fc.Arbitrary<StructOp> = fc.oneof(
    fc.record({ op: fc.constant('dup' as const), i: index }),
    fc.record({ op: fc.constant('drop' as const), i: index }),
    fc.record({ op: fc.constant('swap' as const), i: index, j: index }),
    fc.record({ op: fc.constant('splice' as const), i: index, script: index, token: index }),
    fc.record({ op: fc.constant('insert' as const), i: index, frame: frameArb(env) }),
    fc.record({ op: fc.constant('stop' as const), i: index }),
  );
  const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('flip' as const),
        i: index,
        at: index,
        bit: fc.integer({ min: 0, max: 7 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('set' as const),
        i: index,
        at: index,
        value: fc.oneof(
          fc.constantFrom(0, 0xff, 0x7f, 0x80, 0x20),
          fc.integer({ min: 0, max: 255 }),
        ),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('cut' as const), i: index, keep: index }) },
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.record({
          op: fc.constant('length' as const),
          i: index,
          value: fc.integer({ min: -8, max: 8 }),
          relative: fc.constant(true),
        }),
        fc.record({
          op: fc.constant('length' as const),
          i: index,
          value: fc.constantFrom(-1, 0, 3, 4, 5, 8, 0x7fffffff, 0x40000, 10_001, -0x80000000),
          relative: fc.constant(false),
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('insert' as const),
        i: index,
        at: index,
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => Buffer.from(b)),
      }),
    },
  );
  const chunking: fc.Arbitrary<Chunking> = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: 'whole' as const }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('sizes' as const),
        sizes: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 }),
        delayMs: fc.constantFrom(0, 0, 1),
      }),
    },
  );
  const ending: fc.Arbitrary<Ending> = fc.oneof(
    { weight: 60, arbitrary: fc.constant('settle' as const) },
    { weight: 20, arbitrary: fc.constant('end' as const) },
    { weight: 20, arbitrary: fc.constant('abort' as const) },
    ...(profile.lingerWeight > 0
      ? [{ weight: profile.lingerWeight, arbitrary: fc.constant('linger' as const) }]
      : []),
  );
  const target = fc.constantFrom<Target>('session', 'transaction');
  const fromCorpus = fc.record({
    source: fc.record({
      kind: fc.constant('corpus' as const),
      script: fc.nat({ max: corpus.length - 1 }),
    }),
    target,
    struct: fc.oneof(
      { weight: 3, arbitrary: fc.constant([] as StructOp[]) },
      { weight: 4, arbitrary: fc.array(struct, { minLength: 1, maxLength: 3 }) },
    ),
    bytes: fc.oneof(
      { weight: 3, arbitrary: fc.constant([] as ByteOp[]) },
      { weight: 4, arbitrary: fc.array(byteOp, { minLength: 1, maxLength: 3 }) },
    ),
    chunking,
    ending,
  });
  const generated = fc.record({
    source: generatedScriptArb(env).map(({ name: n, tokens }) => ({
      kind: 'generated' as const,
      name: n,
      tokens,
    })),
    target,
    struct: fc.constant([] as StructOp[]),
    bytes: fc.oneof(
      { weight: 4, arbitrary: fc.constant([] as ByteOp[]) },
      { weight: 1, arbitrary: fc.array(byteOp, { minLength: 1, maxLength: 2 }) },
    ),
    chunking,
    ending,
  });
  return fc.oneof({ weight: 3, arbitrary: fromCorpus }, { weight: 2, arbitrary: generated });
}

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
  const m = value as Materialized & {
    tokens: (Token & { bytes?: string })[];
    bytes: (ByteOp & { bytes?: string })[];
  };
  return {
    ...m,
    tokens: m.tokens.map((t) =>
      t.kind === 'bytes' ? { ...t, bytes: Buffer.from(t.bytes as unknown as string, 'hex') } : t,
    ),
    bytes: m.bytes.map((op) =>
      op.op === 'insert' ? { ...op, bytes: Buffer.from(op.bytes as unknown as string, 'hex') } : op,
    ),
  } as Materialized;
}
