/**
 * Planning errors inside transactions, with Postgres's own behaviour as the reference: a
 * planning error answered by the proxy fails the transaction it happens in, upstream too, in the
 * simple and extended protocols and in session and transaction pooling, and the client sees the
 * proxy's error exactly once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { decodeErrorFields } from '../../protocol/backend-decoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { adminClient } from '../support/proxy.js';
import type { Msg } from '../support/raw-client.js';
import { ProxyClients, summaries } from '../support/proxy-clients.js';

let direct: pg.Client;

beforeAll(async () => {
  direct = await adminClient();
  await direct.query('DROP TABLE IF EXISTS tx_docs, tx_log');
  await direct.query('CREATE TABLE tx_docs (id int PRIMARY KEY, doc jsonb NOT NULL)');
  await direct.query(
    `INSERT INTO tx_docs SELECT i, jsonb_build_object('k', i % 3) FROM generate_series(1, 30) i`,
  );
  await direct.query('CREATE TABLE tx_log (id int)');
});

afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS tx_docs, tx_log');
  await direct.end();
});

const BAD_JSON = `SELECT id FROM tx_docs WHERE json_contains(doc, '{"k": ')`;
const BAD_ARGS = `SELECT json_contains(doc) FROM tx_docs`;

function errorOf(messages: readonly Msg[]): Record<string, string> {
  const errors = messages.filter((m) => m.type === 'E');
  expect(errors).toHaveLength(1);
  const fields = decodeErrorFields(errors[0]?.body ?? Buffer.alloc(0));
  return Object.fromEntries(fields);
}

describe.each(['session', 'transaction'] as const)('%s pooling', (mode) => {
  const clients = new ProxyClients(mode);

  describe('a planning error fails the transaction it happens in', () => {
    test('simple protocol: the original error (with its position), then 25P02 until ROLLBACK', async () => {
      const outside = errorOf(await clients.raw.readReply(fe.query(BAD_JSON)));
      expect(outside.C).toBe('22P02');
      expect(outside.P).toBeDefined();
      expect(await clients.raw.roundTrip(fe.query('BEGIN'))).toEqual(['C:BEGIN', 'Z:T']);
      const reply = await clients.raw.readReply(fe.query(BAD_JSON));
      expect(summaries(reply)).toEqual(['E:22P02', 'Z:E']);
      expect(errorOf(reply)).toEqual(outside);
      expect(await clients.raw.roundTrip(fe.query('SELECT 1'))).toEqual(['E:25P02', 'Z:E']);
      expect(await clients.raw.roundTrip(fe.query('ROLLBACK'))).toEqual(['C:ROLLBACK', 'Z:I']);
      expect(await clients.raw.roundTrip(fe.query('SELECT 1'))).toEqual([
        'T',
        'D:1',
        'C:SELECT 1',
        'Z:I',
      ]);
    });

    test('simple protocol, pipelined after BEGIN in the same write', async () => {
      clients.raw.send(
        fe.query('BEGIN'),
        fe.query(BAD_ARGS),
        fe.query('SELECT 1'),
        fe.query('ROLLBACK'),
      );
      const replies: string[] = [];
      for (let i = 0; i < 4; i++) replies.push(...summaries(await clients.raw.readUntilReady()));
      expect(replies).toEqual([
        'C:BEGIN',
        'Z:T',
        'E:42883',
        'Z:E',
        'E:25P02',
        'Z:E',
        'C:ROLLBACK',
        'Z:I',
      ]);
    });

    test('extended protocol: the original error once, skipped to Sync, then 25P02 until ROLLBACK', async () => {
      const outside = errorOf(
        await clients.raw.readReply(fe.parse('', BAD_JSON), fe.bind(), fe.execute(), fe.sync()),
      );
      expect(await clients.raw.roundTrip(fe.query('BEGIN'))).toEqual(['C:BEGIN', 'Z:T']);
      const reply = await clients.raw.readReply(
        fe.parse('', BAD_JSON),
        fe.bind(),
        fe.describe('P'),
        fe.execute(),
        fe.sync(),
      );
      expect(summaries(reply)).toEqual(['E:22P02', 'Z:E']);
      expect(errorOf(reply)).toEqual(outside);
      expect(
        await clients.raw.roundTrip(fe.parse('', 'SELECT 1'), fe.bind(), fe.execute(), fe.sync()),
      ).toEqual(['E:25P02', 'Z:E']);
      expect(await clients.raw.roundTrip(fe.query('ROLLBACK'))).toEqual(['C:ROLLBACK', 'Z:I']);
    });

    test('extended protocol, named statement, wrong argument types', async () => {
      expect(await clients.raw.roundTrip(fe.query('BEGIN'))).toEqual(['C:BEGIN', 'Z:T']);
      expect(
        await clients.raw.roundTrip(
          fe.parse('bad', `SELECT json_contains(doc, 1, 2) FROM tx_docs`),
          fe.bind({ statement: 'bad' }),
          fe.execute(),
          fe.sync(),
        ),
      ).toEqual(['E:42883', 'Z:E']);
      expect(await clients.raw.roundTrip(fe.query('ROLLBACK'))).toEqual(['C:ROLLBACK', 'Z:I']);
      // The failed Parse defined nothing.
      expect(
        await clients.raw.roundTrip(fe.bind({ statement: 'bad' }), fe.execute(), fe.sync()),
      ).toEqual(['E:26000', 'Z:I']);
    });

    test('extended protocol outside a transaction block: the batch’s earlier writes roll back', async () => {
      await direct.query('TRUNCATE tx_log');
      const reply = await clients.raw.readReply(
        fe.parse('', 'INSERT INTO tx_log VALUES (1)'),
        fe.bind(),
        fe.execute(),
        fe.parse('', BAD_JSON),
        fe.bind(),
        fe.execute(),
        fe.sync(),
      );
      expect(summaries(reply)).toEqual(['1', '2', 'C:INSERT 0 1', 'E:22P02', 'Z:I']);
      expect((await direct.query('SELECT count(*)::int AS n FROM tx_log')).rows).toEqual([
        { n: 0 },
      ]);
    });

    test('in a transaction that already failed, Postgres’s 25P02 wins', async () => {
      expect(await clients.raw.roundTrip(fe.query('BEGIN'))).toEqual(['C:BEGIN', 'Z:T']);
      expect(await clients.raw.roundTrip(fe.query('SELECT 1/0'))).toEqual(['E:22012', 'Z:E']);
      expect(await clients.raw.roundTrip(fe.query(BAD_JSON))).toEqual(['E:25P02', 'Z:E']);
      expect(
        await clients.raw.roundTrip(fe.parse('', BAD_JSON), fe.bind(), fe.execute(), fe.sync()),
      ).toEqual(['E:25P02', 'Z:E']);
      expect(await clients.raw.roundTrip(fe.query('ROLLBACK'))).toEqual(['C:ROLLBACK', 'Z:I']);
    });

    test('node-postgres (extended protocol): the transaction is aborted', async () => {
      await clients.client.query('BEGIN');
      await expect(
        clients.client.query(
          `SELECT id FROM tx_docs WHERE json_contains(doc, '{"k": ') AND id > $1`,
          [0],
        ),
      ).rejects.toMatchObject({ code: '22P02' });
      await expect(clients.client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
      await clients.client.query('ROLLBACK');
      expect((await clients.client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    });
  });
});
