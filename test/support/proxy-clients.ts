import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { defaultConfig } from '../../src/config-schema.js';
import { startProxy, upstreamUrl, type TestProxy } from './proxy.js';
import { RawClient, summarize, type Msg } from './raw-client.js';

/**
 * A proxy pooling in `mode` (three upstream connections, trust auth) with a node-postgres client
 * and a raw wire client logged in to it: started before the tests of the describe block that
 * calls `proxyClients` and stopped after them. Read the fields inside tests and hooks only.
 */
export class ProxyClients {
  private state: { proxy: TestProxy; client: pg.Client; raw: RawClient } | undefined;

  constructor(mode: 'session' | 'transaction') {
    beforeAll(async () => {
      const proxy = await startProxy({
        pool: { ...defaultConfig().pool, mode, size: 3 },
        auth: { method: 'trust' },
      });
      const client = new pg.Client({ connectionString: proxy.url() });
      await client.connect();
      const upstream = new URL(upstreamUrl());
      const raw = await RawClient.connect(proxy.port, {
        user: decodeURIComponent(upstream.username),
        database: upstream.pathname.slice(1),
      });
      this.state = { proxy, client, raw };
    });
    afterAll(async () => {
      const state = this.state;
      if (state === undefined) return;
      state.raw.close();
      await state.client.end();
      await state.proxy.stop();
    });
  }

  get proxy(): TestProxy {
    return this.started().proxy;
  }

  get client(): pg.Client {
    return this.started().client;
  }

  get raw(): RawClient {
    return this.started().raw;
  }

  private started(): { proxy: TestProxy; client: pg.Client; raw: RawClient } {
    if (this.state === undefined) throw new Error('ProxyClients read outside its describe block');
    return this.state;
  }
}

/** Summaries (see `summarize`) of replies, without notices, parameter status and notifications. */
export function summaries(messages: readonly Msg[]): string[] {
  return messages.filter((m) => !'NSA'.includes(m.type)).map(summarize);
}
