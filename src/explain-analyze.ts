import * as be from '../protocol/backend-encoders.js';
import { BackendCode } from '../protocol/message-codes.js';
import { ResidualExecutor } from '../planner/residual-executor.js';
import type { ResidualPlan } from '../planner/residual-plan.js';
import type { ReplyTransform } from './response-tracker.js';
import { rawFrame } from './frame-of.js';

/**
 * EXPLAIN ANALYZE of a statement evaluated partly in the proxy. Upstream runs
 * `<pushed query>; EXPLAIN ANALYZE <pushed query>`: the first result goes through the proxy's
 * operators (its rows are counted and timed, not sent), the second is Postgres's plan, which
 * follows the DocFusion plan with the measured rows and times.
 */
export class ExplainAnalyze implements ReplyTransform {
  private readonly executor: ResidualExecutor;
  private first = true;
  private readonly started = performance.now();

  constructor(
    plan: ResidualPlan,
    private readonly lines: readonly string[],
  ) {
    this.executor = new ResidualExecutor(plan, [], 'query');
  }

  onFrame(type: number, body: Buffer): Buffer[] {
    if (this.first) {
      this.executor.onFrame(type, body);
      if (type === BackendCode.CommandComplete || type === BackendCode.EmptyQueryResponse) {
        this.first = false;
      }
      return [];
    }
    if (type !== BackendCode.RowDescription) return [rawFrame(type, body)];
    const stats = this.executor.stats;
    const wall = performance.now() - this.started;
    const ms = (value: number): string => `${value.toFixed(3)} ms`;
    const measured = [
      'Proxy operators (actual):',
      `  Batches from Postgres: ${String(stats.rowsIn)} rows in ${String(stats.batches)} batches`,
      `  Filter and projection${stats.groups > 0 ? ' and aggregation' : ''}: ${String(stats.rowsAfterFilter)} rows kept, ${ms(stats.batchMs)}`,
      ...(stats.groups > 0 ? [`  HashAggregate: ${String(stats.groups)} groups`] : []),
      ...(stats.sorted > 0 ? [`  Sort: ${String(stats.sorted)} rows`] : []),
      `  Output: ${String(stats.rowsOut)} rows; groups and sort ${ms(stats.finishMs)}`,
      `  Total with the pushed query: ${ms(wall)}`,
    ];
    const plan = [...this.lines];
    plan.splice(Math.max(0, plan.length - 1), 0, ...measured);
    return [rawFrame(type, body), ...plan.map((line) => be.dataRow([line]))];
  }
}
