import { PG, type DocFusionFunction } from './function.js';
import { jsonbContains } from './jsonb/contains.js';
import { bindJson, strict } from './support/json-args.js';

/** `json_contains(doc, pattern)`: Postgres's `doc @> pattern`. */
export const jsonContains: DocFusionFunction = {
  name: 'json_contains',
  params: ['document', 'json'],
  minArgs: 2,
  returns: PG.bool,
  volatility: 'immutable',
  signature: 'json_contains(doc jsonb, pattern jsonb)',
  summary:
    'True when the document contains the pattern, exactly as doc @> pattern (GIN-indexable when pushed down).',
  pushdown: ([doc = 'NULL', pattern = 'NULL']) => `((${doc}) @> (${pattern}))`,
  bind: (constants) => {
    const doc = bindJson(constants, 0);
    const pattern = bindJson(constants, 1);
    return strict((args) => jsonbContains(doc(args), pattern(args)));
  },
};
