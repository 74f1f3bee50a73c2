/**
 * The fuzzer's seed corpus: canonical sessions built with the protocol encoders (startup and
 * SCRAM, simple queries, extended pipelines, COPY both ways, cancels, the admin console), and
 * sessions recorded from real clients (node-postgres with pg-copy-streams and pg-cursor,
 * postgres.js) through a recording relay, turned into tokens: the startup packet keeps its
 * parameters with the user and database as placeholders, the SCRAM messages become the tokens
 * recomputed at run time, and a wait is inserted wherever the client waited for a reply.
 */
import net from 'node:net';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import * as fe from '../../protocol/frontend-encoders.js';
import { StartupCode } from '../../protocol/message-codes.js';
import { ChaosRelay, type RelayConnection } from '../chaos/relay.js';
import {
  bytesToken,
  cstr,
  frame,
  int16,
  int32,
  sqlFor,
  type CorpusEnv,
  type Script,
  type Token,
} from './fuzz-cases.js';

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

function untyped(body: Buffer): Buffer {
  return Buffer.concat([int32(body.length + 4), body]);
}

// ---- recording real clients ----------------------------------------------------------------------

export interface RecordTarget {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/**
 * Drive node-postgres and postgres.js through a recording relay in front of `target`, and turn
 * every recorded connection into a script.
 */
export async function recordClientScripts(target: RecordTarget, env: CorpusEnv): Promise<Script[]> {
  const relay = await ChaosRelay.start({
    targetHost: '127.0.0.1',
    targetPort: target.port,
    record: true,
  });
  try {
    const config = {
      host: '127.0.0.1',
      port: relay.port,
      user: target.user,
      password: target.password,
      database: target.database,
      application_name: 'fz-rec',
    };
    const T = env.table;
    // node-postgres: simple, parameterised, named, binary, transaction, COPY both ways, a cursor.
    const client = new pg.Client(config);
    client.on('error', () => undefined);
    await client.connect();
    await client.query('SELECT 1 AS one');
    await client.query('SELECT $1::int + 1 AS n, $2::text AS t', [41, 'x']);
    await client.query({ name: 'rec_named', text: 'SELECT $1::int AS n', values: [1] });
    await client.query({ name: 'rec_named', text: 'SELECT $1::int AS n', values: [2] });
    await client.query({ text: 'SELECT 42::int4 AS n', binary: true } as pg.QueryConfig);
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${T} (a, b) VALUES ($1, $2)`, [10, 'ten']);
    await client.query('SAVEPOINT s');
    await client.query('SELECT 1/0').catch(() => undefined);
    await client.query('ROLLBACK TO s');
    await client.query('ROLLBACK');
    await pipeline(
      Readable.from(['11\televen\n', '12\ttwelve\n']),
      client.query(copyFrom(`COPY ${T} (a, b) FROM STDIN`)),
    );
    await pipeline(
      client.query(copyTo('COPY (SELECT generate_series(1, 30)) TO STDOUT')),
      new Writable({ write: (_c, _e, cb) => cb() }),
    );
    const cursor = client.query(new Cursor('SELECT generate_series(1, 10) AS n'));
    await cursor.read(3);
    await cursor.read(3);
    await cursor.close();
    await client.end();

    // postgres.js: Parse/Describe/Flush, unsafe, a transaction, COPY through a writable.
    const sql = postgres({
      host: '127.0.0.1',
      port: relay.port,
      user: target.user,
      pass: target.password,
      database: target.database,
      max: 1,
      connection: { application_name: 'fz-rec' },
      onnotice: () => undefined,
    });
    await sql`SELECT ${5}::int AS n`;
    await sql.unsafe('SELECT 1 AS one');
    await sql.begin(async (tx) => {
      await tx`SELECT ${'a'}::text AS t`;
      await tx`SELECT 2 AS two`;
    });
    const writable = await sql`COPY ${sql(T)} (a, b) FROM STDIN`.writable();
    await pipeline(Readable.from(['13\tthirteen\n']), writable);
    await sql.end({ timeout: 5 });
    await waitClosed(relay);
    return relay.history
      .map((connection, i) => tokenizeRecording(connection, `recorded-${i}`, target))
      .filter((script): script is Script => script !== undefined);
  } finally {
    await relay.close();
  }
}

async function waitClosed(relay: ChaosRelay): Promise<void> {
  for (let i = 0; i < 100 && relay.open.length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
}

interface Message {
  readonly type: number; // 0 = untyped
  readonly bytes: Buffer; // whole frame
  readonly index: number; // event order
}

/** Split one direction's recorded chunks into messages; `untypedFirst` for the client side. */
function messagesOf(connection: RelayConnection, direction: 'up' | 'down'): Message[] {
  const chunks = connection.recorded.filter((c) => c.direction === direction);
  const stream = Buffer.concat(chunks.map((c) => c.bytes));
  // Event index of every byte offset: the index of its chunk in the full recording.
  const starts: { offset: number; index: number }[] = [];
  let offset = 0;
  for (const [index, chunk] of connection.recorded.entries()) {
    if (chunk.direction !== direction) continue;
    starts.push({ offset, index });
    offset += chunk.bytes.length;
  }
  const indexAt = (at: number): number => {
    let found = 0;
    for (const s of starts) if (s.offset <= at) found = s.index;
    return found;
  };
  const out: Message[] = [];
  let at = 0;
  let untypedPhase = direction === 'up';
  while (at < stream.length) {
    if (untypedPhase) {
      if (at + 8 > stream.length) break;
      const length = stream.readInt32BE(at);
      const code = stream.readInt32BE(at + 4);
      out.push({ type: 0, bytes: stream.subarray(at, at + length), index: indexAt(at) });
      at += length;
      if (code !== StartupCode.SSLRequest && code !== StartupCode.GSSENCRequest)
        untypedPhase = false;
      continue;
    }
    if (at + 5 > stream.length) break;
    const length = stream.readInt32BE(at + 1);
    out.push({
      type: stream[at] ?? 0,
      bytes: stream.subarray(at, at + 1 + length),
      index: indexAt(at),
    });
    at += 1 + length;
  }
  return out;
}

/** One recorded connection → a script (undefined for connections without a startup packet). */
export function tokenizeRecording(
  connection: RelayConnection,
  name: string,
  target: RecordTarget,
): Script | undefined {
  const up = messagesOf(connection, 'up');
  const down = messagesOf(connection, 'down');
  const first = up[0];
  if (!first || first.type !== 0) return undefined;
  const tokens: Token[] = [];
  let saslSeen = 0;
  let lastUpIndex = -1;
  let loggedIn = false;
  for (const message of up) {
    // What the server said between the previous client message and this one.
    const between = down.filter((d) => d.index > lastUpIndex && d.index < message.index);
    const readies = between.filter((d) => d.type === 0x5a).length;
    if (!loggedIn && readies > 0) {
      tokens.push({ kind: 'wait', until: 'login', count: 1 });
      loggedIn = true;
      if (readies > 1) tokens.push({ kind: 'wait', until: 'ready', count: readies - 1 });
    } else if (readies > 0) {
      tokens.push({ kind: 'wait', until: 'ready', count: readies });
    }
    if (between.some((d) => d.type === 0x47 /* G */))
      tokens.push({ kind: 'wait', until: 'copy-in', count: 1 });
    lastUpIndex = message.index;
    if (message.type === 0) {
      const code = message.bytes.readInt32BE(4);
      if (code >>> 16 === 3) {
        tokens.push({
          kind: 'startup',
          params: startupParams(message.bytes, target),
          minor: code & 0xffff,
        });
      } else {
        tokens.push(bytesToken(Buffer.from(message.bytes), 'untyped'));
      }
      continue;
    }
    if (message.type === 0x70 /* p */) {
      tokens.push(saslSeen++ === 0 ? { kind: 'sasl-initial' } : { kind: 'sasl-final' });
      continue;
    }
    tokens.push(bytesToken(Buffer.from(message.bytes)));
  }
  return { name, tokens };
}

function startupParams(packet: Buffer, target: RecordTarget): [string, string][] {
  const parts = packet.subarray(8).toString('utf8').split('\0');
  const params: [string, string][] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const key = parts[i] ?? '';
    let value = parts[i + 1] ?? '';
    if (key === '') break;
    if (key === 'user' && value === target.user) value = '$USER';
    if (key === 'database' && value === target.database) value = '$DB';
    params.push([key, value]);
  }
  return params;
}

/** Connects to `port` to check something listens there (used before recording). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => {
      resolve(false);
    });
  });
}
