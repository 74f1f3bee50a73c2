import { PgError, SqlState } from '../protocol/pg-error.js';
import type { SessionEffect } from './statement-effects.js';

/**
 * A session's settings as statements to replay, by lower-case parameter name. Pooled upstream
 * connections are opened with no client settings; each client's startup parameters and `SET`s
 * are applied to whatever connection it lands on, as the difference from what that connection
 * already has, so settings never leak from one client to another.
 */
export type ParamState = Map<string, string>;

/** Startup parameters that are not settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication']);

/** The client's startup parameters (and `options=-c name=value …`) as a ParamState. */
export function startupParamState(params: ReadonlyMap<string, string>): ParamState {
  const state: ParamState = new Map();
  // Postgres applies `options` first and explicit startup parameters after, so those win.
  const options = params.get('options');
  if (options !== undefined) {
    for (const [name, value] of parseOptions(options))
      state.set(name.toLowerCase(), setConfigSql(name, value));
  }
  for (const [name, value] of params) {
    if (!NOT_SETTINGS.has(name)) state.set(name.toLowerCase(), setConfigSql(name, value));
  }
  return state;
}

/**
 * Apply a statement's effect on the client's desired state (after the statement succeeded).
 * As in Postgres, RESET returns to the session's startup value (`baseline`), not the server's.
 */
export function applyEffect(
  state: ParamState,
  effect: SessionEffect,
  baseline: ReadonlyMap<string, string>,
): void {
  switch (effect.kind) {
    case 'set':
      state.set(effect.name, effect.sql);
      break;
    case 'reset': {
      const initial = baseline.get(effect.name);
      if (initial === undefined) state.delete(effect.name);
      else state.set(effect.name, initial);
      break;
    }
    case 'reset-all':
    case 'discard-all':
      state.clear();
      for (const [name, sql] of baseline) state.set(name, sql);
      break;
    default:
      break;
  }
}

/** SQL that turns a connection's `applied` settings into `desired`, or null when they match. */
export function diffSql(
  applied: ReadonlyMap<string, string>,
  desired: ReadonlyMap<string, string>,
): string | null {
  const statements: string[] = [];
  for (const name of applied.keys()) {
    if (!desired.has(name)) statements.push(`RESET ${quoteIdent(name)}`);
  }
  for (const [name, sql] of desired) {
    if (applied.get(name) !== sql) statements.push(sql);
  }
  // One statement per line: a replayed SET may end in a -- comment.
  return statements.length === 0 ? null : statements.join('\n;\n');
}

function setConfigSql(name: string, value: string): string {
  return `SELECT pg_catalog.set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`;
}

/**
 * The value a statement recorded for setting `name` gives it, as written with its quotes
 * removed: `SET [SESSION | LOCAL] name = value` or `TO value`, and the startup parameter's
 * `set_config('name', 'value', false)`. Undefined for DEFAULT and for a form it does not read
 * (then the caller's default applies).
 */
export function settingValue(sql: string, name: string): string | undefined {
  const forms = settingForms(name);
  const value = forms.config.exec(sql)?.[1] ?? forms.set.exec(sql)?.[1]?.replace(/^'(.*)'$/s, '$1');
  return value === undefined || /^default$/i.test(value) ? undefined : value;
}

/** The two statement forms settingValue reads, compiled once per setting name. */
const formsByName = new Map<string, { readonly config: RegExp; readonly set: RegExp }>();

function settingForms(name: string): { readonly config: RegExp; readonly set: RegExp } {
  let forms = formsByName.get(name);
  if (forms === undefined) {
    const escaped = name.replace(/[.]/g, '\\.');
    forms = {
      config: new RegExp(`set_config\\s*\\(\\s*'${escaped}'\\s*,\\s*'([^']*)'`, 'i'),
      set: new RegExp(
        `^\\s*set\\s+(?:session\\s+|local\\s+)?${escaped}\\s*(?:=|to)\\s*(.*?)\\s*;?\\s*$`,
        'is',
      ),
    };
    formsByName.set(name, forms);
  }
  return forms;
}

/** A string literal that reads the same whatever standard_conforming_strings is. */
export function quoteLiteral(value: string): string {
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

function quoteIdent(name: string): string {
  // Dotted custom settings (myapp.x) are written as they are; others quoted if needed.
  return /^[a-z_][a-z0-9_$.]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * The `options` startup parameter as libpq sends it: whitespace-separated, backslash-escaped
 * switches. Only settings are supported: `-c name=value`, `-cname=value`, `--name=value`.
 */
export function parseOptions(options: string): [string, string][] {
  const words: string[] = [];
  let word = '';
  let escaped = false;
  let any = false;
  for (const ch of options) {
    if (escaped) {
      word += ch;
      escaped = false;
    } else if (ch === '\\') {
      escaped = true;
      any = true;
    } else if (/\s/.test(ch)) {
      if (any) words.push(word);
      word = '';
      any = false;
    } else {
      word += ch;
      any = true;
    }
  }
  if (any) words.push(word);
  const settings: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    const current = words[i] ?? '';
    let assignment: string | undefined;
    if (current === '-c') assignment = words[++i];
    else if (current.startsWith('-c')) assignment = current.slice(2);
    else if (current.startsWith('--')) assignment = current.slice(2);
    const eq = assignment?.indexOf('=') ?? -1;
    if (assignment === undefined || eq <= 0) {
      throw new PgError(
        SqlState.FeatureNotSupported,
        `unsupported startup option "${current}": only -c name=value settings are supported`,
        {
          severity: 'FATAL',
        },
      );
    }
    settings.push([assignment.slice(0, eq).replace(/-/g, '_'), assignment.slice(eq + 1)]);
  }
  return settings;
}
