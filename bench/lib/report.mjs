// Machine description, medians and the plain-text tables printed by the benchmark.
import os from 'node:os';

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuCount: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function median(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const fmt = {
  int: (x) => (x === null || x === undefined ? '-' : Math.round(x).toLocaleString('en-US')),
  ms: (x) => (x === null || x === undefined ? '-' : x.toFixed(2)),
  pct: (x) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`),
};
export { fmt };

/** A fixed-width table: `columns` is [{ title, align: 'left'|'right' }], rows are strings. */
export function table(columns, rows) {
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, ...rows.map((r) => String(r[i]).length)),
  );
  const cell = (text, i) =>
    columns[i].align === 'left' ? String(text).padEnd(widths[i]) : String(text).padStart(widths[i]);
  const line = (cells) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (columns[i].align === 'left' ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(columns.map((c) => c.title)), rule, ...rows.map(line)].join('\n');
}

/**
 * The value of a column for one run (`run[key]`, or `run.cpu[key]` for a CPU column)
 * and for one variant's medians (`summary[key]`).
 */
const runValue = (column, run) => (column.cpu ? run.cpu[column.key] : run[column.key]);

/**
 * Medians per variant of every column (in their order: it is the order of the keys
 * in the results), after the variant's label when it has one, and how many of its
 * runs were disturbed. `variants` is [{ key, label? }]; `columns` as for resultsTable.
 */
export function summarizeRuns(runs, variants, columns) {
  const summary = {};
  for (const variant of variants) {
    const mine = runs.filter((r) => r.variant === variant.key);
    summary[variant.key] = {
      ...(variant.label === undefined ? {} : { label: variant.label }),
      ...Object.fromEntries(columns.map((c) => [c.key, median(mine.map((r) => runValue(c, r)))])),
      disturbedRuns: mine.filter((r) => r.disturbed).length,
    };
  }
  return summary;
}

/**
 * The table of every run, then of the medians of each variant: round, the variant's
 * label (under `labelTitle`), the `columns` ([{ title, key, cpu?, format }], right
 * aligned) and the share of other work on the machine.
 */
export function resultsTable({ runs, summary, labelTitle, label, columns }) {
  const cols = [
    { title: 'round', align: 'left' },
    { title: labelTitle, align: 'left' },
    ...columns.map((c) => ({ title: c.title, align: 'right' })),
    { title: 'other work', align: 'right' },
  ];
  const rows = runs.map((r) => [
    String(r.round),
    label(r.variant),
    ...columns.map((c) => c.format(runValue(c, r))),
    `${fmt.pct(r.cpu.foreignShare)}${r.disturbed ? ' (!)' : ''}`,
  ]);
  for (const [variant, s] of Object.entries(summary)) {
    rows.push([
      'median',
      label(variant),
      ...columns.map((c) => c.format(s[c.key])),
      s.disturbedRuns > 0 ? `${s.disturbedRuns} disturbed` : '',
    ]);
  }
  return table(cols, rows);
}

/** "-> target 80.0% MET", or how far it was missed, for a ratio and its verdict. */
export function verdictText(ratio, verdict) {
  return `-> target ${fmt.pct(verdict.target)} ${verdict.met ? 'MET' : `MISSED by ${fmt.pct(verdict.target - ratio)} points (${fmt.int(verdict.shortfallRps)} req/s short)`}`;
}
