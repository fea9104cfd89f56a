import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, configVariableNames } from '@ibhq/core';

// The configuration schema (libs/core/src/config/config.schema.ts) is the single source of
// truth: .env.example and the README's configuration table must name exactly its variables,
// with its descriptions and defaults. When one of them drifts, a test here fails.

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const schemaNames: readonly string[] = configVariableNames;
const fields: Record<string, (typeof configSchema.shape)[keyof typeof configSchema.shape]> =
  configSchema.shape;

/** What the schema does with an unset variable. */
type Fallback =
  | { kind: 'required' }
  | { kind: 'unset' }
  | { kind: 'default'; value: string | number | boolean | readonly string[] };

function fallbackOf(name: string): Fallback {
  const result = fields[name]!.safeParse(undefined);
  if (!result.success) return { kind: 'required' };
  if (result.data === undefined) return { kind: 'unset' };
  return { kind: 'default', value: result.data };
}

function descriptionOf(name: string): string {
  const description = fields[name]!.description;
  if (!description) throw new Error(`${name} has no .describe() text in the config schema`);
  return description;
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

// ----------------------------------------------------------------------- .env.example ----

/** `NAME=...` or `# NAME=...` at the start of a line. */
const ENV_LINE = /^#?\s*([A-Z][A-Z0-9_]*)=/;
/** The heading of the section of variables only docker-compose.yml reads. */
const COMPOSE_HEADING = /^# Docker Compose only:/;

interface EnvEntry {
  readonly name: string;
  readonly line: number;
  /** The comment lines right above it, without their `#`, joined by spaces. */
  readonly comment: string;
}

function parseEnvExample(text: string): { config: EnvEntry[]; compose: EnvEntry[] } {
  const lines = text.split('\n');
  const headingAt = lines.findIndex((l) => COMPOSE_HEADING.test(l));
  const config: EnvEntry[] = [];
  const compose: EnvEntry[] = [];
  lines.forEach((line, i) => {
    const match = ENV_LINE.exec(line);
    if (!match) return;
    const comment: string[] = [];
    for (let j = i - 1; j >= 0; j--) {
      const above = lines[j]!;
      if (!above.startsWith('#') || ENV_LINE.test(above)) break;
      comment.unshift(above.replace(/^#\s?/, ''));
    }
    const entry = { name: match[1]!, line: i + 1, comment: squash(comment.join(' ')) };
    (headingAt >= 0 && i > headingAt ? compose : config).push(entry);
  });
  return { config, compose };
}

const envExample = parseEnvExample(read('.env.example'));
const composeFile = read('docker-compose.yml');

describe('.env.example', () => {
  const configNames = envExample.config.map((e) => e.name);
  const composeNames = envExample.compose.map((e) => e.name);

  it('has a "Docker Compose only" section for the variables only docker-compose.yml reads', () => {
    expect(
      read('.env.example')
        .split('\n')
        .some((l) => COMPOSE_HEADING.test(l)),
    ).toBe(true);
    expect(composeNames.length).toBeGreaterThan(0);
  });

  it('documents every variable of the config schema (above the compose section)', () => {
    const missing = schemaNames.filter((n) => !configNames.includes(n));
    expect(missing, 'variables of the schema missing from .env.example').toEqual([]);
  });

  it('holds no variable that is neither in the schema nor in the compose-only section', () => {
    const unknown = configNames.filter((n) => !schemaNames.includes(n));
    expect(unknown, 'variables of .env.example that the schema does not know').toEqual([]);
  });

  it('names each variable once', () => {
    const all = [...configNames, ...composeNames];
    expect(all.filter((n, i) => all.indexOf(n) !== i)).toEqual([]);
  });

  it('keeps the compose-only section to variables docker-compose.yml uses, none of the schema', () => {
    expect(composeNames.filter((n) => schemaNames.includes(n))).toEqual([]);
    expect(composeNames.filter((n) => !new RegExp(`\\b${n}\\b`).test(composeFile))).toEqual([]);
  });

  it('documents every variable docker-compose.yml interpolates', () => {
    const interpolated = [...composeFile.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map(
      (m) => m[1]!,
    );
    const documented = [...configNames, ...composeNames];
    expect([...new Set(interpolated)].filter((n) => !documented.includes(n))).toEqual([]);
  });

  it.each(schemaNames)('describes %s as the schema does, with its default', (name) => {
    const entry = envExample.config.find((e) => e.name === name);
    expect(entry, `${name} in .env.example`).toBeDefined();
    expect(entry!.comment).toContain(squash(descriptionOf(name)));
    const fallback = fallbackOf(name);
    switch (fallback.kind) {
      case 'required':
        expect(entry!.comment).toMatch(/\bRequired\b/);
        break;
      case 'unset':
        expect(entry!.comment).toMatch(/\bOptional\b/);
        expect(entry!.comment).toMatch(/\bNo default\b/);
        break;
      case 'default': {
        const value = fallback.value;
        const shown = Array.isArray(value)
          ? value.length === 0
            ? 'empty'
            : value.join(',')
          : String(value);
        expect(entry!.comment).toMatch(/\bOptional\b/);
        expect(entry!.comment).toContain(`Default: ${shown}`);
        break;
      }
    }
  });
});

// -------------------------------------------------------------------- README table ----

interface TableRow {
  readonly name: string;
  readonly fallback: string;
  readonly description: string;
}

/** Rows of the table under the README's "## Configuration" heading. */
function readmeConfigTable(text: string): TableRow[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^## Configuration\s*$/.test(l));
  if (start < 0) throw new Error('README.md has no "## Configuration" section');
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  const rows: TableRow[] = [];
  for (const line of lines.slice(start + 1, end < 0 ? undefined : end)) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0] ?? '')?.[1];
    if (!name) continue; // the header and separator rows
    rows.push({
      name,
      fallback: cells[1] ?? '',
      description: squash((cells[2] ?? '').replace(/\\([\\`*_{}[\]()#+\-.!|])/g, '$1')),
    });
  }
  return rows;
}

const readmeRows = readmeConfigTable(read('README.md'));

/** How the README's Default column shows what the schema does with an unset variable. */
function shownFallback(name: string): string {
  const fallback = fallbackOf(name);
  switch (fallback.kind) {
    case 'required':
      return '**required**';
    case 'unset':
      return '_(unset)_';
    case 'default': {
      const value = fallback.value;
      if (Array.isArray(value)) return value.length === 0 ? '_(empty)_' : `\`${value.join(',')}\``;
      return `\`${String(value)}\``;
    }
  }
}

describe('README configuration table', () => {
  const names = readmeRows.map((r) => r.name);

  it('has a row for every variable of the config schema', () => {
    expect(
      schemaNames.filter((n) => !names.includes(n)),
      'missing from the README table',
    ).toEqual([]);
  });

  it('names no variable that the schema does not have', () => {
    expect(
      names.filter((n) => !schemaNames.includes(n)),
      'unknown to the schema',
    ).toEqual([]);
  });

  it('has one row per variable', () => {
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it.each(schemaNames)('shows the schema default and description of %s', (name) => {
    const row = readmeRows.find((r) => r.name === name);
    expect(row, `${name} in the README table`).toBeDefined();
    expect(row!.fallback).toBe(shownFallback(name));
    expect(row!.description).toBe(squash(descriptionOf(name)));
  });
});
