import { isUtf8 } from 'node:buffer';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Frame } from '../protocol/frame-reader.js';
import * as be from '../protocol/backend-encoders.js';
import * as fe from '../protocol/frontend-encoders.js';
import { decodeParse, type ParseMessage } from '../protocol/frontend-decoders.js';
import { BackendCode, FrontendCode, TransactionStatus } from '../protocol/message-codes.js';
import { PgError, SqlState } from '../protocol/pg-error.js';
import type { Plan } from '../planner/planner.js';
import { errorsTotal, sqlstateClass } from './metrics.js';
import { mentionsDocfusion } from './router.js';
import type { PlanService } from './plan-service.js';
import type { ReplyTransform } from './response-tracker.js';
import type { FrameAction, FrameActions, UpstreamLink } from './upstream-link.js';
import type { UpstreamEndpoint } from './upstream-target.js';
import { ExplainAnalyze } from './explain-analyze.js';
import { frameOf, rawFrame } from './frame-of.js';
import { ResidualStatements } from './residual-statements.js';
import { settingValue } from './session-params.js';
import { failingParse, failingQuery, replacementFor } from './planning-failure.js';
import {
  changesSettings,
  PUSHDOWN,
  pushdownIn,
  SET_PUSHDOWN,
  SHOW_PUSHDOWN,
} from './pushdown-setting.js';

const EXTRA_FLOAT_DIGITS = 'extra_float_digits';

/** What the stage needs from its session. */
export interface StageOwner {
  readonly log: Logger;
  readonly link: UpstreamLink | undefined;
  readonly endpoint: UpstreamEndpoint;
  pauseClient(): void;
  resumeClient(): void;
  /** Planning failed unexpectedly (not a PgError): end the session. */
  fail(error: unknown): void;
}

const FLUSH = frameOf(fe.flush());
const DDL = /^\s*(?:create|alter|drop|truncate|comment)\b/i;

/**
 * Between a session and its upstream link: every Query and Parse passes the planner's
 * prefilter; the few that may call DocFusion functions are planned (asynchronously the first
 * time, when the catalog must be read) and replaced by their pushed-down SQL, answered by the
 * proxy, or given a transform that computes their rows. Frames stay in order: while a plan is
 * being made the client is paused and later frames wait behind it.
 */
export class PlanningStage {
  private readonly waiting: Frame[] = [];
  private draining = false;
  /** A planning error answered a Parse: Postgres-style, messages up to Sync are skipped. */
  private skipToSync = false;
  private readonly residual = new ResidualStatements(() => this.extraFloatDigits);
  /** The last frame the prefilter passed in needsWork, so decideNow need not scan it again. */
  private prefiltered: Frame | undefined;

  constructor(
    private readonly owner: StageOwner,
    private readonly service: PlanService,
    private readonly defaultPushdown: boolean,
  ) {}

  /**
   * `docfusion.pushdown` as the session has it now. SET, SET LOCAL and RESET go to Postgres (which
   * keeps the value as a placeholder setting, in and out of transactions); the upstream link
   * follows them with the client's other settings (src/session-params.ts), transactions and
   * savepoints included, so ROLLBACK undoes them as in Postgres.
   */
  get pushdown(): boolean {
    const sql = this.owner.link?.setting(PUSHDOWN);
    return (sql === undefined ? undefined : pushdownIn(sql)) ?? this.defaultPushdown;
  }

  /**
   * `extra_float_digits` as the session set it (its startup parameter, SET, SET LOCAL, RESET),
   * for the double precision values the proxy prints; Postgres's default, 1, when the client
   * did not set it (a database or role default set upstream is not seen).
   */
  get extraFloatDigits(): number {
    const sql = this.owner.link?.setting(EXTRA_FLOAT_DIGITS);
    const value =
      sql === undefined
        ? undefined
        : Number.parseInt(settingValue(sql, EXTRA_FLOAT_DIGITS) ?? '', 10);
    return value === undefined || Number.isNaN(value) ? 1 : value;
  }

  fromClient(frames: Frame[], chunk: Buffer): void {
    if (!this.draining && !this.skipToSync && !frames.some((f) => this.needsWork(f))) {
      this.owner.link?.fromClient(frames, chunk);
      return;
    }
    this.waiting.push(...frames);
    if (!this.draining) void this.drain();
  }

  private needsWork(frame: Frame): boolean {
    switch (frame.type) {
      case FrontendCode.Query:
      case FrontendCode.Parse:
        if (this.service.mayPlan(frame.body)) {
          this.prefiltered = frame;
          return true;
        }
        return mentionsDocfusion(frame.body) || isDdl(frame);
      case FrontendCode.Bind:
      case FrontendCode.Describe:
      case FrontendCode.Execute:
      case FrontendCode.Close:
        return this.residual.active;
      default:
        return false;
    }
  }

  private async drain(): Promise<void> {
    this.draining = true;
    this.owner.pauseClient();
    try {
      let out: Frame[] = [];
      const actions: FrameActions = new Map();
      const flush = (): void => {
        if (out.length > 0) this.owner.link?.fromClient(out, undefined, actions);
        out = [];
        actions.clear();
      };
      /** `out` holds a statement that may change settings (see dependsOnSettings). */
      let outChangesSettings = false;
      for (let frame = this.waiting.shift(); frame; frame = this.waiting.shift()) {
        if (this.skipToSync) {
          if (frame.type !== FrontendCode.Sync) continue;
          this.skipToSync = false;
        }
        if (frame.type === FrontendCode.Query || frame.type === FrontendCode.Parse) {
          if (outChangesSettings && this.dependsOnSettings(frame)) {
            flush();
            outChangesSettings = false;
          }
          await this.settingsSettled(frame);
          outChangesSettings ||= changesSettings(frame);
        }
        let decided = this.decideNow(frame);
        if (decided === undefined) {
          flush();
          decided = await this.decideLater(frame);
        }
        for (const d of decided.before ? [decided.before, decided] : [decided]) {
          out.push(d.frame);
          if (d.action !== undefined) actions.set(d.frame, d.action);
        }
      }
      flush();
    } catch (error) {
      this.owner.fail(error);
      return;
    } finally {
      this.draining = false;
    }
    this.owner.resumeClient();
  }

  /** A statement whose planning or answer depends on docfusion.pushdown. */
  private dependsOnSettings(frame: Frame): boolean {
    return (
      this.prefiltered === frame ||
      mentionsDocfusion(frame.body) ||
      this.service.mayPlan(sqlOf(frame).sql)
    );
  }

  /**
   * Before a statement that depends on docfusion.pushdown: wait until the statements in flight
   * that may change it (SET, ROLLBACK, …) have their replies, so it is planned with the value
   * Postgres has when it runs (a pipelined `ROLLBACK` then a DocFusion query).
   */
  private async settingsSettled(frame: Frame): Promise<void> {
    const link = this.owner.link;
    const settled = link?.settled();
    if (link === undefined || settled === undefined || !this.dependsOnSettings(frame)) return;
    // Postgres holds the replies of an open extended-protocol batch until Sync or Flush (and a
    // batch may still be queued for a connection, so the link cannot tell yet).
    link.fromClient([FLUSH], undefined);
    await settled;
  }

  /** The decision for a frame when no planning (or only a cached plan) is needed. */
  private decideNow(frame: Frame): Decision | undefined {
    if (frame.type === FrontendCode.Query) {
      const local = this.localCommand(frame.body);
      if (local !== undefined) return local(frame);
    }
    if (frame.type !== FrontendCode.Query && frame.type !== FrontendCode.Parse) {
      return (this.residual.active ? this.residual.decide(frame) : undefined) ?? { frame };
    }
    const passed = this.prefiltered === frame;
    this.prefiltered = undefined;
    if (isDdl(frame)) this.service.invalidate();
    const text = sqlOf(frame);
    if (!passed && !this.service.mayPlan(text.sql)) {
      this.residual.forget(frame);
      return { frame };
    }
    const plan = this.service.cached(this.owner.endpoint, text.sql, this.options(text));
    return plan === undefined ? undefined : this.apply(frame, text, plan);
  }

  private async decideLater(frame: Frame): Promise<Decision> {
    const text = sqlOf(frame);
    try {
      const plan = await this.service.plan(this.owner.endpoint, text.sql, this.options(text));
      return this.apply(frame, text, plan);
    } catch (error) {
      if (error instanceof PgError) return this.refuse(frame, error);
      // The catalog could not be read (upstream down, permissions): this statement fails,
      // the session goes on.
      this.owner.log.warn({ err: error }, 'DocFusion planner could not read the upstream catalog');
      const failure =
        error instanceof pg.DatabaseError && error.code !== undefined
          ? new PgError(error.code, `DocFusion could not read column types: ${error.message}`)
          : new PgError(
              SqlState.ConnectionFailure,
              'DocFusion could not reach the upstream Postgres to read column types',
            );
      return this.refuse(frame, failure);
    }
  }

  private options(text: StatementText): { pushdown: boolean; paramTypes: readonly number[] } {
    return { pushdown: this.pushdown, paramTypes: text.paramTypes };
  }

  private apply(frame: Frame, text: StatementText, plan: Plan): Decision {
    // The Parse message is decoded (for its name) only when its statement is kept by name.
    const parse = (): ParseMessage | undefined =>
      frame.type === FrontendCode.Parse ? decodeParse(frame.body) : undefined;
    switch (plan.kind) {
      case 'forward':
        this.residual.forget(frame);
        return { frame };
      case 'rewrite':
        this.residual.forget(frame);
        return { frame: replaced(frame, text, plan.sql), action: PLANNED };
      case 'explain': {
        const message = parse();
        if (message !== undefined) return this.residual.explain(message, plan.sql, plan.lines);
        if (plan.analyze !== undefined) {
          // The pushed query runs once through the proxy's operators (for their rows and time),
          // then once under Postgres's EXPLAIN ANALYZE.
          return {
            frame: replacedQuery(`${plan.analyze.pushedSql}; ${plan.sql}`),
            action: { kind: 'transform', transform: new ExplainAnalyze(plan.analyze, plan.lines) },
          };
        }
        return {
          frame: replacedQuery(plan.sql),
          action: { kind: 'transform', transform: prependRows(plan.lines) },
        };
      }
      case 'residual':
        return this.residual.start(frame, parse(), plan.plan);
    }
  }

  /**
   * A planning error, answered in order. A Parse (after which messages up to Sync are skipped),
   * or a Query that may run inside a transaction, is replaced by a statement that fails upstream
   * too, so the transaction fails as Postgres would fail it (src/planning-failure.ts).
   */
  private refuse(frame: Frame, error: PgError): Decision {
    const link = this.owner.link;
    if (frame.type === FrontendCode.Parse) {
      this.skipToSync = true;
      const name = decodeParse(frame.body).name;
      return { frame: failingParse(name, error), action: failAction(error) };
    }
    // Outside a transaction, with nothing in flight that may start one: the proxy answers.
    if (link === undefined || (link.txStatus === TransactionStatus.Idle && !link.busy)) {
      errorsTotal.labels(sqlstateClass(error.code)).inc();
      const status = link?.txStatus ?? TransactionStatus.Idle;
      return answer(
        frame,
        'query',
        Buffer.concat([be.errorFromPgError(error), be.readyForQuery(status)]),
      );
    }
    return { frame: failingQuery(error), action: failAction(error) };
  }

  /** SHOW docfusion.pushdown, and SET docfusion.pushdown to a value that is not Boolean. */
  private localCommand(body: Buffer): ((frame: Frame) => Decision) | undefined {
    if (!mentionsDocfusion(body)) return undefined;
    const sql = body.toString('utf8', 0, Math.max(0, body.length - 1));
    const set = SET_PUSHDOWN.exec(sql);
    if (set?.[1] !== undefined && pushdownIn(sql) === undefined && !/^default$/i.test(set[1])) {
      const value = set[1];
      return (frame) =>
        this.refuse(
          frame,
          new PgError(
            SqlState.InvalidParameterValue,
            `parameter "${PUSHDOWN}" requires a Boolean value`,
            { detail: `Got ${value}.` },
          ),
        );
    }
    if (!SHOW_PUSHDOWN.test(sql)) return undefined;
    return (frame) => {
      const status = this.owner.link?.txStatus ?? TransactionStatus.Idle;
      if (status === TransactionStatus.Failed) {
        // As Postgres: nothing but ROLLBACK in a failed transaction.
        errorsTotal.labels(sqlstateClass('25P02')).inc();
        return answer(
          frame,
          'query',
          Buffer.concat([
            be.errorFromPgError(
              new PgError(
                '25P02',
                'current transaction is aborted, commands ignored until end of transaction block',
              ),
            ),
            be.readyForQuery(status),
          ]),
        );
      }
      return answer(
        frame,
        'query',
        Buffer.concat([
          be.textRowDescription([PUSHDOWN]),
          be.dataRow([this.pushdown ? 'on' : 'off']),
          be.commandComplete('SHOW'),
          be.readyForQuery(status),
        ]),
      );
    };
  }
}

export interface Decision {
  readonly frame: Frame;
  readonly action?: FrameAction;
  /** A frame the proxy sends first (a Describe injected before Execute). */
  readonly before?: Decision;
}

/** The SQL of a Query or Parse, as views into the message body (nothing decoded). */
interface StatementText {
  readonly sql: Buffer;
  readonly paramTypes: readonly number[];
  /** Parse: the statement name with its terminator, and the parameter types as sent. */
  readonly name?: Buffer;
  readonly types?: Buffer;
}

const NO_TYPES: readonly number[] = [];
const PLANNED: FrameAction = { kind: 'planned' };

function sqlOf(frame: Frame): StatementText {
  const body = frame.body;
  if (frame.type === FrontendCode.Query) {
    return { sql: body.subarray(0, Math.max(0, body.length - 1)), paramTypes: NO_TYPES };
  }
  // Parse: name\0 sql\0 int16 count, count × int32 type OIDs. Anything else (or text that is
  // not UTF-8) is left to decodeParse, which throws the protocol error it always did.
  const nameEnd = body.indexOf(0);
  const sqlEnd = nameEnd < 0 ? -1 : body.indexOf(0, nameEnd + 1);
  const count = sqlEnd < 0 || sqlEnd + 3 > body.length ? -1 : body.readInt16BE(sqlEnd + 1);
  if (count < 0 || body.length !== sqlEnd + 3 + 4 * count || !isUtf8(body.subarray(0, sqlEnd))) {
    const parse = decodeParse(body);
    return { sql: Buffer.from(parse.sql), paramTypes: parse.paramTypes };
  }
  const paramTypes = new Array<number>(count);
  for (let i = 0; i < count; i++) paramTypes[i] = body.readUInt32BE(sqlEnd + 3 + 4 * i);
  return {
    sql: body.subarray(nameEnd + 1, sqlEnd),
    paramTypes,
    name: body.subarray(0, nameEnd + 1),
    types: body.subarray(sqlEnd + 1),
  };
}

function answer(frame: Frame, expect: 'query' | 'parse', bytes: Buffer): Decision {
  return { frame, action: { kind: 'answer', expect, bytes } };
}

function replacedQuery(sql: string): Frame {
  if (sql.includes('\0')) throw new Error('cannot write a C string containing NUL');
  const length = 4 + Buffer.byteLength(sql) + 1;
  const out = Buffer.allocUnsafe(1 + length);
  out[0] = FrontendCode.Query;
  out.writeInt32BE(length, 1);
  out[out.write(sql, 5, 'utf8') + 5] = 0;
  return frameOf(out);
}

/** The Query or Parse with its SQL replaced (a Parse keeps its name and parameter types). */
function replaced(frame: Frame, text: StatementText, sql: string): Frame {
  if (frame.type === FrontendCode.Query) return replacedQuery(sql);
  if (text.name === undefined || text.types === undefined) {
    const parse = decodeParse(frame.body);
    return frameOf(fe.parse(parse.name, sql, parse.paramTypes));
  }
  if (sql.includes('\0')) throw new Error('cannot write a C string containing NUL');
  const sqlBytes = Buffer.byteLength(sql);
  const length = 4 + text.name.length + sqlBytes + 1 + text.types.length;
  const out = Buffer.allocUnsafe(1 + length);
  out[0] = FrontendCode.Parse;
  out.writeInt32BE(length, 1);
  let at = 5 + text.name.copy(out, 5);
  at += out.write(sql, at, 'utf8');
  out[at++] = 0;
  text.types.copy(out, at);
  return frameOf(out);
}

/** CREATE, ALTER, DROP, TRUNCATE or COMMENT: column types may change. */
function isDdl(frame: Frame): boolean {
  const body = frame.body;
  const start = frame.type === FrontendCode.Parse ? body.indexOf(0) + 1 : 0;
  let i = start;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x09)) i++;
  const first = body[i] ?? 0;
  // A first-letter test before the regex: most statements are SELECT, INSERT, UPDATE, BEGIN…
  if (!'cadtCADT'.includes(String.fromCharCode(first))) return false;
  return DDL.test(body.toString('latin1', i, Math.min(body.length, i + 64)));
}

function failAction(error: PgError): FrameAction {
  return { kind: 'fail', replaceError: replacementFor(error) };
}

/** EXPLAIN: the DocFusion plan lines go first, then Postgres's plan rows. */
function prependRows(lines: readonly string[]): ReplyTransform {
  let sent = false;
  return {
    onFrame(type, body) {
      const frame = rawFrame(type, body);
      if (type !== BackendCode.RowDescription || sent) return [frame];
      sent = true;
      return [frame, ...lines.map((line) => be.dataRow([line]))];
    },
  };
}
