/**
 * fast-check generators of the fuzzer: the SQL it may run, structurally (nearly) valid frontend
 * frames, pre-login packets, whole generated sessions, and fuzz cases (a corpus script or a
 * generated one, with structural and byte edits, chunking and an ending).
 */
import fc from 'fast-check';
import * as fe from '../../protocol/frontend-encoders.js';
import { StartupCode } from '../../protocol/message-codes.js';
import {
  bytesToken,
  cstr,
  frame,
  int16,
  int32,
  untyped,
  type ByteOp,
  type Chunking,
  type Ending,
  type FuzzCase,
  type Script,
  type StructOp,
  type Target,
  type Token,
} from './fuzz-cases.js';

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
