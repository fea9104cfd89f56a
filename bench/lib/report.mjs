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
