import * as be from '../protocol/backend-encoders.js';
import { TransactionStatus, type TransactionStatusByte } from '../protocol/message-codes.js';
import { PgError } from '../protocol/pg-error.js';
import type { LocalCommand } from './router.js';
import type { ServerContext } from './server-context.js';

const TEXT_OID = 25;

/** The full reply (through ReadyForQuery) to a statement the proxy answers itself. */
export function answerLocal(
  command: LocalCommand,
  ctx: ServerContext,
  txStatus: TransactionStatusByte,
): Buffer {
  if (txStatus === TransactionStatus.Failed) {
    return reply(
      [
        be.errorFromPgError(
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
        be.errorFromPgError(
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
      be.rowDescription([
        {
          name: `docfusion.${command.setting}`,
          tableOid: 0,
          columnAttr: 0,
          typeOid: TEXT_OID,
          typeSize: -1,
          typeModifier: -1,
          format: 0,
        },
      ]),
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
      return 'session';
    default:
      return undefined;
  }
}

function reply(messages: Buffer[], txStatus: TransactionStatusByte): Buffer {
  return Buffer.concat([...messages, be.readyForQuery(txStatus)]);
}
