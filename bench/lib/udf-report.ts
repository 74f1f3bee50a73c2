import { BATCH_VARIANTS } from './batch-build.js';
import type { SelfTime } from './cpu-profile.js';
import type { CorpusInfo } from './doc-corpus.js';
import type { InfoEntry } from './machine.js';
import { percentile } from './percentile.js';
import type { PlanCostSample } from './plan-cost.js';
import { median, ratio, relativeSpread } from './stats.js';
import {
  formatNumber,
  formatPercent,
  markdownList,
  markdownTable,
  textList,
  textTable,
  type Column,
  type Row,
} from './table.js';
import type { QueryShape } from './udf-queries.js';

/** The tables and summary of bench/udf.ts, as terminal text and as markdown. */

export const TARGET_RATIO = 1.1;
export const TARGET_P99_MS = 100;
export const TARGET_BATCH_ROWS_PER_S = 1_000_000;

export interface OnSample {
  readonly shape: string;
  readonly round: number;
  /**
   * direct / proxy: the native SQL direct and the DocFusion SQL through the proxy; floor-direct /
   * floor: the native SQL direct and the same native SQL through the proxy (forwarded untouched).
   */
  readonly via: 'direct' | 'proxy' | 'floor-direct' | 'floor';
  readonly ms: number;
}

export interface OffSample {
  readonly shape: string;
  readonly round: number;
  readonly ms: number;
}

export interface ReferenceSample {
  readonly kind: 'schema' | 'contains-off' | 'fetch-direct';
  readonly round: number;
  readonly ms: number;
  readonly rows: number;
}

export interface BatchSample {
  readonly variant: string;
  readonly round: number;
  readonly rowsPerSecond: number;
}

/** What was learned about one query shape besides its timings. */
export interface ShapeFacts {
  readonly planOn: string;
  readonly planDirect: string;
  /** Postgres's plan of the pushed query with pushdown off. */
  readonly planOff: string;
  readonly verdicts: readonly string[];
  readonly pushedOff: string;
  readonly inputRowsOff: number;
  /** Rows the pushed query would send without the pushdown-off scope (the whole corpus). */
  readonly inputRowsOffFull: number;
  checkedOn: number;
  mismatchesOn: number;
  checkedOff: number;
  mismatchesOff: number;
  proxyCpuMs: number;
  proxyQueries: number;
  readonly rowsReturned: number[];
}

export interface ProfilePhase {
  readonly name: string;
  readonly files: string[];
  top: SelfTime[];
}

export interface ReportInput {
  readonly docs: number;
  readonly schemaDocs: number;
  readonly shapes: readonly QueryShape[];
  readonly on: readonly OnSample[];
  readonly off: readonly OffSample[];
  readonly reference: readonly ReferenceSample[];
  readonly facts: ReadonlyMap<string, ShapeFacts>;
  readonly schemaCheck: string;
  readonly profiles: readonly ProfilePhase[];
  readonly batch: readonly BatchSample[];
  readonly plan: readonly PlanCostSample[];
  readonly settings: InfoEntry[];
  readonly machine: InfoEntry[];
  readonly corpus: CorpusInfo;
  readonly seconds: number;
}

export interface Report {
  readonly text: string;
  readonly markdown: string;
}

interface Section {
  readonly title: string;
  readonly intro?: string;
  readonly columns?: readonly Column[];
  readonly rows?: readonly Row[];
  readonly after?: string;
  readonly list?: readonly InfoEntry[];
}

const ms = (value: number): string => formatNumber(value, value < 10 ? 2 : value < 100 ? 1 : 0);
const verdict = (met: boolean): string => (met ? 'PASS' : 'MISS');

export function buildReport(input: ReportInput): Report {
  const misses: string[] = [];
  let targets = 0;

  // 1. Pushdown on: proxy vs direct.
  const onColumns: Column[] = [
    { header: 'query' },
    { header: 'rows', align: 'right' },
    { header: 'direct p50 ms', align: 'right' },
    { header: 'proxy p50 ms', align: 'right' },
    { header: 'p50 ratio', align: 'right' },
    { header: `≤ ${TARGET_RATIO.toFixed(2)}` },
    { header: 'direct p99 ms', align: 'right' },
    { header: 'proxy p99 ms', align: 'right' },
    { header: `< ${String(TARGET_P99_MS)} ms` },
    { header: 'ratio per round', align: 'right' },
    { header: 'proxy CPU/query', align: 'right' },
    { header: 'rows equal' },
    { header: 'floor: native via proxy / direct (p50)', align: 'right' },
    { header: 'proxy / floor (p50)', align: 'right' },
  ];
  const rounds = [...new Set(input.on.map((s) => s.round))].sort((a, b) => a - b);
  const onP50Proxy = new Map<string, number>();
  const onRows: Row[] = input.shapes.map((shape) => {
    const pick = (via: OnSample['via'], round?: number): number[] =>
      input.on
        .filter((s) => s.shape === shape.key && s.via === via)
        .filter((s) => round === undefined || s.round === round)
        .map((s) => s.ms);
    const facts = input.facts.get(shape.key);
    const d50 = median(pick('direct'));
    const p50 = median(pick('proxy'));
    onP50Proxy.set(shape.key, p50);
    const r = ratio(p50, d50);
    const p99 = percentile(pick('proxy'), 99);
    const perRound = rounds.map((round) =>
      ratio(median(pick('proxy', round)), median(pick('direct', round))),
    );
    targets += 2;
    if (!(r <= TARGET_RATIO)) {
      misses.push(
        `${shape.key}: p50 ratio ${formatNumber(r, 2)} (target ≤ ${TARGET_RATIO.toFixed(2)}; ` +
          `proxy +${ms(p50 - d50)} ms on ${ms(d50)} ms)`,
      );
    }
    if (!(p99 < TARGET_P99_MS)) {
      const d99 = percentile(pick('direct'), 99);
      misses.push(
        `${shape.key}: proxy p99 ${ms(p99)} ms (target < ${String(TARGET_P99_MS)} ms; ` +
          `${d99 >= TARGET_P99_MS ? 'Postgres itself: ' : ''}direct p99 ${ms(d99)} ms)`,
      );
    }
    const cpu = facts && facts.proxyQueries > 0 ? facts.proxyCpuMs / facts.proxyQueries : NaN;
    const floor50 = median(pick('floor'));
    const floorRatio = ratio(floor50, median(pick('floor-direct')));
    return [
      shape.key,
      formatNumber(median(facts?.rowsReturned ?? [])),
      ms(d50),
      ms(p50),
      formatNumber(r, 2),
      verdict(r <= TARGET_RATIO),
      ms(percentile(pick('direct'), 99)),
      ms(p99),
      verdict(p99 < TARGET_P99_MS),
      perRound.map((x) => formatNumber(x, 2)).join(' / '),
      Number.isFinite(cpu) ? `${formatNumber(cpu * 1000)} µs` : 'n/a',
      facts ? `${String(facts.checkedOn - facts.mismatchesOn)}/${String(facts.checkedOn)}` : 'n/a',
      Number.isFinite(floorRatio) ? formatNumber(floorRatio, 2) : 'n/a',
      Number.isFinite(floor50) ? formatNumber(ratio(p50, floor50), 2) : 'n/a',
    ];
  });
  const samplesPerSide = input.on.filter((s) => s.via === 'proxy').length / input.shapes.length;

  // 2. Pushdown off: the Arrow path.
  const offColumns: Column[] = [
    { header: 'query' },
    { header: 'rows into the proxy', align: 'right' },
    { header: 'off p50 ms', align: 'right' },
    { header: 'rows/s (Arrow path)', align: 'right' },
    { header: 'on p50 ms', align: 'right' },
    { header: 'off / on (p50)', align: 'right' },
    { header: 'full-table off, projected', align: 'right' },
    { header: 'projected off / on', align: 'right' },
    { header: 'runs', align: 'right' },
    { header: 'spread', align: 'right' },
    { header: 'rows equal' },
  ];
  const offRows: Row[] = input.shapes.map((shape) => {
    const facts = input.facts.get(shape.key);
    const times = input.off.filter((s) => s.shape === shape.key).map((s) => s.ms);
    const p50 = median(times);
    const inRows = facts?.inputRowsOff ?? NaN;
    const onP50 = onP50Proxy.get(shape.key) ?? NaN;
    // Per-row cost times the rows a full-table run would send (the per-query cost stays).
    const full = p50 * ratio(facts?.inputRowsOffFull ?? NaN, inRows);
    return [
      shape.key,
      formatNumber(inRows),
      ms(p50),
      formatNumber((inRows / p50) * 1000),
      ms(onP50),
      `${formatNumber(ratio(p50, onP50), 1)}×`,
      `${ms(full)} ms`,
      `${formatNumber(ratio(full, onP50), 0)}×`,
      String(times.length),
      times.length < 2 ? '-' : formatPercent(relativeSpread(times)),
      facts
        ? `${String(facts.checkedOff - facts.mismatchesOff)}/${String(facts.checkedOff)}`
        : 'n/a',
    ];
  });

  // 3. json_schema_valid.
  const refTitles: Record<ReferenceSample['kind'], string> = {
    schema: 'json_schema_valid(doc, schema) in the proxy (ajv), returns the invalid rows',
    'contains-off': 'reference: json_contains in the proxy (pushdown off), same rows',
    'fetch-direct': 'reference: SELECT id, doc of the same rows straight from Postgres',
  };
  const schemaP50 = median(input.reference.filter((s) => s.kind === 'schema').map((s) => s.ms));
  const refColumns: Column[] = [
    { header: 'measurement' },
    { header: 'rows', align: 'right' },
    { header: 'p50 ms', align: 'right' },
    { header: 'rows/s', align: 'right' },
    { header: 'time / json_schema_valid', align: 'right' },
    { header: 'spread', align: 'right' },
  ];
  const refRows: Row[] = (['schema', 'contains-off', 'fetch-direct'] as const).map((kind) => {
    const times = input.reference.filter((s) => s.kind === kind).map((s) => s.ms);
    const p50 = median(times);
    return [
      refTitles[kind],
      formatNumber(input.schemaDocs),
      ms(p50),
      formatNumber((input.schemaDocs / p50) * 1000),
      formatNumber(ratio(p50, schemaP50), 2),
      times.length < 2 ? '-' : formatPercent(relativeSpread(times)),
    ];
  });

  // 4. Batch building.
  const batchColumns: Column[] = [
    { header: 'variant' },
    { header: 'median rows/s', align: 'right' },
    { header: 'ns/row', align: 'right' },
    { header: 'spread', align: 'right' },
    { header: 'target' },
    { header: 'met?' },
  ];
  const batchRows: Row[] = BATCH_VARIANTS.map((variant) => {
    const values = input.batch.filter((s) => s.variant === variant.key).map((s) => s.rowsPerSecond);
    const m = median(values);
    if (variant.gated) {
      targets++;
      if (!(m >= TARGET_BATCH_ROWS_PER_S)) {
        misses.push(`batch building: ${formatNumber(m)} rows/s (target ≥ 1,000,000)`);
      }
    }
    return [
      variant.title,
      formatNumber(m),
      formatNumber(1e9 / m, 0),
      values.length < 2 ? '-' : formatPercent(relativeSpread(values)),
      variant.gated ? '≥ 1,000,000' : '(info)',
      variant.gated ? verdict(m >= TARGET_BATCH_ROWS_PER_S) : '',
    ];
  });

  // Planning cost, in-process.
  const planCostColumns: Column[] = [
    { header: 'query' },
    { header: 'protocol' },
    { header: 'plan' },
    { header: 'µs per plan()', align: 'right' },
    { header: "proxy's plan cache" },
    { header: 'µs per statement, cached', align: 'right' },
    { header: 'proxy − direct p50', align: 'right' },
  ];
  const planCostRows: Row[] = input.shapes.map((shape) => {
    const samples = input.plan.filter((s) => s.shape === shape.key);
    const added =
      median(input.on.filter((s) => s.shape === shape.key && s.via === 'proxy').map((s) => s.ms)) -
      median(input.on.filter((s) => s.shape === shape.key && s.via === 'direct').map((s) => s.ms));
    return [
      shape.key,
      shape.protocol,
      samples[0]?.kind ?? 'n/a',
      formatNumber(median(samples.map((s) => s.us))),
      cacheSummary(samples),
      formatNumber(median(samples.map((s) => s.cachedUs))),
      `${formatNumber(added * 1000)} µs`,
    ];
  });

  // 5. Plans.
  const planColumns: Column[] = [
    { header: 'query' },
    { header: 'Postgres plan of the pushed SQL (pushdown on)' },
    { header: 'Postgres plan of the native SQL (direct)' },
    { header: 'Postgres plan of the pushed SQL (pushdown off)' },
  ];
  const planRows: Row[] = input.shapes.map((shape) => {
    const facts = input.facts.get(shape.key);
    return [shape.key, facts?.planOn ?? 'n/a', facts?.planDirect ?? 'n/a', facts?.planOff ?? 'n/a'];
  });
  const shapeList: InfoEntry[] = input.shapes.map((shape) => {
    const facts = input.facts.get(shape.key);
    return [
      shape.key,
      `${shape.title}. DocFusion verdicts: ${facts && facts.verdicts.length > 0 ? facts.verdicts.join('; ') : 'n/a'}. ` +
        `Pushed with pushdown off: \`${facts?.pushedOff ?? 'n/a'}\``,
    ];
  });

  const mismatches = [...input.facts.values()].reduce(
    (n, f) => n + f.mismatchesOn + f.mismatchesOff,
    0,
  );
  const met = targets - misses.length;
  const summary = [
    `${String(met)} of ${String(targets)} targets met` +
      (misses.length === 0 ? '.' : `; MISS: ${misses.join('; ')}.`),
    mismatches === 0
      ? 'Every proxy result equalled the native SQL result run directly.'
      : `WRONG ROWS: ${String(mismatches)} proxy result(s) differed from the native SQL result.`,
    `json_schema_valid: ${input.schemaCheck}.`,
    `Corpus: ${input.docs.toLocaleString('en-US')} documents, GIN ${input.corpus.opclass}, ` +
      (input.corpus.action === 'reused'
        ? 'reused'
        : `${input.corpus.action} by this run in ${input.corpus.runSeconds.toFixed(1)} s`) +
      `; loading it all takes ${input.corpus.loadSeconds.toFixed(1)} s. ` +
      `The bench took ${formatNumber(input.seconds / 60, 1)} min.`,
  ];

  const sections: Section[] = [
    {
      title: 'Pushdown on: DocFusion SQL through the proxy vs native JSONB SQL direct',
      intro:
        `${formatNumber(samplesPerSide)} queries per side and shape, interleaved one by one. ` +
        'p99 is nearest-rank over all rounds; "ratio per round" is each round\'s p50 ratio; ' +
        "proxy CPU/query is the proxy process's CPU time (/proc) over its queries. The floor: " +
        'the same native SQL sent through the proxy (forwarded untouched, no planning), ' +
        'interleaved with direct in its own loop: what the hop through the proxy costs this ' +
        'query; "proxy / floor" is what planning and rewriting add on top.',
      columns: onColumns,
      rows: onRows,
    },
    {
      title: 'Pushdown off (SET docfusion.pushdown = off): the Arrow path in the proxy',
      intro:
        'Every DocFusion call evaluated in the proxy over the rows of the pushed query ' +
        '(batches of 1024). rows/s = rows into the proxy / p50; "on p50" is the proxy\'s ' +
        'pushdown-on p50 from the table above. When the runs are scoped (see Settings: ' +
        'pushdown off), "full-table off, projected" is p50 × the rows a full-table run sends ' +
        '/ the rows this one sent.',
      columns: offColumns,
      rows: offRows,
    },
    {
      title: `json_schema_valid over ${input.schemaDocs.toLocaleString('en-US')} documents`,
      columns: refColumns,
      rows: refRows,
      after: `Check: ${input.schemaCheck}.`,
    },
    {
      title: 'Batch building from DataRows (planner/row-batch.ts, in-process)',
      intro:
        'Narrow rows: two short text columns ("user<n>", a status; 1 in 97 NULL), 1024 rows a batch.',
      columns: batchColumns,
      rows: batchRows,
    },
    {
      title: 'Planning one statement (the planner in-process, pushdown on)',
      intro:
        'What the proxy spends planning a statement it has not seen (libpg-query parse, call ' +
        'analysis, pushdown rewrite; "µs per plan()", no cache), and per statement through its ' +
        'plan cache (by statement shape, then by exact text; filled by one pass over the same ' +
        'statements first), beside what the proxy added to the p50 above.',
      columns: planCostColumns,
      rows: planCostRows,
    },
    {
      title: 'Upstream plans',
      columns: planColumns,
      rows: planRows,
    },
    { title: 'Query shapes', list: shapeList },
    ...input.profiles.map((p): Section => ({
      title: `CPU profile of the proxy: ${p.name} (self time, top ${String(p.top.length)})`,
      intro: `${String(p.files.length)} profile(s) merged.`,
      columns: [
        { header: 'self ms', align: 'right' },
        { header: 'share', align: 'right' },
        { header: 'share of busy', align: 'right' },
        { header: 'function' },
      ],
      rows: p.top.map((t) => [
        formatNumber(t.ms, 1),
        formatPercent(t.share),
        t.where === '(idle)' ? '' : formatPercent(t.busyShare),
        t.where,
      ]),
    })),
    { title: 'Settings', list: input.settings },
    { title: 'Machine', list: input.machine },
  ];

  const text = [
    'DocFusionDB UDF benchmark',
    '',
    'Summary:',
    ...summary.map((s) => `  ${s}`),
    '',
    ...sections.flatMap((s) => [
      `${s.title}:`,
      ...(s.intro ? [s.intro] : []),
      ...(s.columns && s.rows ? [textTable(s.columns, s.rows)] : []),
      ...(s.list ? [textList(s.list)] : []),
      ...(s.after ? [s.after, ''] : []),
    ]),
  ].join('\n');
  const markdown = [
    '## UDF benchmark: DocFusion functions through the proxy vs native JSONB SQL',
    '',
    'Generated by `npm run bench:udf`. Targets: p50 proxy/direct ≤ 1.10 and p99 < 100 ms for every',
    'typical query (pushdown on); batch building ≥ 1M narrow rows/s. Pushdown-off and',
    'json_schema_valid rows/s are for information.',
    '',
    ...summary.map((s) => `- ${s}`),
    '',
    ...sections.flatMap((s) => [
      `### ${s.title}`,
      '',
      ...(s.intro ? [s.intro, ''] : []),
      ...(s.columns && s.rows ? [markdownTable(s.columns, s.rows)] : []),
      ...(s.list ? [markdownList(s.list)] : []),
      ...(s.after ? [s.after, ''] : []),
    ]),
  ].join('\n');
  return { text, markdown };
}

/** Hits of the plan cache over all rounds: by shape and by exact text. */
function cacheSummary(samples: readonly PlanCostSample[]): string {
  const lookups = samples.reduce((n, s) => n + s.lookups, 0);
  if (lookups === 0) return 'n/a';
  const share = (n: number): string => `${((100 * n) / lookups).toFixed(0)} %`;
  const shape = samples.reduce((n, s) => n + s.shapeHits, 0);
  const text = samples.reduce((n, s) => n + s.textHits, 0);
  return `shape hits ${share(shape)}, text hits ${share(text)}`;
}
