import { parseArgs } from 'node:util';

/** Command-line flags for benchmarks: integer options with defaults and bounds, plus --help. */

export interface IntFlag {
  readonly default: number;
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
}

export interface BoolFlag {
  readonly boolean: true;
  readonly help: string;
}

export type FlagSpec = Readonly<Record<string, IntFlag | BoolFlag>>;

export type ParsedFlags<S extends FlagSpec> = {
  readonly [K in keyof S]: S[K] extends BoolFlag ? boolean : number;
};

/** A usage error: print the message and the usage, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `usage` text for `spec`, one line per flag. */
export function usage(command: string, description: string, spec: FlagSpec): string {
  const lines = Object.entries(spec).map(([name, flag]) => {
    const left = 'boolean' in flag ? `--${name}` : `--${name} N`;
    const dflt = 'boolean' in flag ? '' : ` (default ${flag.default})`;
    return `  ${left.padEnd(18)} ${flag.help}${dflt}`;
  });
  return `Usage: ${command} [options]\n\n${description}\n\nOptions:\n${lines.join('\n')}\n  ${'-h, --help'.padEnd(18)} show this help\n`;
}

/**
 * Parses `argv` against `spec`. Returns undefined when --help was given (the caller prints
 * usage); throws UsageError naming the bad flag otherwise.
 */
export function parseFlags<S extends FlagSpec>(
  argv: readonly string[],
  spec: S,
): ParsedFlags<S> | undefined {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, flag] of Object.entries(spec)) {
    options[name] = { type: 'boolean' in flag ? 'boolean' : 'string' };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return undefined;
  const out: Record<string, number | boolean> = {};
  for (const [name, flag] of Object.entries(spec)) {
    const raw = values[name];
    if ('boolean' in flag) {
      out[name] = raw === true;
      continue;
    }
    if (typeof raw !== 'string') {
      out[name] = flag.default;
      continue;
    }
    const n = Number(raw);
    const lo = flag.min ?? Number.MIN_SAFE_INTEGER;
    const hi = flag.max ?? Number.MAX_SAFE_INTEGER;
    if (raw.trim() === '' || !Number.isInteger(n) || n < lo || n > hi) {
      const range = flag.max === undefined ? `at least ${lo}` : `${lo}..${hi}`;
      throw new UsageError(`--${name}: expected an integer ${range}, got "${raw}"`);
    }
    out[name] = n;
  }
  return out as ParsedFlags<S>;
}
