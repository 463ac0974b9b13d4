import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLICY,
  evaluateReturn,
  mergePolicy,
  PolicyCodes,
  PolicyPatchSchema,
  PolicySchema,
  tenderKindsOf,
  toMilli,
  type EvaluationInput,
  type Policy,
} from '../src/index.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const sold = [
  { line: 1, sku: 'TEE-1', qty: toMilli(2), unitPrice: 2000 },
  { line: 2, sku: 'FOOD-7', qty: toMilli(1), unitPrice: 500 },
  { line: 3, sku: 'TV-55', qty: toMilli(1), unitPrice: 80_000 },
];
const policy = (patch: Parameters<typeof mergePolicy>[1] = {}): Policy => mergePolicy(DEFAULT_POLICY, patch);
const input = (over: Partial<EvaluationInput> = {}): EvaluationInput => ({
  policy: policy(),
  mode: 'online',
  now: NOW,
  sale: { at: '2026-11-20T10:00:00Z', channel: 'store', lines: sold, tenderKinds: ['card'] },
  noReceipt: false,
  claimed: new Map(),
  requested: [{ line: 1, qty: 1 }],
  approvedToday: { store: 0, register: 0 },
  ...over,
});

describe('policy schema', () => {
  it('has defaults, merges store overrides deeply, and refuses unknown keys', () => {
    expect(DEFAULT_POLICY.returnWindowDays).toBe(30);
    const p = mergePolicy(DEFAULT_POLICY, {
      offline: { maxRefundPerReturn: 5 },
      nonReturnable: { prefixes: ['FOOD-'] },
    });
    expect(p.offline).toEqual({ maxRefundPerReturn: 5, maxRefundPerRegisterPerDay: 50_000, receiptRequired: true });
    expect(p.nonReturnable).toEqual({ skus: [], prefixes: ['FOOD-'] });
    expect(PolicyPatchSchema.safeParse({ windowDays: 3 }).success).toBe(false);
    expect(PolicySchema.safeParse({ ...DEFAULT_POLICY, returnWindowDays: -1 }).success).toBe(false);
  });
});

describe('evaluateReturn: each rule and its code', () => {
  it('approves a plain return, refund to the card or store credit', () => {
    const e = evaluateReturn(input());
    expect(e).toMatchObject({
      decision: 'approved',
      refundAmount: 2000,
      allowedTenders: ['card', 'store_credit'],
      conditions: [],
      rules: [],
    });
  });

  it('outside the window: a manager may override, or a denial when not overridable', () => {
    const late = input({ sale: { at: '2026-09-01T10:00:00Z', channel: 'store', lines: sold, tenderKinds: ['card'] } });
    const e = evaluateReturn(late);
    expect(e.decision).toBe('override_required');
    expect(e.rules.map((r) => r.code)).toContain(PolicyCodes.OUTSIDE_WINDOW);
    expect(evaluateReturn({ ...late, overridden: true })).toMatchObject({
      decision: 'approved',
      rules: expect.arrayContaining([expect.objectContaining({ code: PolicyCodes.OVERRIDDEN })]),
    });
    const hard = evaluateReturn({ ...late, policy: policy({ windowOverridable: false }) });
    expect(hard).toMatchObject({ decision: 'denied', lines: [{ code: PolicyCodes.OUTSIDE_WINDOW, approvedMilli: 0 }] });
  });

  it('non-returnable SKUs by list and by prefix refuse their lines only', () => {
    const e = evaluateReturn(
      input({
        policy: policy({ nonReturnable: { prefixes: ['FOOD-'] } }),
        requested: [
          { line: 1, qty: 1 },
          { line: 2, qty: 1 },
        ],
      }),
    );
    expect(e).toMatchObject({ decision: 'approved', refundAmount: 2000 });
    expect(e.lines[1]).toMatchObject({ code: PolicyCodes.NON_RETURNABLE, approvedMilli: 0 });
    expect(evaluateReturn(input({ policy: policy({ nonReturnable: { skus: ['TEE-1'] } }) })).decision).toBe('denied');
  });

  it('restocking fees by SKU prefix come off the refund', () => {
    const e = evaluateReturn(
      input({
        policy: policy({ restockingFees: [{ skuPrefix: 'TV-', percent: 15 }] }),
        requested: [{ line: 3, qty: 1 }],
      }),
    );
    expect(e).toMatchObject({ grossRefund: 80_000, fees: 12_000, refundAmount: 68_000 });
    expect(e.rules[0]).toMatchObject({ code: PolicyCodes.RESTOCKING_FEE, line: 3 });
  });

  it('max refund per return denies; the manager threshold and the store daily limit ask for an override', () => {
    expect(evaluateReturn(input({ policy: policy({ maxRefundPerReturn: 1000 }) }))).toMatchObject({
      decision: 'denied',
      lines: [{ code: PolicyCodes.MAX_REFUND_EXCEEDED }],
    });
    expect(evaluateReturn(input({ policy: policy({ managerOverrideAbove: 1500 }) })).decision).toBe(
      'override_required',
    );
    const daily = evaluateReturn(
      input({ policy: policy({ maxRefundPerStorePerDay: 10_000 }), approvedToday: { store: 9000, register: 0 } }),
    );
    expect(daily.decision).toBe('override_required');
    expect(daily.rules.map((r) => r.code)).toEqual([PolicyCodes.STORE_DAILY_LIMIT]);
  });

  it('tender rules: card sales to the card or store credit; cash to cash up to a limit, else store credit only', () => {
    const cash = (refund: number) =>
      input({
        policy: policy({ tenders: { cashRefundLimit: 1500 } }),
        sale: {
          at: '2026-11-20T10:00:00Z',
          channel: 'store',
          lines: [{ line: 1, sku: 'X', qty: 1000, unitPrice: refund }],
          tenderKinds: ['cash'],
        },
      });
    expect(evaluateReturn(cash(1000))).toMatchObject({
      decision: 'approved',
      allowedTenders: ['cash', 'store_credit'],
    });
    expect(evaluateReturn(cash(2000))).toMatchObject({
      decision: 'conditional',
      allowedTenders: ['store_credit'],
      conditions: [PolicyCodes.STORE_CREDIT_ONLY],
    });
    expect(evaluateReturn(input({ policy: policy({ tenders: { cardToSameCard: false } }) })).allowedTenders).toEqual([
      'card',
      'cash',
      'store_credit',
    ]);
    expect(
      evaluateReturn(
        input({ sale: { at: '2026-11-20T10:00:00Z', channel: 'web', lines: sold, tenderKinds: ['card'] } }),
      ).allowedTenders,
    ).toEqual(['card', 'original_payment', 'store_credit']);
  });

  it('non-receipted returns: refused when receipts are required, else store credit with ID up to an amount', () => {
    const nr = (p: Policy, unitPrice: number) =>
      evaluateReturn(
        input({ policy: p, sale: undefined, noReceipt: true, requested: [{ sku: 'TEE-1', qty: 1, unitPrice }] }),
      );
    expect(nr(policy(), 100)).toMatchObject({ decision: 'denied', lines: [{ code: PolicyCodes.RECEIPT_REQUIRED }] });
    const open = policy({ receipt: { required: false, noReceiptMaxRefund: 2500 } });
    expect(nr(open, 2000)).toMatchObject({
      decision: 'conditional',
      allowedTenders: ['store_credit'],
      conditions: [PolicyCodes.STORE_CREDIT_ONLY, PolicyCodes.ID_REQUIRED],
      refundAmount: 2000,
    });
    expect(nr(open, 3000)).toMatchObject({ decision: 'denied', lines: [{ code: PolicyCodes.NO_RECEIPT_LIMIT }] });
  });

  it('offline limits: per return, per register per day, receipts required, no overrides', () => {
    const off = (over: Partial<EvaluationInput>) => evaluateReturn(input({ mode: 'offline', ...over }));
    expect(off({})).toMatchObject({ decision: 'approved' });
    expect(off({ policy: policy({ offline: { maxRefundPerReturn: 1000 } }) })).toMatchObject({
      decision: 'denied',
      lines: [{ code: 'offline_limit_exceeded' }],
    });
    expect(off({ approvedToday: { store: 0, register: 49_000 } })).toMatchObject({
      decision: 'denied',
      lines: [{ code: PolicyCodes.OFFLINE_REGISTER_DAILY_LIMIT }],
    });
    expect(
      off({
        sale: undefined,
        noReceipt: true,
        requested: [{ sku: 'A', qty: 1, unitPrice: 1 }],
        policy: policy({ receipt: { required: false, noReceiptMaxRefund: 10 } }),
      }),
    ).toMatchObject({ decision: 'denied', lines: [{ code: PolicyCodes.OFFLINE_RECEIPT_REQUIRED }] });
    expect(off({ policy: policy({ managerOverrideAbove: 100 }) })).toMatchObject({
      decision: 'denied',
      lines: [{ code: PolicyCodes.OVERRIDE_UNAVAILABLE_OFFLINE }],
    });
  });

  it('exchanges: approved when the store has the stock, refused (conditional) when it does not, never offline', () => {
    const ex = evaluateReturn(
      input({
        exchange: [
          { sku: 'TEE-2', qty: 1, availableMilli: 1000 },
          { sku: 'TEE-3', qty: 2, availableMilli: 1000 },
        ],
      }),
    );
    expect(ex.decision).toBe('conditional');
    expect(ex.exchange).toEqual([
      { sku: 'TEE-2', qty: 1, approvedQty: 1, code: 'ok' },
      { sku: 'TEE-3', qty: 2, approvedQty: 0, code: PolicyCodes.OUT_OF_STOCK },
    ]);
    expect(evaluateReturn(input({ mode: 'offline', exchange: [{ sku: 'TEE-2', qty: 1 }] })).exchange[0]!.code).toBe(
      PolicyCodes.EXCHANGE_UNAVAILABLE_OFFLINE,
    );
  });

  it("a receipt that is not found denies with the caller's code", () => {
    expect(
      evaluateReturn(input({ sale: undefined, notFoundCode: 'receipt_unknown_offline', mode: 'offline' })),
    ).toMatchObject({ decision: 'denied', lines: [{ code: 'receipt_unknown_offline' }] });
  });
});

describe('sync settings patches', () => {
  it('carry only the keys given (no defaults filled in), and refuse unknown keys', async () => {
    const { SyncSettingsPatchSchema, SyncSettingsSchema } = await import('../src/sync-settings.js');
    expect(SyncSettingsPatchSchema.parse({ uploadMode: 'batched' })).toEqual({ uploadMode: 'batched' });
    expect(SyncSettingsPatchSchema.safeParse({ uploadmode: 'batched' }).success).toBe(false);
    expect(SyncSettingsPatchSchema.safeParse({ uploadIntervalSeconds: 0 }).success).toBe(false);
    // every key of the whole can be changed by a patch
    expect(Object.keys(SyncSettingsPatchSchema.shape).sort()).toEqual(Object.keys(SyncSettingsSchema.shape).sort());
  });
});

describe('tender kinds of a sale', () => {
  it("are its tenders' kinds, lower-cased, each once, in order; none for nameless ones", () => {
    expect(tenderKindsOf([{ kind: 'Card' }, { kind: 'cash' }, { kind: 'CARD' }, { kind: '' }, {}])).toEqual([
      'card',
      'cash',
    ]);
    expect(tenderKindsOf([])).toEqual([]);
  });
});
