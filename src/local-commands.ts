import * as be from '../protocol/backend-encoders.js';
import { TransactionStatus, type TransactionStatusByte } from '../protocol/message-codes.js';
import { PgError } from '../protocol/pg-error.js';
import { errorsTotal, sqlstateClass } from './metrics.js';
import type { LocalCommand } from './router.js';
import type { ServerContext } from './server-context.js';

/** An ErrorResponse the proxy sends itself, counted like relayed ones. */
function errorReply(error: PgError): Buffer {
  errorsTotal.labels(sqlstateClass(error.code)).inc();
  return be.errorFromPgError(error);
}

/** The full reply (through ReadyForQuery) to a statement the proxy answers itself. */
export function answerLocal(
  command: LocalCommand,
  ctx: ServerContext,
  txStatus: TransactionStatusByte,
): Buffer {
  if (txStatus === TransactionStatus.Failed) {
    return reply(
      [
        errorReply(
          new PgError(
            '25P02',
            'current transaction is aborted, commands ignored until end of transaction block',
          ),
        ),
      ],
      txStatus,
    );
  }
  const value = showSetting(command.setting, ctx);
  if (value === undefined) {
    return reply(
      [
        errorReply(
          new PgError(
            '42704',
            `unrecognized configuration parameter "docfusion.${command.setting}"`,
          ),
        ),
      ],
      txStatus,
    );
  }
  return reply(
    [
      be.textRowDescription([`docfusion.${command.setting}`]),
      be.dataRow([value]),
      be.commandComplete('SHOW'),
    ],
    txStatus,
  );
}

function showSetting(setting: string, ctx: ServerContext): string | undefined {
  switch (setting) {
    case 'version':
      return ctx.version;
    case 'auth_method':
      return ctx.config.auth.method;
    case 'pool_mode':
      return ctx.config.pool.mode;
    case 'status':
      return statusJson(ctx);
    default:
      return undefined;
  }
}

/**
 * The same as `GET /readyz`, over the wire: ready or not (with the reason), sessions and pools.
 * Uses the readiness probe's last result, refreshed in the background every few seconds.
 */
function statusJson(ctx: ServerContext): string {
  const readiness = ctx.readiness?.current;
  void ctx.readiness?.check();
  const pools = ctx.pools.all().map((pool) => pool.stats());
  return JSON.stringify({
    status: readiness?.ok === true ? 'ready' : 'unavailable',
    ...(readiness?.ok === true ? {} : { reason: readiness?.reason ?? 'not checked yet' }),
    checked_at: readiness && readiness.at > 0 ? new Date(readiness.at).toISOString() : null,
    version: ctx.version,
    sessions: [...ctx.sessions()].length,
    pools: pools.map((p) => ({
      database: p.database,
      user: p.user,
      mode: p.mode,
      size: p.size,
      active: p.active,
      idle: p.idle,
      waiting: p.waiting,
    })),
  });
}

function reply(messages: Buffer[], txStatus: TransactionStatusByte): Buffer {
  return Buffer.concat([...messages, be.readyForQuery(txStatus)]);
}
