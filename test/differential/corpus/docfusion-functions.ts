/**
 * DocFusion JSON function statements (json_extract_path(doc, key...), json_contains,
 * json_multi_contains), each paired with its native-SQL equivalent.
 *
 * INTENTIONALLY EMPTY FOR NOW: the planner does not exist yet, so every such statement is
 * forwarded verbatim and would only compare Postgres with itself. When the planner lands, add
 * groups here whose statements call DocFusion functions, with `equivalent` native SQL run
 * directly against Postgres (e.g. `doc #>> '{a,b}'` for json_extract_path(doc, 'a', 'b'),
 * `doc @> pattern` for json_contains), and teach the harness to compare the proxy's answer to
 * the statement with Postgres's answer to the equivalent.
 */
import type { Group } from './types.js';

export const DOCFUSION_FUNCTION_GROUPS: readonly Group[] = [];
