/**
 * Proxy behaviours that differ from Postgres, are understood (diagnosed down to the code), and
 * are accepted for now. Each rule undoes exactly its own difference in the proxy's events; the
 * comparison then runs again, so anything else that differs still fails. A statement whose only
 * differences are explained by rules counts as "known", and the rules are listed in the summary.
 * When the proxy is fixed the rule stops applying and can be deleted (statements then pass).
 */
import type { Event } from './outcome.js';
import { NAMED_STATEMENT, type PoolMode, type Variant } from './variants.js';

export interface KnownRule {
  readonly id: string;
  readonly modes: readonly PoolMode[];
  readonly variants: readonly Variant[];
  readonly description: string;
  /** The proxy's events with this difference undone, or undefined when it does not apply. */
  explain(direct: readonly Event[], proxy: readonly Event[]): Event[] | undefined;
}

const UPSTREAM_NAME = /"docfusion_[0-9a-f]{32}"/;
const UPSTREAM_NAMES = new RegExp(UPSTREAM_NAME.source, 'g');

function fieldsOf(e: Event | undefined): Record<string, string> | undefined {
  return e?.m === 'ErrorResponse' ? (e.fields as Record<string, string>) : undefined;
}

export const KNOWN_RULES: readonly KnownRule[] = [
  {
    id: 'upstream-statement-name-in-errors',
    modes: ['transaction'],
    variants: ['named-twice'],
    description:
      'Transaction pooling renames protocol-level statements to docfusion_<hash> upstream ' +
      '(src/upstream-link.ts forward(): renameBind / statementTargetFrame) and relays ' +
      "Postgres's ErrorResponse untouched, so errors about the statement name the upstream " +
      `statement instead of the client's ("${NAMED_STATEMENT}"): "bind message supplies 0 ` +
      'parameters, but prepared statement "docfusion_…" requires 1", "prepared statement ' +
      '"docfusion_…" does not exist".',
    explain(_direct, proxy) {
      const out = proxy.map((e) => {
        const fields = fieldsOf(e);
        if (!fields || !Object.values(fields).some((v) => UPSTREAM_NAME.test(v))) return e;
        const fixed: Record<string, string> = {};
        for (const [k, v] of Object.entries(fields)) {
          fixed[k] = v.replace(UPSTREAM_NAMES, `"${NAMED_STATEMENT}"`);
        }
        return { ...e, fields: fixed };
      });
      return out.some((e, i) => e !== proxy[i]) ? out : undefined;
    },
  },
];
