import { CITIES, COUNTRIES, TABLE, TAG_COUNT } from './doc-corpus.js';

/**
 * The typical selective queries of the UDF benchmark, each as DocFusion SQL (sent through the
 * proxy) and the native JSONB SQL a Postgres user would write for the same rows (sent straight
 * to Postgres). Values are drawn per iteration, so literal queries differ each time (the
 * proxy's plan cache does not hide the planning cost) and parameterised ones repeat their text
 * (as an application's prepared queries do).
 */

export interface Statement {
  readonly text: string;
  /** Bind values: sent with the extended protocol (Parse/Bind/Execute) when present. */
  readonly values?: readonly string[];
}

export interface QueryInstance {
  readonly docfusion: Statement;
  readonly native: Statement;
}

/** The statement with its `$n` parameters spelled as literals (for EXPLAIN). */
export function literalSql(statement: Statement): string {
  const values = statement.values ?? [];
  return statement.text.replace(/\$(\d+)/g, (whole, n: string) => {
    const value = values[Number(n) - 1];
    return value === undefined ? whole : lit(value);
  });
}

export interface QueryShape {
  readonly key: string;
  /** One line for the tables. */
  readonly title: string;
  readonly protocol: 'simple' | 'extended';
  /** Rows come back in a defined order (else they are compared as sets). */
  readonly ordered: boolean;
  /**
   * A query with fresh values. `scope`, when given, limits the query to documents with
   * `id <= scope` (a plain conjunct Postgres evaluates): the pushdown-off runs use it so that a
   * full scan of a large corpus need not be repeated.
   */
  make(random: () => number, docs: number, scope?: number): QueryInstance;
}

const lit = (value: string): string => `'${value.replace(/'/g, "''")}'`;
const pick = <T>(random: () => number, list: readonly T[]): T =>
  list[Math.floor(random() * list.length)] as T;
const docId = (random: () => number, docs: number, scope?: number): number =>
  1 + Math.floor(random() * Math.min(docs, scope ?? docs));
const within = (scope: number | undefined): string =>
  scope === undefined ? '' : ` AND id <= ${String(scope)}`;

export const QUERY_SHAPES: readonly QueryShape[] = [
  {
    key: 'key-literal',
    title: 'point lookup by key: json_extract_path(doc, email) = literal',
    protocol: 'simple',
    ordered: false,
    make(random, docs, scope) {
      const email = `user${String(docId(random, docs, scope))}@example.com`;
      const text = `SELECT id, doc FROM ${TABLE} WHERE json_extract_path(doc, 'email') = ${lit(email)}${within(scope)}`;
      return {
        docfusion: { text },
        native: {
          text: `SELECT id, doc FROM ${TABLE} WHERE doc @> ${lit(JSON.stringify({ email }))}${within(scope)}`,
        },
      };
    },
  },
  {
    key: 'contains-param',
    title: 'point lookup by key: json_contains(doc, $1), extended protocol',
    protocol: 'extended',
    ordered: false,
    make(random, docs, scope) {
      const pattern = JSON.stringify({
        email: `user${String(docId(random, docs, scope))}@example.com`,
      });
      const text = `SELECT id, doc FROM ${TABLE} WHERE json_contains(doc, $1)${within(scope)}`;
      return {
        docfusion: { text, values: [pattern] },
        native: {
          text: `SELECT id, doc FROM ${TABLE} WHERE doc @> $1::jsonb${within(scope)}`,
          values: [pattern],
        },
      };
    },
  },
  {
    key: 'nested-contains',
    title: 'containment on a nested pattern (address.city, account.plan, tags[])',
    protocol: 'simple',
    ordered: false,
    make(random, _docs, scope) {
      const pattern = lit(
        JSON.stringify({
          address: { city: pick(random, CITIES) },
          account: { plan: 'enterprise' },
          tags: [`tag${String(Math.floor(random() * TAG_COUNT))}`],
        }),
      );
      return {
        docfusion: {
          text: `SELECT id, json_extract_path(doc, 'name') AS name, json_extract_path(doc, 'address', 'zip') AS zip FROM ${TABLE} WHERE json_contains(doc, ${pattern})${within(scope)}`,
        },
        native: {
          text: `SELECT id, doc #>> '{name}' AS name, doc #>> '{address,zip}' AS zip FROM ${TABLE} WHERE doc @> ${pattern}${within(scope)}`,
        },
      };
    },
  },
  {
    key: 'filter-order-limit',
    title: 'extracted-field filter + ORDER BY extracted field + LIMIT 10',
    protocol: 'simple',
    ordered: true,
    make(random, _docs, scope) {
      const country = pick(random, COUNTRIES);
      const text = `SELECT id, json_extract_path(doc, 'name') AS name, json_extract_path(doc, 'created_at') AS created_at FROM ${TABLE} WHERE json_extract_path(doc, 'country') = ${lit(country)} AND json_extract_path(doc, 'status') = 'pending'${within(scope)} ORDER BY json_extract_path(doc, 'created_at') DESC, id LIMIT 10`;
      return {
        docfusion: { text },
        native: {
          text: `SELECT id, doc #>> '{name}' AS name, doc #>> '{created_at}' AS created_at FROM ${TABLE} WHERE doc @> ${lit(JSON.stringify({ country, status: 'pending' }))}${within(scope)} ORDER BY doc #>> '{created_at}' DESC, id LIMIT 10`,
        },
      };
    },
  },
  {
    key: 'pk-extract',
    title: 'primary-key lookup, 3 extracted fields (nested paths), extended protocol',
    protocol: 'extended',
    ordered: false,
    make(random, docs, scope) {
      // The primary key already limits the scan to one row.
      const id = String(docId(random, docs, scope));
      const text = `SELECT json_extract_path(doc, 'name') AS name, json_extract_path(doc, 'address', 'city') AS city, json_extract_path(doc, 'account', 'plan') AS plan FROM ${TABLE} WHERE id = $1`;
      return {
        docfusion: { text, values: [id] },
        native: {
          text: `SELECT doc #>> '{name}' AS name, doc #>> '{address,city}' AS city, doc #>> '{account,plan}' AS plan FROM ${TABLE} WHERE id = $1`,
          values: [id],
        },
      };
    },
  },
];

/**
 * A JSON Schema (2020-12) the generated documents satisfy, except those whose age is 77 (about
 * 1 in 60, the only rows `NOT json_schema_valid` returns).
 */
export const DOC_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['id', 'email', 'name', 'status', 'country', 'age', 'tags', 'address', 'account'],
  properties: {
    id: { type: 'integer', minimum: 1 },
    email: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$' },
    name: { type: 'string', minLength: 1 },
    status: { enum: ['active', 'inactive', 'pending', 'banned'] },
    country: { type: 'string', pattern: '^[A-Z]{2}$' },
    age: { type: 'integer', minimum: 18, maximum: 76 },
    score: { type: 'number', minimum: 0 },
    verified: { type: 'boolean' },
    created_at: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 10 },
    address: {
      type: 'object',
      required: ['city', 'zip'],
      properties: {
        street: { type: 'string' },
        city: { type: 'string' },
        zip: { type: 'string', pattern: '^[0-9]{5}$' },
        geo: {
          type: 'object',
          properties: {
            lat: { type: 'number', minimum: -90, maximum: 90 },
            lon: { type: 'number', minimum: -180, maximum: 180 },
          },
        },
      },
    },
    account: {
      type: 'object',
      required: ['plan'],
      properties: {
        plan: { enum: ['free', 'pro', 'team', 'enterprise'] },
        seats: { type: 'integer', minimum: 1 },
        flags: { type: 'object', additionalProperties: { type: 'boolean' } },
      },
    },
    history: {
      type: 'array',
      items: {
        type: 'object',
        required: ['event', 'at'],
        properties: { event: { type: 'string' }, amount: { type: 'number' } },
      },
    },
  },
} as const;

/** json_schema_valid over the first `rows` documents: returns the invalid ones. */
export function schemaQuery(rows: number): string {
  return `SELECT id FROM ${TABLE} WHERE id <= ${String(rows)} AND NOT json_schema_valid(doc, ${lit(JSON.stringify(DOC_SCHEMA))})`;
}

/** The same rows' invalid documents by native SQL (what json_schema_valid should find). */
export function schemaOracle(rows: number): string {
  return `SELECT id FROM ${TABLE} WHERE id <= ${String(rows)} AND (doc->>'age')::int > 76`;
}

/** Reference: a cheap function over the same documents in the proxy (JSON parse + @>). */
export function containsOffQuery(rows: number): string {
  return `SELECT id FROM ${TABLE} WHERE id <= ${String(rows)} AND json_contains(doc, '{"status": "banned", "account": {"plan": "enterprise"}}')`;
}

/** Reference: the documents fetched straight from Postgres by the client. */
export function fetchDocsQuery(rows: number): string {
  return `SELECT id, doc FROM ${TABLE} WHERE id <= ${String(rows)}`;
}
