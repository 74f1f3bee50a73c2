import type { Frame } from '../protocol/frame-reader.js';
import * as fe from '../protocol/frontend-encoders.js';
import {
  decodeBind,
  decodeClose,
  decodeDescribe,
  decodeExecute,
  decodeParse,
  type ParseMessage,
} from '../protocol/frontend-decoders.js';
import * as be from '../protocol/backend-encoders.js';
import { BackendCode, FrontendCode } from '../protocol/message-codes.js';
import {
  CursorContinuation,
  ResidualExecutor,
  type ExecutionState,
  type PortalCursor,
} from '../planner/residual-executor.js';
import type { ResidualPlan } from '../planner/residual-plan.js';
import type { Decision } from './planning-stage.js';
import { frameOf, rawFrame } from './frame-of.js';
import type { ReplyTransform } from './response-tracker.js';

interface Portal {
  readonly plan: ResidualPlan;
  readonly formats: readonly number[];
  /** Rows kept for the next Execute of a portal read with a row limit. */
  cursor?: PortalCursor | undefined;
}

/**
 * Statements and portals whose rows the proxy computes (residual plans), by the client's names.
 * Their Parse carries the pushed query; Bind asks Postgres for text where the proxy reads
 * values and for the client's format where columns pass through; Describe and Execute replies
 * are rewritten by a ResidualExecutor. An Execute is preceded by a Describe the proxy injects
 * (its reply swallowed), since Execute replies carry no column types.
 */
export class ResidualStatements {
  private readonly statements = new Map<string, ResidualPlan>();
  private readonly portals = new Map<string, Portal>();
  /** EXPLAIN statements and portals: the DocFusion plan lines go before Postgres's rows. */
  private readonly explains = new Map<string, readonly string[]>();
  private readonly explainPortals = new Map<string, readonly string[]>();

  constructor(
    /** The session's extra_float_digits now, for double precision values the proxy prints. */
    private readonly extraFloatDigits: () => number = () => 1,
  ) {}

  get active(): boolean {
    return (
      this.statements.size > 0 ||
      this.portals.size > 0 ||
      this.explains.size > 0 ||
      this.explainPortals.size > 0
    );
  }

  /** A Parse of EXPLAIN of a planned statement. */
  explain(parse: ParseMessage, sql: string, lines: readonly string[]): Decision {
    this.statements.delete(parse.name);
    this.explains.set(parse.name, lines);
    return {
      frame: frameOf(fe.parse(parse.name, sql, parse.paramTypes)),
      action: { kind: 'planned' },
    };
  }

  /** A plan for a Query or Parse. */
  start(frame: Frame, parse: ParseMessage | undefined, plan: ResidualPlan): Decision {
    if (parse === undefined) {
      this.portals.delete('');
      this.statements.delete('');
      const executor = new ResidualExecutor(plan, [], 'query', undefined, undefined, {
        extraFloatDigits: this.extraFloatDigits(),
      });
      return {
        frame: frameOf(fe.query(plan.pushedSql)),
        action: { kind: 'transform', transform: executor },
      };
    }
    this.statements.set(parse.name, plan);
    return {
      frame: frameOf(fe.parse(parse.name, plan.pushedSql, parse.paramTypes)),
      action: { kind: 'planned' },
    };
  }

  /** A Query or Parse that is not residual replaces the unnamed (or same-named) statement. */
  forget(frame: Frame): void {
    if (!this.active) return;
    if (frame.type === FrontendCode.Query) {
      this.statements.delete('');
      this.portals.delete('');
      this.explains.delete('');
      this.explainPortals.delete('');
      return;
    }
    const name = decodeParse(frame.body).name;
    this.statements.delete(name);
    this.explains.delete(name);
  }

  /** Bind, Describe, Execute and Close of residual statements and portals. */
  decide(frame: Frame): Decision | undefined {
    switch (frame.type) {
      case FrontendCode.Bind: {
        const bind = decodeBind(frame.body);
        const plan = this.statements.get(bind.statement);
        const lines = this.explains.get(bind.statement);
        if (lines !== undefined) this.explainPortals.set(bind.portal, lines);
        else this.explainPortals.delete(bind.portal);
        if (plan === undefined) {
          this.portals.delete(bind.portal);
          return undefined;
        }
        this.portals.set(bind.portal, { plan, formats: bind.resultFormats });
        const formats = pushedFormats(plan, bind.resultFormats);
        return {
          frame: frameOf(
            fe.bind({
              portal: bind.portal,
              statement: bind.statement,
              params: bind.params,
              paramFormats: bind.paramFormats,
              resultFormats: formats,
            }),
          ),
        };
      }
      case FrontendCode.Describe: {
        const describe = decodeDescribe(frame.body);
        const portal = describe.target === 'P' ? this.portals.get(describe.name) : undefined;
        const plan = describe.target === 'S' ? this.statements.get(describe.name) : portal?.plan;
        if (plan === undefined) return undefined;
        const executor = new ResidualExecutor(plan, portal?.formats ?? [], 'describe');
        return { frame, action: { kind: 'transform', transform: executor } };
      }
      case FrontendCode.Execute: {
        const execute = decodeExecute(frame.body);
        const lines = this.explainPortals.get(execute.portal);
        if (lines !== undefined) {
          this.explainPortals.delete(execute.portal);
          return { frame, action: { kind: 'transform', transform: rowsFirst(lines) } };
        }
        const portal = this.portals.get(execute.portal);
        if (portal === undefined) return undefined;
        if (portal.cursor !== undefined) {
          // Postgres ran the pushed query to completion already; the rows wait in the proxy.
          return {
            frame: frameOf(fe.execute(execute.portal, 0)),
            action: {
              kind: 'transform',
              transform: new CursorContinuation(portal.cursor, execute.maxRows),
            },
          };
        }
        const cursor: PortalCursor | undefined =
          execute.maxRows > 0 ? { maxRows: execute.maxRows, pending: [] } : undefined;
        portal.cursor = cursor;
        const state: ExecutionState = { fields: undefined };
        const describe = frameOf(fe.describe('P', execute.portal));
        return {
          before: {
            frame: describe,
            action: {
              kind: 'transform',
              transform: new ResidualExecutor(
                portal.plan,
                portal.formats,
                'inject-describe',
                state,
              ),
            },
          },
          frame: cursor === undefined ? frame : frameOf(fe.execute(execute.portal, 0)),
          action: {
            kind: 'transform',
            transform: new ResidualExecutor(portal.plan, portal.formats, 'execute', state, cursor, {
              extraFloatDigits: this.extraFloatDigits(),
            }),
          },
        };
      }
      case FrontendCode.Close: {
        const close = decodeClose(frame.body);
        if (close.target === 'S') {
          this.statements.delete(close.name);
          this.explains.delete(close.name);
        } else {
          this.portals.delete(close.name);
          this.explainPortals.delete(close.name);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }
}

/** Execute of an EXPLAIN portal: the DocFusion plan lines before Postgres's plan rows. */
function rowsFirst(lines: readonly string[]): ReplyTransform {
  let sent = false;
  return {
    onFrame(type, body) {
      const frame = rawFrame(type, body);
      if (sent || (type !== BackendCode.DataRow && type !== BackendCode.CommandComplete)) {
        return [frame];
      }
      sent = true;
      return [...lines.map((line) => be.dataRow([line])), frame];
    },
  };
}

/**
 * Result formats for the pushed query: columns passed through get the client's format, columns
 * the proxy reads come as text.
 */
function pushedFormats(plan: ResidualPlan, client: readonly number[]): number[] {
  if (client.length === 0) return [];
  if (client.length === 1 && plan.internal.length === 0) return [...client];
  const out: number[] = [];
  let column = 0;
  const star = plan.outputs.some((o) => o.kind === 'pushed' && o.star);
  const starWidth = star ? client.length - (plan.outputs.length - 1) : 1;
  for (const output of plan.outputs) {
    if (output.kind === 'computed') {
      column++;
      continue;
    }
    const width = output.star ? starWidth : 1;
    for (let k = 0; k < width; k++) {
      out.push(client.length === 1 ? (client[0] ?? 0) : (client[column] ?? 0));
      column++;
    }
  }
  out.push(...plan.internal.map(() => 0));
  return out;
}
