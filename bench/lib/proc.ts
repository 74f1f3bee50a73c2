import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { onCleanup } from './cleanup.js';

/** Linux /proc readings for benchmarks: a process's memory and its open-files limit. */

export interface ProcMemory {
  /** Resident set size (VmRSS), KiB. */
  readonly rssKiB: number;
  /** Peak resident set size (VmHWM), KiB. */
  readonly hwmKiB: number;
  /** Anonymous resident memory (RssAnon), KiB: the heap, without mapped files. */
  readonly anonKiB: number;
  readonly threads: number;
}

/** VmRSS, VmHWM, RssAnon and Threads from /proc/<pid>/status (Linux only). */
export function procMemory(pid: number | 'self'): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status);
    if (m?.[1] === undefined) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return {
    rssKiB: field('VmRSS'),
    hwmKiB: field('VmHWM'),
    anonKiB: field('RssAnon'),
    threads: field('Threads'),
  };
}

export interface OpenFilesLimit {
  readonly soft: number;
  readonly hard: number;
}

/** "Max open files" from /proc/<pid>/limits; Infinity for "unlimited". */
export function openFilesLimit(pid: number | 'self' = 'self'): OpenFilesLimit {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (m?.[1] === undefined || m[2] === undefined) {
    throw new Error(`no "Max open files" in /proc/${pid}/limits`);
  }
  const value = (s: string): number => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: value(m[1]), hard: value(m[2]) };
}

const REEXEC_MARK = 'DOCFUSION_BENCH_NOFILE';

/**
 * Makes sure this process may open `needed` files. Returns undefined when the soft limit is
 * already high enough: carry on. Otherwise re-runs this same command line under
 * `bash -c 'ulimit -n <needed> && exec …'` and resolves with its exit code (the caller returns
 * it); bash's error says so when the hard limit is too low for a non-root user. Signals that
 * stop this process stop the re-executed one (via cleanup).
 */
export async function reexecWithOpenFiles(
  needed: number,
  log: (message: string) => void,
): Promise<number | undefined> {
  const { soft, hard } = openFilesLimit();
  if (soft >= needed) return undefined;
  if (process.env[REEXEC_MARK] !== undefined) {
    log(`the open-files limit is still ${soft} after raising it to ${needed}`);
    return 1;
  }
  if (hard < needed && process.getuid?.() !== 0) {
    log(
      `this bench needs ${needed} open files, but the limit is ${soft} (hard ${hard}) and only ` +
        `root may raise the hard limit. Run it from a shell with \`ulimit -n ${needed}\` ` +
        '(as root, or after raising nofile in /etc/security/limits.conf).',
    );
    return 1;
  }
  log(`open-files limit ${soft} < ${needed}: re-running under ulimit -n ${needed}`);
  const child = spawn(
    'bash',
    [
      '-c',
      `ulimit -n ${needed} 2>/dev/null || { echo "cannot raise the open-files limit to ${needed} ` +
        `(soft ${soft}, hard ${hard}): run the bench from a shell with 'ulimit -n ${needed}' ` +
        `(root with CAP_SYS_RESOURCE, or nofile raised in /etc/security/limits.conf), ` +
        `or use fewer --clients" >&2; exit 1; }; exec "$0" "$@"`,
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, [REEXEC_MARK]: String(needed) } },
  );
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? (signal === null ? 1 : 128));
    });
    child.on('error', () => {
      resolve(1);
    });
  });
  const unregister = onCleanup('stop the re-executed bench', async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const code = await exited;
  unregister();
  return code;
}

/** CPU time (user + system) a process has used so far, ms, from /proc/<pid>/stat. */
export function procCpuMs(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "pid (comm) ": state is the first; utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** USER_HZ: 100 on every Linux platform Node runs on. */
const CLOCK_TICKS = 100;
