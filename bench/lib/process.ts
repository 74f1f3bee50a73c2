import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from './cleanup.js';

/** Child processes for benchmarks: one-shot commands and long-running servers, always cleaned up. */

export interface CommandOptions {
  readonly cwd?: string;
  /** Replaces the environment entirely; use `{ ...process.env, X: 'y' }` to extend it. */
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the command (SIGTERM, then SIGKILL) after this long. */
  readonly timeoutMs?: number;
  /** Copy the command's output to this process's stdout/stderr as it arrives. */
  readonly echo?: boolean;
}

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A command that did not exit with status 0; the message carries the end of its output. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    const status =
      result.signal !== null ? `was killed by ${result.signal}` : `exited with ${result.code}`;
    const output = tail(`${result.stdout}\n${result.stderr}`.trim(), 2000);
    super(`${command} ${status}${output === '' ? '' : `:\n${indent(output)}`}`);
  }
}

const MAX_CAPTURE = 16 * 1024 * 1024;

/**
 * Runs `file args` to completion and returns its output; rejects with CommandError when it does
 * not exit 0 (use `runCommandResult` to inspect failures). Killed at cleanup if still running.
 */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  const result = await runCommandResult(file, args, options);
  if (result.code !== 0) throw new CommandError(describeCommand(file, args), result);
  return result;
}

/** Like runCommand, but resolves with the result whatever the exit status. */
export function runCommandResult(
  file: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (options.echo === true) process.stdout.write(chunk);
      if (stdout.length < MAX_CAPTURE) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (options.echo === true) process.stderr.write(chunk);
      if (stderr.length < MAX_CAPTURE) stderr += chunk;
    });
    const unregister = onCleanup(`kill ${path.basename(file)}`, () => terminate(child, 2000));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => void terminate(child, 2000), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      unregister();
      reject(new Error(`cannot run ${describeCommand(file, args)}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface ManagedProcess {
  readonly pid: number;
  readonly name: string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** The last bytes of its combined stdout and stderr. */
  outputTail(maxChars?: number): string;
  /** Number of output lines seen so far. */
  outputLines(): number;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once it has exited. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface StartOptions extends CommandOptions {
  /** Name used in messages (defaults to the file's base name). */
  readonly name?: string;
  /** Characters of output kept for error messages. */
  readonly keepOutput?: number;
}

/** Starts a long-running process (a server). It is stopped at cleanup if still running. */
export function startProcess(
  file: string,
  args: readonly string[],
  options: StartOptions = {},
): ManagedProcess {
  const name = options.name ?? path.basename(file);
  const keep = options.keepOutput ?? 64 * 1024;
  const child = spawn(file, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let lines = 0;
  const onData = (chunk: string, to: NodeJS.WriteStream): void => {
    if (options.echo === true) to.write(chunk);
    for (const c of chunk) if (c === '\n') lines++;
    output = tail(output + chunk, keep);
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    onData(chunk, process.stdout);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    onData(chunk, process.stderr);
  });
  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (error) => {
      output = tail(`${output}\ncannot run ${name}: ${error.message}\n`, keep);
      exitedFlag = true;
      resolve({ code: null, signal: null });
    });
    child.on('exit', (code, signal) => {
      exitedFlag = true;
      resolve({ code, signal });
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs = 10_000): Promise<void> => {
    stopping ??= (async () => {
      if (!exitedFlag) await terminate(child, timeoutMs);
      await exited;
    })();
    return stopping;
  };
  const unregister = onCleanup(`stop ${name}`, () => stop());
  void exited.then(unregister);
  return {
    pid: child.pid ?? -1,
    name,
    exited,
    hasExited: () => exitedFlag,
    outputTail: (maxChars = 4000) => tail(output, maxChars),
    outputLines: () => lines,
    stop,
  };
}

/** SIGTERM `child`, SIGKILL it if still alive after `timeoutMs`; resolves when it has exited. */
async function terminate(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await gone;
  clearTimeout(timer);
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  /** Give up early (with its output) if this process exits while waiting. */
  readonly process?: ManagedProcess;
}

/** Resolves once a TCP connection to host:port succeeds. */
export async function waitForTcp(
  host: string,
  port: number,
  options: WaitOptions = {},
): Promise<void> {
  await poll(`TCP ${host}:${port}`, () => canConnect(host, port), options);
}

/** Resolves once GET `url` answers 2xx. */
export async function waitForHttp(url: string, options: WaitOptions = {}): Promise<void> {
  await poll(
    url,
    async () => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await response.arrayBuffer();
        return response.ok;
      } catch {
        return false;
      }
    },
    options,
  );
}

async function poll(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs = 30_000, process: watched }: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
    if (watched?.hasExited() === true) {
      const { code, signal } = await watched.exited;
      const output = watched.outputTail(2000).trim();
      throw new Error(
        `${watched.name} exited (${signal ?? `code ${code}`}) before ${what} was ready` +
          (output === '' ? '' : `:\n${indent(output)}`),
      );
    }
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(delay);
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/** The first executable named `name` on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function describeCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ');
}

function tail(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : text.slice(text.length - maxChars);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** `url` with its host and port replaced (same user, password, database): a server in between. */
export function viaHostPort(url: string, host: string, port: number): string {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
  return u.toString();
}
