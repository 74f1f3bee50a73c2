/**
 * Streaming import and export: 200k NDJSON lines with some bad ones (exact counts and line
 * numbers), the all-or-nothing option, JSON array bodies, and an export of a large collection
 * whose memory stays flat (measured loosely: no timing assertions).
 */
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DocFusionClient } from '../../../sdk/client.js';
import { startApiProxy, uniqueName, type ApiProxy } from './api-support.js';

let api: ApiProxy;
let writer: DocFusionClient;
let reader: DocFusionClient;

beforeAll(async () => {
  api = await startApiProxy({ api: { importBatchSize: 5000 } });
  writer = api.client('writer');
  reader = api.client('reader');
});

afterAll(async () => {
  await api.stop();
  expect(api.openapi.failures).toEqual([]);
});

async function collection(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await api.client('admin').createCollection(name);
  return name;
}

async function count(name: string): Promise<number> {
  const { collections } = await reader.listCollections();
  return collections.find((c) => c.name === name)?.count ?? -1;
}

/** NDJSON lines generated in chunks, never as one string. */
async function* ndjson(
  lines: number,
  line: (n: number) => string,
  perChunk = 2000,
): AsyncGenerator<Uint8Array> {
  for (let start = 1; start <= lines; start += perChunk) {
    const parts: string[] = [];
    for (let n = start; n < start + perChunk && n <= lines; n++) parts.push(line(n));
    yield Buffer.from(`${parts.join('\n')}\n`);
    await Promise.resolve();
  }
}

const BAD = new Map<number, string>([
  [7, '{"broken": '],
  [1234, '[1, 2, 3]'],
  [50_000, '"just a string"'],
  [123_457, '{"nul": "\\u0000"}'],
  [199_999, 'not json at all'],
]);

describe('import', () => {
  test('200k NDJSON lines with bad ones: exact counts and line numbers', async () => {
    const name = await collection('imp');
    const padding = 'x'.repeat(900);
    const result = await writer.import(
      name,
      ndjson(200_000, (n) => BAD.get(n) ?? JSON.stringify({ n, group: n % 10, padding })),
    );
    expect(result.rejected).toBe(BAD.size);
    expect(result.inserted).toBe(200_000 - BAD.size);
    expect(result.committed).toBe(true);
    expect(result.errors.map((e) => e.line)).toEqual([...BAD.keys()]);
    expect(result.errors[1]?.message).toBe('not a JSON object');
    expect(result.errors[3]?.message).toContain('\\u0000');
    expect(await count(name)).toBe(200_000 - BAD.size);
    const page = await reader.list(name, { contains: { n: 199_998 } });
    expect(page.documents[0]?.doc).toMatchObject({ n: 199_998, group: 8 });
  });

  test('atomic: one bad line and nothing is imported (422, every bad line reported)', async () => {
    const name = await collection('atomic');
    const lines = ['{"a":1}', '{"a":2}', '{oops', '{"a":3}', '[]', '{"a":4}'];
    const result = await writer.import(name, lines.join('\n'), { atomic: true });
    expect(result).toMatchObject({ inserted: 0, rejected: 2, committed: false });
    expect(result.errors.map((e) => e.line)).toEqual([3, 5]);
    expect(result.errors[0]?.message).toContain('invalid JSON');
    expect(result.errors[1]?.message).toBe('not a JSON object');
    expect(await count(name)).toBe(0);
    const ok = await writer.import(name, '{"a":1}\r\n\n{"a":2}\n', { atomic: true });
    expect(ok).toMatchObject({ inserted: 2, rejected: 0, committed: true });
  });

  test('a JSON array body, with strings holding brackets, commas and escapes', async () => {
    const name = await collection('arr');
    const docs = [{ a: '[,]{"}' }, { b: { c: [1, { d: 'x\\"y' }] } }, { e: 'tab\there\nnewline' }];
    const body = `[\n  ${docs.map((d) => JSON.stringify(d)).join(' ,\n ')}\n]`;
    const result = await writer.import(name, body, { format: 'array' });
    expect(result).toMatchObject({ inserted: 3, rejected: 0 });
    const exported: unknown[] = [];
    for await (const doc of reader.export(name)) exported.push(doc);
    expect(exported).toEqual(docs);
    const bad = await writer
      .import(name, '[{"a":1}, 2, {"b":', { format: 'array' })
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400 });
  });

  test('a line longer than max_import_line_size is rejected, the rest imported', async () => {
    const name = await collection('long');
    const long = JSON.stringify({ big: 'y'.repeat(1024 * 1024 + 10) });
    const result = await writer.import(name, `{"a":1}\n${long}\n{"a":2}\n`);
    expect(result).toMatchObject({
      inserted: 2,
      rejected: 1,
      errors: [{ line: 2, message: 'line too long' }],
    });
  });

  test('a reader cannot import; an unknown media type is a 415', async () => {
    const name = await collection('ro');
    await expect(reader.import(name, '{"a":1}')).rejects.toMatchObject({ status: 403 });
    const response = await fetch(`${api.baseUrl}/v1/collections/${name}/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.keys.writer ?? ''}`, 'content-type': 'text/csv' },
      body: 'a,b',
    });
    expect(response.status).toBe(415);
  });
});

describe('export', () => {
  test('streams a large collection as NDJSON with flat memory', async () => {
    const name = await collection('exp');
    const total = 150_000;
    const padding = 'z'.repeat(1000);
    await writer.import(
      name,
      ndjson(total, (n) => JSON.stringify({ n, padding })),
    );
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const response = await reader.exportResponse(name);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const body = response.body;
    if (!body) throw new Error('no body');
    let lines = 0;
    let bytes = 0;
    let last = '';
    const decoder = new TextDecoder();
    const readerStream = body.getReader();
    for (let next = await readerStream.read(); !next.done; next = await readerStream.read()) {
      const chunk: unknown = next.value;
      if (!(chunk instanceof Uint8Array)) continue;
      bytes += chunk.byteLength;
      const text = last + decoder.decode(chunk, { stream: true });
      const parts = text.split('\n');
      last = parts.pop() ?? '';
      lines += parts.length;
      if (lines % 20_000 < parts.length) {
        // Slow reader now and then: the server must pause Postgres rather than buffer.
        await new Promise((resolve) => setTimeout(resolve, 20));
        peak = Math.max(peak, process.memoryUsage().rss);
      }
    }
    expect(lines).toBe(total);
    expect(bytes).toBeGreaterThan(total * 1000);
    // ~150 MB went through; the process (server and client) grew by far less.
    expect(peak - before).toBeLessThan(100 * 1024 * 1024);
    const first = JSON.parse(
      (await reader.exportResponse(name).then((r) => r.text())).split('\n')[0] ?? '',
    ) as { n: number };
    expect(first.n).toBe(1);
  });
});

describe('the SDK over fetch (the portable transport)', () => {
  test('streams an import in, an export out, and reads Arrow and NDJSON query answers', async () => {
    const name = await collection('viafetch');
    const viaFetch = api.client('writer', { fetch: true });
    const result = await viaFetch.import(
      name,
      ndjson(5000, (n) => (n === 17 ? '{"bad": ' : JSON.stringify({ n }))),
    );
    expect(result).toMatchObject({ inserted: 4999, rejected: 1, errors: [{ line: 17 }] });
    let exported = 0;
    for await (const doc of viaFetch.export(name)) {
      if (exported === 0) expect(doc).toEqual({ n: 1 });
      exported++;
    }
    expect(exported).toBe(4999);
    const table = tableFromIPC(await viaFetch.queryArrow(`SELECT count(*) AS c FROM ${name}`));
    expect(Number(table.getChild('c')?.get(0))).toBe(4999);
    const lines: unknown[] = [];
    for await (const line of viaFetch.queryNdjson(`SELECT 1 AS one`)) lines.push(line);
    expect(lines).toHaveLength(3);
    const created = await viaFetch.insert(name, { a: 1 });
    await viaFetch.delete(name, created.id, created.etag);
    await expect(viaFetch.get(name, created.id)).rejects.toMatchObject({ status: 404 });
  });
});

describe('parallel import batches (import_parallel)', () => {
  let small: ApiProxy;
  beforeAll(async () => {
    small = await startApiProxy({ api: { importBatchSize: 100, importParallel: 3 } });
  });
  afterAll(async () => {
    await small.stop();
    expect(small.openapi.failures).toEqual([]);
  });

  test('bad lines found by Postgres or on retry are reported exactly; ids follow the lines', async () => {
    const name = uniqueName('par');
    await small.client('admin').createCollection(name);
    const bad = new Map<number, string>([
      [5, '{"lone": "\\ud800"}'], // valid for JSON.parse, refused by Postgres
      [250, '{"a": 1,}'], // looks like an object: left to Postgres, then checked on retry
      [251, '{"b": tru}'],
      [777, '[1]'],
      [1999, '{"lone": "\\udc00"}'],
      [2000, '{"x": "\\u0000"}'],
    ]);
    const writer = small.client('writer');
    const result = await writer.import(
      name,
      ndjson(2000, (n) => bad.get(n) ?? JSON.stringify({ n, s: 'tab\there \\ "q"' }), 300),
    );
    expect(result.inserted).toBe(2000 - bad.size);
    expect(result.errors.map((e) => e.line)).toEqual([...bad.keys()]);
    const messages = result.errors.map((e) => e.message);
    expect(messages[0]).toContain('invalid input syntax for type json');
    expect(messages[1]).toContain('invalid JSON');
    expect(messages[2]).toContain('invalid JSON');
    expect(messages[3]).toBe('not a JSON object');
    expect(messages[5]).toContain('\\u0000');
    const seen: number[] = [];
    for await (const doc of small.client('reader').export(name)) {
      expect(doc.s).toBe('tab\there \\ "q"');
      seen.push(doc.n as number);
    }
    // Exported by id: the same order as the lines, though batches loaded side by side.
    expect(seen).toEqual([...Array(2000).keys()].map((i) => i + 1).filter((n) => !bad.has(n)));
  });

  test('an import into a collection that does not exist is a 404', async () => {
    const error = await small
      .client('writer')
      .import(uniqueName('nope'), '{"a":1}\n')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 404 });
  });
});
