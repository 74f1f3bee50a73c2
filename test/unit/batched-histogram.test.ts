import client from 'prom-client';
import { describe, expect, test } from 'vitest';
import { BatchedHistogram } from '../../src/batched-histogram.js';

const config = {
  name: 'test_duration_seconds',
  help: 'A duration.',
  labelNames: ['route', 'command'],
  buckets: [0.001, 0.01, 0.1, 1],
};

/** The exposition's sample lines, each with its labels in a fixed order. */
async function samples(registry: client.Registry): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const m = /^(\w+)\{([^}]*)\} (.*)$/.exec(line);
      if (!m) return line;
      const labels = (m[2] ?? '').split(',').sort().join(',');
      return `${m[1] ?? ''}{${labels}} ${m[3] ?? ''}`;
    })
    .sort();
}

describe('BatchedHistogram', () => {
  test('shows the same exposition as a prom-client Histogram given the same observations', async () => {
    const reference = new client.Registry();
    const batched = new client.Registry();
    const plain = new client.Histogram({ ...config, registers: [reference] });
    const fast = new BatchedHistogram({ ...config, registers: [batched] });
    const observations: [string, string, number][] = [
      ['passthrough', 'SELECT', 0.0005],
      ['passthrough', 'SELECT', 0.001], // on a bound: that bucket, as prom-client
      ['passthrough', 'SELECT', 0.05],
      ['passthrough', 'SELECT', 7], // above every bound: only +Inf
      ['passthrough', 'INSERT', 0.2],
      ['local', 'SHOW', 0],
    ];
    for (const [route, command, value] of observations) {
      plain.labels(route, command).observe(value);
      fast.cell(route, command).observe(value);
    }
    expect(await samples(batched)).toEqual(await samples(reference));
  });

  test('a cell is looked up once and keeps counting; reset empties the series', async () => {
    const registry = new client.Registry();
    const fast = new BatchedHistogram({ ...config, registers: [registry] });
    const cell = fast.cell('passthrough', 'SELECT');
    expect(fast.cell('passthrough', 'SELECT')).toBe(cell);
    cell.observe(0.002);
    cell.observe(0.003);
    expect(await registry.metrics()).toContain(
      'test_duration_seconds_count{route="passthrough",command="SELECT"} 2',
    );
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('test_duration_seconds_count');
    cell.observe(0.5);
    expect(await registry.metrics()).toContain(
      'test_duration_seconds_count{route="passthrough",command="SELECT"} 1',
    );
  });

  test('the prom-client ways to observe throw instead of losing observations', () => {
    const fast: client.Histogram = new BatchedHistogram({ ...config, registers: [] });
    expect(() => {
      fast.observe(1);
    }).toThrow(/cell/);
    expect(() => fast.labels('a', 'b')).toThrow(/cell/);
  });
});
