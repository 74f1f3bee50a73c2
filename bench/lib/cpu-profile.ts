import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * CPU profiles of a proxy process, phase by phase: the proxy is started with a small preload
 * (`node --require <file>`) that starts V8's sampling profiler on SIGUSR2 and stops it on the
 * next SIGUSR2, writing `profile-<n>.cpuprofile` (Chrome DevTools format) to a directory.
 * Nothing in the proxy changes. `summarize()` reads profiles back as self time per function.
 */

const PRELOAD = `'use strict';
// Written by bench/lib/cpu-profile.ts: SIGUSR2 starts the CPU profiler, the next one stops it
// and writes profile-<n>.cpuprofile into $BENCH_PROFILE_DIR.
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');
const dir = process.env.BENCH_PROFILE_DIR;
const session = new inspector.Session();
session.connect();
let running = false;
let count = 0;
const state = (text) => fs.writeFileSync(path.join(dir, 'state'), text);
process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: 500 }, () =>
        session.post('Profiler.start', () => state('started ' + count))));
  } else {
    session.post('Profiler.stop', (error, result) => {
      running = false;
      count++;
      if (!error) fs.writeFileSync(path.join(dir, 'profile-' + count + '.cpuprofile'), JSON.stringify(result.profile));
      state('stopped ' + count);
    });
  }
});
`;

export interface Profiler {
  readonly dir: string;
  /** node flags for the proxy. */
  readonly nodeArgs: readonly string[];
  /** Environment for the proxy. */
  readonly env: NodeJS.ProcessEnv;
  /** Starts profiling in process `pid`; resolves once it runs. */
  start(pid: number): Promise<void>;
  /** Stops it; resolves with the profile file once written. */
  stop(pid: number): Promise<string>;
}

export async function createProfiler(): Promise<Profiler> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-bench-profile-'));
  const preload = path.join(dir, 'profile-on-sigusr2.cjs');
  await writeFile(preload, PRELOAD);
  let count = 0;
  const waitState = async (want: string): Promise<void> => {
    const file = path.join(dir, 'state');
    const deadline = Date.now() + 30_000;
    while (!(existsSync(file) && readFileSync(file, 'utf8') === want)) {
      if (Date.now() > deadline) throw new Error(`the proxy's profiler did not report "${want}"`);
      await sleep(10);
    }
  };
  return {
    dir,
    nodeArgs: ['--require', preload],
    env: { BENCH_PROFILE_DIR: dir },
    async start(pid) {
      process.kill(pid, 'SIGUSR2');
      await waitState(`started ${String(count)}`);
    },
    async stop(pid) {
      process.kill(pid, 'SIGUSR2');
      count++;
      await waitState(`stopped ${String(count)}`);
      return path.join(dir, `profile-${String(count)}.cpuprofile`);
    },
  };
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  /** Function name and where it is (path relative to the repository, line 1-based). */
  readonly where: string;
  readonly ms: number;
  /** Of all sampled time. */
  readonly share: number;
  /** Of the time not idle. */
  readonly busyShare: number;
}

/**
 * Self time per function over `files` (merged), largest first; `(idle)` and `(program)` are
 * kept, since they tell how busy the process was.
 */
export function summarize(files: readonly string[], repoRoot: string): SelfTime[] {
  const byWhere = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const names = new Map<number, string>();
    for (const node of profile.nodes) names.set(node.id, describe(node, repoRoot));
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      const us = deltas[i + 1] ?? deltas[i] ?? 0;
      const where = names.get(samples[i] ?? -1) ?? '(unknown)';
      byWhere.set(where, (byWhere.get(where) ?? 0) + us);
      total += us;
    }
  }
  const busy = total - (byWhere.get('(idle)') ?? 0);
  return [...byWhere]
    .map(([where, us]) => ({
      where,
      ms: us / 1000,
      share: total === 0 ? 0 : us / total,
      busyShare: busy === 0 ? 0 : us / busy,
    }))
    .sort((a, b) => b.ms - a.ms);
}

function describe(node: ProfileNode, repoRoot: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName === '' ? '(anonymous)' : functionName;
  if (url === '') return name;
  let file = url.replace(/^file:\/\//, '');
  if (file.startsWith(repoRoot)) file = file.slice(repoRoot.length + 1);
  file = file.replace(/^.*node_modules\//, '');
  return `${name} ${file}:${String(lineNumber + 1)}`;
}
