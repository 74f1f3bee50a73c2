import type { Frame } from '../protocol/frame-reader.js';
import { FrontendCode } from '../protocol/message-codes.js';
import { settingValue } from './session-params.js';
import { mayChangeSettings } from './statement-effects.js';

/**
 * The proxy's own setting `docfusion.pushdown`, as statements write it. Its value lives with the
 * client's other settings in the upstream link (src/session-params.ts); the planning stage reads
 * it from there (docs/planner.md, Control and insight).
 */
export const PUSHDOWN = 'docfusion.pushdown';

export const SET_PUSHDOWN =
  /^\s*set\s+(?:session\s+|local\s+)?docfusion\.pushdown\s*(?:=|to)\s*(.*?)\s*;?\s*$/is;
export const SHOW_PUSHDOWN = /^\s*show\s+docfusion\.pushdown\s*;?\s*$/i;

/**
 * The Boolean a statement that set docfusion.pushdown gave it (`SET … = off`, `SET LOCAL … TO
 * 'on'`, the startup parameter's `set_config('docfusion.pushdown', 'off', false)`), or
 * undefined for DEFAULT or a value that is not Boolean (then the default applies).
 */
export function pushdownIn(sql: string): boolean | undefined {
  switch (settingValue(sql, PUSHDOWN)?.trim().toLowerCase()) {
    case 'on':
    case 'true':
    case 'yes':
    case '1':
      return true;
    case 'off':
    case 'false':
    case 'no':
    case '0':
      return false;
    default:
      return undefined;
  }
}

/** A Query or Parse that may change settings or undo changes (SET, RESET, ROLLBACK, …). */
export function changesSettings(frame: Frame): boolean {
  const body = frame.body;
  if (frame.type === FrontendCode.Query) return mayChangeSettings(body, 0, body.length);
  const nameEnd = body.indexOf(0);
  const sqlEnd = nameEnd < 0 ? -1 : body.indexOf(0, nameEnd + 1);
  return sqlEnd >= 0 && mayChangeSettings(body, nameEnd + 1, sqlEnd);
}
