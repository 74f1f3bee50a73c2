import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { md5PasswordHash } from '../../protocol/md5.js';
import { makeScramVerifier } from '../../protocol/scram.js';
import {
  ConfigError,
  DEFAULT_PASSWORD_WARNING,
  defaultConfig,
  formatConfig,
  loadConfig,
  redactConfig,
  type LoadedConfig,
} from '../../src/config.js';
import type { DocFusionConfig } from '../../src/config-types.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'docfusion-config-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
/** Writes a YAML file into the test directory and returns its absolute path. */
function yamlFile(content: string): string {
  const file = path.join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(file, content);
  return file;
}

interface LoadOptions {
  readonly yaml?: string;
  readonly argv?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

function load(options: LoadOptions = {}): LoadedConfig {
  const argv = [...(options.argv ?? [])];
  if (options.yaml !== undefined) argv.unshift('--config', yamlFile(options.yaml));
  return loadConfig({ argv, env: options.env ?? {}, cwd: dir });
}

function configOf(options: LoadOptions): DocFusionConfig {
  return load(options).config;
}

function errorOf(options: LoadOptions): string {
  try {
    load(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const tlsDir = path.join(dir, 'tls');
mkdirSync(tlsDir);
const certFile = path.join(tlsDir, 'server.crt');
const keyFile = path.join(tlsDir, 'server.key');
writeFileSync(certFile, 'not really a certificate');
writeFileSync(keyFile, 'not really a key');

const scram = makeScramVerifier('alice-password', 4096);
const md5 = md5PasswordHash('bob', 'bob-password');

describe('defaults', () => {
  it('are the built-in defaults without file, env or flags', () => {
    const loaded = load();
    expect(loaded.config).toEqual(defaultConfig(dir));
    expect(loaded.configFile).toBeNull();
    expect(loaded.printConfig).toBe(false);
    const c = loaded.config;
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 6432 });
    expect(c.http).toEqual({ listen: { host: '127.0.0.1', port: 8080 }, enabled: true });
    expect(c.upstream).toBeNull();
    expect(c.dataDir).toBe(path.join(dir, '.docfusion'));
    expect(c.embedded).toEqual({
      port: 0,
      user: 'docfusion',
      password: 'docfusion',
      database: 'docfusion',
    });
    expect(c.auth).toEqual({
      method: 'scram-sha-256',
      source: 'upstream',
      query: 'SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1',
      allowTrustOnNonLoopback: false,
      users: [],
    });
    expect(c.databases).toEqual({});
    expect(c.tls).toEqual({ cert: null, key: null, require: false });
    expect(c.limits).toEqual({
      maxClientConnections: 1000,
      maxMessageSize: 67_108_864,
      startupTimeoutMs: 10_000,
    });
    expect(c.upstreamConnect).toEqual({
      timeoutMs: 5000,
      retries: 5,
      backoffInitialMs: 100,
      backoffMaxMs: 2000,
    });
    expect(c.pool).toEqual({
      mode: 'session',
      size: 20,
      minIdle: 0,
      maxClientWaitMs: 120_000,
      serverIdleTimeoutMs: 600_000,
      serverLifetimeMs: 3_600_000,
      serverCheckDelayMs: 30_000,
      resetQuery: 'DISCARD ALL',
      maxPreparedStatements: 200,
    });
    expect(c.poolUsers).toEqual({});
    expect(c.timeouts).toEqual({ queryMs: 0, idleInTransactionMs: 0, clientIdleMs: 0 });
    expect(c.shutdown).toEqual({ graceMs: 10_000 });
    expect(c.log).toEqual({ level: 'info', slowStatementMs: 1000 });
    expect(c.tracing).toEqual({ otlpEndpoint: null, serviceName: 'docfusiondb' });
  });

  it('lists no admin users, not even the embedded user (the server adds it itself)', () => {
    const embedded = configOf({});
    expect(embedded.upstream).toBeNull();
    expect(embedded.admin).toEqual({ users: [] });
    expect(configOf({ env: { DATABASE_URL: 'postgres://h/db' } }).admin.users).toEqual([]);
    expect(configOf({ yaml: 'admin: {users: [ops]}' }).admin.users).toEqual(['ops']);
  });

  it('returns a frozen configuration', () => {
    const c = configOf({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.limits)).toBe(true);
    expect(Object.isFrozen(c.auth.users)).toBe(true);
    expect(Object.isFrozen(c.pool)).toBe(true);
    expect(Object.isFrozen(c.admin.users)).toBe(true);
  });

  it('sets --print-config', () => {
    expect(load({ argv: ['--print-config'] }).printConfig).toBe(true);
  });
});

describe('precedence: flag > env > file > default', () => {
  const cases: readonly {
    readonly yamlKey: string;
    readonly env: string;
    readonly flag: string | null;
    readonly yaml: string;
    readonly values: readonly [file: string, env: string, flag: string];
    readonly read: (c: DocFusionConfig) => unknown;
    readonly expected: readonly [dflt: unknown, file: unknown, env: unknown, flag: unknown];
  }[] = [
    {
      yamlKey: 'listen',
      env: 'DOCFUSION_LISTEN',
      flag: '--listen',
      yaml: 'listen: "%"',
      values: ['127.0.0.1:7001', '127.0.0.1:7002', '[::1]:7003'],
      read: (c) => c.listen,
      expected: [
        { host: '127.0.0.1', port: 6432 },
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
        { host: '::1', port: 7003 },
      ],
    },
    {
      yamlKey: 'upstream',
      env: 'DATABASE_URL',
      flag: '--upstream',
      yaml: 'upstream: "%"',
      values: ['postgres://file/db', 'postgresql://env/db', 'postgres://flag:5433/db'],
      read: (c) => c.upstream,
      expected: [null, 'postgres://file/db', 'postgresql://env/db', 'postgres://flag:5433/db'],
    },
    {
      yamlKey: 'data_dir',
      env: 'DOCFUSION_DATA_DIR',
      flag: '--data-dir',
      yaml: 'data_dir: "%"',
      values: ['file-dir', '/env-dir', 'flag/dir'],
      read: (c) => c.dataDir,
      expected: [
        path.join(dir, '.docfusion'),
        path.join(dir, 'file-dir'),
        '/env-dir',
        path.join(dir, 'flag/dir'),
      ],
    },
    {
      yamlKey: 'http.listen',
      env: 'DOCFUSION_HTTP_LISTEN',
      flag: '--http-listen',
      yaml: 'http:\n  listen: "%"',
      values: ['127.0.0.1:9001', '0.0.0.0:9002', 'localhost:9003'],
      read: (c) => c.http.listen,
      expected: [
        { host: '127.0.0.1', port: 8080 },
        { host: '127.0.0.1', port: 9001 },
        { host: '0.0.0.0', port: 9002 },
        { host: 'localhost', port: 9003 },
      ],
    },
    {
      yamlKey: 'auth.method',
      env: 'DOCFUSION_AUTH',
      flag: '--auth',
      yaml: 'auth:\n  method: "%"',
      values: ['md5', 'password', 'trust'],
      read: (c) => c.auth.method,
      expected: ['scram-sha-256', 'md5', 'password', 'trust'],
    },
    {
      yamlKey: 'log.level',
      env: 'DOCFUSION_LOG_LEVEL',
      flag: '--log-level',
      yaml: 'log:\n  level: "%"',
      values: ['warn', 'debug', 'silent'],
      read: (c) => c.log.level,
      expected: ['info', 'warn', 'debug', 'silent'],
    },
    {
      yamlKey: 'embedded.password',
      env: 'DOCFUSION_PASSWORD',
      flag: null,
      yaml: 'embedded:\n  password: "%"',
      values: ['from-file', 'from-env', 'unused'],
      read: (c) => c.embedded.password,
      expected: ['docfusion', 'from-file', 'from-env', 'from-env'],
    },
    {
      yamlKey: 'pool.mode',
      env: 'DOCFUSION_POOL_MODE',
      flag: null,
      yaml: 'pool:\n  mode: "%"',
      values: ['transaction', 'session', 'unused'],
      read: (c) => c.pool.mode,
      expected: ['session', 'transaction', 'session', 'session'],
    },
    {
      yamlKey: 'pool.size',
      env: 'DOCFUSION_POOL_SIZE',
      flag: null,
      yaml: 'pool:\n  size: %',
      values: ['50', '7', 'unused'],
      read: (c) => c.pool.size,
      expected: [20, 50, 7, 7],
    },
  ];

  for (const t of cases) {
    it(`${t.yamlKey}: default, file, ${t.env}, ${t.flag ?? '(no flag)'}`, () => {
      const [fileValue, envValue, flagValue] = t.values;
      const yaml = t.yaml.replace('%', fileValue);
      const env = { [t.env]: envValue };
      const argv = t.flag === null ? [] : [t.flag, flagValue];
      expect(t.read(configOf({}))).toEqual(t.expected[0]);
      expect(t.read(configOf({ yaml }))).toEqual(t.expected[1]);
      expect(t.read(configOf({ yaml, env }))).toEqual(t.expected[2]);
      expect(t.read(configOf({ yaml, env, argv }))).toEqual(t.expected[3]);
      // Each level also works alone.
      expect(t.read(configOf({ env }))).toEqual(t.expected[2]);
      if (t.flag !== null) expect(t.read(configOf({ argv }))).toEqual(t.expected[3]);
    });
  }

  it('--config beats DOCFUSION_CONFIG', () => {
    const fromEnv = yamlFile('listen: "127.0.0.1:1111"');
    const fromFlag = yamlFile('listen: "127.0.0.1:2222"');
    const viaEnv = loadConfig({ argv: [], env: { DOCFUSION_CONFIG: fromEnv }, cwd: dir });
    expect(viaEnv.configFile).toBe(fromEnv);
    expect(viaEnv.config.listen.port).toBe(1111);
    const viaFlag = loadConfig({
      argv: ['--config', fromFlag],
      env: { DOCFUSION_CONFIG: fromEnv },
      cwd: dir,
    });
    expect(viaFlag.configFile).toBe(fromFlag);
    expect(viaFlag.config.listen.port).toBe(2222);
  });

  it('resolves a relative config path against cwd', () => {
    const file = yamlFile('listen: "127.0.0.1:3333"');
    const loaded = loadConfig({ argv: ['--config', path.basename(file)], env: {}, cwd: dir });
    expect(loaded.configFile).toBe(file);
    expect(loaded.config.listen.port).toBe(3333);
  });

  it('treats empty environment variables as unset', () => {
    const env = {
      DOCFUSION_CONFIG: '',
      DOCFUSION_LISTEN: '',
      DATABASE_URL: '',
      DOCFUSION_DATA_DIR: '',
      DOCFUSION_HTTP_LISTEN: '',
      DOCFUSION_AUTH: '',
      DOCFUSION_PASSWORD: '',
      DOCFUSION_POOL_MODE: '',
      DOCFUSION_POOL_SIZE: '',
      DOCFUSION_LOG_LEVEL: '',
    };
    const loaded = load({ env });
    expect(loaded.config).toEqual(defaultConfig(dir));
    expect(loaded.configFile).toBeNull();
  });

  it('keeps file values the environment does not override', () => {
    const c = configOf({
      yaml: 'listen: "127.0.0.1:7001"\nlog:\n  level: warn\n',
      env: { DOCFUSION_LOG_LEVEL: 'debug' },
    });
    expect(c.listen.port).toBe(7001);
    expect(c.log.level).toBe('debug');
  });

  it('--http-listen and DOCFUSION_HTTP_LISTEN enable HTTP, or disable it with "off"', () => {
    const yaml = 'http:\n  enabled: false\n';
    expect(configOf({ yaml }).http.enabled).toBe(false);
    expect(configOf({ yaml, env: { DOCFUSION_HTTP_LISTEN: '127.0.0.1:9000' } }).http).toEqual({
      listen: { host: '127.0.0.1', port: 9000 },
      enabled: true,
    });
    expect(configOf({ argv: ['--http-listen', 'off'] }).http.enabled).toBe(false);
    expect(configOf({ env: { DOCFUSION_HTTP_LISTEN: 'off' } }).http.enabled).toBe(false);
  });
});

describe('a full file', () => {
  it('reads every key', () => {
    const c = configOf({
      yaml: `
listen: "[::]:6500"
http: {listen: "127.0.0.1:8081", enabled: false}
api:
  enabled: false
  schema: docs
  body_limit: 2MiB
  max_bulk_documents: 10
  import_batch_size: 100
  max_import_line_size: 64KiB
  max_json_rows: 50
  anonymous_role: read
  protect_metrics: true
  rate_limit: {max: 5, window_ms: 1000}
  keys:
    - {name: ci, hash: 'sha256:${'ab'.repeat(32)}', role: write, collections: [orders], rate_limit: 3}
    - {name: ops, hash: 'sha256:${'cd'.repeat(32)}', role: admin}
  jwt:
    hs256_secret: s3cret
    jwks_file: null
    issuer: https://issuer.example
    audience: docfusion
    role_claim: docfusion_role
    collections_claim: docfusion_collections
upstream: postgresql://admin:pw@db.example:5433/app
data_dir: /var/lib/docfusion
embedded: {port: 55432, user: emb, password: embpw, database: embdb}
auth:
  method: md5
  source: config
  query: SELECT u, p FROM users WHERE u = $1
  allow_trust_on_non_loopback: true
  users:
    - {name: alice, password: '${scram}'}
    - {name: bob, password: '${md5}'}
databases:
  analytics: {dbname: analytics_prod, host: replica, port: 5434, user: ro, password: ropw}
  plain:
  tx: {pool_mode: transaction, pool_size: 3}
tls: {cert: ${certFile}, key: ${keyFile}, require: true}
limits: {max_client_connections: 10, max_message_size: 512KiB, startup_timeout_ms: 2000}
upstream_connect: {timeout_ms: 1000, retries: 0, backoff_initial_ms: 0, backoff_max_ms: 50}
pool:
  mode: transaction
  size: 8
  min_idle: 2
  max_client_wait_ms: 0
  server_idle_timeout_ms: 1000
  server_lifetime_ms: 0
  server_check_delay_ms: 0
  reset_query: ""
  max_prepared_statements: 1
pool_users:
  alice: {pool_mode: session, pool_size: 2}
  bob: {pool_size: 100}
  carol:
timeouts: {query_ms: 30000, idle_in_transaction_ms: 5000, client_idle_ms: 2147483647}
admin: {users: [alice, "Mixed Case"]}
planner: {pushdown: false, catalog_ttl_ms: 5000}
shutdown: {grace_ms: 0}
log: {level: trace, slow_statement_ms: 250}
tracing: {otlp_endpoint: "http://127.0.0.1:4318/v1/traces", service_name: docfusion-test}
`,
    });
    expect(c).toEqual({
      listen: { host: '::', port: 6500 },
      http: { listen: { host: '127.0.0.1', port: 8081 }, enabled: false },
      api: {
        enabled: false,
        schema: 'docs',
        bodyLimit: 2 * 1024 * 1024,
        maxBulkDocuments: 10,
        importBatchSize: 100,
        importParallel: 2,
        maxImportLineSize: 64 * 1024,
        maxJsonRows: 50,
        anonymousRole: 'read',
        protectMetrics: true,
        rateLimit: { max: 5, windowMs: 1000 },
        keys: [
          {
            name: 'ci',
            hash: `sha256:${'ab'.repeat(32)}`,
            role: 'write',
            collections: ['orders'],
            rateLimit: 3,
          },
          {
            name: 'ops',
            hash: `sha256:${'cd'.repeat(32)}`,
            role: 'admin',
            collections: null,
            rateLimit: null,
          },
        ],
        jwt: {
          hs256Secret: 's3cret',
          jwksFile: null,
          issuer: 'https://issuer.example',
          audience: 'docfusion',
          roleClaim: 'docfusion_role',
          collectionsClaim: 'docfusion_collections',
        },
      },
      upstream: 'postgresql://admin:pw@db.example:5433/app',
      dataDir: '/var/lib/docfusion',
      embedded: { port: 55432, user: 'emb', password: 'embpw', database: 'embdb' },
      auth: {
        method: 'md5',
        source: 'config',
        query: 'SELECT u, p FROM users WHERE u = $1',
        allowTrustOnNonLoopback: true,
        users: [
          { name: 'alice', password: scram },
          { name: 'bob', password: md5 },
        ],
      },
      databases: {
        analytics: {
          dbname: 'analytics_prod',
          host: 'replica',
          port: 5434,
          user: 'ro',
          password: 'ropw',
        },
        plain: {},
        tx: { poolMode: 'transaction', poolSize: 3 },
      },
      tls: { cert: certFile, key: keyFile, require: true },
      limits: { maxClientConnections: 10, maxMessageSize: 524_288, startupTimeoutMs: 2000 },
      upstreamConnect: { timeoutMs: 1000, retries: 0, backoffInitialMs: 0, backoffMaxMs: 50 },
      pool: {
        mode: 'transaction',
        size: 8,
        minIdle: 2,
        maxClientWaitMs: 0,
        serverIdleTimeoutMs: 1000,
        serverLifetimeMs: 0,
        serverCheckDelayMs: 0,
        resetQuery: '',
        maxPreparedStatements: 1,
      },
      poolUsers: {
        alice: { poolMode: 'session', poolSize: 2 },
        bob: { poolSize: 100 },
        carol: {},
      },
      timeouts: { queryMs: 30_000, idleInTransactionMs: 5000, clientIdleMs: 2_147_483_647 },
      admin: { users: ['alice', 'Mixed Case'] },
      planner: { pushdown: false, catalogTtlMs: 5000 },
      shutdown: { graceMs: 0 },
      log: { level: 'trace', slowStatementMs: 250 },
      tracing: { otlpEndpoint: 'http://127.0.0.1:4318/v1/traces', serviceName: 'docfusion-test' },
    } satisfies DocFusionConfig);
  });

  it('accepts an empty file and empty sections', () => {
    expect(configOf({ yaml: '' }).listen.port).toBe(6432);
    expect(configOf({ yaml: '# only a comment\n' }).listen.port).toBe(6432);
    expect(configOf({ yaml: 'limits:\ntls:\n' }).limits.maxClientConnections).toBe(1000);
    const empty = configOf({ yaml: 'pool:\ntimeouts:\nadmin:\npool_users:\ndatabases:\n' });
    expect(empty.pool.size).toBe(20);
    expect(empty.timeouts.queryMs).toBe(0);
    expect(empty.admin.users).toEqual([]);
    expect(empty.poolUsers).toEqual({});
    expect(empty.databases).toEqual({});
  });

  it('resolves relative TLS paths against cwd', () => {
    const c = configOf({ yaml: 'tls: {cert: tls/server.crt, key: tls/server.key}' });
    expect(c.tls).toEqual({ cert: certFile, key: keyFile, require: false });
  });
});

describe('listen addresses', () => {
  it.each([
    ['127.0.0.1:6432', { host: '127.0.0.1', port: 6432 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['localhost:65535', { host: 'localhost', port: 65_535 }],
    ['db-proxy.internal.example:5432', { host: 'db-proxy.internal.example', port: 5432 }],
    ['[::1]:6432', { host: '::1', port: 6432 }],
    ['[::]:6432', { host: '::', port: 6432 }],
    ['[fe80::1:2:3]:1', { host: 'fe80::1:2:3', port: 1 }],
  ])('parses %s', (value, expected) => {
    expect(configOf({ argv: ['--listen', value] }).listen).toEqual(expected);
    expect(configOf({ yaml: `listen: "${value}"` }).listen).toEqual(expected);
  });

  it('prints IPv6 addresses in brackets', () => {
    const c = configOf({ argv: ['--listen', '[::1]:6432', '--http-listen', '[::1]:8080'] });
    const printed = parse(formatConfig(c)) as { listen: string; http: { listen: string } };
    expect(printed.listen).toBe('[::1]:6432');
    expect(printed.http.listen).toBe('[::1]:8080');
  });
});

describe('sizes', () => {
  it.each([
    [1024, 1024],
    ['2048', 2048],
    ['100B', 100],
    ['512KiB', 524_288],
    ['64MiB', 67_108_864],
    ['64 MiB', 67_108_864],
    ['64mib', 67_108_864],
    ['64MB', 67_108_864],
    ['1GiB', 1_073_741_824],
  ])('max_message_size %j is %d bytes', (value, bytes) => {
    const yaml = `limits:\n  max_message_size: ${JSON.stringify(value)}\n`;
    expect(configOf({ yaml }).limits.maxMessageSize).toBe(bytes);
  });

  it.each([0, -1, 1.5, '2GiB', '64XB', 'lots', '', true, '1.5MiB'])('rejects %j', (value) => {
    const message = errorOf({ yaml: `limits:\n  max_message_size: ${JSON.stringify(value)}\n` });
    expect(message).toContain('limits.max_message_size: expected a size');
    expect(message).toContain(`got ${JSON.stringify(value)}`);
  });

  it('prints sizes with units where exact', () => {
    const printed = (n: number): unknown =>
      (
        parse(formatConfig(configOf({ yaml: `limits: {max_message_size: ${n}}` }))) as {
          limits: { max_message_size: unknown };
        }
      ).limits.max_message_size;
    expect(printed(67_108_864)).toBe('64MiB');
    expect(printed(3072)).toBe('3KiB');
    expect(printed(1_073_741_824)).toBe('1GiB');
    expect(printed(1000)).toBe(1000);
  });
});

describe('validation errors name the key, the value and the source', () => {
  const cases: readonly (readonly [
    name: string,
    options: LoadOptions,
    expected: readonly string[],
  ])[] = [
    // Flags and environment.
    ['unknown flag', { argv: ['--lisen', 'x'] }, ['--lisen', 'unknown option']],
    ['unknown short flag', { argv: ['-x'] }, ['-x', 'unknown option']],
    ['positional argument', { argv: ['serve'] }, ['unexpected argument "serve"']],
    ['flag without value', { argv: ['--listen'] }, ['--listen: expected a value']],
    ['--print-config=x', { argv: ['--print-config=x'] }, ['--print-config: takes no value']],
    ['--listen', { argv: ['--listen', 'nope'] }, ['--listen: expected HOST:PORT', '"nope"']],
    ['--listen port', { argv: ['--listen', '127.0.0.1:65536'] }, ['--listen', '"127.0.0.1:65536"']],
    ['--listen bare IPv6', { argv: ['--listen', '::1:6432'] }, ['--listen', '"::1:6432"']],
    ['--listen bad IPv6', { argv: ['--listen', '[::g]:1'] }, ['--listen', '"[::g]:1"']],
    ['--listen no host', { argv: ['--listen', ':6432'] }, ['--listen', '":6432"']],
    ['--upstream scheme', { argv: ['--upstream', 'mysql://h/db'] }, ['--upstream', 'postgres://']],
    ['--data-dir', { argv: ['--data-dir='] }, ['--data-dir: expected a non-empty string']],
    ['--http-listen', { argv: ['--http-listen', '8080'] }, ['--http-listen: expected HOST:PORT']],
    ['--auth', { argv: ['--auth', 'plain'] }, ['--auth: expected one of trust, password']],
    ['--log-level', { argv: ['--log-level', 'loud'] }, ['--log-level: expected one of fatal']],
    [
      'DOCFUSION_AUTH',
      { env: { DOCFUSION_AUTH: 'foo' } },
      ['DOCFUSION_AUTH: expected one of trust, password, md5, scram-sha-256, got "foo"'],
    ],
    ['DOCFUSION_LISTEN', { env: { DOCFUSION_LISTEN: 'x' } }, ['DOCFUSION_LISTEN: expected']],
    [
      'DATABASE_URL',
      { env: { DATABASE_URL: 'http://h/db' } },
      ['DATABASE_URL: expected a postgres'],
    ],
    ['DATABASE_URL junk', { env: { DATABASE_URL: 'not a url' } }, ['DATABASE_URL', 'not a url']],
    ['DOCFUSION_HTTP_LISTEN', { env: { DOCFUSION_HTTP_LISTEN: 'on' } }, ['DOCFUSION_HTTP_LISTEN']],
    ['DOCFUSION_LOG_LEVEL', { env: { DOCFUSION_LOG_LEVEL: 'INFO' } }, ['DOCFUSION_LOG_LEVEL']],
    ['missing --config file', { argv: ['--config', 'nope.yaml'] }, ['--config', 'nope.yaml']],
    [
      'missing DOCFUSION_CONFIG file',
      { env: { DOCFUSION_CONFIG: 'nope.yaml' } },
      ['DOCFUSION_CONFIG', 'nope.yaml', 'ENOENT'],
    ],
    // The file.
    ['invalid YAML', { yaml: 'limits: [\n' }, ['invalid YAML']],
    ['duplicate key', { yaml: 'listen: "127.0.0.1:1"\nlisten: "127.0.0.1:2"\n' }, ['unique']],
    ['not a mapping', { yaml: '- a\n- b\n' }, ['expected a mapping', '["a","b"]']],
    ['listen', { yaml: 'listen: 6432' }, ['listen: expected HOST:PORT', 'got 6432', '(from ']],
    ['http.listen', { yaml: 'http: {listen: "h:x"}' }, ['http.listen: expected HOST:PORT']],
    ['http.enabled', { yaml: 'http: {enabled: "yes"}' }, ['http.enabled: expected true or false']],
    ['http', { yaml: 'http: 8080' }, ['http: expected a mapping', 'got 8080']],
    ['upstream', { yaml: 'upstream: mysql://u@h/db' }, ['upstream: expected a postgres://']],
    ['upstream type', { yaml: 'upstream: 5432' }, ['upstream: expected a non-empty string']],
    ['data_dir', { yaml: 'data_dir: ""' }, ['data_dir: expected a non-empty string, got ""']],
    ['embedded.port', { yaml: 'embedded: {port: 70000}' }, ['embedded.port: expected an integer']],
    ['embedded.port -1', { yaml: 'embedded: {port: -1}' }, ['embedded.port', 'got -1']],
    ['embedded.user', { yaml: 'embedded: {user: ""}' }, ['embedded.user: expected']],
    ['embedded.user long', { yaml: `embedded: {user: ${'u'.repeat(64)}}` }, ['at most 63 bytes']],
    ['embedded.password', { yaml: 'embedded: {password: 12}' }, ['embedded.password: expected']],
    ['embedded.database', { yaml: 'embedded: {database: null}' }, ['embedded.database', 'null']],
    ['auth.method', { yaml: 'auth: {method: ldap}' }, ['auth.method: expected one of', '"ldap"']],
    ['auth.source', { yaml: 'auth: {source: ldap}' }, ['auth.source: expected one of upstream']],
    ['auth.query', { yaml: 'auth: {query: SELECT 1}' }, ['auth.query: expected SQL with a $1']],
    [
      'auth.allow_trust_on_non_loopback',
      { yaml: 'auth: {allow_trust_on_non_loopback: 1}' },
      ['auth.allow_trust_on_non_loopback: expected true or false, got 1'],
    ],
    ['auth.users', { yaml: 'auth: {users: alice}' }, ['auth.users: expected a list']],
    [
      'auth.users[].name',
      { yaml: `auth: {users: [{password: '${scram}'}]}` },
      ['auth.users[0].name: expected a non-empty string, got nothing'],
    ],
    [
      'auth.users duplicate',
      { yaml: `auth: {users: [{name: a, password: '${scram}'}, {name: a, password: '${scram}'}]}` },
      ['auth.users[1].name', '"a"'],
    ],
    [
      'auth.users[].password plain',
      { yaml: 'auth: {users: [{name: alice, password: hunter2}]}' },
      ['auth.users[0].password: expected a SCRAM-SHA-256 verifier or an md5 hash'],
    ],
    [
      'auth.users[].password broken verifier',
      { yaml: `auth: {users: [{name: alice, password: 'SCRAM-SHA-256$4096:abc$x:y'}]}` },
      ['auth.users[0].password'],
    ],
    [
      'auth.users[].password md5 with scram',
      { yaml: `auth: {users: [{name: bob, password: '${md5}'}]}` },
      ['auth.users[0].password', 'md5 hash', 'scram-sha-256'],
    ],
    [
      'auth.source config without users',
      { yaml: 'auth: {source: config}' },
      ['auth.users: expected at least one user because auth.source is "config", got none'],
    ],
    ['databases', { yaml: 'databases: [a]' }, ['databases: expected a mapping']],
    [
      'databases.*.port',
      { yaml: 'databases: {app: {port: 0}}' },
      ['databases.app.port: expected an integer from 1 to 65535, got 0'],
    ],
    ['databases.*.dbname', { yaml: 'databases: {app: {dbname: ""}}' }, ['databases.app.dbname']],
    ['databases.*.host', { yaml: 'databases: {app: {host: 1}}' }, ['databases.app.host']],
    ['databases.*.user', { yaml: 'databases: {app: {user: []}}' }, ['databases.app.user']],
    [
      'databases.*.password',
      { yaml: 'databases: {app: {password: 1}}' },
      ['databases.app.password'],
    ],
    [
      'tls.cert missing',
      { yaml: 'tls: {cert: /nope.crt, key: /nope.key}' },
      ['tls.cert: expected a readable file', '"/nope.crt"'],
    ],
    [
      'tls.cert a directory',
      { yaml: `tls: {cert: ${tlsDir}, key: ${keyFile}}` },
      ['tls.cert: expected a readable file'],
    ],
    [
      'tls.key without cert',
      { yaml: `tls: {key: ${keyFile}}` },
      ['tls.cert: expected a readable file because tls.key is set, got nothing'],
    ],
    [
      'tls.cert without key',
      { yaml: `tls: {cert: ${certFile}}` },
      ['tls.key: expected a readable file because tls.cert is set, got nothing'],
    ],
    [
      'tls.require without files',
      { yaml: 'tls: {require: true}' },
      ['tls.require: true needs tls.cert and tls.key'],
    ],
    [
      'tls.require type',
      { yaml: 'tls: {require: "true"}' },
      ['tls.require: expected true or false'],
    ],
    [
      'limits.max_client_connections',
      { yaml: 'limits: {max_client_connections: abc}' },
      ['limits.max_client_connections: expected a positive integer, got "abc" (from /'],
    ],
    ['limits.max_client_connections 0', { yaml: 'limits: {max_client_connections: 0}' }, ['got 0']],
    [
      'limits.startup_timeout_ms',
      { yaml: 'limits: {startup_timeout_ms: 0}' },
      ['limits.startup_timeout_ms: expected'],
    ],
    [
      'limits.startup_timeout_ms beyond setTimeout',
      { yaml: 'limits: {startup_timeout_ms: 2147483648}' },
      ['limits.startup_timeout_ms: expected an integer from 1 to 2147483647'],
    ],
    [
      'upstream_connect.timeout_ms',
      { yaml: 'upstream_connect: {timeout_ms: 1.5}' },
      ['upstream_connect.timeout_ms', 'got 1.5'],
    ],
    [
      'upstream_connect.retries',
      { yaml: 'upstream_connect: {retries: -1}' },
      ['upstream_connect.retries', 'got -1'],
    ],
    [
      'upstream_connect.backoff_initial_ms',
      { yaml: 'upstream_connect: {backoff_initial_ms: x}' },
      ['upstream_connect.backoff_initial_ms'],
    ],
    [
      'upstream_connect.backoff_max_ms below initial',
      { yaml: 'upstream_connect: {backoff_initial_ms: 500, backoff_max_ms: 100}' },
      [
        'upstream_connect.backoff_max_ms: expected at least upstream_connect.backoff_initial_ms (500), got 100',
      ],
    ],
    [
      'shutdown.grace_ms',
      { yaml: 'shutdown: {grace_ms: -5}' },
      ['shutdown.grace_ms: expected', 'got -5'],
    ],
    [
      'log.level',
      { yaml: 'log: {level: verbose}' },
      ['log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"'],
    ],
    // Pooling.
    [
      'DOCFUSION_POOL_MODE',
      { env: { DOCFUSION_POOL_MODE: 'statement' } },
      ['DOCFUSION_POOL_MODE: expected one of session, transaction, got "statement"'],
    ],
    [
      'DOCFUSION_POOL_SIZE 0',
      { env: { DOCFUSION_POOL_SIZE: '0' } },
      ['DOCFUSION_POOL_SIZE: expected a positive integer, got "0"'],
    ],
    [
      'DOCFUSION_POOL_SIZE junk',
      { env: { DOCFUSION_POOL_SIZE: '10 conns' } },
      ['DOCFUSION_POOL_SIZE: expected a positive integer, got "10 conns"'],
    ],
    ['pool', { yaml: 'pool: transaction' }, ['pool: expected a mapping with keys mode, size']],
    [
      'pool.mode',
      { yaml: 'pool: {mode: statement}' },
      ['pool.mode: expected one of session, transaction, got "statement"'],
    ],
    ['pool.size 0', { yaml: 'pool: {size: 0}' }, ['pool.size: expected a positive integer, got 0']],
    ['pool.size text', { yaml: 'pool: {size: many}' }, ['pool.size: expected', 'got "many"']],
    [
      'pool.min_idle negative',
      { yaml: 'pool: {min_idle: -1}' },
      ['pool.min_idle: expected an integer of at least 0, got -1'],
    ],
    [
      'pool.min_idle above pool.size',
      { yaml: 'pool: {size: 4, min_idle: 5}' },
      ['pool.min_idle: expected at most pool.size (4), got 5 (from /'],
    ],
    [
      'pool.min_idle above the default pool.size',
      { yaml: 'pool: {min_idle: 21}' },
      ['pool.min_idle: expected at most the default pool.size (20), got 21'],
    ],
    [
      'pool.min_idle above DOCFUSION_POOL_SIZE',
      { yaml: 'pool: {min_idle: 5}', env: { DOCFUSION_POOL_SIZE: '2' } },
      ['pool.min_idle: expected at most DOCFUSION_POOL_SIZE (2), got 5'],
    ],
    [
      'pool.max_client_wait_ms',
      { yaml: 'pool: {max_client_wait_ms: -1}' },
      ['pool.max_client_wait_ms: expected an integer from 0 to 2147483647, got -1'],
    ],
    [
      'pool.server_idle_timeout_ms',
      { yaml: 'pool: {server_idle_timeout_ms: 1.5}' },
      ['pool.server_idle_timeout_ms: expected an integer from 0 to 2147483647, got 1.5'],
    ],
    [
      'pool.server_lifetime_ms beyond setTimeout',
      { yaml: 'pool: {server_lifetime_ms: 2147483648}' },
      ['pool.server_lifetime_ms: expected an integer from 0 to 2147483647, got 2147483648'],
    ],
    [
      'pool.server_check_delay_ms',
      { yaml: 'pool: {server_check_delay_ms: 30s}' },
      ['pool.server_check_delay_ms: expected an integer', 'got "30s"'],
    ],
    [
      'pool.reset_query',
      { yaml: 'pool: {reset_query: null}' },
      ['pool.reset_query: expected a string (may be empty: ""), got null'],
    ],
    [
      'pool.reset_query number',
      { yaml: 'pool: {reset_query: 1}' },
      ['pool.reset_query: expected a string', 'got 1'],
    ],
    [
      'pool.max_prepared_statements',
      { yaml: 'pool: {max_prepared_statements: 0}' },
      ['pool.max_prepared_statements: expected a positive integer, got 0'],
    ],
    [
      'databases.*.pool_mode',
      { yaml: 'databases: {app: {pool_mode: statement}}' },
      ['databases.app.pool_mode: expected one of session, transaction, got "statement"'],
    ],
    [
      'databases.*.pool_size',
      { yaml: 'databases: {app: {pool_size: 0}}' },
      ['databases.app.pool_size: expected a positive integer, got 0'],
    ],
    [
      'databases.*.pool_size below pool.min_idle',
      { yaml: 'pool: {min_idle: 3}\ndatabases: {app: {pool_size: 2}}' },
      ['databases.app.pool_size: expected at least pool.min_idle (3), got 2 (from /'],
    ],
    [
      'databases.docfusion_admin',
      { yaml: 'databases: {docfusion_admin: {dbname: x}}' },
      ['databases.docfusion_admin: reserved for the admin console'],
    ],
    ['pool_users', { yaml: 'pool_users: [alice]' }, ['pool_users: expected a mapping']],
    [
      'pool_users.*',
      { yaml: 'pool_users: {alice: transaction}' },
      ['pool_users.alice: expected a mapping with keys pool_mode, pool_size'],
    ],
    [
      'pool_users.*.pool_mode',
      { yaml: 'pool_users: {alice: {pool_mode: Session}}' },
      ['pool_users.alice.pool_mode: expected one of session, transaction, got "Session"'],
    ],
    [
      'pool_users.*.pool_size',
      { yaml: 'pool_users: {alice: {pool_size: -2}}' },
      ['pool_users.alice.pool_size: expected a positive integer, got -2'],
    ],
    [
      'pool_users.*.pool_size below pool.min_idle',
      { yaml: 'pool: {min_idle: 3}\npool_users: {alice: {pool_size: 1}}' },
      ['pool_users.alice.pool_size: expected at least pool.min_idle (3), got 1 (from /'],
    ],
    [
      'pool_users name too long',
      { yaml: `pool_users: {${'u'.repeat(64)}: {pool_size: 1}}` },
      [`pool_users.${'u'.repeat(64)}: expected a name of at most 63 bytes`],
    ],
    [
      'timeouts.query_ms',
      { yaml: 'timeouts: {query_ms: -1}' },
      ['timeouts.query_ms: expected an integer from 0 to 2147483647, got -1'],
    ],
    [
      'timeouts.idle_in_transaction_ms',
      { yaml: 'timeouts: {idle_in_transaction_ms: "1m"}' },
      ['timeouts.idle_in_transaction_ms: expected an integer', 'got "1m"'],
    ],
    [
      'timeouts.client_idle_ms beyond setTimeout',
      { yaml: 'timeouts: {client_idle_ms: 9999999999}' },
      ['timeouts.client_idle_ms: expected an integer from 0 to 2147483647, got 9999999999'],
    ],
    ['admin', { yaml: 'admin: [alice]' }, ['admin: expected a mapping with keys users']],
    [
      'admin.users',
      { yaml: 'admin: {users: alice}' },
      ['admin.users: expected a list of user names, got "alice"'],
    ],
    [
      'admin.users[] empty',
      { yaml: 'admin: {users: [alice, ""]}' },
      ['admin.users[1]: expected a non-empty string, got ""'],
    ],
    [
      'admin.users[] not a string',
      { yaml: 'admin: {users: [42]}' },
      ['admin.users[0]: expected a non-empty string, got 42'],
    ],
    [
      'admin.users[] too long',
      { yaml: `admin: {users: [${'a'.repeat(64)}]}` },
      ['admin.users[0]: expected a name of at most 63 bytes'],
    ],
    [
      'admin.users[] NUL',
      { yaml: 'admin: {users: ["a\\0b"]}' },
      ['admin.users[0]: expected a name without NUL characters'],
    ],
    [
      'admin.users duplicate',
      { yaml: 'admin: {users: [ops, ops]}' },
      ['admin.users[1]: expected a name not listed before, got "ops"'],
    ],
    [
      'http.listen equals listen',
      { yaml: 'listen: "127.0.0.1:7000"\nhttp: {listen: "127.0.0.1:7000"}' },
      ['http.listen: expected an address other than the listen address'],
    ],
  ];

  it.each(cases)('%s', (_name, options, expected) => {
    const message = errorOf(options);
    for (const part of expected) expect(message).toContain(part);
    if (options.yaml !== undefined && !message.includes('invalid YAML')) {
      expect(message).toMatch(/\(from \/.*\.yaml\)/);
    }
  });

  it('does not echo secrets in errors', () => {
    const plain = errorOf({ yaml: 'auth: {users: [{name: alice, password: hunter2}]}' });
    expect(plain).not.toContain('hunter2');
    const url = errorOf({ env: { DATABASE_URL: 'mysql://app:s3cret@h/db' } });
    expect(url).not.toContain('s3cret');
    expect(url).toContain('mysql://app:***@h/db');
    const db = errorOf({ yaml: 'databases: {app: {password: ""}}' });
    expect(db).toContain('databases.app.password');
  });
});

describe('unknown keys', () => {
  it.each([
    ['listn: "127.0.0.1:1"', 'listn: unknown key'],
    ['limits: {max_connections: 5}', 'limits.max_connections: unknown key'],
    ['limits: {maxClientConnections: 5}', 'did you mean max_client_connections?'],
    ['upstreamConnect: {retries: 1}', 'did you mean upstream_connect?'],
    ['http: {port: 80}', 'http.port: unknown key'],
    [
      `auth: {users: [{name: a, password: '${scram}', role: x}]}`,
      'auth.users[0].role: unknown key',
    ],
    ['databases: {app: {database: x}}', 'databases.app.database: unknown key'],
    ['tls: {ca: /x}', 'tls.ca: unknown key'],
    ['pool: {max_size: 5}', 'pool.max_size: unknown key'],
    ['pool: {minIdle: 1}', 'did you mean min_idle?'],
    ['poolUsers: {}', 'did you mean pool_users?'],
    ['databases: {app: {poolMode: session}}', 'did you mean pool_mode?'],
    ['pool_users: {alice: {pool_min_idle: 1}}', 'pool_users.alice.pool_min_idle: unknown key'],
    ['timeouts: {statement_ms: 1}', 'timeouts.statement_ms: unknown key'],
    ['admin: {password: x}', 'admin.password: unknown key'],
  ])('%s', (yaml, expected) => {
    const message = errorOf({ yaml });
    expect(message).toContain(expected);
    expect(message).toContain('expected one of');
    expect(message).toContain('(from ');
  });
});

describe('auth', () => {
  it('refuses trust on a non-loopback listen address', () => {
    const message = errorOf({ env: { DOCFUSION_LISTEN: '0.0.0.0:6432', DOCFUSION_AUTH: 'trust' } });
    expect(message).toContain('DOCFUSION_AUTH: "trust" is refused');
    expect(message).toContain('0.0.0.0:6432 (DOCFUSION_LISTEN)');
    expect(message).toContain('allow_trust_on_non_loopback');
    const fromFile = errorOf({ yaml: 'listen: "[::]:6432"\nauth: {method: trust}' });
    expect(fromFile).toContain('auth.method: "trust" is refused');
    expect(fromFile).toContain('[::]:6432 (listen in /');
    expect(errorOf({ argv: ['--listen', '10.1.2.3:5432', '--auth', 'trust'] })).toContain(
      '--auth: "trust" is refused',
    );
    expect(errorOf({ argv: ['--listen', 'db.example:1', '--auth', 'trust'] })).toContain('refused');
  });

  it('allows trust on a non-loopback address with allow_trust_on_non_loopback', () => {
    const c = configOf({
      yaml: 'auth: {allow_trust_on_non_loopback: true}',
      argv: ['--listen', '0.0.0.0:6432', '--auth', 'trust'],
    });
    expect(c.auth.method).toBe('trust');
    expect(c.listen.host).toBe('0.0.0.0');
  });

  it.each([
    '127.0.0.1:6432',
    '127.9.8.7:1',
    '[::1]:6432',
    '[0:0:0:0:0:0:0:1]:6432',
    '[::ffff:127.0.0.1]:6432',
    'localhost:6432',
    'LOCALHOST:1',
  ])('allows trust on loopback %s', (listen) => {
    expect(configOf({ argv: ['--listen', listen, '--auth', 'trust'] }).auth.method).toBe('trust');
  });

  it('accepts md5 hashes with md5 and password methods', () => {
    const yaml = `auth: {source: config, users: [{name: bob, password: '${md5}'}]}`;
    expect(configOf({ yaml, env: { DOCFUSION_AUTH: 'md5' } }).auth.users).toEqual([
      { name: 'bob', password: md5 },
    ]);
    expect(configOf({ yaml, argv: ['--auth', 'password'] }).auth.users).toHaveLength(1);
  });
});

describe('warnings', () => {
  it('warns about the default embedded password', () => {
    expect(load().warnings).toEqual([DEFAULT_PASSWORD_WARNING]);
    expect(DEFAULT_PASSWORD_WARNING).toBe(
      "the embedded Postgres uses the default password 'docfusion'; set DOCFUSION_PASSWORD",
    );
  });

  it('does not warn with DOCFUSION_PASSWORD, a file password or an upstream', () => {
    expect(load({ env: { DOCFUSION_PASSWORD: 's3cret' } }).warnings).toEqual([]);
    expect(load({ yaml: 'embedded: {password: s3cret}' }).warnings).toEqual([]);
    expect(load({ env: { DATABASE_URL: 'postgres://h/db' } }).warnings).toEqual([]);
  });

  it('warns about unknown DOCFUSION_ variables', () => {
    const { warnings } = load({ env: { DOCFUSION_PASSWORD: 'x', DOCFUSION_LISTN: '1' } });
    expect(warnings).toEqual(['unknown environment variable DOCFUSION_LISTN ignored']);
    const pool = load({ env: { DOCFUSION_POOL_MODE: 'transaction', DOCFUSION_POOL_SIZE: '5' } });
    expect(pool.warnings).toEqual([DEFAULT_PASSWORD_WARNING]);
  });

  it('warns about admin users that cannot log in with auth.source config', () => {
    const yaml = `auth: {source: config, users: [{name: alice, password: '${scram}'}]}\n`;
    const { warnings } = load({
      yaml: `${yaml}admin: {users: [alice, ops]}\n`,
      env: { DATABASE_URL: 'postgres://h/db' },
    });
    expect(warnings).toEqual([
      'admin.users: "ops" is not in auth.users, so it cannot log in while auth.source is "config"',
    ]);
    const upstream = load({
      yaml: 'admin: {users: [ops]}',
      env: { DATABASE_URL: 'postgres://h/db' },
    });
    expect(upstream.warnings).toEqual([]);
  });
});

describe('pooling', () => {
  it('DOCFUSION_POOL_MODE and DOCFUSION_POOL_SIZE override only their keys', () => {
    const c = configOf({
      yaml: 'pool: {mode: session, size: 30, min_idle: 4, reset_query: RESET ALL}\n',
      env: { DOCFUSION_POOL_MODE: 'transaction', DOCFUSION_POOL_SIZE: '8' },
    });
    expect(c.pool).toEqual({
      ...defaultConfig(dir).pool,
      mode: 'transaction',
      size: 8,
      minIdle: 4,
      resetQuery: 'RESET ALL',
    });
  });

  it('has no flags for the pool settings', () => {
    expect(errorOf({ argv: ['--pool-mode', 'transaction'] })).toContain(
      '--pool-mode: unknown option',
    );
    expect(errorOf({ argv: ['--pool-size', '5'] })).toContain('--pool-size: unknown option');
  });

  it('accepts min_idle equal to pool.size and to every pool_size override', () => {
    const c = configOf({
      yaml: `
pool: {size: 3, min_idle: 3}
databases: {app: {pool_size: 3}}
pool_users: {alice: {pool_size: 3}}
`,
    });
    expect(c.pool.minIdle).toBe(3);
    expect(c.databases.app?.poolSize).toBe(3);
    expect(c.poolUsers.alice?.poolSize).toBe(3);
  });

  it('keeps database and user overrides apart from the pool defaults', () => {
    const c = configOf({
      yaml: `
databases:
  tx: {pool_mode: transaction}
  big: {pool_size: 100}
pool_users:
  batch: {pool_mode: transaction, pool_size: 2}
`,
    });
    expect(c.databases).toEqual({ tx: { poolMode: 'transaction' }, big: { poolSize: 100 } });
    expect(c.poolUsers).toEqual({ batch: { poolMode: 'transaction', poolSize: 2 } });
    expect(c.pool.mode).toBe('session');
    expect(c.pool.size).toBe(20);
  });

  it('accepts the largest timeouts setTimeout supports, and 0 as off', () => {
    const c = configOf({
      yaml: `
timeouts: {query_ms: 2147483647, idle_in_transaction_ms: 0, client_idle_ms: 1}
pool: {max_client_wait_ms: 2147483647, server_idle_timeout_ms: 0}
`,
    });
    expect(c.timeouts).toEqual({ queryMs: 2_147_483_647, idleInTransactionMs: 0, clientIdleMs: 1 });
    expect(c.pool.maxClientWaitMs).toBe(2_147_483_647);
    expect(c.pool.serverIdleTimeoutMs).toBe(0);
  });
});

describe('redaction and --print-config', () => {
  const secrets = ['embedded-secret', 'url-secret', 'param-secret', 'db-secret'];
  const loaded = (): DocFusionConfig =>
    configOf({
      yaml: `
upstream: postgres://admin:url-secret@db.example:5432/app?sslmode=require&password=param-secret
embedded: {password: embedded-secret}
auth:
  method: scram-sha-256
  source: config
  users: [{name: alice, password: '${scram}'}]
databases:
  app: {dbname: app_prod, password: db-secret, pool_mode: transaction}
  other: {host: other.example, pool_size: 5}
pool_users: {alice: {pool_mode: transaction, pool_size: 3}}
admin: {users: [alice]}
`,
    });

  it('formatConfig shows no secret', () => {
    const text = formatConfig(loaded());
    for (const secret of [...secrets, scram]) expect(text).not.toContain(secret);
    expect(text).toContain('postgres://admin:***@db.example:5432/app?sslmode=require&password=***');
    expect(text).toContain('# Secrets are shown as "***"');
  });

  it('redactConfig returns the snake_case file shape with secrets replaced', () => {
    const r = redactConfig(loaded()) as Record<string, Record<string, unknown>>;
    expect(JSON.stringify(r)).not.toMatch(new RegExp(secrets.join('|')));
    expect(r.embedded?.password).toBe('***');
    expect(r.auth?.users).toEqual([{ name: 'alice', password: '***' }]);
    expect(r.databases).toEqual({
      app: { dbname: 'app_prod', password: '***', pool_mode: 'transaction' },
      other: { host: 'other.example', pool_size: 5 },
    });
    expect(r.pool).toEqual({
      mode: 'session',
      size: 20,
      min_idle: 0,
      max_client_wait_ms: 120_000,
      server_idle_timeout_ms: 600_000,
      server_lifetime_ms: 3_600_000,
      server_check_delay_ms: 30_000,
      reset_query: 'DISCARD ALL',
      max_prepared_statements: 200,
    });
    expect(r.pool_users).toEqual({ alice: { pool_mode: 'transaction', pool_size: 3 } });
    expect(r.timeouts).toEqual({ query_ms: 0, idle_in_transaction_ms: 0, client_idle_ms: 0 });
    expect(r.admin).toEqual({ users: ['alice'] });
    expect(r.limits).toEqual({
      max_client_connections: 1000,
      max_message_size: '64MiB',
      startup_timeout_ms: 10_000,
    });
    expect(r.upstream_connect).toHaveProperty('backoff_initial_ms', 100);
    expect(r.listen).toBe('127.0.0.1:6432');
  });

  it('does not change the configuration it redacts', () => {
    const c = loaded();
    redactConfig(c);
    expect(c.embedded.password).toBe('embedded-secret');
    expect(c.databases.app?.password).toBe('db-secret');
  });

  it('prints every key, and the output loads back as a config file', () => {
    const c = configOf({
      argv: ['--listen', '[::1]:7000', '--data-dir', 'state'],
      env: {
        DATABASE_URL: 'postgres://u@h:5433/db',
        DOCFUSION_LOG_LEVEL: 'debug',
        DOCFUSION_POOL_MODE: 'transaction',
        DOCFUSION_POOL_SIZE: '12',
      },
      yaml: `
tls: {cert: ${certFile}, key: ${keyFile}}
databases: {a: {port: 1}, tx: {pool_mode: session, pool_size: 3}}
pool: {min_idle: 1, reset_query: "", server_lifetime_ms: 0}
pool_users: {app: {pool_size: 2}, ops: {pool_mode: session}, plain: {}}
timeouts: {query_ms: 1000, client_idle_ms: 60000}
admin: {users: [ops, "with space"]}
`,
    });
    const text = formatConfig(c);
    const keys = Object.keys(parse(text) as object);
    expect(keys).toEqual([
      'listen',
      'http',
      'api',
      'upstream',
      'data_dir',
      'embedded',
      'auth',
      'databases',
      'tls',
      'limits',
      'upstream_connect',
      'pool',
      'pool_users',
      'timeouts',
      'admin',
      'planner',
      'shutdown',
      'log',
      'tracing',
    ]);
    expect(text).toContain('pool_users:\n  app:\n    pool_size: 2\n');
    expect(text).toContain('  tx:\n    pool_mode: session\n    pool_size: 3\n');
    expect(text).toContain('  mode: transaction\n  size: 12\n  min_idle: 1\n');
    expect(text).toContain('  reset_query: ""\n');
    const again = configOf({ yaml: text });
    expect(again.pool).toMatchObject({ mode: 'transaction', size: 12, resetQuery: '' });
    expect(again.admin.users).toEqual(['ops', 'with space']);
    expect(again).toEqual({ ...c, embedded: { ...c.embedded, password: '***' } });
  });
});

describe('shipped config files', () => {
  it('config/default.yaml loads to exactly the built-in defaults', () => {
    const loaded = loadConfig({
      argv: ['--config', path.join(repo, 'config/default.yaml')],
      env: {},
      cwd: dir,
    });
    expect(loaded.config).toEqual(defaultConfig(dir));
    expect(loaded.warnings).toEqual([DEFAULT_PASSWORD_WARNING]);
  });

  it('config/default.yaml documents every key', () => {
    const text = formatConfig(defaultConfig(dir));
    const printed = parse(text) as Record<string, unknown>;
    const file = parse(
      formatConfig(
        loadConfig({
          argv: ['--config', path.join(repo, 'config/default.yaml')],
          env: {},
          cwd: dir,
        }).config,
      ),
    ) as Record<string, unknown>;
    expect(file).toEqual(printed);
  });

  it('config/example.yaml loads', () => {
    const loaded = loadConfig({
      argv: ['--config', path.join(repo, 'config/example.yaml')],
      env: {},
      cwd: dir,
    });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.config.upstream).toMatch(/^postgres:\/\//);
    expect(Object.keys(loaded.config.databases).length).toBeGreaterThan(0);
    expect(loaded.config.listen).toEqual({ host: '0.0.0.0', port: 6432 });
    expect(loaded.config.databases.app_tx).toEqual({
      dbname: 'app',
      poolMode: 'transaction',
      poolSize: 10,
    });
    expect(loaded.config.poolUsers).toEqual({ batch: { poolMode: 'transaction', poolSize: 4 } });
    expect(loaded.config.admin.users).toEqual(['dba']);
    expect(loaded.config.pool.minIdle).toBeGreaterThan(0);
  });

  it('config/example.yaml loads with its commented TLS and auth.source: config parts enabled', () => {
    const text = readFileSync(path.join(repo, 'config/example.yaml'), 'utf8')
      .replace(/^# tls:$/m, 'tls:')
      .replace(/^# {3}cert: .*$/m, `  cert: ${certFile}`)
      .replace(/^# {3}key: .*$/m, `  key: ${keyFile}`)
      .replace(/^# {3}require: true$/m, '  require: true')
      .replace(/^ {2}source: upstream$/m, '')
      .replace(/^ {2}# source: config$/m, '  source: config')
      .replace(/^ {2}# users:$/m, '  users:')
      .replace(/^ {2}# {3}- name: app$/m, '    - name: app')
      .replace(/^ {2}# {5}password: .*$/m, `      password: '${scram}'`);
    const c = configOf({ yaml: text });
    expect(c.tls).toEqual({ cert: certFile, key: keyFile, require: true });
    expect(c.auth.source).toBe('config');
    expect(c.auth.users).toEqual([{ name: 'app', password: scram }]);
  });
});
