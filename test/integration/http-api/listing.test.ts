/**
 * Listing: limit and cursor pagination (stable while documents are inserted concurrently),
 * contains= pushed down as jsonb containment, fields= projection, sort= by a JSON path, bulk
 * operations, and injection attempts through collection names, paths and sort fields (400).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DocFusionError, type DocFusionClient } from '../../../sdk/client.js';
import { startApiProxy, uniqueName, type ApiProxy } from './api-support.js';

let api: ApiProxy;
let writer: DocFusionClient;
let reader: DocFusionClient;
let name: string;

beforeAll(async () => {
  api = await startApiProxy();
  writer = api.client('writer');
  reader = api.client('reader');
  name = uniqueName('list');
  await api.client('admin').createCollection(name);
  const documents = Array.from({ length: 50 }, (_, i) => ({
    n: i,
    group: i % 3 === 0 ? 'fizz' : 'other',
    nested: { rank: (i * 7) % 50, label: `item-${i}` },
    ...(i % 10 === 0 ? {} : { optional: i }),
  }));
  await writer.bulkInsert(name, documents);
});

afterAll(async () => {
  await api.stop();
  expect(api.openapi.failures).toEqual([]);
});

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    if (error instanceof DocFusionError) return error.status;
    throw error;
  }
}

describe('listing', () => {
  test('limit and nextCursor walk every document once, by id', async () => {
    const seen: number[] = [];
    let pages = 0;
    for await (const doc of reader.listAll(name, { limit: 7 })) seen.push(doc.doc.n as number);
    for (
      let cursor: string | null | undefined = undefined;
      pages === 0 || cursor !== null;
      pages++
    ) {
      const page = await reader.list(name, { limit: 7, ...(cursor ? { cursor } : {}) });
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(pages).toBe(8);
  });

  test('contains= filters by containment', async () => {
    const page = await reader.list(name, { contains: { group: 'fizz' }, limit: 100 });
    expect(page.documents.map((d) => d.doc.n)).toEqual(Array.from({ length: 17 }, (_, i) => i * 3));
    const nested = await reader.list(name, { contains: { nested: { label: 'item-4' } } });
    expect(nested.documents.map((d) => d.doc.n)).toEqual([4]);
  });

  test('fields= returns only those paths', async () => {
    const page = await reader.list(name, { fields: ['nested.label', 'n', 'optional'], limit: 2 });
    expect(page.documents.map((d) => d.doc)).toEqual([
      { nested: { label: 'item-0' }, n: 0 },
      { nested: { label: 'item-1' }, n: 1, optional: 1 },
    ]);
  });

  test('sort= by a JSON path, ascending and descending, paginated', async () => {
    const ascending: unknown[] = [];
    for await (const doc of reader.listAll(name, { sort: 'nested.rank', limit: 9 })) {
      ascending.push((doc.doc.nested as { rank: number }).rank);
    }
    expect(ascending).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const descending: unknown[] = [];
    for await (const doc of reader.listAll(name, { sort: '-nested.rank', limit: 11 })) {
      descending.push((doc.doc.nested as { rank: number }).rank);
    }
    expect(descending).toEqual(Array.from({ length: 50 }, (_, i) => 49 - i));
  });

  test('sorting by a path some documents lack puts them first (JSON null), none lost', async () => {
    const values: unknown[] = [];
    for await (const doc of reader.listAll(name, { sort: 'optional', limit: 4 })) {
      values.push(doc.doc.optional ?? null);
    }
    expect(values).toHaveLength(50);
    expect(values.slice(0, 5)).toEqual([null, null, null, null, null]);
  });

  test('pagination is stable under concurrent inserts: no duplicates, no skipped documents', async () => {
    const coll = uniqueName('stable');
    await api.client('admin').createCollection(coll);
    await writer.bulkInsert(
      coll,
      Array.from({ length: 200 }, (_, i) => ({ i, rank: i % 17 })),
    );
    const state = { inserting: true };
    const inserter = (async () => {
      let i = 1000;
      while (state.inserting) await writer.insert(coll, { i: i++, rank: 5 });
    })();
    const seen = new Set<number>();
    const duplicates: number[] = [];
    try {
      for await (const doc of reader.listAll(coll, { sort: 'rank', limit: 13 })) {
        if (seen.has(doc.id)) duplicates.push(doc.id);
        seen.add(doc.id);
      }
    } finally {
      state.inserting = false;
      await inserter;
    }
    expect(duplicates).toEqual([]);
    for (let id = 1; id <= 200; id++) expect(seen.has(id)).toBe(true);
  });

  test('a cursor from another sort, or garbage, is a 400', async () => {
    const page = await reader.list(name, { limit: 2, sort: 'n' });
    expect(await status(reader.list(name, { cursor: page.nextCursor ?? '' }))).toBe(400);
    expect(await status(reader.list(name, { cursor: 'bm9wZQ' }))).toBe(400);
    expect(await status(reader.list(name, { contains: 'not json' }))).toBe(400);
  });

  test('limit is validated', async () => {
    const error = await reader.list(name, { limit: 5000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DocFusionError);
    expect((error as DocFusionError).body.error.path).toBe('querystring.limit');
  });
});

describe('injection attempts fail with 400', () => {
  const names = [
    'x; DROP TABLE users',
    'x"; DROP TABLE users; --',
    'Users',
    'pg_class',
    "x'--",
    'a'.repeat(49),
    '1abc',
    'x y',
  ];
  test.each(names)('collection name %j', async (bad) => {
    expect(await status(reader.list(bad))).toBe(400);
    expect(await status(api.client('admin').createCollection(bad))).toBe(400);
  });

  const paths = [
    "a'); DROP TABLE x; --",
    'a..b',
    'a.b}',
    '{a,b}',
    'a b',
    "a'",
    '',
    'a.' + 'b.'.repeat(20) + 'c',
  ];
  test.each(paths)('fields and sort path %j', async (bad) => {
    expect(await status(reader.list(name, { fields: [bad] }))).toBe(400);
    expect(await status(reader.list(name, { sort: bad }))).toBe(400);
  });

  test('the collection and its documents are intact afterwards', async () => {
    const { collections } = await reader.listCollections();
    expect(collections).toContainEqual({ name, count: 50 });
  });
});

describe('bulk', () => {
  test('bulk insert returns ids; a bad document rejects all with its index', async () => {
    const coll = uniqueName('bulk');
    await api.client('admin').createCollection(coll);
    const result = await writer.bulkInsert(coll, [{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(result.inserted).toBe(3);
    expect(result.ids).toHaveLength(3);
    const bad = await writer
      .bulkInsert(coll, [{ a: 4 }, { a: 5 }, { text: 'nul \u0000 here' }, { a: 6 }])
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(DocFusionError);
    expect((bad as DocFusionError).status).toBe(400);
    expect((bad as DocFusionError).body.error).toMatchObject({
      index: 2,
      path: 'body.documents[2]',
    });
    const notObject = await writer
      .call('POST', `/v1/collections/${coll}/documents/bulk`, { body: { documents: [{}, 'x'] } })
      .catch((e: unknown) => e);
    expect((notObject as DocFusionError).body.error.path).toBe('body.documents[1]');
    expect((await reader.listCollections()).collections).toContainEqual({ name: coll, count: 3 });
  });

  test('bulk insert above max_bulk_documents is a 413', async () => {
    const many = Array.from({ length: 1001 }, () => ({ a: 1 }));
    expect(await status(writer.bulkInsert(name, many))).toBe(413);
  });

  test('bulk update by filter applies a merge patch to the matches; bulk delete by filter', async () => {
    const coll = uniqueName('bulkup');
    await api.client('admin').createCollection(coll);
    const { ids } = await writer.bulkInsert(
      coll,
      Array.from({ length: 10 }, (_, i) => ({
        i,
        kind: i % 2 ? 'odd' : 'even',
        meta: { keep: true, drop: 1 },
      })),
    );
    const updated = await writer.bulkUpdate(
      coll,
      { contains: { kind: 'odd' } },
      {
        meta: { drop: null, added: [1, 2] },
        flag: true,
      },
    );
    expect(updated).toEqual({ updated: 5 });
    const odd = await reader.get(coll, ids[1] ?? 0);
    expect(odd.doc).toEqual({ i: 1, kind: 'odd', meta: { keep: true, added: [1, 2] }, flag: true });
    expect(odd.version).toBe(2);
    expect((await reader.get(coll, ids[0] ?? 0)).doc).toEqual({
      i: 0,
      kind: 'even',
      meta: { keep: true, drop: 1 },
    });
    expect(await writer.bulkDelete(coll, { ids: [ids[0] ?? 0, ids[1] ?? 0] })).toEqual({
      deleted: 2,
    });
    expect(await writer.bulkDelete(coll, { contains: { kind: 'even' } })).toEqual({ deleted: 4 });
    expect(await status(writer.bulkDelete(coll, {}))).toBe(400);
    expect((await reader.listCollections()).collections).toContainEqual({ name: coll, count: 4 });
  });
});
