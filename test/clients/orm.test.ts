/**
 * An ORM on top of node-postgres through DocFusionDB: Drizzle (drizzle-orm's node-postgres driver,
 * with drizzle-kit's programmatic API for migrations and schema introspection), in session and in
 * transaction pool mode. A schema in its own Postgres schema per mode (an enum, a jsonb column,
 * arrays, a foreign key, an index) is generated into a migration and applied by drizzle-orm's
 * migrator; drizzle-kit then introspects the catalog (`push`) and must find it in sync, and
 * pushes a change. Then inserts, joins, relational queries, updates, deletes, transactions
 * with rollback and savepoints, jsonb queries and named prepared statements. Each feature is one
 * test and one result in the compatibility matrix.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import {
  and,
  arrayContains,
  asc,
  count,
  desc,
  eq,
  gt,
  relations,
  sql,
  TransactionRollbackError,
} from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import {
  boolean,
  index,
  integer,
  jsonb,
  numeric,
  pgSchema,
  type PgEnum,
  serial,
  text,
  timestamp,
  varchar,
} from 'drizzle-orm/pg-core';
import { generateDrizzleJson, generateMigration, pushSchema } from 'drizzle-kit/api';
import { defaultConfig } from '../../src/config.js';
import { recordCompat, type CompatResult } from '../support/compat.js';
import { adminClient, startProxy, upstreamUrl, type TestProxy } from '../support/proxy.js';

const suffix = randomBytes(4).toString('hex');
const TXN = 'txn-pool.';
const MIGRATIONS_SCHEMA = `df_orm_${suffix}_migrations`;
const versionOf = (pkg: string): string =>
  (
    JSON.parse(readFileSync(path.resolve('node_modules', pkg, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
const VERSION = `${versionOf('drizzle-orm')} (drizzle-kit ${versionOf('drizzle-kit')}, pg ${versionOf('pg')})`;

type Mode = 'session' | 'transaction';

interface Profile {
  country?: string;
  languages?: string[];
  address?: { city: string; zip?: string };
  awards?: number;
}

/** The application's schema, in a Postgres schema of its own; `extended` adds what a later push brings. */
function makeSchema(name: string, extended?: false): ReturnType<typeof baseSchema>;
function makeSchema(name: string, extended: true): Record<string, unknown>;
function makeSchema(name: string, extended = false): Record<string, unknown> {
  return extended ? extendedSchema(name) : baseSchema(name);
}

function authorsTable(s: ReturnType<typeof pgSchema>) {
  return s.table('authors', {
    id: serial('id').primaryKey(),
    name: text('name').notNull(),
    email: varchar('email', { length: 120 }).unique(),
    profile: jsonb('profile').$type<Profile>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).defaultNow().notNull(),
  });
}

function bookColumns(
  authors: ReturnType<typeof authorsTable>,
  status: PgEnum<['draft', 'published', 'retired']>,
) {
  return {
    id: serial('id').primaryKey(),
    authorId: integer('author_id')
      .notNull()
      .references(() => authors.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    status: status('status').notNull().default('draft'),
    // (No array default: drizzle-kit 0.31 re-proposes `SET DEFAULT '{}'::text[]` on every push,
    // straight against Postgres too.)
    tags: text('tags').array().notNull(),
    price: numeric('price', { precision: 10, scale: 2 }),
    inPrint: boolean('in_print').notNull().default(true),
    meta: jsonb('meta').$type<Record<string, unknown>>(),
  };
}

function baseSchema(name: string) {
  const s = pgSchema(name);
  const status = s.enum('book_status', ['draft', 'published', 'retired']);
  const authors = authorsTable(s);
  const books = s.table('books', bookColumns(authors, status), (t) => [
    index('books_author_idx').on(t.authorId),
  ]);
  const authorsRelations = relations(authors, ({ many }) => ({ books: many(books) }));
  const booksRelations = relations(books, ({ one }) => ({
    author: one(authors, { fields: [books.authorId], references: [authors.id] }),
  }));
  return { schema: s, status, authors, books, authorsRelations, booksRelations };
}

/** The same schema with one more column, as a later version of the application has it. */
function extendedSchema(name: string): Record<string, unknown> {
  const s = pgSchema(name);
  const status = s.enum('book_status', ['draft', 'published', 'retired']);
  const authors = authorsTable(s);
  const books = s.table(
    'books',
    { ...bookColumns(authors, status), isbn: varchar('isbn', { length: 20 }) },
    (t) => [index('books_author_idx').on(t.authorId)],
  );
  return { schema: s, status, authors, books };
}

type AppSchema = ReturnType<typeof baseSchema>;
type Db = NodePgDatabase<AppSchema>;

const schemaName = (mode: Mode): string => `df_orm_${suffix}_${mode.slice(0, 1)}`;

let admin: pg.Client | undefined;
let directPool: pg.Pool | undefined;
let proxy: TestProxy | undefined;
let txnProxy: TestProxy | undefined;
let tmp = '';
const pools: pg.Pool[] = [];
const results = new Map<Mode, Map<string, CompatResult>>([
  ['session', new Map()],
  ['transaction', new Map()],
]);
const expected = new Map<Mode, string[]>([
  ['session', []],
  ['transaction', []],
]);

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').trim().slice(0, 400);
}

function feature(mode: Mode, name: string, body: () => Promise<void>, timeoutMs = 60_000): void {
  expected.get(mode)?.push(name);
  test(
    name,
    async () => {
      const record = results.get(mode);
      try {
        await body();
        record?.set(name, { feature: name, pass: true });
      } catch (error) {
        record?.set(name, { feature: name, pass: false, detail: oneLine(error) });
        throw error;
      }
    },
    timeoutMs,
  );
}

function oracle(): pg.Client {
  if (admin === undefined) throw new Error('admin client not connected');
  return admin;
}

beforeAll(async () => {
  admin = await adminClient();
  directPool = new pg.Pool({ connectionString: upstreamUrl(), max: 2 });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'docfusion-orm-'));
  proxy = await startProxy();
  // startProxy merges only some sections key by key; `pool` is replaced whole.
  txnProxy = await startProxy({ pool: { ...defaultConfig().pool, mode: 'transaction', size: 3 } });
}, 120_000);

afterAll(async () => {
  const all: CompatResult[] = [];
  for (const mode of ['session', 'transaction'] as const) {
    const prefix = mode === 'session' ? '' : TXN;
    const got = results.get(mode) ?? new Map<string, CompatResult>();
    for (const name of expected.get(mode) ?? []) {
      const result = got.get(name) ?? { feature: name, pass: false, detail: 'did not run' };
      all.push({ ...result, feature: `${prefix}${name}` });
    }
  }
  recordCompat({ client: 'drizzle-orm', version: VERSION, results: all });
  for (const pool of pools.splice(0)) await pool.end().catch(() => undefined);
  await directPool?.end();
  await Promise.all([proxy, txnProxy].map((p) => p?.stop(500) ?? Promise.resolve()));
  if (admin !== undefined) {
    for (const mode of ['session', 'transaction'] as const) {
      await admin.query(`DROP SCHEMA IF EXISTS ${schemaName(mode)} CASCADE`);
    }
    await admin.query(`DROP SCHEMA IF EXISTS ${MIGRATIONS_SCHEMA} CASCADE`);
    await admin.end();
  }
  if (tmp !== '') await rm(tmp, { recursive: true, force: true });
});

/** drizzle-kit's push result without the apply function, for comparison. */
async function pushPlan(
  schema: Record<string, unknown>,
  db: Db,
  name: string,
): Promise<{ statements: string[]; hasDataLoss: boolean; apply: () => Promise<void> }> {
  const plan = await pushSchema(schema, db as never, [name]);
  return {
    statements: plan.statementsToExecute,
    hasDataLoss: plan.hasDataLoss,
    apply: plan.apply,
  };
}

function suite(mode: Mode): void {
  describe(`drizzle-orm, ${mode} pool mode`, () => {
    const name = schemaName(mode);
    const app = makeSchema(name);
    const { authors, books } = app;
    let pool: pg.Pool | undefined;
    let dbInstance: Db | undefined;

    const db = (): Db => {
      if (dbInstance === undefined) {
        const target = mode === 'session' ? proxy : txnProxy;
        if (target === undefined) throw new Error('proxy not started');
        pool = new pg.Pool({ connectionString: target.url(), max: 5 });
        pool.on('error', () => undefined);
        pools.push(pool);
        dbInstance = drizzle({ client: pool, schema: app });
      }
      return dbInstance;
    };
    const directDb = (): Db => {
      if (directPool === undefined) throw new Error('direct pool not open');
      return drizzle({ client: directPool, schema: app });
    };

    feature(
      mode,
      'migrate',
      async () => {
        // `drizzle-kit generate`: the schema's DDL from an empty snapshot, as a migration folder.
        const statements = await generateMigration(
          generateDrizzleJson({}),
          generateDrizzleJson(app),
        );
        expect(statements.join('\n')).toContain(`CREATE SCHEMA "${name}"`);
        const folder = path.join(tmp, mode);
        await mkdir(path.join(folder, 'meta'), { recursive: true });
        await writeFile(
          path.join(folder, '0000_init.sql'),
          statements.join('\n--> statement-breakpoint\n'),
        );
        await writeFile(
          path.join(folder, 'meta', '_journal.json'),
          JSON.stringify({
            version: '7',
            dialect: 'postgresql',
            entries: [
              {
                idx: 0,
                version: '7',
                when: 1_700_000_000_000,
                tag: '0000_init',
                breakpoints: true,
              },
            ],
          }),
        );
        const options = {
          migrationsFolder: folder,
          migrationsSchema: MIGRATIONS_SCHEMA,
          migrationsTable: `applied_${mode}`,
        };
        await migrate(db(), options);
        // Running the migrator again finds the migration applied and changes nothing.
        await migrate(db(), options);
        const applied = await oracle().query(
          `SELECT hash FROM ${MIGRATIONS_SCHEMA}.applied_${mode}`,
        );
        expect(applied.rowCount).toBe(1);
        const tables = await oracle().query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
          [name],
        );
        expect(tables.rows.map((r) => r.table_name)).toEqual(['authors', 'books']);
      },
      120_000,
    );

    feature(
      mode,
      'introspect-catalog',
      async () => {
        // `drizzle-kit push` reads the catalog (pg_class, pg_attribute, pg_constraint, pg_index,
        // pg_enum, information_schema …) and diffs it with the schema: nothing to do.
        const viaProxy = await pushPlan(app, db(), name);
        const viaDirect = await pushPlan(app, directDb(), name);
        expect(viaProxy.statements).toEqual(viaDirect.statements);
        expect(viaProxy.statements).toEqual([]);
      },
      120_000,
    );

    feature(
      mode,
      'push-schema-change',
      async () => {
        const next = makeSchema(name, true);
        const plan = await pushPlan(next, db(), name);
        expect(plan.hasDataLoss).toBe(false);
        expect(plan.statements).toEqual([
          `ALTER TABLE "${name}"."books" ADD COLUMN "isbn" varchar(20);`,
        ]);
        await plan.apply();
        const column = await oracle().query(
          `SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'books' AND column_name = 'isbn'`,
          [name],
        );
        expect(column.rows).toEqual([{ data_type: 'character varying' }]);
        expect((await pushPlan(next, db(), name)).statements).toEqual([]);
      },
      120_000,
    );

    feature(mode, 'insert-returning', async () => {
      const inserted = await db()
        .insert(authors)
        .values([
          {
            name: 'Ursula',
            email: `ursula-${mode}@example.org`,
            profile: { country: 'US', languages: ['en'], address: { city: 'Portland' }, awards: 9 },
          },
          {
            name: 'Stanisław',
            email: `stanislaw-${mode}@example.org`,
            profile: { country: 'PL', languages: ['pl', 'ru'], address: { city: 'Kraków' } },
          },
          { name: 'Anonymous' },
        ])
        .returning({ id: authors.id, name: authors.name, profile: authors.profile });
      expect(inserted.map((a) => a.name)).toEqual(['Ursula', 'Stanisław', 'Anonymous']);
      expect(inserted[2]?.profile).toEqual({});
      const [ursula, stanislaw] = inserted;
      if (ursula === undefined || stanislaw === undefined) throw new Error('authors missing');
      const rows = await db()
        .insert(books)
        .values([
          {
            authorId: ursula.id,
            title: 'The Dispossessed',
            status: 'published',
            tags: ['sf', 'utopia'],
            price: '12.50',
          },
          {
            authorId: ursula.id,
            title: 'A Wizard of Earthsea',
            status: 'published',
            tags: ['fantasy'],
            price: '9.99',
            meta: { series: 'Earthsea', n: 1 },
          },
          { authorId: ursula.id, title: 'Unfinished', tags: [] },
          {
            authorId: stanislaw.id,
            title: 'Solaris',
            status: 'published',
            tags: ['sf'],
            price: '11.00',
            meta: { series: null },
          },
          {
            authorId: stanislaw.id,
            title: 'The Cyberiad',
            status: 'retired',
            tags: ['sf', 'humour'],
            inPrint: false,
          },
        ])
        .returning();
      expect(rows).toHaveLength(5);
      expect(rows[0]).toMatchObject({
        title: 'The Dispossessed',
        status: 'published',
        inPrint: true,
      });
      expect(rows[2]).toMatchObject({ status: 'draft', tags: [], price: null, meta: null });
    });

    feature(mode, 'select-join', async () => {
      const query = (d: Db) =>
        d
          .select({
            author: authors.name,
            books: count(books.id),
            titles: sql<string>`string_agg(${books.title}, ', ' ORDER BY ${books.title})`,
          })
          .from(authors)
          .leftJoin(books, eq(books.authorId, authors.id))
          .groupBy(authors.id)
          .orderBy(desc(count(books.id)), asc(authors.name));
      const viaProxy = await query(db());
      expect(viaProxy).toEqual(await query(directDb()));
      expect(viaProxy).toEqual([
        {
          author: 'Ursula',
          books: 3,
          titles: 'A Wizard of Earthsea, The Dispossessed, Unfinished',
        },
        { author: 'Stanisław', books: 2, titles: 'Solaris, The Cyberiad' },
        { author: 'Anonymous', books: 0, titles: null },
      ]);
      const inner = await db()
        .select({ title: books.title, author: authors.name })
        .from(books)
        .innerJoin(authors, eq(books.authorId, authors.id))
        .where(and(eq(books.status, 'published'), arrayContains(books.tags, ['sf'])))
        .orderBy(books.title)
        .limit(10);
      expect(inner).toEqual([
        { title: 'Solaris', author: 'Stanisław' },
        { title: 'The Dispossessed', author: 'Ursula' },
      ]);
    });

    feature(mode, 'relational-query', async () => {
      const query = (d: Db) =>
        d.query.authors.findMany({
          columns: { name: true, profile: true },
          where: (a, { isNotNull }) => isNotNull(a.email),
          orderBy: (a, { asc: ascending }) => [ascending(a.name)],
          with: {
            books: {
              columns: { title: true, tags: true, price: true },
              where: (b, { ne }) => ne(b.status, 'draft'),
              orderBy: (b, { asc: ascending }) => [ascending(b.title)],
            },
          },
        });
      const viaProxy = await query(db());
      expect(viaProxy).toEqual(await query(directDb()));
      expect(viaProxy.map((a) => [a.name, a.books.map((b) => b.title)])).toEqual([
        ['Stanisław', ['Solaris', 'The Cyberiad']],
        ['Ursula', ['A Wizard of Earthsea', 'The Dispossessed']],
      ]);
      const book = await db().query.books.findFirst({
        where: (b, { eq: equals }) => equals(b.title, 'Solaris'),
        with: { author: { columns: { name: true } } },
      });
      expect(book?.author.name).toBe('Stanisław');
    });

    feature(mode, 'update-delete', async () => {
      const updated = await db()
        .update(books)
        .set({ price: sql`${books.price} * 2`, status: 'published' })
        .where(eq(books.title, 'Unfinished'))
        .returning({ title: books.title, status: books.status, price: books.price });
      expect(updated).toEqual([{ title: 'Unfinished', status: 'published', price: null }]);
      const repriced = await db()
        .update(books)
        .set({ price: '10.00' })
        .where(and(eq(books.inPrint, false)))
        .returning({ title: books.title });
      expect(repriced).toEqual([{ title: 'The Cyberiad' }]);
      const anonymous = await db().insert(authors).values({ name: 'Temp' }).returning();
      const tempId = anonymous[0]?.id ?? -1;
      await db()
        .insert(books)
        .values({ authorId: tempId, title: 'Gone with the author', tags: [] });
      const deleted = await db()
        .delete(authors)
        .where(eq(authors.id, tempId))
        .returning({ id: authors.id });
      expect(deleted).toEqual([{ id: tempId }]);
      // ON DELETE CASCADE removed the book.
      const orphans = await db().select().from(books).where(eq(books.authorId, tempId));
      expect(orphans).toEqual([]);
    });

    feature(mode, 'transaction-rollback', async () => {
      let caught: unknown;
      try {
        await db().transaction(async (tx) => {
          await tx.insert(authors).values({ name: 'Rolled back' });
          const inside = await tx
            .select({ n: count() })
            .from(authors)
            .where(eq(authors.name, 'Rolled back'));
          expect(inside).toEqual([{ n: 1 }]);
          tx.rollback();
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TransactionRollbackError);
      // An error thrown inside rolls back too.
      await expect(
        db().transaction(async (tx) => {
          await tx.insert(authors).values({ name: 'Rolled back' });
          await tx.execute(sql`SELECT 1/0`);
        }),
      ).rejects.toThrow();
      const after = await oracle().query(
        `SELECT 1 FROM ${name}.authors WHERE name = 'Rolled back'`,
      );
      expect(after.rowCount).toBe(0);
      // A committed transaction, with an isolation level.
      const id = await db().transaction(
        async (tx) => {
          const [row] = await tx
            .insert(authors)
            .values({ name: 'Committed' })
            .returning({ id: authors.id });
          return row?.id;
        },
        { isolationLevel: 'serializable' },
      );
      expect(typeof id).toBe('number');
      await db().delete(authors).where(eq(authors.name, 'Committed'));
    });

    feature(mode, 'nested-transaction-savepoint', async () => {
      await db().transaction(async (tx) => {
        await tx.insert(authors).values({ name: 'Outer' });
        await expect(
          tx.transaction(async (inner) => {
            await inner.insert(authors).values({ name: 'Inner' });
            inner.rollback();
          }),
        ).rejects.toBeInstanceOf(TransactionRollbackError);
        await tx.transaction(async (inner) => {
          await inner.insert(authors).values({ name: 'Inner kept' });
        });
      });
      const names = await oracle().query<{ name: string }>(
        `SELECT name FROM ${name}.authors WHERE name IN ('Outer', 'Inner', 'Inner kept') ORDER BY name`,
      );
      expect(names.rows.map((r) => r.name)).toEqual(['Inner kept', 'Outer']);
      await oracle().query(`DELETE FROM ${name}.authors WHERE name IN ('Outer', 'Inner kept')`);
    });

    feature(mode, 'jsonb-queries', async () => {
      const query = (d: Db) =>
        d
          .select({
            name: authors.name,
            city: sql<string>`${authors.profile} #>> '{address,city}'`,
            languages: sql<number>`jsonb_array_length(${authors.profile} -> 'languages')::int`,
          })
          .from(authors)
          .where(sql`${authors.profile} @> ${JSON.stringify({ languages: ['pl'] })}::jsonb`);
      const viaProxy = await query(db());
      expect(viaProxy).toEqual(await query(directDb()));
      expect(viaProxy).toEqual([{ name: 'Stanisław', city: 'Kraków', languages: 2 }]);
      await db()
        .update(authors)
        .set({ profile: sql`jsonb_set(${authors.profile}, '{awards}', to_jsonb(${3}::int))` })
        .where(eq(authors.name, 'Stanisław'));
      const [row] = await db()
        .select({ profile: authors.profile })
        .from(authors)
        .where(
          and(
            sql`${authors.profile} ? 'awards'`,
            gt(sql`(${authors.profile} ->> 'awards')::int`, 2),
          ),
        )
        .orderBy(authors.name);
      expect(row?.profile).toEqual({
        country: 'PL',
        languages: ['pl', 'ru'],
        address: { city: 'Kraków' },
        awards: 3,
      });
      const series = await db()
        .select({ title: books.title })
        .from(books)
        .where(sql`${books.meta} ->> 'series' = ${'Earthsea'}`);
      expect(series).toEqual([{ title: 'A Wizard of Earthsea' }]);
    });

    feature(mode, 'prepared-statement', async () => {
      // A named prepared statement (node-postgres `name`), executed many times and concurrently.
      const byAuthor = db()
        .select({ title: books.title })
        .from(books)
        .innerJoin(authors, eq(books.authorId, authors.id))
        .where(eq(authors.name, sql.placeholder('author')))
        .orderBy(books.title)
        .prepare(`orm_books_by_author_${mode}`);
      const runs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          byAuthor.execute({ author: i % 2 === 0 ? 'Ursula' : 'Stanisław' }),
        ),
      );
      runs.forEach((rows, i) => {
        expect(rows.map((r) => r.title)).toEqual(
          i % 2 === 0
            ? ['A Wizard of Earthsea', 'The Dispossessed', 'Unfinished']
            : ['Solaris', 'The Cyberiad'],
        );
      });
    });
  });
}

suite('session');
suite('transaction');
