import client from 'prom-client';
import { BatchedHistogram } from './batched-histogram.js';

/**
 * Every DocFusionDB metric, declared in this one module (names prefixed `docfusion_`).
 * Labels are bounded: routes, command tags from a fixed list, SQLSTATE classes, pool names
 * (one per configured database/user target), never SQL text or user-supplied values.
 * Gauges of current state are computed at scrape time by collectors the server registers.
 */
export const registry = new client.Registry();

client.collectDefaultMetrics({ register: registry, prefix: 'docfusion_' });

export type Route = 'passthrough' | 'planned' | 'local';

const scrapeHooks = new Set<() => void>();

/**
 * Register a function that fills the state gauges at scrape time (each running server adds
 * its sessions and pools). Returns the function that unregisters it.
 */
export function onScrape(hook: () => void): () => void {
  scrapeHooks.add(hook);
  return () => scrapeHooks.delete(hook);
}

export const clientConnections = new client.Gauge({
  name: 'docfusion_client_connections',
  help: 'Client connections by state (startup: not logged in yet; waiting: for an upstream connection; active: statement in flight; in_transaction: idle inside a transaction; idle).',
  labelNames: ['state'] as const,
  registers: [registry],
  collect() {
    // The first gauge collected resets and refills every state gauge.
    clientConnections.reset();
    upstreamConnections.reset();
    poolSize.reset();
    for (const state of ['startup', 'waiting', 'active', 'in_transaction', 'idle'])
      clientConnections.labels(state).set(0);
    for (const hook of scrapeHooks) hook();
  },
});

export const upstreamConnections = new client.Gauge({
  name: 'docfusion_upstream_connections',
  help: 'Upstream connections per pool by state (active: leased to a client).',
  labelNames: ['pool', 'state'] as const,
  registers: [registry],
});

export const poolSize = new client.Gauge({
  name: 'docfusion_pool_size',
  help: 'Configured size of each pool.',
  labelNames: ['pool'] as const,
  registers: [registry],
});

/** Observed on every lease: a BatchedHistogram (keep the pool's cell, `cell(pool)`). */
export const poolWaitSeconds = new BatchedHistogram({
  name: 'docfusion_pool_checkout_wait_seconds',
  help: 'Time a client waited for an upstream connection from its pool.',
  labelNames: ['pool'] as const,
  buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [registry],
});

/** Observed on every statement: a BatchedHistogram (keep the cells, `cell(route, command)`). */
export const statementSeconds = new BatchedHistogram({
  name: 'docfusion_statement_duration_seconds',
  help: 'Statement duration seen by the proxy, from the request to its ReadyForQuery, by route and command tag.',
  labelNames: ['route', 'command'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});

/**
 * Bytes to and from clients: plain counters on the hot path (one addition per chunk), copied
 * into the Prometheus counter when it is scraped.
 */
export const bytes = { in: 0, out: 0 };

export const bytesTotal = new client.Counter({
  name: 'docfusion_client_bytes_total',
  help: 'Bytes received from (in) and sent to (out) clients over the wire protocol.',
  labelNames: ['direction'] as const,
  registers: [registry],
  collect() {
    bytesTotal.reset();
    bytesTotal.labels('in').inc(bytes.in);
    bytesTotal.labels('out').inc(bytes.out);
  },
});

/** Plan cache lookups of planned statements: `shape` and `text` hits, and misses (planned). */
export const planCacheLookups = new client.Counter({
  name: 'docfusion_plan_cache_lookups_total',
  help: 'Plan cache lookups for statements that may call DocFusion functions, by result (shape: a plan shared by statements differing only in constants; text: a plan cached for this exact text; miss: planned).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const errorsTotal = new client.Counter({
  name: 'docfusion_errors_total',
  help: 'ErrorResponses sent to clients, by SQLSTATE class (first two characters).',
  labelNames: ['class'] as const,
  registers: [registry],
});

export const authFailures = new client.Counter({
  name: 'docfusion_auth_failures_total',
  help: 'Client authentication failures, by method.',
  labelNames: ['method'] as const,
  registers: [registry],
});

export const cancels = new client.Counter({
  name: 'docfusion_cancel_requests_total',
  help: 'Cancel requests from clients: forwarded to the upstream backend, ignored (nothing running) or unknown key.',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const sessionsTotal = new client.Counter({
  name: 'docfusion_client_sessions_total',
  help: 'Client connections accepted, by outcome: ready (logged in), refused (before login) .',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const upstreamConnectsTotal = new client.Counter({
  name: 'docfusion_upstream_connects_total',
  help: 'Upstream connection attempts, by result.',
  labelNames: ['result'] as const,
  registers: [registry],
});

/** Command tags used as labels: anything else is OTHER. */
const COMMANDS = new Set([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'MERGE',
  'COPY',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SET',
  'SHOW',
  'CREATE',
  'DROP',
  'ALTER',
  'TRUNCATE',
  'FETCH',
  'MOVE',
  'DECLARE',
  'CLOSE',
  'PREPARE',
  'EXECUTE',
  'DEALLOCATE',
  'DISCARD',
  'LISTEN',
  'NOTIFY',
  'UNLISTEN',
  'VACUUM',
  'ANALYZE',
  'EXPLAIN',
  'GRANT',
  'REVOKE',
  'LOCK',
  'SAVEPOINT',
  'RELEASE',
  'DO',
  'CALL',
  'RESET',
  'START',
]);

/**
 * The label for a CommandComplete tag or its first word ("INSERT 0 1" → INSERT, "CREATE TABLE"
 * → CREATE, "" → NONE).
 */
export function commandLabel(tag: string): string {
  const space = tag.indexOf(' ');
  const word = space < 0 ? tag : tag.slice(0, space);
  return COMMANDS.has(word) ? word : tag === '' ? 'NONE' : 'OTHER';
}

/** The SQLSTATE class label of an error code. */
export function sqlstateClass(code: string): string {
  return /^[0-9A-Z]{5}$/.test(code) ? code.slice(0, 2) : 'XX';
}
