import * as be from '../../protocol/backend-encoders.js';
import {
  decodeDataRow,
  decodeErrorFields,
  decodeRowDescription,
} from '../../protocol/backend-decoders.js';
import { BackendCode } from '../../protocol/message-codes.js';
import { ResidualExecutor } from '../../planner/residual-executor.js';
import type { ResidualPlan } from '../../planner/residual-plan.js';
import type { PlanService } from '../plan-service.js';
import {
  pgErrorFrom,
  type ResultColumn,
  type RowSink,
  type StatementResult,
} from '../upstream-query.js';
import type { UpstreamEndpoint } from '../upstream-target.js';
import type { QueryExecutor, QueryRequest } from './query-executor.js';

/**
 * `/v1/query` through the DocFusion planner, like a statement on the wire: no DocFusion call →
 * the SQL as is; pushed down → the rewritten SQL; evaluated partly in the proxy → the pushed
 * query, its rows through the same ResidualExecutor the wire uses; EXPLAIN → the DocFusion plan
 * lines before Postgres's. Planning errors are PgErrors (42883, 22P02, 0A000…), mapped to HTTP
 * statuses like any other. HTTP requests have no session, so pushdown is always on.
 */
export class PlannedQueryExecutor implements QueryExecutor {
  constructor(
    private readonly direct: QueryExecutor,
    private readonly plans: PlanService,
    private readonly endpoint: () => UpstreamEndpoint,
  ) {}

  async run(request: QueryRequest, sink: RowSink): Promise<StatementResult> {
    const sql = Buffer.from(request.sql);
    if (!this.plans.mayPlan(sql)) return this.direct.run(request, sink);
    const options = { pushdown: true, paramTypes: [] };
    const endpoint = this.endpoint();
    const plan =
      this.plans.cached(endpoint, sql, options) ?? (await this.plans.plan(endpoint, sql, options));
    switch (plan.kind) {
      case 'forward':
        return this.direct.run(request, sink);
      case 'rewrite':
        return this.direct.run({ ...request, sql: plan.sql }, sink);
      case 'explain':
        return this.direct.run({ ...request, sql: plan.sql }, linesFirst(sink, plan.lines));
      case 'residual':
        return this.residual(request, plan.plan, sink);
    }
  }

  private async residual(
    request: QueryRequest,
    plan: ResidualPlan,
    sink: RowSink,
  ): Promise<StatementResult> {
    const executor = new ResidualExecutor(plan, [], 'query');
    let rows = 0;
    const deliver = (frames: Buffer[]): boolean => {
      let more = true;
      for (const frame of frames) {
        const type = frame[0];
        const body = frame.subarray(5);
        if (type === BackendCode.RowDescription) {
          sink.columns?.(
            decodeRowDescription(body).map((f) => ({ name: f.name, typeOid: f.typeOid })),
          );
        } else if (type === BackendCode.DataRow) {
          rows++;
          if (sink.row?.(decodeDataRow(body)) === false) more = false;
        } else if (type === BackendCode.ErrorResponse) {
          throw pgErrorFrom(decodeErrorFields(body));
        }
      }
      return more;
    };
    await this.direct.run(
      { ...request, sql: plan.pushedSql },
      {
        columns: (columns) => {
          deliver(executor.onFrame(BackendCode.RowDescription, rowDescriptionBody(columns)));
        },
        row: (values) => deliver(executor.onFrame(BackendCode.DataRow, dataRowBody(values))),
        ...(sink.drained ? { drained: () => sink.drained?.() ?? Promise.resolve() } : {}),
      },
    );
    deliver(executor.onFrame(BackendCode.CommandComplete, Buffer.from('SELECT\0')));
    return { command: `SELECT ${String(rows)}`, rowCount: rows };
  }
}

/** EXPLAIN: the DocFusion plan lines come first, as rows of the QUERY PLAN column. */
function linesFirst(sink: RowSink, lines: readonly string[]): RowSink {
  return {
    ...sink,
    columns: (columns) => {
      sink.columns?.(columns);
      for (const line of lines) sink.row?.([Buffer.from(line)]);
    },
  };
}

function rowDescriptionBody(columns: readonly ResultColumn[]): Buffer {
  const frame = be.rowDescription(
    columns.map((c) => ({
      name: c.name,
      tableOid: 0,
      columnAttr: 0,
      typeOid: c.typeOid,
      typeSize: -1,
      typeModifier: -1,
      format: 0,
    })),
  );
  return frame.subarray(5);
}

function dataRowBody(values: readonly (Buffer | null)[]): Buffer {
  return be.dataRow([...values]).subarray(5);
}
