/**
 * The fuzzer's canonical sessions, written with the protocol encoders: startup and SCRAM, simple
 * queries, extended pipelines (named, binary, with errors, suspended portals, Flush), COPY both
 * ways (with CopyFail, the stray CopyFail postgres.js sends, pipelined data), cancels, SSL/GSS
 * requests, protocol 3.2, FunctionCall, local SHOW, pinning statements, the admin console, and a
 * few deliberately broken exchanges. Recorded real-client sessions come from fuzz-recorder.ts.
 */
import * as fe from '../../protocol/frontend-encoders.js';
import { StartupCode } from '../../protocol/message-codes.js';
import {
  bytesToken,
  cstr,
  frame,
  int16,
  int32,
  untyped,
  type Script,
  type Token,
} from './fuzz-cases.js';
import { sqlFor, type CorpusEnv } from './fuzz-generators.js';

const login = (database = '$DB', extra: [string, string][] = []): Token[] => [
  {
    kind: 'startup',
    params: [['user', '$USER'], ['database', database], ['application_name', 'fz'], ...extra],
    minor: 0,
  },
  { kind: 'sasl-initial' },
  { kind: 'sasl-final' },
  { kind: 'wait', until: 'login', count: 1 },
];

const b = (bytes: Buffer, label?: string): Token => bytesToken(bytes, label);
const ready = (count = 1): Token => ({ kind: 'wait', until: 'ready', count });
const copyIn: Token = { kind: 'wait', until: 'copy-in', count: 1 };
const q = (sql: string): Token => b(fe.query(sql), 'Q');

/** Canonical sequences, written with the frontend encoders. */
export function canonicalScripts(env: CorpusEnv): Script[] {
  const T = env.table;
  const sql = (s: string): string => sqlFor(env, s);
  const X = b(fe.terminate(), 'X');
  return [
    { name: 'simple-query', tokens: [...login(), q('SELECT 1'), ready(), X] },
    {
      name: 'extended-unnamed',
      tokens: [
        ...login(),
        b(fe.parse('', 'SELECT $1::int + 1 AS n', [23])),
        b(fe.bind({ params: ['41'] })),
        b(fe.describe('P')),
        b(fe.execute()),
        b(fe.sync()),
        ready(),
        X,
      ],
    },
    {
      name: 'extended-named-twice',
      tokens: [
        ...login(),
        b(fe.parse('s1', 'SELECT $1::text AS t, $2::int AS n')),
        b(fe.describe('S', 's1')),
        b(fe.sync()),
        ready(),
        b(fe.bind({ statement: 's1', params: ['a', '1'] })),
        b(fe.execute()),
        b(fe.bind({ statement: 's1', params: ['b', null] })),
        b(fe.execute()),
        b(fe.close('S', 's1')),
        b(fe.sync()),
        ready(),
        X,
      ],
    },
    {
      name: 'extended-binary',
      tokens: [
        ...login(),
        b(fe.parse('', 'SELECT $1::int4 * 2 AS n, $2::bytea AS b', [23, 17])),
        b(fe.bind({ params: [int32(21), Buffer.from([1, 2, 3])], resultFormats: [1] })),
        b(fe.execute()),
        b(fe.sync()),
        ready(),
      ],
    },
    {
      name: 'pipeline-with-error',
      tokens: [
        ...login(),
        b(fe.parse('', 'SELEC oops')),
        b(fe.bind()),
        b(fe.execute()),
        b(fe.sync()),
        b(fe.parse('', 'SELECT 2')),
        b(fe.bind()),
        b(fe.execute()),
        b(fe.sync()),
        q('SELECT 3'),
        ready(3),
      ],
    },
    {
      name: 'transaction-savepoint',
      tokens: [
        ...login(),
        q('BEGIN'),
        ready(),
        q(`INSERT INTO ${T} (a, b) VALUES (1, 'x') RETURNING a`),
        ready(),
        q('SAVEPOINT a'),
        ready(),
        q('SELECT 1/0'),
        ready(),
        q('ROLLBACK TO a'),
        ready(),
        q('COMMIT'),
        ready(),
      ],
    },
    {
      name: 'transaction-left-open',
      tokens: [...login(), q('BEGIN'), ready(), q('SELECT 1'), ready()],
    },
    {
      name: 'copy-in-simple',
      tokens: [
        ...login(),
        q(`COPY ${T} (a, b) FROM STDIN`),
        copyIn,
        b(fe.copyData(Buffer.from('1\tone\n2\ttwo\n'))),
        b(fe.copyData(Buffer.from('3\tthree\n'))),
        b(fe.copyDone()),
        ready(),
        X,
      ],
    },
    {
      name: 'copy-in-extended-stray-copyfail',
      tokens: [
        ...login(),
        b(fe.parse('', `COPY ${T} (a, b) FROM STDIN`)),
        b(fe.bind()),
        b(fe.execute()),
        b(fe.sync()),
        copyIn,
        b(fe.copyData(Buffer.from('4\tfour\n'))),
        b(fe.copyDone()),
        b(fe.copyFail('COPY ended')), // postgres.js does this
        ready(),
      ],
    },
    {
      name: 'copy-in-fail',
      tokens: [
        ...login(),
        q(`COPY ${T} (a, b) FROM STDIN`),
        copyIn,
        b(fe.copyData(Buffer.from('5\tfive\n'))),
        b(fe.copyFail('client gave up')),
        ready(),
      ],
    },
    {
      name: 'copy-in-pipelined',
      tokens: [
        ...login(),
        q(`COPY ${T} (a, b) FROM STDIN`),
        b(fe.copyData(Buffer.from('6\tsix\n'))),
        b(fe.copyDone()),
        q('SELECT 1'),
        ready(2),
      ],
    },
    {
      name: 'copy-out',
      tokens: [...login(), q('COPY (SELECT generate_series(1, 100)) TO STDOUT'), ready()],
    },
    {
      name: 'portal-suspended',
      tokens: [
        ...login(),
        q('BEGIN'),
        ready(),
        b(fe.parse('', 'SELECT generate_series(1, 10) AS n')),
        b(fe.bind({ portal: 'c1' })),
        b(fe.execute('c1', 2)),
        b(fe.execute('c1', 3)),
        b(fe.sync()),
        ready(),
        b(fe.execute('c1', 0)),
        b(fe.close('P', 'c1')),
        b(fe.sync()),
        ready(),
        q('COMMIT'),
        ready(),
      ],
    },
    {
      name: 'flush-then-sync',
      tokens: [
        ...login(),
        b(fe.parse('s2', 'SELECT $1::int AS n')),
        b(fe.describe('S', 's2')),
        b(fe.flush()),
        { kind: 'pause', ms: 5 },
        b(fe.bind({ statement: 's2', params: ['7'] })),
        b(fe.execute()),
        b(fe.sync()),
        ready(),
      ],
    },
    {
      name: 'cancel-self',
      tokens: [
        ...login(),
        q('SELECT pg_sleep(0.3)'),
        { kind: 'pause', ms: 30 },
        { kind: 'cancel-self' },
        ready(),
        q('SELECT 1'),
        ready(),
      ],
    },
    {
      name: 'big-row-and-big-message',
      tokens: [
        ...login(),
        q("SELECT repeat('x', 100000) AS big"),
        ready(),
        q(`SELECT length('${'y'.repeat(90_000)}')`),
        ready(),
      ],
    },
    {
      name: 'many-rows',
      tokens: [...login(), q('SELECT n, md5(n::text) FROM generate_series(1, 300) AS n'), ready()],
    },
    {
      name: 'ssl-then-startup',
      tokens: [b(fe.sslRequest(), 'ssl'), ...login(), q('SELECT 1'), ready()],
    },
    {
      name: 'gss-ssl-then-startup',
      tokens: [
        b(fe.gssencRequest(), 'gss'),
        b(fe.sslRequest(), 'ssl'),
        ...login(),
        q('SELECT 1'),
        ready(),
      ],
    },
    {
      name: 'cancel-request-random',
      tokens: [b(fe.cancelRequest(4242, Buffer.from([1, 2, 3, 4])), 'cancel')],
    },
    {
      name: 'startup-params',
      tokens: [
        ...login('$DB', [
          ['options', '-c search_path=public -c work_mem=8MB'],
          ['client_encoding', 'UTF8'],
          ['_pq_.something', '1'],
        ]),
        q('SHOW work_mem'),
        ready(),
      ],
    },
    {
      name: 'protocol-3.2',
      tokens: [
        {
          kind: 'startup',
          params: [
            ['user', '$USER'],
            ['database', '$DB'],
          ],
          minor: 2,
        },
        { kind: 'sasl-initial' },
        { kind: 'sasl-final' },
        { kind: 'wait', until: 'login', count: 1 },
        q('SELECT 1'),
        ready(),
      ],
    },
    {
      name: 'function-call',
      tokens: [
        ...login(),
        b(fe.functionCall(env.functionOid, [int32(2), int32(3)], [1, 1], 1)),
        ready(),
      ],
    },
    {
      name: 'local-show',
      tokens: [...login(), q('SHOW docfusion.version'), ready(), q('SHOW docfusion.nope'), ready()],
    },
    {
      name: 'pinning-statements',
      tokens: [
        ...login(),
        q('PREPARE p1 AS SELECT 1'),
        ready(),
        q('EXECUTE p1'),
        ready(),
        q('LISTEN fz'),
        ready(),
        q("SET application_name = 'fz2'"),
        ready(),
        q('CREATE TEMP TABLE IF NOT EXISTS tt (a int)'),
        ready(),
        q('DEALLOCATE ALL'),
        ready(),
      ],
    },
    {
      name: 'deallocate-protocol-statement',
      tokens: [
        ...login(),
        b(fe.parse('s1', 'SELECT 1')),
        b(fe.sync()),
        ready(),
        q('DEALLOCATE s1'),
        ready(),
        b(fe.bind({ statement: 's1' })),
        b(fe.execute()),
        b(fe.sync()),
        ready(),
      ],
    },
    {
      name: 'describe-invalid-target',
      tokens: [
        ...login(),
        b(frame('D', Buffer.concat([Buffer.from('X'), cstr('')]))),
        b(fe.sync()),
        ready(),
      ],
    },
    {
      name: 'bind-bad-counts',
      tokens: [
        ...login(),
        b(fe.parse('', 'SELECT $1::int')),
        b(
          frame(
            'B',
            Buffer.concat([
              cstr(''),
              cstr(''),
              int16(2),
              int16(0),
              int16(0),
              int16(1),
              int32(1),
              Buffer.from('1'),
              int16(0),
            ]),
          ),
        ),
        b(fe.execute()),
        b(fe.sync()),
        ready(),
      ],
    },
    {
      name: 'admin-console',
      tokens: [
        ...login('$ADMIN_DB'),
        q('SHOW POOLS'),
        ready(),
        q('SHOW CLIENTS'),
        ready(),
        q('SHOW HELP'),
        ready(),
        b(fe.sync()),
        ready(),
      ],
    },
    {
      name: 'query-without-sync-wait',
      tokens: [
        ...login(),
        b(fe.parse('', sql('SELECT count(*) FROM $T'))),
        b(fe.bind()),
        b(fe.execute()),
      ],
    },
    {
      name: 'startup-only',
      tokens: [
        {
          kind: 'startup',
          params: [
            ['user', '$USER'],
            ['database', '$DB'],
          ],
          minor: 0,
        },
        { kind: 'sasl-initial' },
      ],
    },
    {
      name: 'scram-wrong-mechanism',
      tokens: [
        {
          kind: 'startup',
          params: [
            ['user', '$USER'],
            ['database', '$DB'],
          ],
          minor: 0,
        },
        b(fe.saslInitialResponse('SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=abc'), 'p'),
      ],
    },
    {
      name: 'startup-v2',
      tokens: [
        b(
          Buffer.concat([
            int32(16),
            int32(2 << 16),
            cstr('user'),
            cstr('x'),
            Buffer.from([0]),
          ]).subarray(0, 16),
          'v2',
        ),
      ],
    },
    {
      name: 'untyped-after-login',
      tokens: [...login(), b(fe.startupMessage({ user: 'again' }), 'startup-again')],
    },
    {
      name: 'startup-code-unknown',
      tokens: [b(fe.cancelRequest(1, Buffer.alloc(4)).fill(0x12, 4, 8), 'junk-code')],
    },
    {
      name: 'terminate-mid-pipeline',
      tokens: [
        ...login(),
        b(fe.parse('', 'SELECT pg_sleep(0.05)')),
        b(fe.bind()),
        b(fe.execute()),
        b(fe.terminate(), 'X'),
        b(fe.sync()),
      ],
    },
    {
      name: 'copy-out-extended-partial-execute',
      tokens: [
        ...login(),
        b(fe.parse('', 'COPY (SELECT generate_series(1, 50)) TO STDOUT')),
        b(fe.bind()),
        b(fe.execute('', 1)),
        b(fe.sync()),
        ready(),
      ],
    },
    {
      name: 'gssenc-cancel',
      tokens: [
        b(fe.gssencRequest(), 'gss'),
        b(fe.cancelRequest(7, Buffer.from([9, 9, 9, 9])), 'cancel'),
      ],
    },
    {
      name: 'startup-no-user',
      tokens: [
        b(
          untyped(
            Buffer.concat([
              int32(StartupCode.ProtocolV3),
              cstr('database'),
              cstr('x'),
              Buffer.from([0]),
            ]),
          ),
          'startup-no-user',
        ),
      ],
    },
  ];
}
