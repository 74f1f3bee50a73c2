import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { md5PasswordHash } from '../protocol/md5.js';
import { makeScramVerifier } from '../protocol/scram.js';

/** The streams a subcommand talks to (process.stdin/stdout/stderr in the CLI). */
export interface CommandIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

export const HASH_PASSWORD_USAGE = `Usage: docfusiondb hash-password [--method scram-sha-256|md5] [--user NAME] [--iterations N]

Reads a password from stdin (the first line; on a terminal it is prompted for without echo,
twice) and prints the verifier to store in auth.users[].password (auth.source: config) or in
Postgres (ALTER ROLE ... PASSWORD '<verifier>').

  --method METHOD    scram-sha-256 (default) or md5
  --user NAME        role name; required for md5, whose hash includes it
  --iterations N     SCRAM PBKDF2 iterations (default 4096, as Postgres)
  -h, --help         show this help

Example: printf '%s\\n' "$PASSWORD" | docfusiondb hash-password
`;

const MIN_RECOMMENDED_ITERATIONS = 4096;
const MAX_ITERATIONS = 10_000_000;

class UsageError extends Error {}

/** The first line of `input` (without its line ending), or null at end of input. */
async function readLine(
  input: NodeJS.ReadableStream,
  terminal: boolean,
  io: CommandIo,
  prompt: string,
): Promise<string | null> {
  // On a terminal, readline switches to raw mode; echo goes to a muted stream.
  const muted = new Writable({
    write: (_chunk, _encoding, callback) => {
      callback();
    },
  });
  const rl = createInterface({
    input,
    terminal,
    crlfDelay: Infinity,
    ...(terminal && { output: muted }),
  });
  if (terminal) io.stderr.write(prompt);
  try {
    return await new Promise<string | null>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => {
        resolve(null);
      });
      rl.once('SIGINT', () => {
        resolve(null);
      });
    });
  } finally {
    rl.close();
    if (terminal) io.stderr.write('\n');
  }
}

async function readPassword(io: CommandIo): Promise<string> {
  const terminal = io.stdin.isTTY === true;
  const password = await readLine(io.stdin, terminal, io, 'Password: ');
  if (password === null) throw new UsageError('no password on stdin');
  if (password === '') throw new UsageError('the password is empty');
  if (terminal) {
    const again = await readLine(io.stdin, terminal, io, 'Password again: ');
    if (again !== password) throw new UsageError('the passwords do not match');
  }
  return password;
}

function parseIterations(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_ITERATIONS) {
    throw new UsageError(
      `--iterations: expected an integer from 1 to ${MAX_ITERATIONS}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * `docfusiondb hash-password`: prints a SCRAM-SHA-256 verifier or an md5 hash of the password
 * read from stdin. Returns the exit code: 0, or 2 on bad usage or input.
 */
export async function hashPasswordCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    const { values } = (() => {
      try {
        return parseArgs({
          args: [...argv],
          options: {
            method: { type: 'string', default: 'scram-sha-256' },
            user: { type: 'string' },
            iterations: { type: 'string' },
            help: { type: 'boolean', short: 'h' },
          },
          strict: true,
          allowPositionals: false,
        });
      } catch (error) {
        throw new UsageError(error instanceof Error ? error.message.split('\n')[0] : String(error));
      }
    })();
    if (values.help === true) {
      io.stdout.write(HASH_PASSWORD_USAGE);
      return 0;
    }
    const method = values.method;
    if (method !== 'scram-sha-256' && method !== 'md5') {
      throw new UsageError(
        `--method: expected one of scram-sha-256, md5, got ${JSON.stringify(method)}`,
      );
    }
    const iterations = parseIterations(values.iterations);
    if (method === 'md5') {
      if (values.user === undefined || values.user === '') {
        throw new UsageError(
          '--user: required with --method md5 (the hash includes the role name)',
        );
      }
      if (iterations !== undefined) throw new UsageError('--iterations: only for scram-sha-256');
    }
    const password = await readPassword(io);
    if (method === 'md5') {
      io.stdout.write(`${md5PasswordHash(values.user ?? '', password)}\n`);
      return 0;
    }
    if (iterations !== undefined && iterations < MIN_RECOMMENDED_ITERATIONS) {
      io.stderr.write(
        `docfusiondb hash-password: warning: ${iterations} iterations is below Postgres's default of ${MIN_RECOMMENDED_ITERATIONS}\n`,
      );
    }
    io.stdout.write(`${makeScramVerifier(password, iterations)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`docfusiondb hash-password: ${error.message}\n`);
    return 2;
  }
}
