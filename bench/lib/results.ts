import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';

/** Where benchmark reports go: bench/results/<name>.md, collected later by `npm run bench`. */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

/**
 * Writes `markdown` to bench/results/<name>.md (creating the directory), formatted with the
 * project's Prettier settings so `prettier --check .` stays clean; returns the path.
 */
export async function writeResult(name: string, markdown: string): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.md`);
  const options = (await prettier.resolveConfig(file)) ?? {};
  await writeFile(file, await prettier.format(markdown, { ...options, filepath: file }));
  return file;
}
