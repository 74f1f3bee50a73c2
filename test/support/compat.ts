import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Client-suite results, collected for docs/compatibility.md. Each client suite records one
 * entry per feature it exercised; `npm run compat` (test/clients/generate-compatibility.ts)
 * turns the files into the client × feature table.
 */
export interface CompatResult {
  readonly feature: string;
  readonly pass: boolean;
  readonly detail?: string;
}

export interface CompatReport {
  readonly client: string;
  /** Client library/tool version, as the client itself reports it. */
  readonly version: string;
  readonly results: readonly CompatResult[];
}

export const COMPAT_DIR = path.resolve('.tmp', 'compat');

export function recordCompat(report: CompatReport): void {
  mkdirSync(COMPAT_DIR, { recursive: true });
  const file = path.join(COMPAT_DIR, `${report.client.replace(/[^a-z0-9.-]+/gi, '_')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
}

export function readCompat(): CompatReport[] {
  let files: string[];
  try {
    files = readdirSync(COMPAT_DIR).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map(
    (name) => JSON.parse(readFileSync(path.join(COMPAT_DIR, name), 'utf8')) as CompatReport,
  );
}

/**
 * Parse the output of an external client program: lines `RESULT <feature> PASS|FAIL [detail]`
 * and one `VERSION <text>` line. Other lines are ignored (they are the program's log).
 */
export function parseClientOutput(output: string): { version: string; results: CompatResult[] } {
  let version = 'unknown';
  const results: CompatResult[] = [];
  for (const line of output.split('\n')) {
    const versionMatch = /^VERSION\s+(.+)$/.exec(line.trim());
    if (versionMatch?.[1] !== undefined) version = versionMatch[1];
    const match = /^RESULT\s+(\S+)\s+(PASS|FAIL)(?:\s+(.*))?$/.exec(line.trim());
    if (match?.[1] !== undefined) {
      results.push({
        feature: match[1],
        pass: match[2] === 'PASS',
        ...(match[3] ? { detail: match[3] } : {}),
      });
    }
  }
  return { version, results };
}
