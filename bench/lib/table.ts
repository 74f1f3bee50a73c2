/** Tables for benchmark reports: aligned plain text for the terminal, GitHub markdown for files. */

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. Default: left. */
  readonly align?: 'left' | 'right';
}

export type Row = readonly string[];

/** An aligned plain-text table with a rule under the header. */
export function textTable(columns: readonly Column[], rows: readonly Row[]): string {
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: Row): string =>
    columns
      .map((c, i) => pad(cells[i] ?? '', widths[i] ?? 0, c.align))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(columns.map((c) => c.header)), rule, ...rows.map(line)].join('\n') + '\n';
}

/** A GitHub-flavoured markdown table (cells escaped for `|`). */
export function markdownTable(columns: readonly Column[], rows: readonly Row[]): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const line = (cells: Row): string =>
    `| ${columns.map((_c, i) => cell(cells[i] ?? '')).join(' | ')} |`;
  const rule = `|${columns.map((c) => (c.align === 'right' ? '---:' : ':---')).join('|')}|`;
  return [line(columns.map((c) => c.header)), rule, ...rows.map(line)].join('\n') + '\n';
}

/** A key/value list as aligned text lines. */
export function textList(entries: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n') + '\n';
}

/** A key/value list as markdown bullets. */
export function markdownList(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([k, v]) => `- **${k}:** ${v}`).join('\n') + '\n';
}

/** A number with `digits` decimals and thousands separators; "n/a" for NaN/Infinity. */
export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A fraction as a percentage, e.g. 0.123 → "12.3 %". */
export function formatPercent(value: number, digits = 1): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(digits)} %` : 'n/a';
}

function pad(text: string, width: number, align: Column['align']): string {
  return align === 'right' ? text.padStart(width) : text.padEnd(width);
}
