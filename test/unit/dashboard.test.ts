/**
 * The Grafana dashboard and the example Prometheus scrape config stay true to the code: every
 * metric a panel or variable queries exists in src/metrics.ts's registry (its own metrics and the
 * default process metrics, all prefixed docfusion_), the dashboard is importable (schema,
 * datasource input, unique ids, queries on every panel), and the scrape config targets the
 * default HTTP listener's /metrics. Also: the exposition validator used by the integration
 * tests accepts the registry's own output and rejects malformed text.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaultConfig } from '../../src/config.js';
import { registry } from '../../src/metrics.js';
import { parsePrometheusText, valueOf } from '../support/prometheus-text.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Target {
  readonly expr?: string;
  readonly refId?: string;
  readonly datasource?: { type?: string; uid?: string };
}
interface Panel {
  readonly id?: number;
  readonly type: string;
  readonly title?: string;
  readonly gridPos?: { h: number; w: number; x: number; y: number };
  readonly datasource?: { type?: string; uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { query?: string };
  readonly datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  readonly __inputs?: readonly { name: string; type: string; pluginId: string }[];
  readonly schemaVersion: number;
  readonly title: string;
  readonly uid: string;
  readonly panels: readonly Panel[];
  readonly templating?: { list?: readonly Variable[] };
}

const dashboard = JSON.parse(
  readFileSync(`${ROOT}config/grafana/docfusion-dashboard.json`, 'utf8'),
) as Dashboard;

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const panels = allPanels(dashboard.panels);
const queryPanels = panels.filter((p) => p.type !== 'row');

/** Every PromQL query of the dashboard: panel targets and query variables. */
function queries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const panel of queryPanels) {
    for (const target of panel.targets ?? []) {
      out.push({
        where: `panel "${panel.title ?? ''}" ${target.refId ?? ''}`,
        expr: target.expr ?? '',
      });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    out.push({ where: `variable $${variable.name}`, expr: query ?? '' });
  }
  return out;
}

const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions or
 * aggregations (followed by `(`), keywords, label names inside `{…}` or grouping lists, strings,
 * durations or Grafana variables. `label_values(selector, label)` counts its selector only.
 */
function metricNames(expr: string): string[] {
  const text = expr
    .replace(/label_values\(\s*([^,()]*(?:\{[^}]*\})?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)/g, ' $1 ')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?/g, ' ');
  const names: string[] = [];
  const token = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    const word = m[0];
    const before = text[m.index - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // 1e3, 0.5
    const rest = text.slice(m.index + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.push(word);
  }
  return [...new Set(names)];
}

/** The registry's families by name, and the names a histogram or summary exposes. */
async function registeredNames(): Promise<{ families: Map<string, string>; series: Set<string> }> {
  const families = new Map<string, string>();
  const series = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    families.set(metric.name, String(metric.type));
    series.add(metric.name);
    if (String(metric.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) series.add(metric.name + suffix);
    }
    if (String(metric.type) === 'summary') {
      for (const suffix of ['_sum', '_count']) series.add(metric.name + suffix);
    }
  }
  return { families, series };
}

describe('the metric-name extractor', () => {
  test('finds selected metrics, not functions, labels, keywords, strings or variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (route, le) (rate(docfusion_statement_duration_seconds_bucket{instance=~"$instance", route!="x_y"}[$__rate_interval])))',
      ),
    ).toEqual(['docfusion_statement_duration_seconds_bucket']);
    expect(
      metricNames(
        'sum by (pool) (docfusion_upstream_connections{state="active"}) / on(pool) group_left sum by (pool) (docfusion_pool_size) > bool 0.5 or vector(0)',
      ),
    ).toEqual(['docfusion_upstream_connections', 'docfusion_pool_size']);
    expect(metricNames('label_values(docfusion_pool_size{instance=~"$instance"}, pool)')).toEqual([
      'docfusion_pool_size',
    ]);
    expect(metricNames('rate(docfusion_typo_total[5m]) * 1e3')).toEqual(['docfusion_typo_total']);
  });
});

describe('config/grafana/docfusion-dashboard.json', () => {
  test('is an importable Grafana dashboard with a ${DS_PROMETHEUS} datasource input', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.title).toMatch(/DocFusionDB/);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({
        name: 'DS_PROMETHEUS',
        type: 'datasource',
        pluginId: 'prometheus',
      }),
    ]);
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      expect(panel.gridPos, `gridPos of "${panel.title ?? ''}"`).toBeDefined();
      const { x, w } = panel.gridPos ?? { x: 0, w: 0 };
      expect(x + w).toBeLessThanOrEqual(24);
    }
    for (const panel of queryPanels) {
      expect(panel.datasource, panel.title).toEqual({
        type: 'prometheus',
        uid: '${DS_PROMETHEUS}',
      });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const target of panel.targets ?? []) {
        expect(target.expr?.trim(), panel.title).toBeTruthy();
        expect(target.datasource?.uid ?? '${DS_PROMETHEUS}').toBe('${DS_PROMETHEUS}');
      }
    }
    for (const variable of dashboard.templating?.list ?? []) {
      if (variable.type === 'query') expect(variable.datasource?.uid).toBe('${DS_PROMETHEUS}');
    }
  });

  test('references only metric names that exist in the registry', async () => {
    const { families, series } = await registeredNames();
    const used = new Set<string>();
    for (const { where, expr } of queries()) {
      const names = metricNames(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        expect(name, `${where}: ${expr}`).toMatch(/^docfusion_/);
        expect(
          series.has(name),
          `${where} uses ${name}, which src/metrics.ts does not register`,
        ).toBe(true);
        used.add(families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    // A histogram's _bucket is only ever queried through histogram_quantile with `le` kept.
    for (const { where, expr } of queries()) {
      if (!expr.includes('_bucket')) continue;
      expect(expr, where).toMatch(/histogram_quantile\(/);
      expect(expr, where).toMatch(/by \([^)]*\ble\b[^)]*\)/);
      expect(expr, where).toMatch(/rate\(/);
    }
    // Everything the issue asks the dashboard to show is on it.
    for (const name of [
      'docfusion_client_connections',
      'docfusion_upstream_connections',
      'docfusion_pool_size',
      'docfusion_pool_checkout_wait_seconds',
      'docfusion_statement_duration_seconds',
      'docfusion_errors_total',
      'docfusion_auth_failures_total',
      'docfusion_cancel_requests_total',
      'docfusion_client_bytes_total',
      'docfusion_process_cpu_seconds_total',
      'docfusion_process_resident_memory_bytes',
    ]) {
      expect(used, name).toContain(name);
    }
  });

  test('has the latency percentiles by route and the panels operators look for', () => {
    const titles = queryPanels.map((p) => p.title ?? '');
    for (const title of [
      /client connections by state/i,
      /upstream connections per pool/i,
      /saturation/i,
      /checkout wait p50 \/ p99/i,
      /latency p50 \/ p95 \/ p99 by route/i,
      /statements \/ s by command/i,
      /errors \/ s by sqlstate class/i,
      /auth failures/i,
      /cancel/i,
      /bytes in \/ out/i,
      /cpu/i,
      /memory/i,
    ]) {
      expect(
        titles.some((t) => title.test(t)),
        String(title),
      ).toBe(true);
    }
    const latency = queryPanels.find((p) => /latency p50/i.test(p.title ?? ''));
    const exprs = (latency?.targets ?? []).map((t) => t.expr ?? '');
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(
        exprs.some(
          (e) =>
            e.startsWith(`histogram_quantile(${q},`) &&
            e.includes('by (route, le)') &&
            e.includes('docfusion_statement_duration_seconds_bucket'),
        ),
        `p${q}`,
      ).toBe(true);
    }
  });
});

describe('config/prometheus/prometheus.yml', () => {
  interface ScrapeConfig {
    job_name?: string;
    metrics_path?: string;
    scheme?: string;
    static_configs?: { targets?: string[] }[];
  }
  const text = readFileSync(`${ROOT}config/prometheus/prometheus.yml`, 'utf8');

  test('parses and scrapes /metrics on the default HTTP port', () => {
    const config = parseYaml(text) as { scrape_configs?: ScrapeConfig[] };
    const jobs = config.scrape_configs ?? [];
    const job = jobs.find((j) => j.job_name === 'docfusiondb');
    expect(job).toBeDefined();
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job?.scheme ?? 'http').toBe('http');
    const port = defaultConfig().http.listen.port;
    const targets = (job?.static_configs ?? []).flatMap((s) => s.targets ?? []);
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.some((t) => t.endsWith(`:${port}`))).toBe(true);
  });
});

describe('the exposition validator (test/support/prometheus-text.ts)', () => {
  test("accepts the registry's own output", async () => {
    const exposition = parsePrometheusText(await registry.metrics());
    expect(exposition.families.get('docfusion_statement_duration_seconds')?.type).toBe('histogram');
    expect(valueOf(exposition, 'docfusion_process_start_time_seconds')).toBeGreaterThan(0);
  });

  test('accepts the format’s corner cases', () => {
    const text = [
      '# a comment',
      '# HELP m_h A histogram with \\\\ and \\n in its help.',
      '# TYPE m_h histogram',
      'm_h_bucket{a="x",le="0.5"} 1',
      'm_h_bucket{a="x",le="+Inf"} 2',
      'm_h_sum{a="x"} 0.7',
      'm_h_count{a="x"} 2',
      '# TYPE m_g gauge',
      'm_g{path="C:\\\\dir",q="say \\"hi\\"",nl="a\\nb",} NaN 1700000000000',
      'm_g{path="other"} -Inf',
      'm_g 1.5e-3',
      '# TYPE m_s summary',
      'm_s{quantile="0.5"} 1',
      'm_s_sum 3',
      'm_s_count 4',
      'untyped_metric +Inf',
      '',
    ].join('\n');
    const exposition = parsePrometheusText(text);
    expect(exposition.families.get('m_h')?.help).toBe('A histogram with \\ and \n in its help.');
    const labels = exposition.samples.find((s) => s.name === 'm_g')?.labels;
    expect(labels).toEqual({ path: 'C:\\dir', q: 'say "hi"', nl: 'a\nb' });
    expect(exposition.samples.find((s) => s.name === 'm_g')?.timestamp).toBe(1700000000000);
    expect(exposition.families.get('untyped_metric')?.type).toBe('untyped');
  });

  const bad: [string, string][] = [
    ['bad metric name', '0metric 1\n'],
    ['bad label name', 'm{0a="x"} 1\n'],
    ['reserved label name', 'm{__name__="x"} 1\n'],
    ['duplicate label', 'm{a="x",a="y"} 1\n'],
    ['invalid escape', 'm{a="\\t"} 1\n'],
    ['unterminated label value', 'm{a="x} 1\n'],
    ['bad sample value', 'm 1,5\n'],
    ['bad timestamp', 'm 1 1.5\n'],
    ['expected value', 'm\n'],
    ['duplicate series', 'm{a="x"} 1\nm{a="x"} 2\n'],
    ['unknown metric type', '# TYPE m countr\nm 1\n'],
    ['second TYPE', '# TYPE m gauge\n# TYPE m gauge\nm 1\n'],
    ['second HELP', '# HELP m a\n# HELP m b\nm 1\n'],
    ['TYPE for m after its samples', 'm 1\n# TYPE m gauge\n'],
    ['must be one group', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'],
    ['negative counter', '# TYPE c_total counter\nc_total -1\n'],
    ['without an le label', '# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n'],
    [
      'not strictly ascending',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    ],
    [
      'not cumulative',
      '# TYPE h histogram\nh_bucket{le="0.5"} 2\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
    ],
    ['no le="+Inf" bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    [
      'differs from _count',
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n',
    ],
    ['has no _sum', '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n'],
    ['sample must be _bucket, _sum or _count', '# TYPE h histogram\nh 1\n'],
    ['quantile label outside', '# TYPE s summary\ns{quantile="2"} 1\ns_sum 1\ns_count 1\n'],
    ['must end with a line feed', 'm 1'],
  ];
  test.each(bad)('rejects: %s', (message, text) => {
    expect(() => parsePrometheusText(text)).toThrow(message);
  });
});
