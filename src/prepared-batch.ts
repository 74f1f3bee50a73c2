import * as fe from '../protocol/frontend-encoders.js';
import { TransactionStatus } from '../protocol/message-codes.js';
import { PgError, SqlState } from '../protocol/pg-error.js';
import { upstreamStatementName } from './prepared-statements.js';
import type { UpstreamConnection } from './upstream-connection.js';
import type { StatementSpec } from './upstream-query.js';

/*
 * The pipeline of runStatements when some of its statements are `prepared`: those are parsed
 * under their proxy-wide names (prepared-statements.ts) only on connections that lack them, and
 * the connection's record of its statements (`connection.statements`, the one transaction
 * pooling keeps for wire clients) follows what Postgres answered.
 */

/** What a pipeline with prepared statements sent, and what came back of it. */
export interface PreparedBatch {
  readonly request: Buffer;
  /** Filled in by the reader of the replies. */
  readonly progress: BatchProgress;
  /** Whether a failure of this batch is one a fresh Parse can cure, and nothing took effect. */
  retryable(error: PgError): boolean;
  /** The batch failed with `error`: the connection's statements forget what was not prepared. */
  failed(error: unknown): void;
}

/** Counted as replies arrive. */
export interface BatchProgress {
  /** ParseComplete replies: the first `parsed` Parse messages succeeded. */
  parsed: number;
  /** DataRows handed to sinks. */
  rows: number;
}

/** SQLSTATEs of a prepared statement gone or already there under its name, and of a stale plan. */
const PreparedState = {
  UndefinedStatement: '26000',
  DuplicateStatement: '42P05',
  /** "cached plan must not change result type" (DDL changed the table under the statement). */
  StalePlan: SqlState.FeatureNotSupported,
} as const;

const NO_PARAM_TYPES: readonly number[] = [];

/** Statement names by SQL text: a SHA-256 of the text per request is a cost worth skipping. */
const names = new Map<string, string>();
const MAX_NAMES = 1000;

function statementName(sql: string): string {
  let name = names.get(sql);
  if (name === undefined) {
    if (names.size >= MAX_NAMES) names.clear();
    name = upstreamStatementName(sql, NO_PARAM_TYPES);
    names.set(sql, name);
  }
  return name;
}

/**
 * The pipeline for `statements`, preparing the `prepared` ones the connection lacks (or all of
 * them, each closed first, when `fresh`). Statements evicted to make room are closed at the
 * start, before anything that can fail, so the connection never keeps one it is not known to.
 */
export function preparedBatch(
  connection: UpstreamConnection,
  statements: readonly StatementSpec[],
  maxPrepared: number,
  fresh: boolean,
): PreparedBatch {
  const cache = connection.statements;
  const head: Buffer[] = [];
  const body: Buffer[] = [];
  const parses: string[] = [];
  let reused = false;
  for (const statement of statements) {
    const params = { params: statement.params ?? [] };
    if (statement.prepared !== true) {
      parses.push('');
      body.push(fe.parse('', statement.sql), fe.bind(params));
    } else {
      const name = statementName(statement.sql);
      if (!fresh && cache.has(name)) {
        cache.touch(name);
        reused = true;
      } else {
        if (fresh) {
          cache.delete(name);
          head.push(fe.close('S', name));
        }
        for (const evicted of cache.evictionsFor(maxPrepared)) {
          cache.delete(evicted);
          head.push(fe.close('S', evicted));
        }
        // Counted now (so the next eviction sees it); taken back if its Parse fails.
        cache.add(name);
        parses.push(name);
        body.push(fe.parse(name, statement.sql, NO_PARAM_TYPES));
      }
      body.push(fe.bind({ ...params, statement: name }));
    }
    body.push(fe.describe('P'), fe.execute());
  }
  body.push(fe.sync());
  const progress: BatchProgress = { parsed: 0, rows: 0 };
  return {
    request: Buffer.concat([...head, ...body]),
    progress,
    failed: (error) => {
      // A Parse that failed or was skipped after an earlier error prepared nothing; one that
      // failed because the name was taken leaves a statement of that name there.
      const taken = error instanceof PgError && error.code === PreparedState.DuplicateStatement;
      parses.forEach((name, at) => {
        if (name !== '' && at >= progress.parsed && !(taken && at === progress.parsed)) {
          cache.delete(name);
        }
      });
    },
    retryable: (error) =>
      !fresh &&
      progress.rows === 0 &&
      !connection.isClosed &&
      connection.txStatus === TransactionStatus.Idle &&
      (error.code === PreparedState.UndefinedStatement ||
        error.code === PreparedState.DuplicateStatement ||
        (error.code === PreparedState.StalePlan && reused)),
  };
}
