import pg from 'pg';
import { withDatabase } from './kept-upstream.js';

/**
 * A generated document corpus for the UDF benchmark: `bench_docs(id int primary key, doc jsonb)`
 * with documents of about 1 KB (as jsonb text) and a GIN index on doc, generated inside
 * Postgres with generate_series (no client round trips) in a database of its own. A small
 * `bench_docs_meta` row records how many documents were loaded by which generator version, so a
 * later run with the same size reuses them.
 *
 * Every field is a deterministic function of the id (hashint8 with a salt per field, so fields
 * are independent of each other), which lets the bench pick selective values without reading
 * the table: `user<id>@example.com` is one document, a country is 1/50 of them, a city 1/40, a
 * tag 3/200, plan "enterprise" 1/20, status "pending" 9/100.
 */

/** Bump when the documents change: a corpus of another version is reloaded. */
export const GENERATOR_VERSION = 1;

export const TABLE = 'bench_docs';
export const GIN_INDEX = 'bench_docs_doc_gin';

export const COUNTRIES = [
  'US', 'DE', 'FR', 'GB', 'NZ', 'AU', 'CA', 'JP', 'BR', 'IN',
  'IT', 'ES', 'NL', 'SE', 'NO', 'DK', 'FI', 'PL', 'CZ', 'AT',
  'CH', 'BE', 'PT', 'IE', 'MX', 'AR', 'CL', 'CO', 'PE', 'ZA',
  'EG', 'NG', 'KE', 'MA', 'TR', 'GR', 'RO', 'HU', 'UA', 'IL',
  'AE', 'SA', 'KR', 'CN', 'SG', 'MY', 'TH', 'VN', 'ID', 'PH',
] as const; // prettier-ignore

export const CITIES = [
  'Berlin', 'Paris', 'London', 'Auckland', 'Sydney', 'Toronto', 'Tokyo', 'São Paulo',
  'Mumbai', 'Rome', 'Madrid', 'Amsterdam', 'Stockholm', 'Oslo', 'Copenhagen', 'Helsinki',
  'Warsaw', 'Prague', 'Vienna', 'Zürich', 'Brussels', 'Lisbon', 'Dublin', 'Mexico City',
  'Buenos Aires', 'Santiago', 'Bogotá', 'Lima', 'Cape Town', 'Cairo', 'Lagos', 'Nairobi',
  'Casablanca', 'İstanbul', 'Athens', 'Bucharest', 'Budapest', 'Kyiv', 'Tel Aviv', 'Dubai',
] as const; // prettier-ignore

export const TAG_COUNT = 200;

export interface CorpusInfo {
  readonly database: string;
  readonly url: string;
  readonly docs: number;
  readonly opclass: GinOpclass;
  /** What this run did: reused the corpus, rebuilt only its GIN index, or loaded it. */
  readonly action: 'reused' | 'index rebuilt' | 'loaded';
  /** Seconds this run spent on it (0 when reused). */
  readonly runSeconds: number;
  /** Seconds per load step (when loaded now) or as recorded when it was loaded. */
  readonly steps: readonly (readonly [string, number])[];
  readonly loadSeconds: number;
  readonly loadedAt: string;
  /** Average size of a document as jsonb text (what a client receives), bytes. */
  readonly avgTextBytes: number;
  readonly tableBytes: number;
  readonly indexBytes: number;
}

const sqlList = (values: readonly string[]): string =>
  `ARRAY[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ')}]`;

/** A non-negative pseudo-random int from the id and a salt. */
const h = (salt: number): string => `(hashint8(i::bigint * 64 + ${String(salt)}) & 2147483647)`;

/** ISO-8601 UTC text of a moment in 2020–2024 picked by salt. */
const isoTime = (salt: number): string =>
  `to_char(timestamp '2020-01-01' + ${h(salt)} % 157680000 * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;

/** The SELECT producing (id, doc) for ids [from, to]. */
export function documentsSql(from: number, to: number): string {
  const history = [0, 1, 2]
    .map(
      (k) => `jsonb_build_object(
          'event', (ARRAY['login', 'purchase', 'refund', 'upgrade', 'support'])[1 + ${h(20 + k)} % 5],
          'at', ${isoTime(30 + k)},
          'amount', round((${h(40 + k)} % 100000) / 100.0, 2),
          'channel', (ARRAY['web', 'ios', 'android', 'api'])[1 + ${h(50 + k)} % 4])`,
    )
    .join(',\n        ');
  return `
SELECT i AS id, jsonb_build_object(
  'id', i,
  'email', 'user' || i || '@example.com',
  'name', 'User ' || i,
  'status', CASE WHEN ${h(1)} % 100 < 70 THEN 'active' WHEN ${h(1)} % 100 < 90 THEN 'inactive'
                 WHEN ${h(1)} % 100 < 99 THEN 'pending' ELSE 'banned' END,
  'country', (${sqlList(COUNTRIES)})[1 + ${h(2)} % ${String(COUNTRIES.length)}],
  'age', 18 + ${h(3)} % 60,
  'score', round((${h(4)} % 100000) / 100.0, 2),
  'verified', ${h(5)} % 3 <> 0,
  'created_at', ${isoTime(6)},
  'tags', jsonb_build_array('tag' || ${h(7)} % ${String(TAG_COUNT)}, 'tag' || ${h(8)} % ${String(TAG_COUNT)}, 'tag' || ${h(9)} % ${String(TAG_COUNT)}),
  'address', jsonb_build_object(
    'street', (1 + ${h(10)} % 999) || ' ' || (ARRAY['Main St', 'High St', 'Park Ave', 'Station Rd', 'Church Ln'])[1 + ${h(11)} % 5],
    'city', (${sqlList(CITIES)})[1 + ${h(12)} % ${String(CITIES.length)}],
    'zip', lpad((${h(13)} % 100000)::text, 5, '0'),
    'geo', jsonb_build_object('lat', round((${h(14)} % 18000) / 100.0 - 90, 2), 'lon', round((${h(15)} % 36000) / 100.0 - 180, 2))),
  'account', jsonb_build_object(
    'plan', CASE WHEN ${h(16)} % 100 < 55 THEN 'free' WHEN ${h(16)} % 100 < 85 THEN 'pro'
                 WHEN ${h(16)} % 100 < 95 THEN 'team' ELSE 'enterprise' END,
    'seats', 1 + ${h(17)} % 50,
    'flags', jsonb_build_object('beta', ${h(18)} % 4 = 0, 'mfa', ${h(19)} % 2 = 0, 'legacy', false)),
  'prefs', jsonb_build_object(
    'theme', (ARRAY['dark', 'light', 'system'])[1 + ${h(60)} % 3],
    'lang', (ARRAY['en', 'de', 'fr', 'es', 'ja', 'pt'])[1 + ${h(61)} % 6],
    'notifications', jsonb_build_object('email', ${h(62)} % 2 = 0, 'sms', ${h(63)} % 5 = 0, 'push', null)),
  'history', jsonb_build_array(
        ${history}),
  'bio', substr(repeat(md5(i::text), 6), 1, 150 + ${h(64)} % 100)
) AS doc
FROM generate_series(${String(from)}, ${String(to)}) AS i`;
}

export type GinOpclass = 'jsonb_ops' | 'jsonb_path_ops';

export interface EnsureOptions {
  /** Reload even when a corpus of this size exists. */
  readonly reload?: boolean;
  /** Operator class of the GIN index (jsonb_ops, Postgres's default, unless told). */
  readonly opclass: GinOpclass;
  readonly log: (message: string) => void;
}

/**
 * Makes sure database `database` on the server at `adminUrl` holds exactly `docs` documents of
 * this generator version with its GIN index of the given operator class; creates the database
 * when missing, and rebuilds only the index when just its operator class differs. Returns what
 * it found or loaded.
 */
export async function ensureCorpus(
  adminUrl: string,
  database: string,
  docs: number,
  options: EnsureOptions,
): Promise<CorpusInfo> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      options.log(`creating database ${database}`);
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
    }
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, database);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const existing = options.reload === true ? undefined : await readMeta(client);
    const reuse = existing?.docs === docs && existing.generator === GENERATOR_VERSION;
    const count = docs.toLocaleString('en-US');
    let steps: [string, number][];
    let action: 'index rebuilt' | 'loaded' = 'loaded';
    let runSeconds = 0;
    if (reuse) {
      steps = existing.steps.map(([name, seconds]): [string, number] => [name, seconds]);
      const opclass = await indexOpclass(client);
      if (opclass === options.opclass) {
        options.log(
          `reusing ${count} documents in database ${database} (loaded ${existing.loadedAt} in ${existing.loadSeconds.toFixed(1)} s)`,
        );
        return {
          ...(await sizes(client)),
          ...existing,
          opclass,
          database,
          url,
          docs,
          action: 'reused',
          runSeconds: 0,
        };
      }
      options.log(
        `reusing ${count} documents in database ${database}; its GIN index is ${opclass ?? 'missing'}, rebuilding it with ${options.opclass}`,
      );
      await client.query(`DROP INDEX IF EXISTS ${GIN_INDEX}`);
      steps = steps.filter(([name]) => !name.startsWith('GIN index'));
      const index = await buildIndex(client, options.opclass, options.log);
      steps.push(index);
      action = 'index rebuilt';
      runSeconds = index[1];
    } else {
      if (existing !== undefined) {
        options.log(
          `database ${database} holds ${existing.docs.toLocaleString('en-US')} documents of generator v${String(existing.generator)}; reloading`,
        );
      }
      steps = await load(client, docs, options.log);
      steps.push(await buildIndex(client, options.opclass, options.log));
    }
    const loadSeconds = steps.reduce((sum, [, seconds]) => sum + seconds, 0);
    if (action === 'loaded') runSeconds = loadSeconds;
    await client.query('DROP TABLE IF EXISTS bench_docs_meta');
    await client.query(
      'CREATE TABLE bench_docs_meta (docs int, generator int, steps jsonb, load_seconds float8, loaded_at timestamptz)',
    );
    await client.query('INSERT INTO bench_docs_meta VALUES ($1, $2, $3, $4, now())', [
      docs,
      GENERATOR_VERSION,
      JSON.stringify(steps),
      loadSeconds,
    ]);
    const meta = await readMeta(client);
    return {
      ...(await sizes(client)),
      opclass: options.opclass,
      database,
      url,
      docs,
      action,
      runSeconds,
      steps,
      loadSeconds,
      loadedAt: meta?.loadedAt ?? new Date().toISOString(),
    };
  } finally {
    await client.end();
  }
}

interface Meta {
  readonly docs: number;
  readonly generator: number;
  readonly steps: readonly (readonly [string, number])[];
  readonly loadSeconds: number;
  readonly loadedAt: string;
}

async function readMeta(client: pg.Client): Promise<Meta | undefined> {
  const table = await client.query<{ ok: boolean }>(
    "SELECT to_regclass('bench_docs_meta') IS NOT NULL AS ok",
  );
  if (table.rows[0]?.ok !== true) return undefined;
  const result = await client.query<{
    docs: number;
    generator: number;
    steps: [string, number][];
    load_seconds: number;
    loaded_at: Date;
  }>('SELECT docs, generator, steps, load_seconds, loaded_at FROM bench_docs_meta LIMIT 1');
  const row = result.rows[0];
  if (row === undefined) return undefined;
  return {
    docs: row.docs,
    generator: row.generator,
    steps: row.steps,
    loadSeconds: row.load_seconds,
    loadedAt: row.loaded_at.toISOString(),
  };
}

/** The operator class of the GIN index, or undefined when there is none. */
async function indexOpclass(client: pg.Client): Promise<GinOpclass | undefined> {
  const r = await client.query<{ opcname: string }>(
    `SELECT opc.opcname FROM pg_index i JOIN pg_opclass opc ON opc.oid = i.indclass[0]
      WHERE i.indexrelid = to_regclass('${GIN_INDEX}')`,
  );
  const name = r.rows[0]?.opcname;
  return name === 'jsonb_ops' || name === 'jsonb_path_ops' ? name : undefined;
}

async function timed(
  name: string,
  log: (message: string) => void,
  run: () => Promise<unknown>,
): Promise<[string, number]> {
  log(`  ${name}...`);
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  log(`  ${name}: ${seconds.toFixed(1)} s`);
  return [name, seconds];
}

async function buildIndex(
  client: pg.Client,
  opclass: GinOpclass,
  log: (message: string) => void,
): Promise<[string, number]> {
  await client.query(`SET maintenance_work_mem = '1GB'`);
  return timed(`GIN index on doc (${opclass})`, log, () =>
    client.query(`CREATE INDEX ${GIN_INDEX} ON ${TABLE} USING gin (doc ${opclass})`),
  );
}

/** Drops and loads the documents (the GIN index is built separately); seconds per step. */
async function load(
  client: pg.Client,
  docs: number,
  log: (message: string) => void,
): Promise<[string, number][]> {
  const steps: [string, number][] = [];
  log(`loading ${docs.toLocaleString('en-US')} documents (generate_series inside Postgres)`);
  await client.query('DROP TABLE IF EXISTS bench_docs_meta');
  await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await client.query(`SET maintenance_work_mem = '1GB'`);
  await client.query(`SET synchronous_commit = off`);
  await client.query(`CREATE TABLE ${TABLE} (id int NOT NULL, doc jsonb NOT NULL)`);
  steps.push(
    await timed('insert (generate_series)', log, async () => {
      // In chunks, so progress shows and no single statement holds everything.
      const chunk = 250_000;
      for (let from = 1; from <= docs; from += chunk) {
        const to = Math.min(docs, from + chunk - 1);
        await client.query(`INSERT INTO ${TABLE} ${documentsSql(from, to)}`);
        if (docs > chunk) {
          log(`    ${to.toLocaleString('en-US')} / ${docs.toLocaleString('en-US')}`);
        }
      }
    }),
  );
  steps.push(
    await timed('primary key', log, () =>
      client.query(`ALTER TABLE ${TABLE} ADD CONSTRAINT ${TABLE}_pkey PRIMARY KEY (id)`),
    ),
  );
  steps.push(
    await timed('vacuum (freeze, analyze)', log, () =>
      client.query(`VACUUM (FREEZE, ANALYZE) ${TABLE}`),
    ),
  );
  return steps;
}

async function sizes(
  client: pg.Client,
): Promise<{ avgTextBytes: number; tableBytes: number; indexBytes: number }> {
  const r = await client.query<{ avg: string; table: string; index: string }>(`
    SELECT (SELECT avg(octet_length(doc::text)) FROM ${TABLE} WHERE id % 1000 = 1) AS avg,
           pg_table_size('${TABLE}') AS table, pg_relation_size('${GIN_INDEX}') AS index`);
  const row = r.rows[0];
  return {
    avgTextBytes: Number(row?.avg ?? NaN),
    tableBytes: Number(row?.table ?? NaN),
    indexBytes: Number(row?.index ?? NaN),
  };
}
