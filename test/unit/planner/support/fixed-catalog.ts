import type { RelationInfo } from '../../../../planner/catalog.js';

/**
 * The catalog rows of the planner's unit tests: every relation asked for is one table in
 * `public` with `id int`, `doc jsonb`, `jdoc json` and `tdoc text`.
 */
export function fixedRelations(names: readonly string[]): RelationInfo[] {
  return names.map((name) => ({
    schema: 'public',
    name,
    visible: true,
    columns: new Map([
      ['id', 23],
      ['doc', 3802],
      ['jdoc', 114],
      ['tdoc', 25],
    ]),
  }));
}
