import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import pino from 'pino';
import { BackendCode } from '../../protocol/message-codes.js';
import { decodeDataRow, decodeErrorFields } from '../../protocol/backend-decoders.js';
import * as fe from '../../protocol/frontend-encoders.js';
import { PgError } from '../../protocol/pg-error.js';
import {
  applyEffect,
  diffSql,
  parseOptions,
  quoteLiteral,
  startupParamState,
  type ParamState,
} from '../../src/session-params.js';
import { loadParser } from '../../src/sql-parser.js';
import { sessionEffects, type SessionEffect } from '../../src/statement-effects.js';
import { UpstreamConnection } from '../../src/upstream-connection.js';
import { parseUpstreamUrl } from '../../src/upstream-target.js';

function pgErrorOf(fn: () => unknown): PgError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PgError) return error;
    throw new Error(`expected a PgError, got ${String(error)}`);
  }
  throw new Error('expected a PgError, nothing was thrown');
}

const params = (entries: Record<string, string>): Map<string, string> =>
  new Map(Object.entries(entries));

describe('parseOptions (libpq `options` startup parameter)', () => {
  test('-c name=value, -cname=value and --name=value', () => {
    expect(parseOptions('-c search_path=a,b -cwork_mem=64kB --statement_timeout=5s')).toEqual([
      ['search_path', 'a,b'],
      ['work_mem', '64kB'],
      ['statement_timeout', '5s'],
    ]);
  });

  test('dashes in names become underscores (as ParseLongOption does); values keep theirs', () => {
    expect(parseOptions('--statement-timeout=5s -c lock-timeout=1-2')).toEqual([
      ['statement_timeout', '5s'],
      ['lock_timeout', '1-2'],
    ]);
  });

  test('the value is everything after the first "="', () => {
    expect(parseOptions('-c my.opt=a=b=c')).toEqual([['my.opt', 'a=b=c']]);
  });

  test('a backslash escapes the next character: spaces inside a value, a literal backslash', () => {
    expect(parseOptions('-c application_name=my\\ app\\ name')).toEqual([
      ['application_name', 'my app name'],
    ]);
    expect(parseOptions('-c my.path=C:\\\\dir')).toEqual([['my.path', 'C:\\dir']]);
    // An escaped space makes a word even when it is the whole word.
    expect(parseOptions('-c my.x=\\ ')).toEqual([['my.x', ' ']]);
  });

  test('any run of whitespace separates switches; empty options give nothing', () => {
    expect(parseOptions('  -c a.b=1 \t\n -c   a.c=2  ')).toEqual([
      ['a.b', '1'],
      ['a.c', '2'],
    ]);
    expect(parseOptions('')).toEqual([]);
    expect(parseOptions('   ')).toEqual([]);
  });

  test.each([
    ['-B 100'],
    ['-c'],
    ['-c novalue'],
    ['--novalue'],
    ['-c =x'],
    ['plainword'],
    ['-d 5'],
    ['-c a.b=1 -F'],
  ])('unsupported option %j: PgError 0A000, FATAL', (options) => {
    const error = pgErrorOf(() => parseOptions(options));
    expect(error.code).toBe('0A000');
    expect(error.severity).toBe('FATAL');
  });
});

describe('startupParamState', () => {
  test('settings only: user, database, options and replication are not settings', () => {
    const state = startupParamState(
      params({
        user: 'alice',
        database: 'db',
        replication: 'false',
        application_name: 'app',
        client_encoding: 'UTF8',
        options: '-c search_path=x',
      }),
    );
    expect([...state.keys()].sort()).toEqual([
      'application_name',
      'client_encoding',
      'search_path',
    ]);
  });

  test('names are keyed in lower case (GUC names are case-insensitive)', () => {
    const state = startupParamState(params({ DateStyle: 'ISO', options: '-c TimeZone=UTC' }));
    expect([...state.keys()].sort()).toEqual(['datestyle', 'timezone']);
  });

  test('options switches become settings too, with escapes resolved', () => {
    const state = startupParamState(
      params({ options: '-c application_name=a\\ b -cwork_mem=1MB --lock-timeout=3s' }),
    );
    expect([...state.keys()].sort()).toEqual(['application_name', 'lock_timeout', 'work_mem']);
  });

  test('unsupported options throw a FATAL 0A000', () => {
    const error = pgErrorOf(() => startupParamState(params({ options: '-B 10' })));
    expect(error.code).toBe('0A000');
    expect(error.severity).toBe('FATAL');
  });

  test('no settings: empty state', () => {
    expect(startupParamState(params({ user: 'u', database: 'd' })).size).toBe(0);
  });
});

describe('applyEffect', () => {
  const base = (): ParamState =>
    new Map([
      ['application_name', "SELECT pg_catalog.set_config('application_name', 'a', false)"],
      ['search_path', 'SET search_path = x'],
    ]);

  test('set adds or replaces by name', () => {
    const state = base();
    applyEffect(state, { kind: 'set', name: 'search_path', sql: 'SET search_path = y' }, new Map());
    applyEffect(state, { kind: 'set', name: 'work_mem', sql: "SET work_mem = '1MB'" }, new Map());
    expect(state.get('search_path')).toBe('SET search_path = y');
    expect(state.get('work_mem')).toBe("SET work_mem = '1MB'");
    expect(state.size).toBe(3);
  });

  test('reset removes one name; resetting an absent name changes nothing', () => {
    const state = base();
    applyEffect(state, { kind: 'reset', name: 'search_path' }, new Map());
    expect([...state.keys()]).toEqual(['application_name']);
    applyEffect(state, { kind: 'reset', name: 'nothing_here' }, new Map());
    expect([...state.keys()]).toEqual(['application_name']);
  });

  test.each<SessionEffect>([{ kind: 'reset-all' }, { kind: 'discard-all' }])(
    '$kind clears every setting',
    (effect) => {
      const state = base();
      applyEffect(state, effect, new Map());
      expect(state.size).toBe(0);
    },
  );

  test.each<SessionEffect>([
    { kind: 'deallocate', name: 's1' },
    { kind: 'deallocate', name: null },
    { kind: 'pin', reason: 'LISTEN' },
  ])('$kind leaves settings alone', (effect) => {
    const state = base();
    applyEffect(state, effect, new Map());
    expect(state).toEqual(base());
  });
});

describe('diffSql', () => {
  test('null when applied and desired are the same (also both empty)', () => {
    expect(diffSql(new Map(), new Map())).toBeNull();
    const a = new Map([
      ['x.a', 'SET x.a = 1'],
      ['x.b', 'SET x.b = 2'],
    ]);
    expect(diffSql(a, new Map(a))).toBeNull();
    // Order does not matter.
    expect(diffSql(a, new Map([...a].reverse()))).toBeNull();
  });

  test('RESET for a removed setting, the statement for an added or changed one', () => {
    const applied = new Map([
      ['x.gone', 'SET x.gone = 1'],
      ['x.same', 'SET x.same = 1'],
      ['x.changed', 'SET x.changed = 1'],
    ]);
    const desired = new Map([
      ['x.same', 'SET x.same = 1'],
      ['x.changed', 'SET x.changed = 2'],
      ['x.added', 'SET x.added = 3'],
    ]);
    const sql = diffSql(applied, desired);
    expect(sql).not.toBeNull();
    const statements = (sql ?? '').split('\n;\n');
    expect(statements.sort()).toEqual(
      ['RESET x.gone', 'SET x.changed = 2', 'SET x.added = 3'].sort(),
    );
  });

  test('a name that is not a plain identifier is quoted in RESET', () => {
    const sql = diffSql(new Map([['odd name"x', 'whatever']]), new Map());
    expect(sql).toBe('RESET "odd name""x"');
  });
});

describe('quoteLiteral', () => {
  test('plain text is a standard literal; text with a backslash is an escape string', () => {
    expect(quoteLiteral('abc')).toBe("'abc'");
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('a\\b')).toBe("E'a\\\\b'");
  });
});

// ---------------------------------------------------------------------------------------------
// Against the real Postgres: the SQL is valid and does what the client's settings would do.

const url = inject('upstreamUrl');
const parsed = parseUpstreamUrl(url);
const silent = pino({ level: 'silent' });

function connect(startup: ReadonlyMap<string, string> = new Map()): Promise<UpstreamConnection> {
  return UpstreamConnection.connect(
    {
      endpoint: parsed.endpoint,
      user: parsed.admin.user,
      credentials: { kind: 'password', password: parsed.admin.password ?? '' },
      params: startup,
      connectTimeoutMs: 10_000,
    },
    silent,
  );
}

/** Rows of a simple Query, as text. Rejects with the first error's message. */
function rows(connection: UpstreamConnection, sql: string): Promise<(string | null)[][]> {
  return new Promise((resolve, reject) => {
    const out: (string | null)[][] = [];
    let failure: Error | undefined;
    connection.listen({
      onFrames: (frames) => {
        for (const frame of frames) {
          if (frame.type === BackendCode.DataRow) {
            out.push(
              decodeDataRow(frame.body).map((v) => (v === null ? null : v.toString('utf8'))),
            );
          } else if (frame.type === BackendCode.ErrorResponse && !failure) {
            const fields = decodeErrorFields(frame.body);
            failure = Object.assign(new Error(fields.message), { code: fields.code });
          } else if (frame.type === BackendCode.ReadyForQuery) {
            if (failure) reject(failure);
            else resolve(out);
          }
        }
      },
      onClose: (error) => {
        reject(error ?? new Error('closed'));
      },
    });
    connection.write(fe.query(sql));
  });
}

/** current_setting of each name (names are passed as literals, so any GUC name works). */
async function settings(
  connection: UpstreamConnection,
  names: readonly string[],
): Promise<Record<string, string | null>> {
  const list = names.map((name) => `pg_catalog.current_setting(${quoteLiteral(name)}, true)`);
  const [row] = await rows(connection, `SELECT ${list.join(', ')}`);
  return Object.fromEntries(names.map((name, i) => [name, row?.[i] ?? null]));
}

describe('session-params SQL against Postgres', () => {
  const open: UpstreamConnection[] = [];
  const fresh = async (startup?: ReadonlyMap<string, string>): Promise<UpstreamConnection> => {
    const connection = await connect(startup);
    open.push(connection);
    return connection;
  };
  /** A pooled connection (opened with no client settings) brought to `state`. */
  const pooledWith = async (state: ReadonlyMap<string, string>): Promise<UpstreamConnection> => {
    const connection = await fresh();
    const sql = diffSql(new Map(), state);
    if (sql !== null) await connection.runQuiet(sql, 10_000);
    return connection;
  };

  beforeAll(async () => {
    await loadParser();
  });
  afterAll(() => {
    for (const connection of open) connection.terminate();
  });

  test('startup settings replayed as SQL equal the same settings sent at startup', async () => {
    const startup = params({
      user: parsed.admin.user,
      application_name: 'docfusion startup test',
      client_encoding: 'LATIN1',
      DateStyle: 'SQL, DMY',
      options:
        '-c search_path=pg_catalog,public --statement-timeout=77 -cwork_mem=65kB ' +
        '-c my.opt=two\\ words\\\\and\\ a\\ backslash -c IntervalStyle=iso_8601',
    });
    const state = startupParamState(startup);
    const names = [...state.keys()];
    expect(names.sort()).toEqual(
      [
        'application_name',
        'client_encoding',
        'datestyle',
        'intervalstyle',
        'my.opt',
        'search_path',
        'statement_timeout',
        'work_mem',
      ].sort(),
    );
    const startupParams = new Map([...startup].filter(([key]) => key !== 'user'));
    const oracle = await fresh(startupParams);
    const model = await pooledWith(state);
    const expected = await settings(oracle, names);
    expect(expected['my.opt']).toBe('two words\\and a backslash');
    expect(expected.statement_timeout).toBe('77ms');
    expect(await settings(model, names)).toEqual(expected);
  });

  // Regression (fixed; the old behaviour): Postgres applies the `options` switches first and the other startup parameters after
  // them (process_startup_options in postinit.c), so an explicit application_name wins over
  // `-c application_name=…`. startupParamState lets `options` override instead.
  test('an explicit startup parameter wins over the same name in options', async () => {
    const startup = params({
      application_name: 'explicit',
      options: '-c application_name=from-options',
    });
    const oracle = await fresh(startup);
    const model = await pooledWith(startupParamState(startup));
    const expected = await settings(oracle, ['application_name']);
    expect(expected.application_name).toBe('explicit');
    expect(await settings(model, ['application_name'])).toEqual(expected);
  });

  test('diffSql moves a connection from one client state to another exactly', async () => {
    const a = startupParamState(
      params({
        application_name: 'client-a',
        options: '-c search_path=pg_catalog -c work_mem=1MB -c my.only_a=1 -c my.both=a',
      }),
    );
    const b = startupParamState(
      params({
        application_name: 'client-b',
        options: '-c work_mem=1MB -c my.both=b -c lock_timeout=1234',
      }),
    );
    const names = [
      'application_name',
      'search_path',
      'work_mem',
      'my.only_a',
      'my.both',
      'lock_timeout',
    ];
    const connection = await pooledWith(a);
    expect(await settings(connection, names)).toMatchObject({
      application_name: 'client-a',
      search_path: 'pg_catalog',
      'my.only_a': '1',
    });
    const sql = diffSql(a, b);
    expect(sql).not.toBeNull();
    // work_mem is the same in both: not re-sent.
    expect(sql).not.toContain('work_mem');
    await connection.runQuiet(sql ?? '', 10_000);
    const reference = await pooledWith(b);
    const want = await settings(reference, names);
    const got = await settings(connection, names);
    // A custom setting that was RESET keeps existing as an empty placeholder once defined in
    // the session, so compare it by value, not by presence.
    expect({ ...got, 'my.only_a': got['my.only_a'] ?? '' }).toEqual({
      ...want,
      'my.only_a': want['my.only_a'] ?? '',
    });
    expect(got.search_path).toBe(want.search_path); // back to the server default
    expect(diffSql(b, b)).toBeNull();
  });

  test('search_path as a comma list with a quoted schema survives set_config exactly', async () => {
    const value = 'pg_catalog, "My Schema", public';
    const oracle = await fresh(params({ search_path: value }));
    const model = await pooledWith(startupParamState(params({ search_path: value })));
    const expected = await settings(oracle, ['search_path']);
    expect(expected.search_path).toBe(value);
    expect(await settings(model, ['search_path'])).toEqual(expected);
  });

  const TRICKY = [
    "it's",
    'back\\slash',
    "both ' and \\",
    "\\'",
    "''",
    '\\\\',
    "E'x'",
    '$$dollar$$',
    'line\nbreak\ttab',
    'héllo ✓ 𝄞',
    '',
    '%s %d',
  ];

  test.each([['on'], ['off']])(
    'quoteLiteral reads back exactly with standard_conforming_strings %s',
    async (scs) => {
      const connection = await fresh();
      await connection.runQuiet(`SET standard_conforming_strings = ${scs}`, 10_000);
      const select = TRICKY.map((value) => quoteLiteral(value)).join(', ');
      const [row] = await rows(connection, `SELECT ${select}`);
      expect(row).toEqual(TRICKY);
    },
  );

  test('a value with a quote and a backslash round-trips through set_config and SHOW', async () => {
    const value = "O'Brien\\path 'x' \\\\ end";
    const state = startupParamState(params({ 'docfusion_test.v': value }));
    const connection = await pooledWith(state);
    const [row] = await rows(connection, 'SHOW docfusion_test.v');
    expect(row).toEqual([value]);
  });

  const SETS = [
    "SET TIME ZONE 'America/New_York'",
    "SET SCHEMA 'pg_catalog'",
    "SET NAMES 'LATIN1'",
    'SET search_path = pg_catalog, "My Schema"',
    "SET SESSION statement_timeout TO '5s'",
    'SET work_mem = 2048',
    "SET my.custom TO 'a b'",
    'SET XML OPTION DOCUMENT',
    'SET datestyle = sql, dmy',
  ];

  test.each(SETS.map((sql) => [sql]))(
    'the replayed form of %j sets what the statement sets; its RESET restores the default',
    async (sql) => {
      const effects = sessionEffects(sql);
      expect(effects).toHaveLength(1);
      const effect = effects[0];
      if (effect?.kind !== 'set') throw new Error(`expected a set effect, got ${effect?.kind}`);
      const name = effect.name;
      const direct = await fresh();
      const before = await settings(direct, [name]);
      await rows(direct, sql);
      const expected = await settings(direct, [name]);
      expect(expected).not.toEqual(before);
      const state: ParamState = new Map();
      applyEffect(state, effect, new Map());
      const replayed = await pooledWith(state);
      expect(await settings(replayed, [name])).toEqual(expected);
      const reset = diffSql(state, new Map());
      expect(reset).not.toBeNull();
      await replayed.runQuiet(reset ?? '', 10_000);
      const after = await settings(replayed, [name]);
      expect(after[name] ?? '').toBe(before[name] ?? '');
    },
  );

  // Regression (fixed; the old behaviour): `SET SESSION CHARACTERISTICS AS TRANSACTION …` is recorded under the name
  // "session characteristics"; when a connection that has it is handed to a client without it,
  // diffSql emits RESET "session characteristics", which Postgres rejects (42704), and the
  // next client's transaction fails to start.
  test('SET SESSION CHARACTERISTICS: the RESET diffSql emits is valid SQL', async () => {
    const effects = sessionEffects('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    const state: ParamState = new Map();
    for (const effect of effects) applyEffect(state, effect, new Map());
    const connection = await pooledWith(state);
    const reset = diffSql(state, new Map());
    if (reset !== null) await connection.runQuiet(reset, 10_000);
    expect(await settings(connection, ['default_transaction_read_only'])).toEqual({
      default_transaction_read_only: 'off',
    });
  });

  // Regression (fixed; the old behaviour): A SET whose text ends in a `--` comment is stored with the comment; diffSql joins
  // statements with "; ", so every statement after it lands inside the comment and is never
  // run, while the connection is recorded as having it.
  test('a SET ending in a -- comment does not swallow the statements after it', async () => {
    const state: ParamState = new Map();
    for (const sql of [
      'SET search_path = pg_catalog -- keep it simple',
      "SET lock_timeout = '4321ms'",
    ])
      for (const effect of sessionEffects(sql)) applyEffect(state, effect, new Map());
    const connection = await pooledWith(state);
    expect(await settings(connection, ['search_path', 'lock_timeout'])).toEqual({
      search_path: 'pg_catalog',
      lock_timeout: '4321ms',
    });
  });

  // Regression (fixed; the old behaviour): RESET, SET … TO DEFAULT, RESET ALL and DISCARD ALL return a setting to its session default,
  // and a startup parameter *is* the session default (PGC_S_CLIENT): after
  // `SET application_name = 'x'; RESET application_name` Postgres shows the startup value again.
  // applyEffect deletes the name instead, so the pooled connection gets RESET to the server's
  // default and the client's startup setting is lost.
  test.each([
    ['RESET application_name'],
    ['SET application_name TO DEFAULT'],
    ['RESET ALL'],
    ['DISCARD ALL'],
  ])('%s returns to the startup value, as in Postgres', async (reset) => {
    const startup = params({ application_name: 'from-startup' });
    const oracle = await fresh(startup);
    await rows(oracle, `SET application_name = 'changed'`);
    await rows(oracle, reset);
    const expected = await settings(oracle, ['application_name']);
    expect(expected.application_name).toBe('from-startup');
    const state = startupParamState(startup);
    const baseline = new Map(state);
    for (const sql of [`SET application_name = 'changed'`, reset])
      for (const effect of sessionEffects(sql)) applyEffect(state, effect, baseline);
    const model = await pooledWith(state);
    expect(await settings(model, ['application_name'])).toEqual(expected);
  });
});
