import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runWithTenant, asTenantId } from '@ibhq/core';
import { JobTracker } from '@ibhq/jobs';
import { ImportService } from '@ibhq/leads';
import { eventually, startApi, startWorker, type RunningApi } from '../support/apps.js';
import { bearer, createApiKey } from '../support/accounts.js';
import { createLead, crmTenant, CRM_ENV, type CrmCaller } from '../support/crm.js';
import { sql } from '../support/db.js';

type Tenant = Awaited<ReturnType<typeof crmTenant>>;

interface Upload {
  id: string;
  rowCount: number;
  header: string[];
  delimiter: string;
  suggestedMapping: Record<string, string | null>;
  previousImportId: string | null;
}
interface ImportView {
  id: string;
  status: string;
  jobId: string | null;
  progress: { done: number; total: number } | null;
  counts: { created: number; updated: number; skipped: number; failed: number } | null;
  errorReportUrl: string | null;
}
interface LeadView {
  id: string;
  displayName: string;
  telegramUsername: string | null;
  phone: string | null;
  email: string | null;
  country: string | null;
  source: string;
  ownerId: string | null;
  stageName: string;
  tags: string[];
  customFields: Record<string, unknown>;
  version: number;
}

/** One CSV line (quoted where needed). */
function line(cells: readonly string[], delimiter = ','): string {
  return cells
    .map((c) => (/[",;\r\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c))
    .join(delimiter);
}
const csvOf = (rows: readonly (readonly string[])[], delimiter = ',') =>
  `${rows.map((r) => line(r, delimiter)).join('\r\n')}\r\n`;

describe('CSV import (upload, start, job, report)', () => {
  let api: RunningApi;
  let worker: INestApplicationContext;
  let tenant: Tenant;

  beforeAll(async () => {
    [api, { app: worker }] = await Promise.all([startApi(CRM_ENV), startWorker()]);
    tenant = await crmTenant(api, 'Import IB');
    for (const field of [
      { key: 'budget', label: 'Budget', type: 'number' },
      { key: 'markets', label: 'Markets', type: 'multi_select', options: ['forex', 'crypto'] },
      { key: 'notes', label: 'Notes', type: 'text' },
    ]) {
      const res = await tenant.call('POST', '/v1/custom-fields', field);
      expect(res.status, res.text).toBe(201);
    }
  });
  afterAll(async () => {
    await Promise.all([api.close(), worker.close()]);
  });

  async function upload(
    caller: CrmCaller,
    body: string | Buffer,
    options: { query?: string; contentType?: string } = {},
  ): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
    const res = await fetch(
      `${api.url}/v1/leads/imports${options.query ?? '?fileName=leads.csv'}`,
      {
        method: 'POST',
        headers: { ...bearer(caller.token), 'content-type': options.contentType ?? 'text/csv' },
        body,
      },
    );
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, text };
  }

  /** POSTs headers announcing `length` bytes and only a few of them: the answer's status. */
  function declaredLength(caller: CrmCaller, length: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const url = new URL('/v1/leads/imports', api.url);
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            ...bearer(caller.token),
            'content-type': 'text/csv',
            'content-length': String(length),
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.write('name\nx\n');
    });
  }

  async function uploaded(caller: CrmCaller, csv: string | Buffer): Promise<Upload> {
    const res = await upload(caller, csv);
    expect(res.status, res.text).toBe(201);
    return res.body as unknown as Upload;
  }

  async function finished(caller: CrmCaller, importId: string): Promise<ImportView> {
    return eventually(async () => {
      const res = await caller.call<ImportView>('GET', `/v1/leads/imports/${importId}`);
      expect(res.status, res.text).toBe(200);
      return ['completed', 'failed'].includes(res.body.status) ? res.body : undefined;
    }, 30_000);
  }

  /** Uploads, starts and waits: the finished import. */
  async function importCsv(
    caller: CrmCaller,
    csv: string,
    start: Record<string, unknown> = { onExisting: 'skip' },
  ): Promise<ImportView & { upload: Upload }> {
    const file = await uploaded(caller, csv);
    const started = await caller.call<{ jobId: string }>(
      'POST',
      `/v1/leads/imports/${file.id}/start`,
      start,
    );
    expect(started.status, started.text).toBe(202);
    const view = await finished(caller, file.id);
    expect(view.status).toBe('completed');
    expect(view.jobId).toBe(started.body.jobId);
    return { ...view, upload: file };
  }

  /** The import's error report, checked equal to its job's report. */
  async function errorReport(caller: CrmCaller, view: ImportView): Promise<string[][]> {
    expect(view.errorReportUrl).toBe(`/v1/leads/imports/${view.id}/errors.csv`);
    const res = await caller.call('GET', String(view.errorReportUrl));
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="import-${view.id}-errors.csv"`,
    );
    const job = await caller.call('GET', `/v1/jobs/${String(view.jobId)}/errors.csv`);
    expect(job.text).toBe(res.text);
    return parse(res.text);
  }

  async function leadIdBy(tenantId: string, where: string, value: string): Promise<string> {
    const { rows } = await sql<{ id: string }>(
      'admin',
      `SELECT id FROM "Lead" WHERE "tenantId" = $1 AND ${where} = $2`,
      [tenantId, value],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!.id;
  }

  async function lead(caller: CrmCaller, id: string): Promise<LeadView> {
    const res = await caller.call<LeadView>('GET', `/v1/leads/${id}`);
    expect(res.status, res.text).toBe(200);
    return res.body;
  }

  const countOf = async (table: string, tenantId: string): Promise<number> =>
    Number(
      (
        await sql<{ n: string }>(
          'admin',
          `SELECT count(*) AS n FROM "${table}" WHERE "tenantId" = $1`,
          [tenantId],
        )
      ).rows[0]?.n,
    );

  it('imports the good rows of a file and reports every bad one (row, field, reason)', async () => {
    const header = [
      'Display name',
      'phone',
      'Email',
      'telegramUsername',
      'Stage',
      'Owner',
      'tags',
      'cf.budget',
      'cf.markets',
      'country',
    ];
    const none = ['', '', '', '', '', '', '', '', ''];
    const csv =
      csvOf([
        header,
        [
          'Ivan Petrov',
          '+447911123456',
          'ivan@example.com',
          'ivan_p',
          'contacted',
          tenant.owner.email,
          'vip; Forex',
          '1500',
          'crypto;forex',
          'gb',
        ],
        ['Bad Phone', '12345', ...none.slice(1)],
        ['Unknown Stage', '', '', '', 'Nowhere', '', '', '', '', ''],
      ]) +
      'Short row,1\r\n' +
      csvOf([
        ['Bad Budget', '', '', '', '', '', '', 'lots', '', ''],
        ['Ivan again', '', 'IVAN@example.com', '', '', '', '', '', '', ''],
        ['Quote, "Q"', '030 1234567', '', '', '', '', '', '', '', 'DE'],
        ['Two Bad', '', 'not-an-email', 'x', '', '', '', '', '', ''],
      ]);
    const view = await importCsv(tenant, csv);
    expect(view.upload).toMatchObject({ rowCount: 8, delimiter: ',', previousImportId: null });
    expect(view.upload.suggestedMapping).toMatchObject({
      'Display name': 'displayName',
      Email: 'email',
      Owner: 'owner',
      'cf.budget': 'cf.budget',
    });
    expect(view.counts).toEqual({ created: 2, updated: 0, skipped: 1, failed: 5 });
    expect(view.progress).toEqual({ done: 8, total: 8 });

    expect(await errorReport(tenant, view)).toEqual([
      ['rowNumber', 'field', 'reason', 'leadId'],
      ['2', 'phone', 'is not a valid phone number (write it with its country code, +44...)', ''],
      ['3', 'stage', 'no stage is named "Nowhere"', ''],
      ['4', '', 'has 2 cells; the header has 10', ''],
      ['5', 'cf.budget', 'must be a number', ''],
      [
        '8',
        'telegramUsername',
        'must be a Telegram username: 4 to 32 letters, digits or underscores',
        '',
      ],
      ['8', 'email', 'must be an e-mail address', ''],
    ]);

    const job = await tenant.call<{ status: string; done: number; total: number; failed: number }>(
      'GET',
      `/v1/jobs/${String(view.jobId)}`,
    );
    expect(job.body).toMatchObject({ status: 'completed', done: 8, total: 8, failed: 5 });

    const ivan = await lead(tenant, await leadIdBy(tenant.tenantId, 'email', 'ivan@example.com'));
    expect(ivan).toMatchObject({
      displayName: 'Ivan Petrov',
      telegramUsername: 'ivan_p',
      phone: '+447911123456',
      country: 'GB',
      source: 'import',
      ownerId: tenant.userId,
      stageName: 'Contacted',
      tags: ['Forex', 'vip'],
      customFields: { budget: 1500, markets: ['forex', 'crypto'] },
      version: 1,
    });
    const quoted = await lead(tenant, await leadIdBy(tenant.tenantId, 'phone', '+49301234567'));
    expect(quoted).toMatchObject({ displayName: 'Quote, "Q"', country: 'DE', stageName: 'New' });
    const timeline = await tenant.call<{ items: { kind: string }[] }>(
      'GET',
      `/v1/leads/${ivan.id}/activities`,
    );
    expect(timeline.body.items.map((a) => a.kind)).toContain('created');

    // The staged rows are gone; one audit event carries the counts.
    const { rows: staged } = await sql(
      'admin',
      'SELECT 1 FROM "LeadImportRow" WHERE "tenantId" = $1 AND "importId" = $2',
      [tenant.tenantId, view.id],
    );
    expect(staged).toHaveLength(0);
    const audit = await tenant.call<{
      items: { actor: { id: string }; target: { id: string }; metadata: Record<string, unknown> }[];
    }>('GET', '/v1/audit-events?action=lead.imported');
    const events = audit.body.items.filter((e) => e.target.id === view.id);
    expect(events).toHaveLength(1);
    expect(events[0]?.actor.id).toBe(tenant.userId);
    expect(events[0]?.metadata).toMatchObject({
      created: 2,
      updated: 0,
      skipped: 1,
      failed: 5,
      importId: view.id,
      jobId: view.jobId,
    });
  });

  it('reads a semicolon file with a BOM and quoted fields holding line breaks', async () => {
    const own = await crmTenant(api, 'Semicolon IB');
    expect(
      (await own.call('POST', '/v1/custom-fields', { key: 'notes', label: 'Notes', type: 'text' }))
        .status,
    ).toBe(201);
    const csv =
      '\uFEFFName;Phone;Notes;Tags\r\n' +
      '"Anna; the\nbroker";+33 6 12 34 56 78;"first line\r\nsecond ""quoted"" line";a;b\r\n' +
      'Jörg Müller;+49 151 12345678;"1,5 lots";\r\n';
    const view = await importCsv(own, csv);
    expect(view.upload).toMatchObject({
      delimiter: ';',
      header: ['Name', 'Phone', 'Notes', 'Tags'],
    });
    // Row 1 has 5 cells: "a;b" was not quoted.
    expect(view.counts).toEqual({ created: 1, updated: 0, skipped: 0, failed: 1 });
    expect(await errorReport(own, view)).toEqual([
      ['rowNumber', 'field', 'reason', 'leadId'],
      ['1', '', 'has 5 cells; the header has 4', ''],
    ]);
    const fixed =
      '\uFEFFName;Phone;Notes;Tags\r\n' +
      '"Anna; the\nbroker";+33 6 12 34 56 78;"first line\r\nsecond ""quoted"" line";"a;b"\r\n';
    const second = await importCsv(own, fixed);
    expect(second.counts).toEqual({ created: 1, updated: 0, skipped: 0, failed: 0 });
    const anna = await lead(own, await leadIdBy(own.tenantId, 'phone', '+33612345678'));
    expect(anna).toMatchObject({
      displayName: 'Anna; the\nbroker',
      tags: ['a', 'b'],
      customFields: { notes: 'first line\r\nsecond "quoted" line' },
    });
    const jorg = await lead(own, await leadIdBy(own.tenantId, 'phone', '+4915112345678'));
    expect(jorg).toMatchObject({ displayName: 'Jörg Müller', customFields: { notes: '1,5 lots' } });
  });

  it('skips or updates leads whose identity exists, and fails rows that point at two leads', async () => {
    const own = await crmTenant(api, 'Existing IB');
    const a = await createLead(own, {
      displayName: 'Old Name',
      phone: '+447911123001',
      tags: ['a'],
    });
    const b = await createLead(own, { displayName: 'Other', email: 'other@example.com' });
    const header = ['name', 'phone', 'email', 'tags', 'stage'];

    const skipped = await importCsv(
      own,
      csvOf([header, ['New Name', '+44 7911 123001', '', 'b', 'Funded']]),
      { onExisting: 'skip' },
    );
    expect(skipped.counts).toEqual({ created: 0, updated: 0, skipped: 1, failed: 0 });
    expect(await lead(own, a.id)).toMatchObject({
      displayName: 'Old Name',
      tags: ['a'],
      version: 1,
    });

    const updated = await importCsv(
      own,
      csvOf([
        header,
        ['New Name', '+44 7911 123001', '', 'b', 'Funded'],
        ['Clash', '+447911123001', 'other@example.com', '', ''],
        ['Unchanged', '', 'other@example.com', '', ''],
        ['Brand new', '+447911123999', 'new@example.com', '', ''],
        ['', '+447911123999', '', 'late', ''],
      ]),
      { onExisting: 'update' },
    );
    expect(updated.counts).toEqual({ created: 1, updated: 3, skipped: 0, failed: 1 });
    expect(await errorReport(own, updated)).toEqual([
      ['rowNumber', 'field', 'reason', 'leadId'],
      ['2', 'email', "belongs to another lead than the row's phone", ''],
    ]);
    expect(await lead(own, a.id)).toMatchObject({
      displayName: 'New Name',
      tags: ['a', 'b'],
      stageName: 'Funded',
      version: 2,
    });
    expect(await lead(own, b.id)).toMatchObject({ displayName: 'Unchanged', version: 2 });
    const brandNew = await lead(own, await leadIdBy(own.tenantId, 'email', 'new@example.com'));
    expect(brandNew).toMatchObject({ displayName: 'Brand new', tags: ['late'], version: 1 });

    const timeline = await own.call<{ items: { kind: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/v1/leads/${a.id}/activities`,
    );
    const kinds = timeline.body.items.map((i) => i.kind);
    expect(kinds).toEqual(expect.arrayContaining(['fields_changed', 'stage_changed']));
    const changed = timeline.body.items.find((i) => i.kind === 'fields_changed');
    expect(changed?.data).toMatchObject({
      changes: { displayName: { from: 'Old Name', to: 'New Name' }, tags: { added: ['b'] } },
    });
  });

  it('finds leads by Telegram username however the file writes it, across chunks', async () => {
    const own = await crmTenant(api, 'Usernames IB');
    const ivan = await createLead(own, {
      displayName: 'Ivan',
      telegramUsername: 'Ivan_P',
      email: 'ivan.old@example.com',
    });
    const imports = worker.get(ImportService);
    const chunkRows = imports.chunkRows;
    imports.chunkRows = 2;
    try {
      const header = ['name', 'username', 'email'];
      const skip = await importCsv(
        own,
        csvOf([
          header,
          ['Ivan link', 'https://t.me/ivan_p', ''],
          ['Nora', '\u2003@Nora_K ', 'nora@example.com'],
          ['Ivan at', '@IVAN_P', ''],
          ['Nora again', 'nora_k', ''],
          ['Nora once more', 'NORA_K', 'ivan.old@example.com'],
        ]),
      );
      // Rows 3-5 are in later chunks than the rows whose leads they find.
      expect(skip.counts).toEqual({ created: 1, updated: 0, skipped: 3, failed: 1 });
      expect(await errorReport(own, skip)).toEqual([
        ['rowNumber', 'field', 'reason', 'leadId'],
        ['5', 'email', "belongs to another lead than the row's telegramUsername", ''],
      ]);
      expect(await lead(own, ivan.id)).toMatchObject({ displayName: 'Ivan', version: 1 });

      const update = await importCsv(
        own,
        csvOf([
          header,
          ['Ivan Petrov', "'@ivan_p", 'ivan@example.com'],
          ['Kim', 'kim_lee', ''],
          ['', '@kim_lee', 'kim@example.com'],
          ['', 'kim_lee', ''],
        ]),
        { onExisting: 'update' },
      );
      expect(update.counts).toEqual({ created: 1, updated: 2, skipped: 1, failed: 0 });
      expect(await lead(own, ivan.id)).toMatchObject({
        displayName: 'Ivan Petrov',
        email: 'ivan@example.com',
        // The file's spelling (usernames compare without case; the case shown is the last written).
        telegramUsername: 'ivan_p',
        version: 2,
      });
      const kim = await lead(own, await leadIdBy(own.tenantId, 'email', 'kim@example.com'));
      expect(kim).toMatchObject({ displayName: 'Kim', telegramUsername: 'kim_lee' });
      expect(await countOf('Lead', own.tenantId)).toBe(3);
    } finally {
      imports.chunkRows = chunkRows;
    }
  });

  it('detects a re-run of the same file: it needs confirm, and starting twice is one job', async () => {
    const own = await crmTenant(api, 'Rerun IB');
    const csv = csvOf([
      ['name', 'email'],
      ['Once', 'once@example.com'],
    ]);
    const first = await importCsv(own, csv);
    expect(first.counts).toMatchObject({ created: 1 });

    const again = await uploaded(own, csv);
    expect(again.previousImportId).toBe(first.id);
    const refused = await own.call<{ error: { code: string; message: string; details: unknown } }>(
      'POST',
      `/v1/leads/imports/${again.id}/start`,
      { onExisting: 'skip' },
    );
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'CONFLICT',
      details: { previousImportId: first.id },
    });
    expect(refused.body.error.message).toContain('this file was imported before');
    const status = await own.call<ImportView>('GET', `/v1/leads/imports/${again.id}`);
    expect(status.body).toMatchObject({ status: 'uploaded', jobId: null });

    const started = await own.call<{ jobId: string }>(
      'POST',
      `/v1/leads/imports/${again.id}/start`,
      {
        onExisting: 'skip',
        confirm: true,
      },
    );
    expect(started.status).toBe(202);
    const twice = await own.call<{ jobId: string }>('POST', `/v1/leads/imports/${again.id}/start`, {
      onExisting: 'update',
      confirm: true,
    });
    expect(twice.status).toBe(202);
    expect(twice.body.jobId).toBe(started.body.jobId);
    const view = await finished(own, again.id);
    expect(view.counts).toEqual({ created: 0, updated: 0, skipped: 1, failed: 0 });
  });

  it('applies the caller’s mapping over the header names', async () => {
    const own = await crmTenant(api, 'Mapping IB');
    const file = await uploaded(
      own,
      csvOf([
        ['Nombre', 'Correo', 'email'],
        ['Lucía', 'lucia@example.com', 'ignored'],
      ]),
    );
    expect(file.suggestedMapping).toEqual({ Nombre: null, Correo: null, email: 'email' });
    const bad = await own.call<{ error: { fields: { field: string }[] } }>(
      'POST',
      `/v1/leads/imports/${file.id}/start`,
      { onExisting: 'skip', mapping: { Nombre: 'displayName', Correo: 'email' } },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields.map((f) => f.field)).toEqual(['body.mapping.email']);
    const res = await own.call('POST', `/v1/leads/imports/${file.id}/start`, {
      onExisting: 'skip',
      mapping: { Nombre: 'displayName', Correo: 'email', email: null },
    });
    expect(res.status, res.text).toBe(202);
    expect((await finished(own, file.id)).counts).toMatchObject({ created: 1, failed: 0 });
    expect(
      await lead(own, await leadIdBy(own.tenantId, 'email', 'lucia@example.com')),
    ).toMatchObject({
      displayName: 'Lucía',
    });
  });

  it('refuses what is not a usable CSV file before anything is written', async () => {
    const own = await crmTenant(api, 'Refusals IB');
    const cases: [string, string | Buffer, number, RegExp][] = [
      ['NUL bytes', 'name,email\nA\u0000,a@example.com\n', 400, /NUL bytes/],
      [
        'invalid UTF-8',
        Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x0a, 0xff, 0xfe, 0x0a]),
        400,
        /not UTF-8/,
      ],
      ['an unclosed quote', 'name,email\n"A,a@example.com\nB,b@example.com\n', 400, /never closed/],
      ['an empty file', '', 400, /empty/],
      ['a header only', 'name,email\r\n', 400, /no data rows/],
      ['no usable column', 'foo,bar\n1,2\n', 400, /"foo", "bar".*no column that is a lead field/],
      ['a PNG', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), 400, /NUL bytes|not UTF-8/],
    ];
    for (const [what, body, status, message] of cases) {
      const res = await upload(own, body);
      expect(res.status, `${what}: ${res.text}`).toBe(status);
      expect((res.body.error as { message: string }).message, what).toMatch(message);
    }
    for (const contentType of ['application/json', 'text/plain', 'application/octet-stream']) {
      const res = await upload(own, '{"name":"x"}', { contentType });
      expect(res.status, contentType).toBe(415);
    }
    // A declared length over the limit is refused before a byte of the body is read.
    expect(await declaredLength(own, 300 * 1024 * 1024)).toBe(413);
    expect(await countOf('LeadImport', own.tenantId)).toBe(0);
    expect(await countOf('LeadImportRow', own.tenantId)).toBe(0);
    expect(await countOf('Lead', own.tenantId)).toBe(0);
  });

  it('refuses a file over IMPORT_MAX_BYTES with 413, keeping nothing', async () => {
    const small = await startApi({ ...CRM_ENV, IMPORT_MAX_BYTES: '4096' });
    try {
      const own = await crmTenant(small, 'Limit IB');
      const rows = Array.from(
        { length: 200 },
        (_, i) => `Lead ${String(i)},lead${String(i)}@example.com`,
      );
      const body = `name,email\n${rows.join('\n')}\n`;
      expect(Buffer.byteLength(body)).toBeGreaterThan(4096);
      const res = await fetch(`${small.url}/v1/leads/imports`, {
        method: 'POST',
        headers: { ...bearer(own.token), 'content-type': 'text/csv' },
        body,
      });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'PAYLOAD_TOO_LARGE',
      );
      const fits = await fetch(`${small.url}/v1/leads/imports`, {
        method: 'POST',
        headers: { ...bearer(own.token), 'content-type': 'text/csv' },
        body: `name,email\n${rows.slice(0, 10).join('\n')}\n`,
      });
      expect(fits.status).toBe(201);
      expect(await countOf('LeadImport', own.tenantId)).toBe(1);
      expect(await countOf('LeadImportRow', own.tenantId)).toBe(10);
    } finally {
      await small.close();
    }
  });

  it('text/csv is still 415 on every other route', async () => {
    const res = await fetch(`${api.url}/v1/leads`, {
      method: 'POST',
      headers: { ...bearer(tenant.token), 'content-type': 'text/csv' },
      body: 'displayName\nx\n',
    });
    expect(res.status).toBe(415);
  });

  it('an API key with only leads:import uploads, starts, follows and reads its error report', async () => {
    const { key } = await createApiKey(api, tenant.owner, ['leads:import']);
    const asKey: CrmCaller = {
      ...tenant,
      token: key,
      call: (method, path, body, headers = {}) =>
        tenant.call(method, path, body, { ...headers, ...bearer(key) }),
    };
    const file = await uploaded(
      asKey,
      csvOf([
        ['name', 'phone'],
        ['Kira Key', ''],
        ['Bad Phone', '12'],
      ]),
    );
    const before = await asKey.call('GET', `/v1/leads/imports/${file.id}/errors.csv`);
    expect(before.status, before.text).toBe(404);
    const started = await asKey.call('POST', `/v1/leads/imports/${file.id}/start`, {
      onExisting: 'skip',
    });
    expect(started.status, started.text).toBe(202);
    const view = await finished(asKey, file.id);
    expect(view.counts).toEqual({ created: 1, updated: 0, skipped: 0, failed: 1 });
    const rows = await errorReport(tenant, view);
    const res = await asKey.call('GET', String(view.errorReportUrl));
    expect(res.status, res.text).toBe(200);
    expect(parse(res.text)).toEqual(rows);
    expect(rows[1]?.slice(0, 2)).toEqual(['2', 'phone']);
    // The job's own routes need leads:read, which this key lacks.
    const job = await asKey.call('GET', `/v1/jobs/${String(view.jobId)}/errors.csv`);
    expect(job.status).toBe(403);
  });

  it('another tenant’s import is a 404 like a missing one, and stays as it was', async () => {
    const other = await crmTenant(api, 'Other IB');
    const theirs = await uploaded(other, csvOf([['name'], ['Theirs']]));
    for (const [method, path, body] of [
      ['GET', `/v1/leads/imports/${theirs.id}`, undefined],
      ['POST', `/v1/leads/imports/${theirs.id}/start`, { onExisting: 'skip' }],
      ['DELETE', `/v1/leads/imports/${theirs.id}`, undefined],
      ['GET', `/v1/leads/imports/${theirs.id}/errors.csv`, undefined],
      ['GET', `/v1/leads/imports/${randomUUID()}`, undefined],
      ['POST', `/v1/leads/imports/${randomUUID()}/start`, { onExisting: 'skip' }],
    ] as const) {
      const res = await tenant.call<{ error: { code: string } }>(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
    const still = await other.call<ImportView>('GET', `/v1/leads/imports/${theirs.id}`);
    expect(still.body).toMatchObject({ status: 'uploaded', jobId: null });
  });

  it('answers hostile input with a 4xx naming the problem, changing nothing', async () => {
    const own = await crmTenant(api, 'Hostile IB');
    const file = await uploaded(
      own,
      csvOf([
        ['name', 'email'],
        ['Safe', 'safe@example.com'],
      ]),
    );
    const bodies: [unknown, string][] = [
      [{ onExisting: 'skip', extra: 1 }, 'body'],
      [{ onExisting: 'merge' }, 'body.onExisting'],
      [{}, 'body.onExisting'],
      [{ onExisting: 'skip', confirm: 'yes' }, 'body.confirm'],
      [{ onExisting: 'skip', mapping: ['name'] }, 'body.mapping'],
      [{ onExisting: 'skip', mapping: { name: 42 } }, 'body.mapping.name'],
      [
        { onExisting: 'skip', mapping: { name: 'displayName\'; DROP TABLE "Lead"; --' } },
        'body.mapping.name',
      ],
      [{ onExisting: 'skip', mapping: { "x' OR '1'='1": 'email' } }, "body.mapping.x' OR '1'='1"],
      [{ onExisting: 'skip', mapping: { name: 'x'.repeat(500_000) } }, 'body.mapping.name'],
      [[1, 2, 3], 'body'],
    ];
    for (const [body, field] of bodies) {
      const res = await own.call<{ error: { code: string; message: string } }>(
        'POST',
        `/v1/leads/imports/${file.id}/start`,
        body,
      );
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error.message, JSON.stringify(body).slice(0, 80)).toContain(field);
    }
    const big = await own.call('POST', `/v1/leads/imports/${file.id}/start`, {
      onExisting: 'skip',
      mapping: { name: 'n'.repeat(10 * 1024 * 1024) },
    });
    expect(big.status).toBe(413);
    for (const path of ['/v1/leads/imports/not-a-uuid', "/v1/leads/imports/1'%20OR%20'1'='1"]) {
      expect((await own.call('GET', path)).status).toBe(400);
      expect((await own.call('POST', `${path}/start`, { onExisting: 'skip' })).status).toBe(400);
    }
    for (const query of ['?fileName=' + 'x'.repeat(300), '?unknown=1', '?fileName=a&fileName=b']) {
      const res = await upload(own, csvOf([['name'], ['x']]), { query });
      expect(res.status, query).toBe(400);
      expect((res.body.error as { code: string }).code).toBe('VALIDATION_FAILED');
    }
    const sqlName = await upload(
      own,
      csvOf([
        ['name', 'email'],
        ['\'); DELETE FROM "Lead"; --', 'sql@example.com'],
      ]),
      {
        query: `?fileName=${encodeURIComponent('x\'); DROP TABLE "LeadImport"; --.csv')}`,
      },
    );
    expect(sqlName.status).toBe(201);
    const status = await own.call<ImportView>('GET', `/v1/leads/imports/${file.id}`);
    expect(status.body).toMatchObject({ status: 'uploaded', jobId: null });
    expect(await countOf('Lead', own.tenantId)).toBe(0);
  });

  it('deletes an import that is not running, with its staged rows', async () => {
    const own = await crmTenant(api, 'Delete IB');
    const file = await uploaded(own, csvOf([['name'], ['a'], ['b']]));
    expect(await countOf('LeadImportRow', own.tenantId)).toBe(2);
    const res = await own.call('DELETE', `/v1/leads/imports/${file.id}`);
    expect(res.status, res.text).toBe(204);
    expect(await countOf('LeadImportRow', own.tenantId)).toBe(0);
    expect((await own.call('GET', `/v1/leads/imports/${file.id}`)).status).toBe(404);
  });

  it('resumes after a crash from its checkpoint and creates nothing twice; a finished job is done', async () => {
    const own = await crmTenant(api, 'Resume IB');
    const imports = worker.get(ImportService);
    const tracker = worker.get(JobTracker);
    const chunkRows = imports.chunkRows;
    imports.chunkRows = 3;
    const real = tracker.progress.bind(tracker);
    let calls = 0;
    const spy = vi.spyOn(tracker, 'progress').mockImplementation(async (...args) => {
      calls++;
      // The second chunk's transaction dies at its very end (after its leads were written).
      if (calls === 2) throw new Error('injected crash');
      return real(...args);
    });
    try {
      // Names only: a chunk written twice would create duplicate leads.
      const names = Array.from({ length: 10 }, (_, i) => `Resumed lead ${String(i + 1)}`);
      const view = await importCsv(own, csvOf([['name'], ...names.map((n) => [n])]));
      expect(view.counts).toEqual({ created: 10, updated: 0, skipped: 0, failed: 0 });
      expect(view.progress).toEqual({ done: 10, total: 10 });
      expect(calls).toBe(5);
      const { rows } = await sql<{ displayName: string }>(
        'admin',
        'SELECT "displayName" FROM "Lead" WHERE "tenantId" = $1 ORDER BY "displayName"',
        [own.tenantId],
      );
      expect(rows.map((r) => r.displayName)).toEqual([...names].sort());

      // Running the finished job again changes nothing and answers the same result.
      const again = await runWithTenant(
        { tenantId: asTenantId(own.tenantId), actor: { type: 'system', id: 'test' } },
        () => imports.run({ tenantId: own.tenantId, jobId: String(view.jobId), importId: view.id }),
      );
      expect(again).toMatchObject({ created: 10, updated: 0, skipped: 0, failed: 0 });
      expect(await countOf('Lead', own.tenantId)).toBe(10);
      const audit = await own.call<{ items: unknown[] }>(
        'GET',
        '/v1/audit-events?action=lead.imported',
      );
      expect(audit.body.items).toHaveLength(1);
    } finally {
      spy.mockRestore();
      imports.chunkRows = chunkRows;
    }
  });
});
