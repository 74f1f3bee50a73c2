/**
 * The router decides once what happens to a statement; nothing downstream re-reads the SQL.
 * `passthrough`: the original bytes go upstream. `local`: the proxy answers itself.
 * (`plan` arrives with the DocFusion planner.)
 */
export type Route =
  { readonly kind: 'passthrough' } | { readonly kind: 'local'; readonly command: LocalCommand };

export interface LocalCommand {
  readonly kind: 'show';
  readonly setting: string;
}

const PASSTHROUGH: Route = { kind: 'passthrough' };
const SHOW_DOCFUSION = /^\s*show\s+docfusion\.([a-z_]+)\s*;?\s*$/i;

/**
 * Route a simple-protocol Query body (SQL text, NUL-terminated). The prefilter is a byte scan for
 * "docfusion" in any letter case; a miss costs no decoding at all.
 */
export function routeQuery(body: Buffer): Route {
  if (!mentionsDocfusion(body)) return PASSTHROUGH;
  const sql = body.toString('utf8', 0, Math.max(0, body.length - 1));
  const show = SHOW_DOCFUSION.exec(sql);
  if (show?.[1] !== undefined)
    return { kind: 'local', command: { kind: 'show', setting: show[1].toLowerCase() } };
  return PASSTHROUGH;
}

const NEEDLE = Buffer.from('docfusion');

/** Case-insensitive search for "docfusion" in ASCII bytes. */
export function mentionsDocfusion(body: Buffer): boolean {
  const last = body.length - NEEDLE.length;
  outer: for (let i = 0; i <= last; i++) {
    if (((body[i] ?? 0) | 0x20) !== 0x64) continue; // 'd'
    for (let j = 1; j < NEEDLE.length; j++) {
      if (((body[i + j] ?? 0) | 0x20) !== NEEDLE[j]) continue outer;
    }
    return true;
  }
  return false;
}
