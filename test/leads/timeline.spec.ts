import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimelineService } from '@ibhq/leads';
import { asTenant, createTenantRow, sql } from '../support/db.js';
import { startApi, type RunningApi } from '../support/apps.js';
import { TenantDb } from '@ibhq/db';

describe('TimelineService.record', () => {
  let api: RunningApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it('inserts set-based, skips known external keys, joins transactions', async () => {
    const tenant = await createTenantRow('tl');
    const lead = (await api.request('POST', '/v1/leads', { tenant, body: { displayName: 'x' } }))
      .body as { id: string };
    const timeline = api.app.get(TimelineService);
    const db = api.app.get(TenantDb);
    const first = await asTenant(tenant, () =>
      timeline.record([
        { leadId: lead.id, kind: 'note', body: 'a' },
        { leadId: lead.id, kind: 'message_in', body: 'b', externalKey: 'k1', data: { x: 1 } },
        { leadId: lead.id, kind: 'message_in', body: 'b2', externalKey: 'k1' },
        { leadId: lead.id, kind: 'task', body: 't', dueAt: new Date('2030-01-01T00:00:00Z') },
      ]),
    );
    expect(first[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(first[2]).toBeNull();
    expect(first.filter(Boolean)).toHaveLength(3);
    const again = await asTenant(tenant, () =>
      timeline.record([{ leadId: lead.id, kind: 'message_in', externalKey: 'k1' }]),
    );
    expect(again).toEqual([null]);
    await expect(
      asTenant(tenant, () =>
        db.transaction(async () => {
          await timeline.record([{ leadId: lead.id, kind: 'note', body: 'rolled back' }]);
          throw new Error('boom');
        }),
      ),
    ).rejects.toThrow('boom');
    const rows = await sql<{
      kind: string;
      body: string;
      actorType: string;
      dueAt: Date | null;
      data: unknown;
    }>(
      'admin',
      `SELECT kind, body, "actorType", "dueAt", data FROM "LeadActivity" WHERE "leadId" = $1 AND kind <> 'system' ORDER BY id`,
      [lead.id],
    );
    expect(rows.rows.map((r) => r.body)).toEqual(['a', 'b', 't']);
    expect(rows.rows[1]?.data).toEqual({ x: 1 });
    expect(rows.rows[0]?.actorType).toBe('system');
  });
});
