/**
 * Sessions recorded from real clients — node-postgres (with pg-copy-streams and pg-cursor) and
 * postgres.js — through a recording ChaosRelay in front of a proxy, turned into fuzz scripts: the
 * startup packet keeps its parameters with the user and database as placeholders, the SCRAM
 * messages become tokens recomputed at run time, and a wait is inserted wherever the client
 * waited for a reply (ReadyForQuery, CopyInResponse).
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import Cursor from 'pg-cursor';
import postgres from 'postgres';
import { StartupCode } from '../../protocol/message-codes.js';
import { ChaosRelay, type RelayConnection } from '../chaos/relay.js';
import { bytesToken, type Script, type Token } from './fuzz-cases.js';
import type { CorpusEnv } from './fuzz-generators.js';

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
      new Writable({
        write: (_c, _e, cb) => {
          cb();
        },
      }),
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
  if (first?.type !== 0) return undefined;
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
