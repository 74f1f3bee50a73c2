import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDocument, stringify } from 'yaml';
import {
  ENV_KEYS,
  FLAG_KEYS,
  ROOT,
  configWarnings,
  crossCheck,
  defaultConfig,
  isLeaf,
  type AnySection,
} from './config-schema.js';
import type { DocFusionConfig } from './config-types.js';
import {
  ConfigError,
  camel,
  defaultWhere,
  fileWhere,
  mapping,
  plainWhere,
  snake,
  type Ctx,
  type Where,
} from './config-values.js';

/**
 * Configuration loading: built-in defaults < YAML file < environment < command-line flags.
 * One schema (config-schema.ts) drives parsing of all three sources, the snake_case YAML shape,
 * redaction and `--print-config`; every bad value becomes a ConfigError naming the key it came
 * from. Value parsers live in config-values.ts.
 */

export {
  ADMIN_DATABASE,
  AUTH_METHODS,
  AUTH_SOURCES,
  DEFAULT_AUTH_QUERY,
  DEFAULT_EMBEDDED_PASSWORD,
  DEFAULT_PASSWORD_WARNING,
  ENV_KEYS,
  FLAG_KEYS,
  LOG_LEVELS,
  POOL_MODES,
  defaultConfig,
} from './config-schema.js';
export {
  ConfigError,
  formatHostPort,
  formatSize,
  isLoopbackHost,
  parseHostPort,
  redactUrl,
} from './config-values.js';

export interface LoadConfigInput {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Base for relative paths (config file, data_dir, TLS files); defaults to process.cwd(). */
  readonly cwd?: string;
}

export interface LoadedConfig {
  readonly config: DocFusionConfig;
  /** Absolute path of the YAML file read, or null when none was given. */
  readonly configFile: string | null;
  /** Problems worth a log line that do not stop the server; the caller logs them. */
  readonly warnings: string[];
  /** `--print-config` was given: print formatConfig(config) instead of starting. */
  readonly printConfig: boolean;
}

// ---------------------------------------------------------------------------------------------
// Loading.

class Draft {
  readonly values: Record<string, unknown>;
  /** Dotted YAML key → where its current value came from. */
  readonly origins = new Map<string, Where>();

  constructor(cwd: string) {
    this.values = structuredClone(defaultConfig(cwd)) as unknown as Record<string, unknown>;
  }

  /** Parses `raw` with the leaf at `yamlKey` and stores it. */
  set(yamlKey: string, raw: unknown, w: Where, ctx: Ctx): void {
    let section = ROOT;
    let target = this.values;
    const parts = yamlKey.split('.').map(camel);
    const last = parts.pop() ?? '';
    for (const part of parts) {
      const next = section[part];
      if (next === undefined || isLeaf(next)) throw new Error(`no config section ${yamlKey}`);
      section = next;
      target = target[part] as Record<string, unknown>;
    }
    const node = section[last];
    if (node === undefined || !isLeaf(node)) throw new Error(`no config value ${yamlKey}`);
    target[last] = node.parse(raw, w, ctx);
    this.origins.set(yamlKey, w);
  }

  where(yamlKey: string): Where {
    return this.origins.get(yamlKey) ?? defaultWhere(yamlKey);
  }
}

function applyFile(draft: Draft, raw: unknown, file: string, ctx: Ctx): void {
  const walk = (section: AnySection, value: unknown, prefix: string): void => {
    const keys = Object.keys(section).map(snake);
    const m = mapping(value, fileWhere(prefix, file), keys);
    for (const [key, v] of Object.entries(m)) {
      const dotted = prefix === '' ? key : `${prefix}.${key}`;
      const node = section[camel(key)];
      if (node === undefined) continue; // unreachable: mapping() rejected unknown keys
      if (isLeaf(node)) draft.set(dotted, v, fileWhere(dotted, file), ctx);
      else walk(node, v ?? {}, dotted);
    }
  };
  if (raw === null || raw === undefined) return; // an empty file
  walk(ROOT, raw, '');
}

function readYaml(file: string, w: Where): unknown {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(`${w.key}: cannot read config file ${file} (${reason})`);
  }
  const doc = parseDocument(source, { prettyErrors: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const reason = (first.message.split('\n')[0] ?? '').replace(/:$/, '');
    throw new ConfigError(`${file}: invalid YAML: ${reason}`);
  }
  return doc.toJS() as unknown;
}

function parseFlags(argv: readonly string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    'print-config': { type: 'boolean' },
  };
  for (const flag of Object.keys(FLAG_KEYS)) options[flag] = { type: 'string' };
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as NodeJS.ErrnoException).code;
    const name = /'(-[^' ]*)/.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && name !== undefined) {
      throw new ConfigError(`${name}: unknown option (see docfusiondb --help)`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec(message)?.[1] ?? '';
      throw new ConfigError(`unexpected argument "${arg}" (see docfusiondb --help)`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name !== undefined) {
      const problem = message.includes('does not take')
        ? 'takes no value'
        : 'expected a value (use --flag=VALUE for values starting with "-")';
      throw new ConfigError(`${name}: ${problem}`);
    }
    throw new ConfigError(message);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The effective configuration from defaults, the YAML file (--config or DOCFUSION_CONFIG), the
 * environment and the flags, in increasing precedence. Throws ConfigError on any bad value.
 */
export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const cwd = input.cwd ?? process.cwd();
  const ctx: Ctx = { cwd };
  const env = (name: string): string | undefined => {
    const v = input.env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const flags = parseFlags(input.argv);
  const flag = (name: string): string | undefined => {
    const v = flags[name];
    return typeof v === 'string' ? v : undefined;
  };
  const warnings: string[] = [];
  const draft = new Draft(cwd);

  const fileArg = flag('config');
  const fileFrom = fileArg !== undefined ? '--config' : 'DOCFUSION_CONFIG';
  const fileValue = fileArg ?? env('DOCFUSION_CONFIG');
  let configFile: string | null = null;
  if (fileValue !== undefined) {
    if (fileValue === '') throw new ConfigError(`${fileFrom}: expected a file path, got ""`);
    configFile = path.resolve(cwd, fileValue);
    applyFile(draft, readYaml(configFile, plainWhere(fileFrom)), configFile, ctx);
  }

  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env(name);
    if (v !== undefined) applyOverride(draft, key, v, plainWhere(name), ctx);
  }
  for (const [name, key] of Object.entries(FLAG_KEYS)) {
    const v = flag(name);
    if (v !== undefined) applyOverride(draft, key, v, plainWhere(`--${name}`), ctx);
  }

  const config = draft.values as unknown as DocFusionConfig;
  crossCheck(config, (key) => draft.where(key));
  warnings.push(...configWarnings(config));
  const known = new Set([...Object.keys(ENV_KEYS), 'DOCFUSION_CONFIG']);
  for (const name of Object.keys(input.env)) {
    if (name.startsWith('DOCFUSION_') && !known.has(name)) {
      warnings.push(`unknown environment variable ${name} ignored`);
    }
  }
  return {
    config: deepFreeze(config),
    configFile,
    warnings,
    printConfig: flags['print-config'] === true,
  };
}

/** An env/flag value for `key`; `http.listen` also accepts "off" and otherwise enables HTTP. */
function applyOverride(draft: Draft, key: string, value: string, w: Where, ctx: Ctx): void {
  if (key === 'http.listen') {
    draft.set('http.enabled', value !== 'off', w, ctx);
    if (value === 'off') return;
  }
  draft.set(key, value, w, ctx);
}

// ---------------------------------------------------------------------------------------------
// Printing.

/**
 * A plain JSON-able copy of `config` in the YAML file's snake_case shape, with secrets
 * (embedded.password, the upstream URL's password, databases.*.password,
 * auth.users[].password) replaced by "***". Safe to log.
 */
export function redactConfig(config: DocFusionConfig): unknown {
  const walk = (section: AnySection, value: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, node] of Object.entries(section)) {
      const v = value[key];
      if (isLeaf(node)) {
        out[snake(key)] = node.redact ? node.redact(v) : node.format ? node.format(v) : v;
      } else {
        out[snake(key)] = walk(node, v as Record<string, unknown>);
      }
    }
    return out;
  };
  return structuredClone(walk(ROOT, config as unknown as Record<string, unknown>));
}

/** The configuration as a YAML config file (secrets redacted), for `--print-config`. */
export function formatConfig(config: DocFusionConfig): string {
  return (
    '# DocFusionDB effective configuration (docfusiondb --print-config).\n' +
    '# Secrets are shown as "***": replace them before using this as a config file.\n' +
    stringify(redactConfig(config), { lineWidth: 0 })
  );
}
