/** The whole differential corpus, in run order. */
import { ARRAY_GROUPS } from './arrays.js';
import { CATALOG_PGJDBC_GROUPS } from './catalog-pgjdbc.js';
import { CATALOG_PSQL_GROUPS } from './catalog-psql.js';
import { CATALOG_TYPEORM_GROUPS } from './catalog-typeorm.js';
import { COPY_GROUPS } from './copy.js';
import { CTE_GROUPS } from './cte.js';
import { DDL_GROUPS } from './ddl.js';
import { DML_GROUPS } from './dml.js';
import { DOCFUSION_FUNCTION_GROUPS } from './docfusion-functions.js';
import { ERROR_GROUPS } from './errors.js';
import { GRAFANA_GROUPS } from './grafana.js';
import { JSONB_GROUPS } from './jsonb.js';
import { NUMERIC_TIME_GROUPS } from './numeric-time.js';
import { SESSION_GROUPS } from './session.js';
import { TEXT_BINARY_NET_GROUPS } from './text-binary-net.js';
import { TRANSACTION_GROUPS } from './transactions.js';
import { CATEGORIES, type Category, type Group } from './types.js';
import { TYPE_GROUPS } from './types-ranges-enums.js';
import { WINDOW_GROUPS } from './window.js';

export const CORPUS: readonly Group[] = [
  ...DDL_GROUPS,
  ...DML_GROUPS,
  ...CTE_GROUPS,
  ...WINDOW_GROUPS,
  ...JSONB_GROUPS,
  ...ARRAY_GROUPS,
  ...NUMERIC_TIME_GROUPS,
  ...TEXT_BINARY_NET_GROUPS,
  ...TYPE_GROUPS,
  ...CATALOG_PSQL_GROUPS,
  ...CATALOG_PGJDBC_GROUPS,
  ...CATALOG_TYPEORM_GROUPS,
  ...GRAFANA_GROUPS,
  ...ERROR_GROUPS,
  ...TRANSACTION_GROUPS,
  ...SESSION_GROUPS,
  ...COPY_GROUPS,
  ...DOCFUSION_FUNCTION_GROUPS,
];

const names = new Set<string>();
for (const group of CORPUS) {
  if (!/^[a-z][a-z0-9_]*$/.test(group.name)) throw new Error(`bad group name ${group.name}`);
  if (names.has(group.name)) throw new Error(`duplicate group name ${group.name}`);
  names.add(group.name);
}

export interface CorpusSizes {
  readonly total: number;
  readonly byCategory: Readonly<Record<Category, number>>;
  /** Statements that do not depend on session state (plain forwarding in transaction pooling). */
  readonly sessionIndependent: number;
}

export function corpusSizes(): CorpusSizes {
  const byCategory = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  let total = 0;
  let sessionIndependent = 0;
  for (const group of CORPUS) {
    for (const s of group.statements) {
      byCategory[group.category]++;
      total++;
      if (group.session !== true && (typeof s === 'string' || s.session !== true)) {
        sessionIndependent++;
      }
    }
  }
  return { total, byCategory, sessionIndependent };
}
