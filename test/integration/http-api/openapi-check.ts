import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { bufferedResponse, type Transport } from '../../../sdk/transport.js';

interface Operation {
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
}

/**
 * Checks every JSON response the tests receive against the OpenAPI document the server
 * publishes: the status must be documented for the operation, and the body must match its
 * schema. Use `fetch` in place of the global fetch, or `transport(inner)` around an SDK transport.
 */
export class OpenApiCheck {
  readonly failures: string[] = [];
  checked = 0;
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly operations: Operation[];

  private constructor(readonly document: OpenApiDocument) {
    addFormats.default(this.ajv);
    this.ajv.addSchema(document, 'openapi');
    this.operations = Object.entries(document.paths).flatMap(([template, methods]) =>
      Object.keys(methods).map((method) => ({
        method,
        template,
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      })),
    );
  }

  static async load(baseUrl: string): Promise<OpenApiCheck> {
    const response = await fetch(`${baseUrl}/openapi.json`);
    return new OpenApiCheck((await response.json()) as OpenApiDocument);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const url = new URL(
      typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
    );
    const method = (init?.method ?? 'GET').toLowerCase();
    const copy = response.clone();
    await this.check(method, url.pathname, copy.status, copy.headers, () => copy.json());
    return response;
  };

  /** `inner` with every response checked (JSON bodies are read whole to check them). */
  transport(inner: Transport): Transport {
    return async (request) => {
      const response = await inner(request);
      const method = request.method.toLowerCase();
      const path = new URL(request.url).pathname;
      if (!(response.header('content-type') ?? '').startsWith('application/json')) {
        await this.check(method, path, response.status, response.headers(), () => {
          throw new Error('not JSON');
        });
        return response;
      }
      const bytes = await response.bytes();
      await this.check(method, path, response.status, response.headers(), () =>
        Promise.resolve(JSON.parse(new TextDecoder().decode(bytes))),
      );
      return bufferedResponse(response.status, response.headers(), bytes);
    };
  }

  private async check(
    method: string,
    path: string,
    statusCode: number,
    headers: Headers,
    json: () => Promise<unknown>,
  ): Promise<void> {
    const operation = this.operations.find((op) => op.method === method && op.pattern.test(path));
    if (!operation) {
      if (statusCode !== 404) this.failures.push(`${method} ${path}: not in the OpenAPI document`);
      return;
    }
    const responses = this.document.paths[operation.template]?.[method]?.responses ?? {};
    const status = String(statusCode);
    const documented = responses[status];
    if (!documented) {
      this.failures.push(`${method} ${operation.template}: status ${status} is not documented`);
      return;
    }
    const type = headers.get('content-type') ?? '';
    if (!type.startsWith('application/json')) return;
    const pointer = `openapi#/paths/${escape(operation.template)}/${method}/responses/${status}/content/application~1json/schema`;
    if (!documented.content?.['application/json']) {
      this.failures.push(`${method} ${operation.template} ${status}: JSON body not documented`);
      return;
    }
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.getSchema(pointer);
      if (!validate) throw new Error(`no schema at ${pointer}`);
      this.validators.set(pointer, validate);
    }
    const body: unknown = await json();
    this.checked++;
    if (!validate(body)) {
      this.failures.push(
        `${method} ${operation.template} ${status}: ${this.ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 300)}`,
      );
    }
  }
}

function escape(template: string): string {
  return template
    .replace(/~/g, '~0')
    .replace(/\//g, '~1')
    .replace(/\{/g, '%7B')
    .replace(/\}/g, '%7D');
}

export interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>
  >;
  readonly components?: Record<string, unknown>;
}
