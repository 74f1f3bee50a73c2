/**
 * Collections and single documents over real HTTP against a real Postgres: CRUD, ETags and
 * If-Match (concurrent writers: exactly one wins), merge patch, and a document written over
 * HTTP visible over the wire protocol through the proxy at once, and the other way round.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DocFusionError, type DocFusionClient } from '../../../sdk/client.js';
import { startApiProxy, uniqueName, type ApiProxy } from './api-support.js';

let api: ApiProxy;
let admin: DocFusionClient;
let writer: DocFusionClient;
let reader: DocFusionClient;
let name: string;

beforeAll(async () => {
  api = await startApiProxy();
  admin = api.client('admin');
  writer = api.client('writer');
  reader = api.client('reader');
  name = uniqueName('docs');
  await admin.createCollection(name);
});

afterAll(async () => {
  await api.stop();
  expect(api.openapi.failures).toEqual([]);
  expect(api.openapi.checked).toBeGreaterThan(10);
});

async function failure(promise: Promise<unknown>): Promise<DocFusionError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DocFusionError) return error;
    throw error;
  }
  throw new Error('expected the request to fail');
}

describe('collections', () => {
  test('PUT creates (201) and is idempotent (200); GET lists with counts; DELETE drops', async () => {
    const other = uniqueName('coll');
    const first = await admin.call('PUT', `/v1/collections/${other}`);
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ name: other, created: true });
    const again = await admin.call('PUT', `/v1/collections/${other}`);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ name: other, created: false });
    await writer.insert(other, { a: 1 });
    await writer.insert(other, { a: 2 });
    const { collections } = await reader.listCollections();
    expect(collections).toContainEqual({ name: other, count: 2 });
    await admin.dropCollection(other);
    expect((await reader.listCollections()).collections.map((c) => c.name)).not.toContain(other);
    expect((await failure(admin.dropCollection(other))).status).toBe(404);
  });

  test('the table has the documented shape and a GIN index on doc', async () => {
    const client = new pg.Client({ connectionString: api.proxy.upstreamUrl });
    await client.connect();
    try {
      const columns = await client.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`,
        [name],
      );
      expect(columns.rows.map((r) => [r.column_name, r.data_type])).toEqual([
        ['id', 'bigint'],
        ['doc', 'jsonb'],
        ['version', 'bigint'],
        ['created_at', 'timestamp with time zone'],
        ['updated_at', 'timestamp with time zone'],
      ]);
      const index = await client.query<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%gin%'`,
        [name],
      );
      expect(index.rows).toHaveLength(1);
    } finally {
      await client.end();
    }
  });

  test('a table that is not a collection is neither listed nor dropped nor taken over', async () => {
    const client = new pg.Client({ connectionString: api.proxy.upstreamUrl });
    await client.connect();
    const plain = uniqueName('plain');
    try {
      await client.query(`CREATE TABLE ${plain} (x int)`);
      expect((await failure(admin.createCollection(plain))).status).toBe(409);
      expect((await failure(admin.dropCollection(plain))).status).toBe(404);
      expect((await reader.listCollections()).collections.map((c) => c.name)).not.toContain(plain);
    } finally {
      await client.query(`DROP TABLE ${plain}`);
      await client.end();
    }
  });

  test('roles: reader and writer cannot create or drop collections', async () => {
    expect((await failure(writer.createCollection(uniqueName('nope')))).status).toBe(403);
    expect((await failure(reader.dropCollection(name))).status).toBe(403);
  });

  test('a missing collection is a 404 on every document route', async () => {
    const missing = uniqueName('missing');
    const error = await failure(writer.insert(missing, { a: 1 }));
    expect(error.status).toBe(404);
    expect(error.code).toBe('collection_not_found');
    expect((await failure(reader.get(missing, 1))).status).toBe(404);
    expect((await failure(reader.list(missing))).status).toBe(404);
  });
});

describe('documents', () => {
  test('insert returns the stored document with id, version 1 and an ETag', async () => {
    const created = await writer.insert(name, { title: 'first', tags: ['a', 'b'], n: 1.5 });
    expect(created).toMatchObject({
      version: 1,
      doc: { title: 'first', tags: ['a', 'b'], n: 1.5 },
    });
    expect(created.id).toBeGreaterThan(0);
    expect(created.etag).toBe('"1"');
    expect(created.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const read = await reader.get(name, created.id);
    expect(read).toEqual(created);
  });

  test('a JSON body is stored as sent: every digit of a number, the last of duplicate keys', async () => {
    const post = (body: string): Promise<Response> =>
      fetch(`${api.baseUrl}/v1/collections/${name}/documents`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${api.keys.writer ?? ''}`,
          'content-type': 'application/json',
        },
        body,
      });
    const response = await post(
      '\ufeff {"big": 123456789012345678901234567890.5, "k": 1, "k": 2} ',
    );
    expect(response.status).toBe(201);
    const text = await response.text();
    expect(text).toContain('"big": 123456789012345678901234567890.5');
    expect((JSON.parse(text) as { doc: unknown }).doc).toEqual({
      big: 1.2345678901234568e29,
      k: 2,
    });
    // Fastify's checks still hold: prototype poisoning, bodies that are not objects, NUL.
    expect((await post('{"__proto__": {"x": 1}}')).status).toBe(400);
    expect((await post('[1, 2]')).status).toBe(400);
    const nul = await post('{"a": "\\u0000"}');
    expect(nul.status).toBe(400);
    expect(await nul.text()).toContain('u0000');
  });

  test('GET with If-None-Match of the current ETag is 304', async () => {
    const created = await writer.insert(name, { x: 1 });
    const response = await fetch(`${api.baseUrl}/v1/collections/${name}/documents/${created.id}`, {
      headers: { authorization: `Bearer ${api.keys.reader ?? ''}`, 'if-none-match': created.etag },
    });
    expect(response.status).toBe(304);
  });

  test('PUT replaces and bumps the version; a stale If-Match is 412 with the current ETag', async () => {
    const created = await writer.insert(name, { a: 1, b: 2 });
    const replaced = await writer.replace(name, created.id, { c: 3 }, created.etag);
    expect(replaced).toMatchObject({ version: 2, doc: { c: 3 }, etag: '"2"' });
    const stale = await failure(writer.replace(name, created.id, { d: 4 }, created.etag));
    expect(stale.status).toBe(412);
    expect(stale.code).toBe('precondition_failed');
    expect(stale.headers.get('etag')).toBe('"2"');
    expect((await reader.get(name, created.id)).doc).toEqual({ c: 3 });
    expect((await writer.replace(name, created.id, { e: 5 }, '*')).version).toBe(3);
  });

  test('PATCH applies a JSON Merge Patch (RFC 7396)', async () => {
    const created = await writer.insert(name, {
      title: 'Goodbye!',
      author: { givenName: 'John', familyName: 'Doe' },
      tags: ['example', 'sample'],
      content: 'This will be unchanged',
    });
    const patched = await writer.patch(name, created.id, {
      title: 'Hello!',
      phoneNumber: '+01-123-456-7890',
      author: { familyName: null },
      tags: ['example'],
    });
    expect(patched.doc).toEqual({
      title: 'Hello!',
      author: { givenName: 'John' },
      tags: ['example'],
      content: 'This will be unchanged',
      phoneNumber: '+01-123-456-7890',
    });
    expect(patched.version).toBe(2);
  });

  test('PATCH needs a JSON object body; other media types are 415', async () => {
    const created = await writer.insert(name, { a: 1 });
    const response = await fetch(`${api.baseUrl}/v1/collections/${name}/documents/${created.id}`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${api.keys.writer ?? ''}`,
        'content-type': 'application/xml',
      },
      body: '<a/>',
    });
    expect(response.status).toBe(415);
    const bad = await failure(
      writer.call('PATCH', `/v1/collections/${name}/documents/${created.id}`, {
        raw: '{"a":',
        contentType: 'application/merge-patch+json',
      }),
    );
    expect(bad.status).toBe(400);
  });

  test('DELETE removes; again is 404; a stale If-Match is 412', async () => {
    const created = await writer.insert(name, { a: 1 });
    const updated = await writer.patch(name, created.id, { b: 1 });
    expect((await failure(writer.delete(name, created.id, created.etag))).status).toBe(412);
    await writer.delete(name, created.id, updated.etag);
    expect((await failure(reader.get(name, created.id))).status).toBe(404);
    expect((await failure(writer.delete(name, created.id))).status).toBe(404);
  });

  test('validation: a non-object body, a bad id and \\u0000 are 400 naming the field', async () => {
    const array = await failure(
      writer.call('POST', `/v1/collections/${name}/documents`, { body: [1] }),
    );
    expect(array.status).toBe(400);
    expect(array.body.error.path).toBe('body');
    const id = await failure(reader.call('GET', `/v1/collections/${name}/documents/abc`));
    expect(id.status).toBe(400);
    expect(id.body.error.path).toBe('params.id');
    const nul = await failure(writer.insert(name, { text: 'a\u0000b' }));
    expect(nul.status).toBe(400);
    expect(nul.message).toContain('\\u0000');
  });

  test('a reader cannot write', async () => {
    expect((await failure(reader.insert(name, { a: 1 }))).status).toBe(403);
  });
});

describe('concurrency', () => {
  test('two PATCHes with the same If-Match: exactly one wins, the other gets 412', async () => {
    for (let round = 0; round < 5; round++) {
      const created = await writer.insert(name, { counter: 0 });
      const results = await Promise.allSettled([
        writer.patch(name, created.id, { by: 'a' }, created.etag),
        writer.patch(name, created.id, { by: 'b' }, created.etag),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.flatMap((r): unknown[] => (r.status === 'rejected' ? [r.reason] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toBeInstanceOf(DocFusionError);
      expect((lost[0] as DocFusionError).status).toBe(412);
      expect((await reader.get(name, created.id)).version).toBe(2);
    }
  });

  test('concurrent PATCHes without If-Match lose no update', async () => {
    const created = await writer.insert(name, {});
    const writers = 12;
    await Promise.all(
      Array.from({ length: writers }, (_, i) => writer.patch(name, created.id, { [`k${i}`]: i })),
    );
    const final = await reader.get(name, created.id);
    expect(Object.keys(final.doc)).toHaveLength(writers);
    expect(final.version).toBe(writers + 1);
  });
});

describe('HTTP and the wire protocol see the same data at once', () => {
  test('written over HTTP, read through the proxy; written through the proxy, read over HTTP', async () => {
    const client = new pg.Client({ connectionString: api.proxy.url() });
    await client.connect();
    try {
      const created = await writer.insert(name, { via: 'http', marker: uniqueName('m') });
      const seen = await client.query<{ doc: unknown }>(`SELECT doc FROM ${name} WHERE id = $1`, [
        created.id,
      ]);
      expect(seen.rows[0]?.doc).toEqual(created.doc);
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO ${name} (doc) VALUES ($1) RETURNING id`,
        [JSON.stringify({ via: 'wire' })],
      );
      const id = Number(inserted.rows[0]?.id);
      expect((await reader.get(name, id)).doc).toEqual({ via: 'wire' });
      await client.query(
        `UPDATE ${name} SET doc = doc || '{"more":1}', version = version + 1 WHERE id = $1`,
        [id],
      );
      expect(await reader.get(name, id)).toMatchObject({
        version: 2,
        doc: { via: 'wire', more: 1 },
      });
    } finally {
      await client.end();
    }
  });
});
