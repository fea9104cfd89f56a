import { describe, expect, it } from 'vitest';
import { planChunk, type ExistingLead } from './chunk-plan.js';
import type { ImportContext, ImportedLead } from './row-validation.js';

const STAGE = '0190a000-0000-7000-8000-0000000000a1';
const FUNDED = '0190a000-0000-7000-8000-0000000000a2';
const ctx: ImportContext = {
  definitions: [],
  stages: new Map(),
  members: new Set(),
  memberEmails: new Map(),
};

const existing: ExistingLead = {
  id: 'lead-a',
  displayName: 'Anna',
  telegramUserId: null,
  telegramUsername: 'Anna_K',
  phone: '+447911123001',
  phoneNational: '7911123001',
  email: null,
  emailLocal: null,
  language: null,
  country: 'GB',
  source: 'manual',
  ownerId: null,
  stageId: STAGE,
  customFields: { budget: 1 },
  tags: ['vip'],
};
const other: ExistingLead = {
  ...existing,
  id: 'lead-b',
  displayName: 'Boris',
  telegramUsername: null,
  phone: null,
  phoneNational: null,
  email: 'boris@example.com',
  emailLocal: 'boris',
};

const row = (rowNumber: number, lead: Partial<ImportedLead>) => ({
  rowNumber,
  lead: { tags: [], customFields: {}, ...lead },
});

function ids() {
  let n = 0;
  return () => `new-${String(++n)}`;
}

describe('planChunk', () => {
  it('creates new leads with the defaults, and skips rows whose identity exists', () => {
    const plan = planChunk(
      [
        row(1, { displayName: 'New', email: 'new@example.com', emailLocal: 'new', tags: ['x'] }),
        row(2, { displayName: 'Anna again', telegramUsername: 'anna_k' }),
        row(3, { displayName: 'New twice', email: 'new@example.com', emailLocal: 'new' }),
      ],
      [existing, other],
      { onExisting: 'skip', ctx, defaultStageId: STAGE, newId: ids() },
    );
    expect(plan).toMatchObject({ created: 1, updated: 0, skipped: 2, failures: [], updates: [] });
    expect(plan.creates).toEqual([
      {
        rowNumber: 1,
        id: 'new-1',
        state: {
          displayName: 'New',
          telegramUserId: null,
          telegramUsername: null,
          phone: null,
          phoneNational: null,
          email: 'new@example.com',
          emailLocal: 'new',
          language: null,
          country: null,
          source: 'import',
          ownerId: null,
          stageId: STAGE,
          customFields: {},
          tags: ['x'],
        },
      },
    ]);
  });

  it('fails a row whose identities belong to two leads, naming the second', () => {
    const plan = planChunk(
      [row(7, { phone: '+447911123001', email: 'boris@example.com' })],
      [existing, other],
      { onExisting: 'update', ctx, defaultStageId: STAGE, newId: ids() },
    );
    expect(plan.failures).toEqual([
      {
        rowNumber: 7,
        problems: [{ field: 'email', reason: "belongs to another lead than the row's phone" }],
      },
    ]);
    expect(plan).toMatchObject({ created: 0, updated: 0, skipped: 0, creates: [], updates: [] });
  });

  it('updates with the fields given, adds tags, merges custom fields; unchanged is skipped', () => {
    const plan = planChunk(
      [
        row(1, { phone: '+447911123001', displayName: 'Anna K', tags: ['VIP', 'new'] }),
        row(2, { telegramUsername: 'ANNA_K', stageId: FUNDED, customFields: { size: 'L' } }),
        row(3, { email: 'boris@example.com', displayName: 'Boris' }),
      ],
      [existing, other],
      { onExisting: 'update', ctx, defaultStageId: STAGE, newId: ids() },
    );
    expect(plan).toMatchObject({ created: 0, updated: 2, skipped: 1, failures: [] });
    expect(plan.updates).toHaveLength(1);
    const [update] = plan.updates;
    expect(update?.state).toMatchObject({
      displayName: 'Anna K',
      telegramUsername: 'ANNA_K',
      stageId: FUNDED,
      customFields: { budget: 1, size: 'L' },
      tags: ['vip', 'new'],
    });
    const diff = update?.diff;
    expect(diff).toEqual({
      fields: {
        displayName: { from: 'Anna', to: 'Anna K' },
        telegramUsername: { from: 'Anna_K', to: 'ANNA_K' },
        'customFields.size': { from: null, to: 'L' },
      },
      tagsAdded: ['new'],
      owner: null,
      stage: { from: STAGE, to: FUNDED },
    });
  });

  it('lets a later row of the file update the lead an earlier row creates', () => {
    const plan = planChunk(
      [
        row(1, { displayName: 'Kim', telegramUsername: 'kim_lee' }),
        row(2, { telegramUsername: 'kim_lee', email: 'kim@example.com', emailLocal: 'kim' }),
        row(3, { email: 'kim@example.com', tags: ['late'] }),
      ],
      [],
      { onExisting: 'update', ctx, defaultStageId: STAGE, newId: ids() },
    );
    expect(plan).toMatchObject({ created: 1, updated: 2, skipped: 0, updates: [] });
    expect(plan.creates).toHaveLength(1);
    expect(plan.creates[0]?.state).toMatchObject({
      displayName: 'Kim',
      telegramUsername: 'kim_lee',
      email: 'kim@example.com',
      tags: ['late'],
    });
  });

  it('fails a new lead without a name or identity', () => {
    const plan = planChunk([row(4, { language: 'en' })], [], {
      onExisting: 'skip',
      ctx,
      defaultStageId: STAGE,
      newId: ids(),
    });
    expect(plan.failures).toEqual([
      {
        rowNumber: 4,
        problems: [
          {
            field: 'displayName',
            reason: 'is required for a new lead (or a username, e-mail, phone or Telegram id)',
          },
        ],
      },
    ]);
  });
});
