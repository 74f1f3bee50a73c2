/**
 * The proxy's own setting `docfusion.pushdown` follows transactions as a Postgres setting does:
 * ROLLBACK and ROLLBACK TO undo a SET, SET LOCAL lasts until the end of the transaction, RESET,
 * SET … TO DEFAULT, RESET ALL and DISCARD ALL restore the default; in session and transaction
 * pooling, through the simple and the extended protocol.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import pg from 'pg';
import * as fe from '../../protocol/frontend-encoders.js';
import { adminClient } from '../support/proxy.js';
import { ProxyClients, summaries } from '../support/proxy-clients.js';

let direct: pg.Client;

beforeAll(async () => {
  direct = await adminClient();
  await direct.query('DROP TABLE IF EXISTS ps_docs');
  await direct.query('CREATE TABLE ps_docs (id int PRIMARY KEY, doc jsonb NOT NULL)');
  await direct.query(
    `INSERT INTO ps_docs SELECT i, jsonb_build_object('k', i % 3) FROM generate_series(1, 30) i`,
  );
});

afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS ps_docs');
  await direct.end();
});

const PLANNED = `EXPLAIN SELECT id FROM ps_docs WHERE json_contains(doc, '{"k": 1}')`;

describe.each(['session', 'transaction'] as const)('%s pooling', (mode) => {
  const clients = new ProxyClients(mode);

  beforeEach(async () => {
    // Each test starts from the default, whatever the one before left.
    await clients.client.query('ROLLBACK');
    await clients.client.query('RESET docfusion.pushdown');
  });

  const show = async (): Promise<string> =>
    (await clients.client.query<{ 'docfusion.pushdown': string }>('SHOW docfusion.pushdown'))
      .rows[0]?.['docfusion.pushdown'] ?? '';

  /** The first line of EXPLAIN: DocFusion's verdict, which depends on the setting. */
  const verdict = async (): Promise<string> =>
    String((await clients.client.query({ text: PLANNED, rowMode: 'array' })).rows[0]?.[0]);

  test('ROLLBACK undoes a SET made in the transaction; COMMIT keeps it', async () => {
    expect(await show()).toBe('on');
    const pushed = await verdict();
    expect(pushed).toBe('DocFusion plan: pushed down entirely');
    await clients.client.query('BEGIN');
    await clients.client.query('SET docfusion.pushdown = off');
    expect(await show()).toBe('off');
    const inProxy = await verdict();
    expect(inProxy).not.toBe(pushed);
    await clients.client.query('ROLLBACK');
    expect(await show()).toBe('on');
    expect(await verdict()).toBe(pushed);

    await clients.client.query('BEGIN');
    await clients.client.query('SET docfusion.pushdown TO off');
    await clients.client.query('COMMIT');
    expect(await show()).toBe('off');
    expect(await verdict()).toBe(inProxy);
    await clients.client.query('RESET docfusion.pushdown');
    expect(await show()).toBe('on');
  });

  test('savepoints: ROLLBACK TO undoes, RELEASE keeps', async () => {
    await clients.client.query('BEGIN');
    await clients.client.query('SAVEPOINT a');
    await clients.client.query('SET docfusion.pushdown = off');
    await clients.client.query('ROLLBACK TO SAVEPOINT a');
    expect(await show()).toBe('on');
    await clients.client.query('SAVEPOINT b');
    await clients.client.query('SET docfusion.pushdown = off');
    await clients.client.query('RELEASE SAVEPOINT b');
    expect(await show()).toBe('off');
    await clients.client.query('COMMIT');
    expect(await show()).toBe('off');
    await clients.client.query('SET docfusion.pushdown = DEFAULT');
    expect(await show()).toBe('on');
  });

  test('SET LOCAL lasts until the end of the transaction', async () => {
    await clients.client.query('BEGIN');
    await clients.client.query('SET LOCAL docfusion.pushdown = off');
    expect(await show()).toBe('off');
    await clients.client.query('COMMIT');
    expect(await show()).toBe('on');
  });

  test('COMMIT of a failed transaction rolls back, and the SET with it', async () => {
    await clients.client.query('BEGIN');
    await clients.client.query('SET docfusion.pushdown = off');
    await expect(clients.client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    const commit = await clients.client.query('COMMIT');
    expect(commit.command).toBe('ROLLBACK');
    expect(await show()).toBe('on');
  });

  test('RESET ALL and DISCARD ALL restore the default', async () => {
    await clients.client.query('SET docfusion.pushdown = off');
    await clients.client.query('RESET ALL');
    expect(await show()).toBe('on');
    await clients.client.query('SET docfusion.pushdown = off');
    await clients.client.query('DISCARD ALL');
    expect(await show()).toBe('on');
  });

  test('pipelined: BEGIN, SET, ROLLBACK and SHOW in one write', async () => {
    clients.raw.send(
      fe.query('BEGIN'),
      fe.query('SET docfusion.pushdown = off'),
      fe.query('ROLLBACK'),
      fe.query('SHOW docfusion.pushdown'),
    );
    const replies: string[] = [];
    for (let i = 0; i < 4; i++) replies.push(...summaries(await clients.raw.readUntilReady()));
    expect(replies).toEqual([
      'C:BEGIN',
      'Z:T',
      'C:SET',
      'Z:T',
      'C:ROLLBACK',
      'Z:I',
      'T',
      'D:on',
      'C:SHOW',
      'Z:I',
    ]);
  });

  test('extended protocol: a SET executed in a rolled back transaction is undone', async () => {
    expect(await clients.raw.roundTrip(fe.query('BEGIN'))).toEqual(['C:BEGIN', 'Z:T']);
    expect(
      await clients.raw.roundTrip(
        fe.parse('', 'SET docfusion.pushdown = off'),
        fe.bind(),
        fe.execute(),
        fe.sync(),
      ),
    ).toEqual(['1', '2', 'C:SET', 'Z:T']);
    expect(await clients.raw.roundTrip(fe.query('SHOW docfusion.pushdown'))).toEqual([
      'T',
      'D:off',
      'C:SHOW',
      'Z:T',
    ]);
    expect(await clients.raw.roundTrip(fe.query('ROLLBACK'))).toEqual(['C:ROLLBACK', 'Z:I']);
    expect(await clients.raw.roundTrip(fe.query('SHOW docfusion.pushdown'))).toEqual([
      'T',
      'D:on',
      'C:SHOW',
      'Z:I',
    ]);
  });

  test('a SET in a failed transaction is refused (25P02) and changes nothing', async () => {
    await clients.client.query('BEGIN');
    await expect(clients.client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    await expect(clients.client.query('SET docfusion.pushdown = off')).rejects.toMatchObject({
      code: '25P02',
    });
    await clients.client.query('ROLLBACK');
    expect(await show()).toBe('on');
  });

  test('an invalid value is refused (22023), as for a Boolean setting', async () => {
    await expect(clients.client.query(`SET docfusion.pushdown = 'maybe'`)).rejects.toMatchObject({
      code: '22023',
    });
    expect(await show()).toBe('on');
  });
  test('extended protocol, pipelined: a SET then a DocFusion statement in one batch', async () => {
    const reply = summaries(
      await clients.raw.readReply(
        fe.parse('', 'SET docfusion.pushdown = off'),
        fe.bind(),
        fe.execute(),
        fe.parse('', PLANNED),
        fe.bind(),
        fe.execute(),
        fe.sync(),
      ),
    );
    expect(reply.slice(0, 5)).toEqual(['1', '2', 'C:SET', '1', '2']);
    expect(reply[5]).toMatch(/^D:DocFusion plan: /);
    expect(reply[5]).not.toBe('D:DocFusion plan: pushed down entirely');
    expect(reply.at(-1)).toBe('Z:I');
    expect(await clients.raw.roundTrip(fe.query('RESET docfusion.pushdown'))).toEqual([
      'C:RESET',
      'Z:I',
    ]);
  });

  test('a startup option sets it; RESET returns to it, as in Postgres', async () => {
    const other = new pg.Client({
      connectionString: clients.proxy.url(),
      options: '-c docfusion.pushdown=off',
    });
    await other.connect();
    try {
      const value = async (): Promise<unknown> =>
        (await other.query('SHOW docfusion.pushdown')).rows[0];
      expect(await value()).toEqual({ 'docfusion.pushdown': 'off' });
      await other.query('SET docfusion.pushdown = on');
      expect(await value()).toEqual({ 'docfusion.pushdown': 'on' });
      await other.query('RESET docfusion.pushdown');
      expect(await value()).toEqual({ 'docfusion.pushdown': 'off' });
    } finally {
      await other.end();
    }
  });
});
