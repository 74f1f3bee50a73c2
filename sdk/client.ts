/**
 * A small typed client for the DocFusionDB HTTP API. Its types come from the same schemas the
 * server validates with and publishes as OpenAPI (src/http-api/schemas.ts); `OPERATIONS` lists
 * every call it makes, and the tests check that list against /openapi.json.
 */
import type {
  BulkDeleteResult,
  BulkInsertResult,
  BulkUpdateResult,
  CollectionCreated,
  CollectionList,
  DocumentPage,
  ErrorResponse,
  Filter,
  ImportResult,
  QueryResult,
  StoredDocument,
} from '../src/http-api/schemas.js';
import { fetchTransport, type Transport, type TransportResponse } from './transport.js';

export {
  bufferedResponse,
  fetchTransport,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from './transport.js';
export type {
  BulkDeleteResult,
  BulkInsertResult,
  BulkUpdateResult,
  CollectionCreated,
  CollectionList,
  DocumentPage,
  ErrorResponse,
  Filter,
  ImportResult,
  QueryResult,
  StoredDocument,
};

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = Record<string, unknown>;

export interface ClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  readonly baseUrl: string;
  /** An API key or a JWT, sent as `Authorization: Bearer …`. */
  readonly token?: string;
  /**
   * How requests are sent. By default, on Node: undici's connection pool (sdk/undici-transport.ts,
   * loaded on first use); elsewhere, or when `fetch` is given: fetch.
   */
  readonly transport?: Transport;
  /** Send requests with this fetch (e.g. a wrapped one); ignored when `transport` is given. */
  readonly fetch?: typeof fetch;
}

export interface ListOptions {
  readonly limit?: number;
  readonly cursor?: string;
  /** Documents containing this JSON. */
  readonly contains?: Json;
  /** Dotted JSON paths to return. */
  readonly fields?: readonly string[];
  /** A dotted JSON path, `-` first for descending. */
  readonly sort?: string;
}

/** A stored document with its ETag. */
export type DocumentWithEtag = StoredDocument & { readonly etag: string };

/** Every operation the client calls: [method, OpenAPI path]. */
export const OPERATIONS = [
  ['get', '/v1/collections'],
  ['put', '/v1/collections/{name}'],
  ['delete', '/v1/collections/{name}'],
  ['post', '/v1/collections/{name}/documents'],
  ['get', '/v1/collections/{name}/documents'],
  ['get', '/v1/collections/{name}/documents/{id}'],
  ['put', '/v1/collections/{name}/documents/{id}'],
  ['patch', '/v1/collections/{name}/documents/{id}'],
  ['delete', '/v1/collections/{name}/documents/{id}'],
  ['post', '/v1/collections/{name}/documents/bulk'],
  ['post', '/v1/collections/{name}/documents/bulk-update'],
  ['post', '/v1/collections/{name}/documents/bulk-delete'],
  ['post', '/v1/collections/{name}/import'],
  ['get', '/v1/collections/{name}/export'],
  ['post', '/v1/query'],
] as const;

/** An error answer of the API: its status and the stable error body. */
export class DocFusionError extends Error {
  override readonly name = 'DocFusionError';
  readonly code: string;
  readonly sqlstate: string | undefined;
  constructor(
    readonly status: number,
    readonly body: ErrorResponse,
    readonly headers: Headers,
  ) {
    super(body.error.message);
    this.code = body.error.code;
    this.sqlstate = body.error.sqlstate;
  }
}

export class DocFusionClient {
  private transport: Transport | Promise<Transport>;
  private closeTransport: (() => Promise<void>) | undefined;

  constructor(private readonly options: ClientOptions) {
    if (options.transport !== undefined) this.transport = options.transport;
    else if (options.fetch !== undefined || !onNode())
      this.transport = fetchTransport(options.fetch);
    else this.transport = this.nodeTransport();
  }

  /** Closes the connections of the default Node transport (idle ones never hold the process). */
  async close(): Promise<void> {
    await this.transport;
    await this.closeTransport?.();
  }

  private async nodeTransport(): Promise<Transport> {
    try {
      const { undiciTransport } = await import('./undici-transport.js');
      const made = undiciTransport(this.options.baseUrl);
      this.closeTransport = made.close;
      this.transport = made.transport;
    } catch {
      this.transport = fetchTransport();
    }
    return this.transport;
  }

  listCollections(): Promise<CollectionList> {
    return this.json('GET', '/v1/collections');
  }

  createCollection(name: string): Promise<CollectionCreated> {
    return this.json('PUT', `/v1/collections/${enc(name)}`);
  }

  async dropCollection(name: string): Promise<void> {
    await (await this.send('DELETE', `/v1/collections/${enc(name)}`)).discard();
  }

  insert(collection: string, doc: JsonObject): Promise<DocumentWithEtag> {
    return this.document('POST', docs(collection), { body: doc });
  }

  get(collection: string, id: number): Promise<DocumentWithEtag> {
    return this.document('GET', `${docs(collection)}/${id}`);
  }

  replace(
    collection: string,
    id: number,
    doc: JsonObject,
    ifMatch?: string,
  ): Promise<DocumentWithEtag> {
    return this.document('PUT', `${docs(collection)}/${id}`, { body: doc, ifMatch });
  }

  /** JSON Merge Patch (RFC 7396). */
  patch(
    collection: string,
    id: number,
    patch: JsonObject,
    ifMatch?: string,
  ): Promise<DocumentWithEtag> {
    return this.document('PATCH', `${docs(collection)}/${id}`, {
      body: patch,
      ifMatch,
      contentType: 'application/merge-patch+json',
    });
  }

  async delete(collection: string, id: number, ifMatch?: string): Promise<void> {
    await (await this.send('DELETE', `${docs(collection)}/${id}`, { ifMatch })).discard();
  }

  list(collection: string, options: ListOptions = {}): Promise<DocumentPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    if (options.contains !== undefined) query.set('contains', JSON.stringify(options.contains));
    if (options.fields !== undefined) query.set('fields', options.fields.join(','));
    if (options.sort !== undefined) query.set('sort', options.sort);
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    return this.json('GET', `${docs(collection)}${suffix}`);
  }

  /** Every page of a listing, following nextCursor. */
  async *listAll(collection: string, options: ListOptions = {}): AsyncGenerator<StoredDocument> {
    let cursor = options.cursor;
    for (;;) {
      const page = await this.list(collection, {
        ...options,
        ...(cursor === undefined ? {} : { cursor }),
      });
      yield* page.documents;
      if (page.nextCursor === null) return;
      cursor = page.nextCursor;
    }
  }

  bulkInsert(collection: string, documents: readonly JsonObject[]): Promise<BulkInsertResult> {
    return this.json('POST', `${docs(collection)}/bulk`, { body: { documents } });
  }

  bulkUpdate(collection: string, filter: Filter, patch: JsonObject): Promise<BulkUpdateResult> {
    return this.json('POST', `${docs(collection)}/bulk-update`, { body: { filter, patch } });
  }

  bulkDelete(collection: string, filter: Filter): Promise<BulkDeleteResult> {
    return this.json('POST', `${docs(collection)}/bulk-delete`, { body: { filter } });
  }

  /**
   * Stream documents in. `body` is NDJSON (or a JSON array with format 'array'); an async
   * iterable streams without holding the whole body. A rejected atomic import resolves too
   * (committed: false).
   */
  async import(
    collection: string,
    body: string | Uint8Array | AsyncIterable<Uint8Array>,
    options: { readonly format?: 'ndjson' | 'array'; readonly atomic?: boolean } = {},
  ): Promise<ImportResult> {
    const query = options.atomic === true ? '?atomic=true' : '';
    const response = await this.send('POST', `/v1/collections/${enc(collection)}/import${query}`, {
      raw: body,
      contentType: options.format === 'array' ? 'application/json' : 'application/x-ndjson',
      allow: [422],
    });
    return JSON.parse(await response.text()) as ImportResult;
  }

  /** Every document of a collection, parsed line by line as the export streams. */
  async *export(collection: string): AsyncGenerator<JsonObject> {
    const response = await this.send('GET', `/v1/collections/${enc(collection)}/export`);
    for await (const line of lines(response)) yield JSON.parse(line) as JsonObject;
  }

  /** The raw export response (NDJSON), to stream elsewhere. */
  exportResponse(collection: string): Promise<Response> {
    return this.call('GET', `/v1/collections/${enc(collection)}/export`);
  }

  query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    return this.json('POST', '/v1/query', { body: { sql, params } });
  }

  /** Rows as objects by column name (later columns win on duplicate names). */
  async queryObjects(
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<Record<string, unknown>[]> {
    const result = await this.query(sql, params);
    return result.rows.map((row) =>
      Object.fromEntries(result.columns.map((column, i) => [column.name, row[i]])),
    );
  }

  /** NDJSON: the columns line, each row, then the command line (or an error line). */
  async *queryNdjson(sql: string, params: readonly unknown[] = []): AsyncGenerator {
    const response = await this.send('POST', '/v1/query', {
      body: { sql, params },
      accept: 'application/x-ndjson',
    });
    for await (const line of lines(response)) yield JSON.parse(line);
  }

  /** The Arrow IPC stream bytes (read with apache-arrow's tableFromIPC, pandas, polars…). */
  async queryArrow(sql: string, params: readonly unknown[] = []): Promise<Uint8Array> {
    const response = await this.send('POST', '/v1/query', {
      body: { sql, params },
      accept: 'application/vnd.apache.arrow.stream',
    });
    return response.bytes();
  }

  private async document(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<DocumentWithEtag> {
    const response = await this.send(method, path, options);
    const doc = JSON.parse(await response.text()) as StoredDocument;
    return { ...doc, etag: response.header('etag') ?? '' };
  }

  private async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    return JSON.parse(await response.text()) as T;
  }

  /** One request as a WHATWG Response; error statuses (unless allowed) throw DocFusionError. */
  async call(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    return (await this.send(method, path, options)).toResponse();
  }

  /** One request; error statuses (unless allowed) throw DocFusionError. */
  async send(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<TransportResponse> {
    const headers: Record<string, string> = {};
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
    if (options.accept !== undefined) headers.accept = options.accept;
    let body: string | Uint8Array | AsyncIterable<Uint8Array> | undefined;
    if (options.raw !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.raw;
    } else if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      body = JSON.stringify(options.body);
    }
    const transport = await this.transport;
    const url = `${this.options.baseUrl}${path}`;
    const response = await transport(
      body === undefined ? { method, url, headers } : { method, url, headers, body },
    );
    if (response.status >= 400 && !(options.allow ?? []).includes(response.status)) {
      const text = await response.text();
      let parsed: ErrorResponse;
      try {
        parsed = JSON.parse(text) as ErrorResponse;
      } catch {
        parsed = { error: { code: 'http_error', message: text } };
      }
      throw new DocFusionError(response.status, parsed, response.headers());
    }
    return response;
  }
}

/** On Node (where the undici transport works), not in a browser or a worker without it. */
function onNode(): boolean {
  const versions = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions;
  return typeof versions?.node === 'string';
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly raw?: string | Uint8Array | AsyncIterable<Uint8Array>;
  readonly contentType?: string;
  readonly ifMatch?: string | undefined;
  readonly accept?: string;
  /** Error statuses that resolve instead of throwing. */
  readonly allow?: readonly number[];
}

function enc(name: string): string {
  return encodeURIComponent(name);
}

function docs(collection: string): string {
  return `/v1/collections/${enc(collection)}/documents`;
}

/** The non-empty lines of a streamed response body. */
async function* lines(response: TransportResponse): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = '';
  for await (const chunk of response.chunks()) {
    rest += decoder.decode(chunk, { stream: true });
    let at = rest.indexOf('\n');
    while (at !== -1) {
      const line = rest.slice(0, at);
      rest = rest.slice(at + 1);
      if (line.trim() !== '') yield line;
      at = rest.indexOf('\n');
    }
  }
  rest += decoder.decode();
  if (rest.trim() !== '') yield rest;
}
