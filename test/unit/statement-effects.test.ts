import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import pg from 'pg';
import { loadParser } from '../../src/sql-parser.js';
import {
  provablyWithoutEffects,
  sessionEffects,
  type SessionEffect,
} from '../../src/statement-effects.js';

beforeAll(async () => {
  await loadParser();
});

const set = (name: string, sql: string): SessionEffect => ({ kind: 'set', name, sql });
const pin = (reason: string): SessionEffect => ({ kind: 'pin', reason });
const kinds = (sql: string): string[] => sessionEffects(sql).map((effect) => effect.kind);

describe('SET and RESET', () => {
  test.each([
    ['SET search_path = a, b', set('search_path', 'SET search_path = a, b')],
    ['SET search_path TO a', set('search_path', 'SET search_path TO a')],
    ['set Search_Path to a', set('search_path', 'set Search_Path to a')],
    ['SET SESSION work_mem = 1024', set('work_mem', 'SET SESSION work_mem = 1024')],
    ["SET TIME ZONE 'UTC'", set('timezone', "SET TIME ZONE 'UTC'")],
    ["SET NAMES 'UTF8'", set('client_encoding', "SET NAMES 'UTF8'")],
    ["SET SCHEMA 'app'", set('search_path', "SET SCHEMA 'app'")],
    ['SET "My.Setting" = 1', set('my.setting', 'SET "My.Setting" = 1')],
    ['SET my.x FROM CURRENT', set('my.x', 'SET my.x FROM CURRENT')],
  ])('%s', (sql, effect) => {
    expect(sessionEffects(sql)).toEqual([effect]);
  });

  test('a trailing semicolon and surrounding whitespace are not part of the replayed text', () => {
    expect(sessionEffects('  SET search_path = a ;  ')).toEqual([
      set('search_path', 'SET search_path = a'),
    ]);
  });

  test.each([
    ['SET LOCAL search_path = a', 'search_path'],
    ['SET LOCAL TIME ZONE 5', 'timezone'],
    ['set local x.y to 1', 'x.y'],
    ['SET LOCAL x.y TO DEFAULT', 'x.y'],
  ])('%s (transaction-scoped): set-local, nothing to replay', (sql, name) => {
    expect(sessionEffects(sql)).toEqual([{ kind: 'set-local', name, sql }]);
  });

  // Regression (fixed; the old behaviour): SET TRANSACTION changes only the current transaction (it is transaction_isolation /
  // transaction_read_only for this transaction); replaying it on another connection is wrong,
  // and diffSql's "RESET transaction" for it is rejected by Postgres (42704).
  test('SET TRANSACTION ISOLATION LEVEL … (transaction-scoped): no effect', () => {
    expect(sessionEffects('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')).toEqual([]);
  });

  test.each([
    ['RESET search_path', 'search_path'],
    ['RESET TIME ZONE', 'timezone'],
    ['SET TIME ZONE LOCAL', 'timezone'], // LOCAL and DEFAULT mean the default time zone
    ['SET work_mem TO DEFAULT', 'work_mem'],
    ['SET work_mem = DEFAULT', 'work_mem'],
    ['reset My.Setting', 'my.setting'],
  ])('%s → reset of %s', (sql, name) => {
    expect(sessionEffects(sql)).toEqual([{ kind: 'reset', name }]);
  });

  test('RESET ALL', () => {
    expect(sessionEffects('RESET ALL')).toEqual([{ kind: 'reset-all' }]);
  });

  test('UPDATE … SET is not a SET', () => {
    expect(sessionEffects('UPDATE t SET x = 1')).toEqual([]);
    expect(sessionEffects('UPDATE t SET x = 1; SELECT 1')).toEqual([]);
    expect(sessionEffects('INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET x = 2')).toEqual(
      [],
    );
  });

  test('syntax errors have no effect (Postgres rejects them)', () => {
    expect(sessionEffects('SET search_path =')).toEqual([]);
    expect(sessionEffects('SET')).toEqual([]);
    expect(sessionEffects('SELECT 1; SET x.y = ')).toEqual([]);
    expect(sessionEffects("SET x.y = 'unterminated")).toEqual([]);
  });
});

describe('DISCARD and DEALLOCATE', () => {
  test('DISCARD ALL', () => {
    expect(sessionEffects('DISCARD ALL')).toEqual([{ kind: 'discard-all' }]);
  });

  test.each([['DISCARD PLANS'], ['DISCARD SEQUENCES'], ['DISCARD TEMP']])(
    '%s: no effect',
    (sql) => {
      expect(sessionEffects(sql)).toEqual([]);
    },
  );

  test.each([
    ['DEALLOCATE s1', 's1'],
    ['DEALLOCATE PREPARE s1', 's1'],
    ['deallocate "MixedCase"', 'MixedCase'],
    ['DEALLOCATE ALL', null],
    ['DEALLOCATE PREPARE ALL', null],
  ])('%s', (sql, name) => {
    expect(sessionEffects(sql)).toEqual([{ kind: 'deallocate', name }]);
  });
});

describe('pins: session state that cannot move between connections', () => {
  test.each([
    ['PREPARE p AS SELECT 1', 'SQL PREPARE'],
    ['PREPARE p (int) AS SELECT $1', 'SQL PREPARE'],
    ['LISTEN channel', 'LISTEN'],
    ['CREATE TEMP TABLE t (x int)', 'temporary table'],
    ['CREATE TEMPORARY TABLE t (x int)', 'temporary table'],
    ['CREATE LOCAL TEMP TABLE t (x int)', 'temporary table'],
    ['CREATE TEMPORARY SEQUENCE s', 'temporary table'],
    ['CREATE TEMP VIEW v AS SELECT 1', 'temporary table'],
    ['CREATE OR REPLACE TEMP VIEW v AS SELECT 1', 'temporary table'],
    ['CREATE TEMP TABLE t AS SELECT 1', 'temporary table'],
    ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', 'WITH HOLD cursor'],
    ['DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT 1', 'WITH HOLD cursor'],
    ['SELECT pg_advisory_lock(1)', 'session advisory lock'],
    ['SELECT pg_advisory_lock(1, 2)', 'session advisory lock'],
    ['SELECT pg_try_advisory_lock(1)', 'session advisory lock'],
    ['SELECT pg_advisory_lock_shared(1)', 'session advisory lock'],
    ['SELECT pg_try_advisory_lock_shared(1)', 'session advisory lock'],
    ['select PG_ADVISORY_LOCK (42)', 'session advisory lock'],
    ['SELECT pg_catalog.pg_advisory_lock(1)', 'session advisory lock'],
  ])('%s → pin (%s)', (sql, reason) => {
    expect(sessionEffects(sql)).toEqual([pin(reason)]);
  });

  test.each([
    ['UNLISTEN channel'],
    ['UNLISTEN *'],
    ['CREATE TABLE t (x int)'],
    ['CREATE UNLOGGED TABLE t (x int)'],
    ['CREATE SEQUENCE s'],
    ['CREATE VIEW v AS SELECT 1'],
    ['CREATE TABLE t AS SELECT 1'],
    ['DECLARE c CURSOR FOR SELECT 1'],
    ['DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1'],
    ['DECLARE c BINARY SCROLL CURSOR FOR SELECT 1'],
    ['SELECT pg_advisory_xact_lock(1)'],
    ['SELECT pg_try_advisory_xact_lock(1)'],
    ['SELECT pg_advisory_xact_lock_shared(1)'],
    ['SELECT pg_advisory_unlock(1)'],
    ['SELECT 1'],
    ['CREATE INDEX ON t (x)'],
  ])('%s → no effect', (sql) => {
    expect(sessionEffects(sql)).toEqual([]);
  });

  // Regression (fixed; the old behaviour): `SELECT … INTO TEMP t` creates a temporary table exactly like CREATE TEMP TABLE AS; it is
  // not recognized (first word is SELECT, and SelectStmt's intoClause is not inspected).
  test('SELECT … INTO TEMP TABLE creates a temporary table → pin', () => {
    expect(sessionEffects('SELECT 1 AS x INTO TEMP TABLE t')).toEqual([pin('temporary table')]);
  });
});

// Regression (fixed; the old behaviour): `CREATE TABLE pg_temp.t …` (also views, sequences) creates a temporary relation: Postgres
// turns the persistence to temporary when the schema is pg_temp (RangeVarAdjustRelationPersistence);
// the parse tree still says relpersistence 'p', so no pin.
test('CREATE TABLE pg_temp.t creates a temporary table → pin', () => {
  expect(sessionEffects('CREATE TABLE pg_temp.t (x int)')).toEqual([pin('temporary table')]);
});

describe('multi-statement text', () => {
  test('effects of every statement, in order, not only the first', () => {
    expect(sessionEffects('SELECT 1; SET search_path = a; SELECT 2; RESET work_mem')).toEqual([
      set('search_path', 'SET search_path = a'),
      { kind: 'reset', name: 'work_mem' },
    ]);
  });

  test('a pin after ordinary statements', () => {
    expect(kinds('INSERT INTO t VALUES (1); LISTEN c')).toEqual(['pin']);
    expect(kinds('SELECT 1;CREATE TEMP TABLE x (a int)')).toEqual(['pin']);
    expect(kinds('BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT')).toEqual([
      'begin',
      'pin',
      'commit',
    ]);
  });

  test('an advisory lock in a later statement pins once', () => {
    expect(sessionEffects('SELECT 1; SELECT pg_advisory_lock(1), pg_advisory_lock(2)')).toEqual([
      pin('session advisory lock'),
    ]);
  });

  test('statement texts are cut at UTF-8 byte offsets (multi-byte text before a SET)', () => {
    // é is 2 bytes, ✓ 3, 𝄞 4 (a surrogate pair in JS): character offsets would cut wrongly.
    const sql = "SELECT 'é✓𝄞 ünïcödé'; SET search_path = a; SELECT '𝄞𝄞'; SET work_mem = 64";
    expect(sessionEffects(sql)).toEqual([
      set('search_path', 'SET search_path = a'),
      set('work_mem', 'SET work_mem = 64'),
    ]);
  });

  test('comments before SET stay with the replayed text, which is still a SET', () => {
    const effects = sessionEffects('/* leading */ -- line\nSET search_path = a');
    expect(effects).toHaveLength(1);
    const effect = effects[0];
    expect(effect?.kind).toBe('set');
    if (effect?.kind !== 'set') return;
    expect(effect.name).toBe('search_path');
    expect(effect.sql.endsWith('SET search_path = a')).toBe(true);
  });

  test('comments between statements', () => {
    expect(sessionEffects('SELECT 1; /* c */ SET search_path = a')).toEqual([
      set('search_path', 'SET search_path = a'),
    ]);
  });

  // Regression (fixed; the old behaviour): Postgres block comments nest: `/* a /* b */ c */` is one comment. The first-word check
  // stops at the first "*/", reads "c" as the first word, and skips parsing altogether.
  test('nested block comments before SET', () => {
    expect(kinds('/* a /* b */ c */ SET search_path = a')).toEqual(['set']);
  });

  test('keywords only inside strings or identifiers: nothing', () => {
    expect(sessionEffects("SELECT 'set'; SELECT 'listen'")).toEqual([]);
    expect(sessionEffects('SELECT "temp" FROM t; SELECT 1')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Postgres as the oracle: what sessionEffects says a statement does is what it does.

describe('provablyWithoutEffects (the byte check that spares decoding)', () => {
  const check = (sql: string): boolean => {
    const bytes = Buffer.from(`--${sql}\0`, 'utf8');
    return provablyWithoutEffects(bytes, 2, bytes.length - 1);
  };

  test.each([
    ['SELECT abalance FROM pgbench_accounts WHERE aid = 4711;'],
    ['  select 1  ;  '],
    ['INSERT INTO t VALUES ($1, $2)'],
    ['UPDATE t SET a = 1'],
    ['BEGIN'],
    ['COMMIT'],
  ])('%s: proven, so never decoded', (sql) => {
    expect(check(sql)).toBe(true);
    expect(sessionEffects(sql)).toEqual([]);
  });

  test.each([
    ['SET search_path = a'],
    ['reset all'],
    ['DISCARD ALL'],
    ['SELECT pg_advisory_lock(1)'],
    ["SELECT set_config('a.b', '1', false)"],
    ['CREATE TEMP TABLE t (x int)'],
    ['SELECT 1 INTO TEMPORARY t'],
    ['SELECT 1; SELECT 2'],
    ['/* c */ SELECT 1'],
    ['-- c\nSELECT 1'],
    ['(SELECT 1)'],
    ["SELECT 'é'"],
    ['ROLLBACK'],
  ])('%s: not proven (decoded and looked at)', (sql) => {
    expect(check(sql)).toBe(false);
  });

  test('whenever it proves text effect-free, sessionEffects finds no effect', () => {
    const token = fc.constantFrom(
      'select',
      'SET',
      'reset',
      'discard',
      'all',
      'temp',
      'TEMPORARY',
      'pg_temp.t',
      'into',
      'create',
      'table',
      'listen',
      'prepare',
      'deallocate',
      'declare',
      'cursor',
      'with hold',
      'savepoint',
      'pg_advisory_lock(1)',
      "set_config('a.b','1',false)",
      'x',
      '1',
      ',',
      ';',
      ' ',
      '\t',
      '\n',
      '(',
      ')',
      "'s'",
      '"q"',
      '/*c*/',
      '--c\n',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), (tokens) => {
        const sql = tokens.join(' ');
        if (check(sql)) expect(sessionEffects(sql)).toEqual([]);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('against Postgres', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: inject('upstreamUrl') });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  const setting = async (name: string): Promise<string | null> => {
    const r = await client.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [
      name,
    ]);
    return r.rows[0]?.v ?? null;
  };

  test.each([
    ["SELECT 'é✓𝄞'; SET TIME ZONE 'Asia/Kolkata'", 'timezone', 'Asia/Kolkata'],
    ["SELECT 1; SET SCHEMA 'pg_catalog'", 'search_path', 'pg_catalog'],
    ["/* c */ SET SESSION my.x TO 'v w'", 'my.x', 'v w'],
  ])('the replayed text of a SET in %j sets %s as the statement did', async (sql, name, value) => {
    await client.query('RESET ALL');
    const effects = sessionEffects(sql);
    const effect = effects.find((e) => e.kind === 'set');
    if (effect?.kind !== 'set') throw new Error('no set effect');
    expect(effect.name).toBe(name);
    await client.query(effect.sql);
    expect(await setting(name)).toBe(value);
    await client.query('RESET ALL');
    await client.query(sql);
    expect(await setting(name)).toBe(value);
  });

  test('SET LOCAL really is gone after the transaction (so "no effect" is right)', async () => {
    await client.query('RESET ALL');
    const before = await setting('work_mem');
    await client.query('BEGIN');
    await client.query("SET LOCAL work_mem = '7MB'");
    expect(await setting('work_mem')).toBe('7MB');
    await client.query('COMMIT');
    expect(await setting('work_mem')).toBe(before);
  });

  test('SET … TO DEFAULT resets like RESET (so "reset" is right)', async () => {
    await client.query('RESET ALL');
    const before = await setting('work_mem');
    await client.query("SET work_mem = '7MB'");
    await client.query('SET work_mem TO DEFAULT');
    expect(await setting('work_mem')).toBe(before);
  });

  test('WITH HOLD cursors outlive the transaction; WITHOUT HOLD ones do not', async () => {
    await client.query('BEGIN');
    await client.query('DECLARE held CURSOR WITH HOLD FOR SELECT 1');
    await client.query('DECLARE notheld CURSOR WITHOUT HOLD FOR SELECT 1');
    await client.query('COMMIT');
    const r = await client.query<{ name: string }>('SELECT name FROM pg_cursors ORDER BY name');
    expect(r.rows.map((row) => row.name)).toEqual(['held']);
    await client.query('CLOSE held');
  });

  test('session advisory locks outlive the transaction; xact ones do not', async () => {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_lock(424242), pg_advisory_xact_lock(434343)');
    await client.query('COMMIT');
    const r = await client.query<{ objid: string }>(
      "SELECT objid::text FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() ORDER BY objid",
    );
    expect(r.rows.map((row) => row.objid)).toEqual(['424242']);
    await client.query('SELECT pg_advisory_unlock_all()');
  });

  test('CREATE TABLE pg_temp.x does create a temporary table (see the pin test above)', async () => {
    await client.query('CREATE TABLE pg_temp.pg_temp_check (x int)');
    const r = await client.query<{ relpersistence: string }>(
      "SELECT relpersistence FROM pg_class WHERE relname = 'pg_temp_check'",
    );
    expect(r.rows).toEqual([{ relpersistence: 't' }]);
    await client.query('DROP TABLE pg_temp.pg_temp_check');
  });

  test('SELECT … INTO TEMP does create a temporary table (see the pin test above)', async () => {
    await client.query('SELECT 1 AS x INTO TEMP TABLE into_temp_check');
    const r = await client.query<{ relpersistence: string }>(
      "SELECT relpersistence FROM pg_class WHERE relname = 'into_temp_check'",
    );
    expect(r.rows).toEqual([{ relpersistence: 't' }]);
    await client.query('DROP TABLE into_temp_check');
  });
});
