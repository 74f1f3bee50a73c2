/**
 * How the SDK sends one request. A transport is a function, so callers and tests can wrap or
 * replace it. `fetchTransport` runs anywhere a WHATWG fetch exists; on Node the client uses
 * `undiciTransport` (sdk/undici-transport.ts) instead, which skips fetch's per-request
 * machinery (about 0.5–1 ms per request, measured).
 */

export interface TransportRequest {
  readonly method: string;
  /** The absolute URL. */
  readonly url: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** A byte stream is sent as it is produced (chunked), with backpressure. */
  readonly body?: string | Uint8Array | AsyncIterable<Uint8Array>;
}

/** A response whose body is read once: by text(), bytes(), chunks() or discard(). */
export interface TransportResponse {
  readonly status: number;
  /** A header by lower-case name (repeated ones joined with ", "), or null. */
  header(name: string): string | null;
  /** Every header. */
  headers(): Headers;
  text(): Promise<string>;
  bytes(): Promise<Uint8Array>;
  /** The body as it arrives. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Drop the body unread (the connection is freed for the next request). */
  discard(): Promise<void>;
  /** The same response as a WHATWG Response (for `DocFusionClient.call`). */
  toResponse(): Response;
}

export type Transport = (request: TransportRequest) => Promise<TransportResponse>;

/** Statuses whose Response may not have a body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** A transport over a WHATWG fetch (the global one by default). */
export function fetchTransport(fetcher: typeof fetch = fetch): Transport {
  return async (request) => {
    const init: RequestInit & { duplex?: 'half' } = {
      method: request.method,
      headers: request.headers,
    };
    const body = request.body;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = iterableStream(body);
      init.duplex = 'half';
    }
    return fetchResponse(await fetcher(request.url, init));
  };
}

function fetchResponse(response: Response): TransportResponse {
  return {
    status: response.status,
    header: (name) => response.headers.get(name),
    headers: () => response.headers,
    text: () => response.text(),
    bytes: async () => new Uint8Array(await response.arrayBuffer()),
    chunks: () => streamChunks(response.body),
    discard: async () => {
      await response.body?.cancel();
    },
    toResponse: () => response,
  };
}

/** A response whose body is already in memory (for transports that wrap another). */
export function bufferedResponse(
  status: number,
  headers: Headers,
  body: Uint8Array,
): TransportResponse {
  return {
    status,
    header: (name) => headers.get(name),
    headers: () => headers,
    text: () => Promise.resolve(new TextDecoder().decode(body)),
    bytes: () => Promise.resolve(body),
    chunks: async function* () {
      await Promise.resolve();
      if (body.byteLength > 0) yield body;
    },
    discard: () => Promise.resolve(),
    toResponse: () =>
      new Response(NULL_BODY.has(status) ? null : body.slice(), { status, headers }),
  };
}

/**
 * A WHATWG Response streaming `chunks`; for 204, 304 and the like, which may not have a body,
 * `discard` drops whatever there is.
 */
export function webResponse(
  status: number,
  headers: Headers,
  chunks: AsyncIterable<Uint8Array>,
  discard: () => Promise<void>,
): Response {
  if (NULL_BODY.has(status)) {
    discard().catch(() => undefined);
    return new Response(null, { status, headers });
  }
  return new Response(iterableStream(chunks), { status, headers });
}

/** An async iterable as a ReadableStream, pulled as the reader asks. */
export function iterableStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done === true) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

async function* streamChunks(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  let done = false;
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      const chunk: unknown = next.value;
      if (chunk instanceof Uint8Array) yield chunk;
    }
    done = true;
  } finally {
    // A consumer that stops early cancels the rest of the body.
    if (!done) await reader.cancel();
    reader.releaseLock();
  }
}
