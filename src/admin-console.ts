import * as be from '../protocol/backend-encoders.js';
import { TransactionStatus } from '../protocol/message-codes.js';
import { PgError, SqlState } from '../protocol/pg-error.js';
import { redactConfig } from './config.js';
import type { ServerContext } from './server-context.js';
import type { Session } from './session.js';

/** The virtual database that opens the admin console (as PgBouncer's `pgbouncer` database). */
export { ADMIN_DATABASE } from './config.js';

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

type Cell = string | number | boolean | null;
interface Table {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
}

/**
 * Answer one admin-console statement with the complete reply through ReadyForQuery. Results are
 * ordinary rows, so psql shows them as tables.
 */
export async function answerAdmin(
  sql: string,
  ctx: ServerContext,
  session: Session,
): Promise<Buffer> {
  const words = sql.trim().replace(/;\s*$/, '').split(/\s+/);
  const verb = (words[0] ?? '').toUpperCase();
  const arg = words[1];
  try {
    switch (verb) {
      case '':
        return reply([be.emptyQueryResponse()]);
      case 'SHOW':
        return reply(table(show((arg ?? '').toUpperCase(), ctx), 'SHOW'));
      case 'RELOAD': {
        const message = await ctx.reload();
        session.log.info('RELOAD from the admin console');
        return reply([
          be.noticeResponse({ severity: 'NOTICE', code: '00000', message }),
          be.commandComplete('RELOAD'),
        ]);
      }
      case 'PAUSE':
        await ctx.pools.pause(arg);
        return reply([be.commandComplete('PAUSE')]);
      case 'RESUME':
        ctx.pools.resume(arg);
        return reply([be.commandComplete('RESUME')]);
      case 'SHUTDOWN':
        ctx.requestShutdown();
        return reply([be.commandComplete('SHUTDOWN')]);
      case 'SET':
        return reply(setCommand(words.slice(1).join(' '), ctx));
      default:
        throw new PgError(SqlState.FeatureNotSupported, `unsupported admin command "${verb}"`, {
          hint: 'Try SHOW HELP.',
        });
    }
  } catch (error) {
    const pgError =
      error instanceof PgError
        ? error
        : new PgError(
            SqlState.InternalError,
            error instanceof Error ? error.message : String(error),
          );
    return reply([be.errorFromPgError(pgError)]);
  }
}

function show(what: string, ctx: ServerContext): Table {
  switch (what) {
    case 'HELP':
      return {
        columns: ['command', 'description'],
        rows: [
          [
            'SHOW POOLS',
            'one row per (database, user) pool: mode, size, clients and connections by state',
          ],
          ['SHOW CLIENTS', 'one row per client connection'],
          ['SHOW SERVERS', 'one row per upstream connection'],
          ['SHOW STATS', 'totals per pool'],
          ['SHOW CONFIG', 'the effective configuration (secrets redacted)'],
          ['SHOW VERSION', 'the DocFusionDB version'],
          ['RELOAD', 're-read the config file: users, pool sizes, timeouts, limits, log level'],
          ['PAUSE [db]', 'stop handing out upstream connections; returns when none is in use'],
          ['RESUME [db]', 'undo PAUSE'],
          ['SET log_level = LEVEL', 'change the log level at runtime'],
          ['SHUTDOWN', 'graceful shutdown, as SIGTERM'],
        ],
      };
    case 'POOLS': {
      const sessions = [...ctx.sessions()];
      return {
        columns: [
          'database',
          'user',
          'pool_mode',
          'pool_size',
          'cl_active',
          'cl_idle',
          'sv_active',
          'sv_idle',
          'sv_connecting',
          'cl_waiting',
          'maxwait_ms',
          'paused',
        ],
        rows: ctx.pools.all().map((pool) => {
          const s = pool.stats();
          const mine = sessions.filter(
            (x) => !x.admin && x.user === s.user && x.database === s.database,
          );
          const active = mine.filter((x) => x.upstreamPid !== undefined).length;
          return [
            s.database,
            s.user,
            s.mode,
            s.size,
            active,
            mine.length - active,
            s.active,
            s.idle,
            s.connecting,
            s.waiting,
            s.maxWaitMs,
            s.paused,
          ];
        }),
      };
    }
    case 'CLIENTS':
      return {
        columns: [
          'id',
          'user',
          'database',
          'application_name',
          'address',
          'state',
          'pool_mode',
          'upstream_pid',
          'pinned',
          'connected_at',
        ],
        rows: [...ctx.sessions()].map((x) => [
          x.id,
          x.user,
          x.database,
          x.applicationName,
          x.remote,
          clientState(x),
          x.admin ? 'admin' : (x.poolMode ?? null),
          x.upstreamPid ?? null,
          x.pinned ?? null,
          new Date(x.connectedAt).toISOString(),
        ]),
      };
    case 'SERVERS': {
      const now = Date.now();
      return {
        columns: [
          'database',
          'user',
          'pid',
          'state',
          'age_s',
          'idle_s',
          'prepared_statements',
          'host',
          'port',
        ],
        rows: ctx.pools
          .all()
          .flatMap((pool) =>
            pool
              .connections()
              .map(({ connection, state }) => [
                pool.key.endpoint.database,
                pool.key.user,
                connection.processId,
                state,
                Math.round((now - connection.createdAt) / 1000),
                state === 'idle' ? Math.round((now - connection.lastUsedAt) / 1000) : 0,
                connection.statements.size,
                connection.endpoint.host,
                connection.endpoint.port,
              ]),
          ),
      };
    }
    case 'STATS':
      return {
        columns: ['database', 'user', 'total_acquired', 'total_wait_ms', 'avg_wait_ms'],
        rows: ctx.pools.all().map((pool) => {
          const s = pool.stats();
          return [
            s.database,
            s.user,
            s.totalAcquired,
            s.totalWaitMs,
            s.totalAcquired === 0 ? 0 : Math.round(s.totalWaitMs / s.totalAcquired),
          ];
        }),
      };
    case 'CONFIG':
      return { columns: ['key', 'value'], rows: flatten(redactConfig(ctx.config), '') };
    case 'VERSION':
      return { columns: ['version'], rows: [[`DocFusionDB ${ctx.version}`]] };
    default:
      throw new PgError(SqlState.FeatureNotSupported, `unsupported SHOW "${what}"`, {
        hint: 'Try SHOW HELP.',
      });
  }
}

function setCommand(rest: string, ctx: ServerContext): Buffer[] {
  const match = /^log_level\s*(?:=|to)\s*'?([a-z]+)'?$/i.exec(rest.trim());
  const level = match?.[1]?.toLowerCase();
  if (level === undefined || !LOG_LEVELS.has(level)) {
    throw new PgError(
      SqlState.InvalidParameterValue,
      `SET supports only log_level = ${[...LOG_LEVELS].join(' | ')}`,
    );
  }
  ctx.log.level = level;
  ctx.log.info({ level }, 'log level changed from the admin console');
  return [be.commandComplete('SET')];
}

function clientState(session: Session): string {
  if (session.state !== 'ready') return session.state;
  if (session.busy) return 'active';
  return session.txStatus === TransactionStatus.Idle ? 'idle' : 'idle in transaction';
}

function flatten(value: unknown, prefix: string): [string, string][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, inner]) =>
      flatten(inner, prefix === '' ? key : `${prefix}.${key}`),
    );
  }
  return [[prefix, typeof value === 'string' ? value : JSON.stringify(value)]];
}

function table(data: Table, tag: string): Buffer[] {
  return [
    be.textRowDescription(data.columns),
    ...data.rows.map((row) => be.dataRow(row.map((cell) => (cell === null ? null : String(cell))))),
    be.commandComplete(tag),
  ];
}

function reply(messages: Buffer[]): Buffer {
  return Buffer.concat([...messages, be.readyForQuery(TransactionStatus.Idle)]);
}
