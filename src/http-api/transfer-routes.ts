import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { runStatement, type RowSink } from '../upstream-query.js';
import { ApiError } from './api-error.js';
import type { ApiContext, ApiScope } from './api-routes.js';
import { collectionFor } from './document-routes.js';
import { ImportLoader } from './import-loader.js';
import { JsonArraySplitter, NdjsonSplitter, type ItemSplitter } from './import-reader.js';
import { CollectionParams, ImportQuery, ImportResult, errors } from './schemas.js';
import { StreamBody } from './stream-body.js';

const NDJSON_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/json-seq'];
const NEWLINE = Buffer.from('\n');

export function registerTransferRoutes(scope: ApiScope, context: ApiContext): void {
  // The import body is a stream of any size: its own scope takes it unparsed.
  void scope.register((child: FastifyInstance, _options, done) => {
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('*', (_request, payload, next) => {
      next(null, payload);
    });
    registerImport(child.withTypeProvider(), context);
    done();
  });
  registerExport(scope, context);
}

function registerImport(scope: ApiScope, context: ApiContext): void {
  scope.post(
    '/collections/:name/import',
    {
      schema: {
        tags: ['transfer'],
        summary:
          'Stream documents in: NDJSON (application/x-ndjson) or a JSON array (application/json), loaded through COPY in batches',
        params: CollectionParams,
        querystring: ImportQuery,
        body: { description: 'NDJSON lines or one JSON array of documents, any size' },
        response: { 200: ImportResult, 422: ImportResult, ...errors(400, 401, 403, 404, 415, 429) },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'write');
      const type =
        (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      const maxItem = context.config().maxImportLineSize;
      let splitter: ItemSplitter;
      if (NDJSON_TYPES.includes(type)) splitter = new NdjsonSplitter(maxItem);
      else if (type === 'application/json') splitter = new JsonArraySplitter(maxItem);
      else
        throw new ApiError(
          415,
          'unsupported_media_type',
          `import takes ${NDJSON_TYPES[0] ?? ''} or application/json, not "${type}"`,
        );
      const body = request.body as IncomingMessage;
      const { documents } = context;
      const table = documents.table(collection);
      const { importBatchSize, importParallel } = context.config();
      const load = async (loader: ImportLoader): Promise<ImportResult> => {
        try {
          for await (const chunk of body) {
            for (const item of splitter.push(chunk as Buffer)) await loader.add(item);
          }
          for (const item of splitter.end()) await loader.add(item);
        } catch (error) {
          await loader.abandon();
          if (error instanceof SyntaxError)
            throw new ApiError(400, 'invalid_body', `body: ${error.message}`, 'body');
          throw error;
        }
        return loader.finish();
      };
      let result: ImportResult;
      if (request.query.atomic ?? false) {
        result = await documents.run(collection, (connection) =>
          load(new ImportLoader(table, importBatchSize, { kind: 'atomic', connection })),
        );
      } else {
        // Parallel batches reserve their ids from the table's sequence (a 404 when it is gone).
        const sequence = importParallel > 1 ? await documents.idSequence(collection) : null;
        result = await load(
          new ImportLoader(table, importBatchSize, {
            kind: 'batches',
            run: (work) => documents.run(collection, work),
            parallel: importParallel,
            sequence,
          }),
        );
      }
      return reply.code(result.committed ? 200 : 422).send(result);
    },
  );
}

function sendStream(reply: FastifyReply, body: StreamBody): FastifyReply {
  return reply.type('application/x-ndjson; charset=utf-8').send(body.readable);
}

function registerExport(scope: ApiScope, context: ApiContext): void {
  scope.get(
    '/collections/:name/export',
    {
      schema: {
        tags: ['transfer'],
        summary: 'Stream every document out as NDJSON, by id, in constant memory',
        params: CollectionParams,
        response: {
          200: { content: { 'application/x-ndjson': { schema: { type: 'string' } } } },
          ...errors(400, 401, 403, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const collection = collectionFor(request, request.params.name, 'read');
      const controller = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) controller.abort();
      });
      const body = new StreamBody();
      let markStarted: () => void = () => undefined;
      const started = new Promise<void>((resolve) => {
        markStarted = resolve;
      });
      let streaming = false;
      const sink: RowSink = {
        columns: () => {
          streaming = true;
          markStarted();
        },
        row: ([doc]) => (doc ? body.push(Buffer.concat([doc, NEWLINE])) : true),
        drained: () => body.drained(),
      };
      const done = context.documents
        .run(collection, (connection) =>
          runStatement(
            connection,
            { sql: `SELECT doc FROM ${context.documents.table(collection)} ORDER BY id`, sink },
            { signal: controller.signal },
          ),
        )
        .then(
          () => {
            body.end();
          },
          (error: unknown) => {
            if (!streaming) throw error;
            body.readable.destroy(new Error('export failed'));
          },
        );
      await Promise.race([started, done]);
      return sendStream(reply, body);
    },
  );
}
