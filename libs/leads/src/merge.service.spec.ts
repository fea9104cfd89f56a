import { describe, expect, it } from 'vitest';
import { planMerge, type LockedLead } from './merge.service.js';

const S = '01a20000-0000-7000-8000-000000000001';
const A = '01a20000-0000-7000-8000-000000000002';
const B = '01a20000-0000-7000-8000-000000000003';

const lead = (id: string, values: Partial<LockedLead> = {}): LockedLead => ({
  id,
  displayName: `Lead ${id.slice(-1)}`,
  telegramUserId: null,
  telegramUsername: null,
  phone: null,
  email: null,
  language: null,
  country: null,
  ownerId: null,
  stageId: '01a20000-0000-7000-8000-0000000000aa',
  sourceDetails: {},
  customFields: {},
  phoneNational: null,
  emailLocal: null,
  mergedIntoId: null,
  ...values,
});

describe('planMerge', () => {
  it('keeps the survivor’s values and takes nothing when it has them all', () => {
    const survivor = lead(S, { phone: '+33612345678', phoneNational: '612345678', country: 'FR' });
    const plan = planMerge(survivor, [lead(A, { phone: '+34612345678', country: 'ES' })]);
    expect(plan.values).toMatchObject({
      displayName: 'Lead 1',
      phone: '+33612345678',
      phoneNational: '612345678',
      country: 'FR',
    });
    expect(plan.taken).toEqual({});
  });

  it('fills each gap from the first merged lead, in the order given, that has a value', () => {
    const plan = planMerge(lead(S), [
      lead(A, { language: 'fr', sourceDetails: {} }),
      lead(B, { language: 'ru', country: 'DE', sourceDetails: { chatTitle: 'Signals' } }),
    ]);
    expect(plan.values).toMatchObject({
      language: 'fr',
      country: 'DE',
      sourceDetails: { chatTitle: 'Signals' },
    });
    expect(plan.taken).toEqual({ language: A, country: B, sourceDetails: B });
  });

  it('honours picks, even of an empty value, and carries the duplicate keys with their field', () => {
    const survivor = lead(S, { email: 's@example.com', emailLocal: 's', phone: '+4930123456' });
    const merged = lead(A, {
      displayName: 'Picked Name',
      email: 'a@example.com',
      emailLocal: 'a',
      phoneNational: null,
    });
    const plan = planMerge(survivor, [merged], {
      displayName: A.toUpperCase(),
      email: A,
      phone: A,
    });
    expect(plan.values).toMatchObject({
      displayName: 'Picked Name',
      email: 'a@example.com',
      emailLocal: 'a',
      phone: null,
      phoneNational: null,
    });
    expect(plan.taken).toEqual({ displayName: A, email: A, phone: A });
  });

  it('merges custom fields key by key, with picks per key', () => {
    const plan = planMerge(
      lead(S, { customFields: { tier: 'gold', empty: null } }),
      [
        lead(A, { customFields: { tier: 'silver', region: 'EU', empty: 'x' } }),
        lead(B, { customFields: { region: 'APAC', broker: 'Exness' } }),
      ],
      { customFields: { tier: A, broker: S, missing: B } },
    );
    expect(plan.values.customFields).toEqual({ tier: 'silver', region: 'EU', empty: 'x' });
    expect(plan.taken).toEqual({
      'customFields.tier': A,
      'customFields.region': A,
      'customFields.empty': A,
    });
  });
});
