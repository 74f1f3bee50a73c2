/**
 * The suite's tables, loaded once through the admin client: dfx_docs (the corpus as jsonb, as
 * raw text and as json; GIN index on the jsonb column) and dfx_probe (keys, values, types and
 * patterns drawn from the corpus, joined against documents).
 */
import type pg from 'pg';
import type { Corpus } from './corpus.js';
import { DOCS, PROBE } from './matrix.js';
import type { Probes } from './probes.js';

export async function loadFixture(admin: pg.Client, corpus: Corpus, probes: Probes): Promise<void> {
  await dropFixture(admin);
  await admin.query(
    `CREATE TABLE ${DOCS} (id int PRIMARY KEY, doc jsonb, tdoc text, jdoc json) WITH (autovacuum_enabled = off)`,
  );
  await admin.query({
    text: `INSERT INTO ${DOCS} (id, doc, tdoc, jdoc) SELECT u.id, u.t::jsonb, u.t, u.t::json FROM unnest($1::int[], $2::text[]) AS u (id, t)`,
    values: [corpus.texts.map((_, i) => i + 1), corpus.texts],
  });
  await admin.query(`CREATE INDEX ${DOCS}_gin ON ${DOCS} USING gin (doc)`);

  await admin.query(
    `CREATE TABLE ${PROBE} (pid int PRIMARY KEY, k1 text, k2 text, val text, t text, b boolean, pattern jsonb, anypattern jsonb, obj jsonb)`,
  );
  const topValues = probes.values.filter((v) => v.path.length === 1);
  const types = ['number', 'string', 'array', 'object', 'null', 'boolean', null, 'object'];
  const k2s = ['deep', '0', 'v', '-1', 'flag', 'missing', null, 'sku'];
  const k1s = ['nested', 'n', 'n', 'tags', 'kind', 'n', 'price', null];
  const objs = [
    '{"v": 0}',
    '{"v": 0, "w": ""}',
    '{"sku": "", "qty": 0}',
    '{}',
    null,
    '{"v": 1, "w": 2, "x": 3}',
    '{"qty": 1, "sku": "x"}',
    '{"a": 1}',
  ];
  const rows = Array.from({ length: 8 }, (_, pid) => {
    const v = topValues[pid % Math.max(1, topValues.length)];
    return [
      pid,
      pid % 2 === 0 ? (v?.path[0] ?? 'kind') : k1s[pid],
      k2s[pid],
      v?.text ?? 'a',
      types[pid],
      pid === 6 ? null : pid % 3 === 0,
      pid === 5 ? null : (probes.objectPatterns[pid * 7] ?? '{}'),
      pid === 3 ? null : (probes.patterns[pid * 11] ?? '[]'),
      objs[pid],
    ];
  });
  for (const row of rows) {
    await admin.query(`INSERT INTO ${PROBE} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, row);
  }
  await admin.query(`ANALYZE ${DOCS}; ANALYZE ${PROBE}`);
}

export async function dropFixture(admin: pg.Client): Promise<void> {
  await admin.query(`DROP TABLE IF EXISTS ${DOCS}, ${PROBE}`);
}
