import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type RunningEmbedded } from '../../src/embedded-postgres.js';

/**
 * One real Postgres for the whole run: the upstream given by TEST_DATABASE_URL, or an embedded
 * cluster in a fresh temporary directory. Tests read its admin URL via inject('upstreamUrl').
 */
let embedded: RunningEmbedded | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.TEST_DATABASE_URL;
  if (url === undefined || url === '') {
    dir = await mkdtemp(path.join(os.tmpdir(), 'docfusion-test-'));
    embedded = await startEmbeddedPostgres({
      dataDir: dir,
      port: 0,
      user: 'docfusion',
      password: 'docfusion',
      database: 'docfusion',
      logger: pino({ level: 'warn' }),
    });
    url = embedded.url;
  }
  project.provide('upstreamUrl', url);
}

export async function teardown(): Promise<void> {
  await embedded?.stop('immediate');
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    upstreamUrl: string;
  }
}
