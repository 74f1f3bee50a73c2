/** DML: INSERT/UPDATE/DELETE/MERGE with RETURNING, ON CONFLICT, multi-row VALUES. */
import type { Group } from './types.js';

export const DML_GROUPS: readonly Group[] = [
  {
    name: 'dml',
    category: 'dml',
    setup: `
      CREATE TABLE accounts (
        id int PRIMARY KEY,
        owner text NOT NULL,
        balance numeric(12,2) NOT NULL DEFAULT 0,
        tags text[] DEFAULT '{}',
        updated timestamptz DEFAULT '2024-01-01 00:00:00+00'
      );
      CREATE UNIQUE INDEX accounts_owner_uq ON accounts (owner);
      CREATE TABLE ledger (
        id bigserial PRIMARY KEY,
        account int REFERENCES accounts (id),
        delta numeric(12,2),
        note text
      );`,
    statements: [
      {
        sql: "INSERT INTO accounts (id, owner, balance) VALUES (1, 'alice', 100), (2, 'bob', 50.5), (3, 'carol', 0) RETURNING *",
        order: 'deterministic',
      },
      "INSERT INTO accounts (id, owner) VALUES (4, 'dave') RETURNING id, balance, tags, updated",
      "INSERT INTO accounts (id, owner) VALUES (1, 'alice2') ON CONFLICT DO NOTHING RETURNING id",
      "INSERT INTO accounts (id, owner, balance) VALUES (1, 'alice', 5) ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + EXCLUDED.balance RETURNING id, balance",
      "INSERT INTO accounts (id, owner) VALUES (9, 'bob') ON CONFLICT (owner) DO UPDATE SET tags = array_append(accounts.tags, 'dup') RETURNING id, owner, tags",
      "INSERT INTO accounts AS a (id, owner, balance) VALUES (2, 'bob', 1) ON CONFLICT ON CONSTRAINT accounts_pkey DO UPDATE SET balance = a.balance * 2 WHERE a.balance > 1000 RETURNING a.id",
      "INSERT INTO accounts (id, owner) VALUES (5, 'eve'), (6, 'frank'), (7, 'grace'), (8, 'heidi')",
      "INSERT INTO accounts (id, owner) SELECT 100 + g, 'gen' || g FROM generate_series(1, 5) g",
      {
        sql: "INSERT INTO ledger (account, delta, note) SELECT id, balance / 10, 'seed' FROM accounts WHERE balance > 0 ORDER BY id RETURNING id, account, delta",
      },
      "UPDATE accounts SET balance = balance - 10 WHERE owner = 'alice' RETURNING balance",
      {
        sql: 'UPDATE accounts a SET balance = a.balance + l.delta FROM ledger l WHERE l.account = a.id RETURNING a.id, a.balance',
        order: 'unordered',
      },
      "UPDATE accounts SET tags = tags || ARRAY['vip'] WHERE id IN (1, 2)",
      { sql: 'DELETE FROM accounts WHERE id > 100 RETURNING id, owner', order: 'unordered' },
      "DELETE FROM ledger WHERE note = 'nope'",
      'SELECT id, owner, balance, tags, updated FROM accounts ORDER BY id',
      { sql: "UPDATE accounts SET owner = 'bob' WHERE id = 1", error: '23505' },
      { sql: 'INSERT INTO ledger (account, delta) VALUES (999, 1)', error: '23503' },
      { sql: 'INSERT INTO accounts (id) VALUES (50)', error: '23502' },
      { sql: 'DELETE FROM accounts WHERE id = 1', error: '23503' },
      `MERGE INTO accounts t
       USING (VALUES (3, 7.25), (200, 1.00)) AS s (id, amt) ON t.id = s.id
       WHEN MATCHED THEN UPDATE SET balance = t.balance + s.amt
       WHEN NOT MATCHED THEN INSERT (id, owner, balance) VALUES (s.id, 'merged' || s.id, s.amt)`,
      `MERGE INTO accounts t USING (SELECT 200 AS id) s ON t.id = s.id
       WHEN MATCHED AND t.balance < 5 THEN DELETE
       WHEN NOT MATCHED THEN DO NOTHING`,
      'TRUNCATE ledger RESTART IDENTITY',
      'INSERT INTO ledger (account, delta) VALUES (1, 1) RETURNING id',
      {
        sql: "INSERT INTO accounts VALUES (400, 'multi', 1, '{a,b}', '2024-02-02 00:00:00+00'), (401, 'multi2', DEFAULT, DEFAULT, DEFAULT) RETURNING *",
        order: 'deterministic',
      },
      'UPDATE accounts SET balance = DEFAULT, updated = DEFAULT WHERE id = 400 RETURNING balance, updated',
      'DELETE FROM accounts USING ledger WHERE ledger.account = accounts.id AND ledger.delta < 0',
      {
        sql: "INSERT INTO accounts (id, owner) VALUES (500, 'o'), (500, 'p') ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner",
        error: '21000',
      },
      'SELECT count(*), sum(balance), avg(balance)::numeric(10,4), max(owner), min(updated) FROM accounts',
      "UPDATE accounts SET (owner, balance) = ('zed', balance + 1) WHERE id = 401 RETURNING owner, balance",
      'UPDATE accounts SET balance = balance WHERE false',
      {
        sql: 'INSERT INTO accounts (id, owner) VALUES ($1, $2) RETURNING id, owner',
        params: ['600', 'param ☃ owner'],
      },
      'DELETE FROM accounts WHERE id = 401 RETURNING *',
      {
        sql: 'SELECT id, owner FROM accounts WHERE id = ANY ($1::int[]) ORDER BY id',
        params: ['{1,2,3,600}'],
      },
    ],
  },
];
