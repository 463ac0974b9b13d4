import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { panHmac, type AuthorizeRequestBody, type ReturnDecisionEventBody } from '@tillbridge/shared';
import { salesImport } from '../src/imports/sales-import.js';
import { recordSale, seedSale, hubForEachTest } from './helpers.js';
import { offlineApproval } from './returns-support.js';

// 2 × A at 1000, sold 2026-11-27T09:00Z, paid cash
const t = hubForEachTest({ S2: 'S2' }, ({ hub }) => seedSale(hub, 'S1', 'X1', 2));

let n = 0;
const req = (lines: AuthorizeRequestBody['lines'], over: Partial<AuthorizeRequestBody> = {}): AuthorizeRequestBody => ({
  authorization: `auth-${++n}`,
  after: 0,
  register: 'R1',
  requestId: `q-${n}`,
  receipt: 'X1',
  lines,
  ...over,
});
const one = (qty = 1) => [{ line: 1, qty, disposition: 'restock' as const }];
const complete = (
  store: string,
  authorization: string,
  lines: { line: number; qty: number }[],
  kind = 'cash',
  amount = 0,
) =>
  t.hub.storage.tx(() =>
    t.hub.completion.complete(store, 'R1', {
      authorization,
      requestId: `c-${authorization}`,
      lines,
      refund: { kind, amount },
    }),
  );

describe('graded decisions and the return ticket', () => {
  it(
    'asks for a manager above the threshold; ' + 'a wrong code changes nothing, the right one approves; both audited',
    () => {
      t.hub.policies.set(undefined, { managerOverrideAbove: 1500 }, 'admin:test');
      t.hub.managers.set('M-ANNA', 'Anna', '4711');
      const r = t.hub.engine.authorize('S1', req(one(2)));
      expect(r).toMatchObject({ decision: 'override_required', refundAmount: 2000, lines: [{ approvedQty: 2 }] });
      const wrong = t.hub.engine.override('S1', {
        authorization: r.authorization,
        requestId: 'o1',
        manager: 'M-ANNA',
        code: '0000',
      });
      expect(wrong).toMatchObject({ decision: 'override_required', reason: 'manager M-ANNA: code not accepted' });
      const right = t.hub.engine.override('S1', {
        authorization: r.authorization,
        requestId: 'o2',
        manager: 'M-ANNA',
        code: '4711',
      });
      expect(right).toMatchObject({ decision: 'approved', refundAmount: 2000 });
      expect(t.hub.returnsRepo.get(r.authorization)).toMatchObject({ decision: 'approved', override_by: 'M-ANNA' });
      const audit = t.hub.audit.tail(10).filter((e) => e.action === 'return.override');
      expect(audit.map((e) => [e.actor, e.outcome])).toEqual([
        ['manager:M-ANNA', 'refused'],
        ['manager:M-ANNA', 'accepted'],
      ]);
      expect(() =>
        t.hub.engine.override('S1', { authorization: 'nope', requestId: 'o3', manager: 'M-ANNA', code: '4711' }),
      ).toThrow(/not known/);
      // a removed manager's code no longer works
      t.hub.engine.authorize('S1', req([{ line: 1, qty: 0.5, disposition: 'restock' }], { receipt: 'X1' }));
      t.hub.managers.remove('M-ANNA');
      seedSale(t.hub, 'S1', 'X9', 2);
      const r3 = t.hub.engine.authorize('S1', req(one(2), { receipt: 'X9' }));
      expect(
        t.hub.engine.override('S1', {
          authorization: r3.authorization,
          requestId: 'o4',
          manager: 'M-ANNA',
          code: '4711',
        }).decision,
      ).toBe('override_required');
    },
  );

  it('stores every request as a ticket with the rules that fired, the policy version and the money', () => {
    const v = t.hub.policies.set(
      'S1',
      { restockingFees: [{ skuPrefix: 'A', percent: 10 }], tenders: { cashRefundLimit: 500 } },
      'admin:test',
    );
    const r = t.hub.engine.authorize('S1', req(one(1)));
    expect(r).toMatchObject({
      decision: 'conditional',
      refundAmount: 900,
      allowedTenders: ['store_credit'],
      conditions: ['store_credit_only'],
      policyVersion: v,
    });
    const row = t.hub.returnsRepo.get(r.authorization)!;
    expect((JSON.parse(row.rules) as { code: string }[]).map((x) => x.code)).toEqual([
      'restocking_fee',
      'store_credit_only',
    ]);
    expect(row).toMatchObject({ gross_refund: 1000, fees: 100, refund_amount: 900, policy_version: v });
    const denied = t.hub.engine.authorize('S1', req(one(1), { receipt: 'NOPE' }));
    expect(t.hub.returnsRepo.get(denied.authorization)).toMatchObject({ decision: 'denied', status: 'denied' });
  });

  it('refuses a completion to a tender the decision did not allow, keeping it as an exception', () => {
    t.hub.policies.set(undefined, { tenders: { cashRefundLimit: 500 } }, 'admin:test');
    const r = t.hub.engine.authorize('S1', req(one(1)));
    expect(complete('S1', r.authorization, [{ line: 1, qty: 1 }], 'cash', 1000)).toEqual({
      exception: 'tender_not_allowed',
    });
  });

  it('a completed return is partial until, with earlier ones, every line is returned: then full', () => {
    const a = t.hub.engine.authorize('S1', req(one(1)));
    complete('S1', a.authorization, [{ line: 1, qty: 1 }], 'cash', 1000);
    expect(t.hub.returnsRepo.get(a.authorization)!.kind).toBe('partial');
    const b = t.hub.engine.authorize('S2', req(one(1)));
    complete('S2', b.authorization, [{ line: 1, qty: 1 }], 'cash', 1000);
    expect(t.hub.returnsRepo.get(b.authorization)!.kind).toBe('full');
  });
});

describe('exchanges against live stock', () => {
  it(
    'approves an exchange only with stock, holds it, ' +
      'and two requests racing for the last unit: exactly one gets it',
    () => {
      t.hub.storage.tx(() => t.hub.ledger.setOnHand('S1', 'B', 1000, 'test'));
      seedSale(t.hub, 'S1', 'X2', 2);
      const first = t.hub.engine.authorize('S1', req(one(1), { exchange: [{ sku: 'B', qty: 1 }] }));
      const second = t.hub.engine.authorize('S1', req(one(1), { receipt: 'X2', exchange: [{ sku: 'B', qty: 1 }] }));
      expect(first).toMatchObject({ decision: 'approved', exchange: [{ sku: 'B', approvedQty: 1, code: 'ok' }] });
      expect(second).toMatchObject({
        decision: 'conditional',
        conditions: ['exchange_unavailable'],
        exchange: [{ sku: 'B', approvedQty: 0, code: 'out_of_stock' }],
      });
      // completion moves the returned item in and the exchanged item out, in one transaction
      const before = { a: t.hub.ledger.get('S1', 'A')!.onHand, b: t.hub.ledger.get('S1', 'B')!.onHand };
      complete('S1', first.authorization, [{ line: 1, qty: 1 }], 'cash', 0);
      expect(t.hub.ledger.get('S1', 'A')!.onHand).toBe(before.a + 1000);
      expect(t.hub.ledger.get('S1', 'B')!.onHand).toBe(before.b - 1000);
      // the ledger still adds up
      expect(t.hub.ledger.sumOfMovements('S1', 'B')).toBe(t.hub.ledger.get('S1', 'B')!.onHand);
    },
  );
});

describe('every channel, and returns by card', () => {
  it('validates a web order returned in a store like any receipt', async () => {
    t.hub.stores.create('WEB', 'Web shop');
    const jsonl = [
      JSON.stringify({
        store: 'WEB',
        channel: 'web',
        receipt: 'W-1',
        at: '2026-11-26T10:00:00Z',
        currency: 'EUR',
        lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 2500 }],
        tenders: [{ kind: 'card', amount: 2500, pan: '4111111111111111' }],
      }),
      '',
    ].join('\n');
    const importSales = (text: string) =>
      t.hub.imports.run(salesImport(t.hub), { actor: 'admin:test', body: Readable.from([Buffer.from(text)]) });
    expect(await importSales(jsonl)).toMatchObject({ imported: 1, skipped: [], stores: ['WEB'] });
    expect((await importSales(jsonl)).skipped).toHaveLength(1); // a second import skips it
    await expect(importSales('{"store":"WEB"}\n')).rejects.toThrow(/line 1: /);
    const stored = t.hub.sales.get('WEB', 'W-1')!;
    expect(JSON.stringify(stored.tenders)).not.toContain('4111111111111111');
    const r = t.hub.engine.authorize('S1', req(one(1), { receipt: 'W-1' }));
    expect(r).toMatchObject({
      decision: 'approved',
      refundAmount: 2500,
      allowedTenders: ['card', 'original_payment', 'store_credit'],
    });
  });

  it('finds the sale by the card it was paid with (a keyed hash, never the number)', () => {
    const hash = panHmac(t.hub.cardKey, '5500000000000004');
    recordSale(t.hub, 'S1', {
      receipt: 'CARD-1',
      sku: 'C',
      qty: 1,
      unitPrice: 700,
      at: '2026-11-26T09:00:00Z',
      tenders: [{ kind: 'card', amount: 700, pan: '550000******0004', panHash: hash }],
      requestId: 'm',
      eventId: 'e-card',
    });
    const r = t.hub.engine.authorize(
      'S2',
      req([{ sku: 'C', qty: 1, disposition: 'restock' }], { receipt: undefined, cardHash: hash }),
    );
    expect(r).toMatchObject({
      decision: 'approved',
      resolvedReceipt: 'CARD-1',
      lines: [{ line: 1, sku: 'C', approvedQty: 1 }],
    });
    const none = t.hub.engine.authorize(
      'S2',
      req([{ sku: 'C', qty: 1, disposition: 'restock' }], {
        receipt: undefined,
        cardHash: panHmac(t.hub.cardKey, '4000000000000002'),
      }),
    );
    expect(none.decision).toBe('denied');
  });
});

describe('offline decisions reconciled against the hub', () => {
  const apply = (b: ReturnDecisionEventBody, store = 'S1') =>
    t.hub.storage.tx(() => t.hub.reconciler.apply(store, 'R1', b));

  it('confirms what fits', () => {
    expect(apply(offlineApproval('o-ok', 'X1'))).toEqual({});
    expect(t.hub.returnsRepo.get('o-ok')).toMatchObject({ reconciliation: 'confirmed', exception_code: null });
  });

  it.each([
    ['over_return', () => t.hub.engine.authorize('S2', req(one(2))), offlineApproval('o-over', 'X1')],
    [
      'non_returnable',
      () => t.hub.policies.set(undefined, { nonReturnable: { skus: ['A'] } }, 'admin:t'),
      offlineApproval('o-nr', 'X1'),
    ],
    [
      'outside_window',
      () => t.hub.policies.set(undefined, { returnWindowDays: 0, windowOverridable: false }, 'admin:t'),
      offlineApproval('o-win', 'X1'),
    ],
    [
      'limit_exceeded',
      () => t.hub.policies.set('S1', { maxRefundPerReturn: 500 }, 'admin:t'),
      offlineApproval('o-lim', 'X1'),
    ],
    ['receipt_not_found', () => undefined, offlineApproval('o-rnf', 'GHOST')],
  ])('flags %s, keeps the return, and lists it', (code, setup, body) => {
    const version = setup(); // a policy change: the version the agent decided by
    expect(apply({ ...body, policyVersion: typeof version === 'number' ? version : 0 })).toEqual({ exception: code });
    expect(t.hub.returnsRepo.get(body.authorization)).toMatchObject({
      reconciliation: 'exception',
      exception_code: code,
      status: 'reserved',
    });
    expect(t.hub.exceptions.forStore('S1').map((e) => e.code)).toContain(code);
  });

  it('resolution: accept keeps the return as it is; reverse moves the stock back; both audited', () => {
    t.hub.engine.authorize('S2', req(one(2)));
    apply(offlineApproval('o-1', 'X1'));
    seedSale(t.hub, 'S1', 'X3', 1);
    t.hub.engine.authorize('S2', req(one(1), { receipt: 'X3' }));
    apply(offlineApproval('o-2', 'X3'));
    complete('S1', 'o-1', [{ line: 1, qty: 1 }], 'cash', 1000);
    complete('S1', 'o-2', [{ line: 1, qty: 1 }], 'cash', 1000);
    const onHand = t.hub.ledger.get('S1', 'A')!.onHand;
    expect(t.hub.resolution.resolve('o-1', 'accept', 'customer known, fine', 'admin:t')).toMatchObject({
      authorization: 'o-1',
      moved: [],
    });
    expect(t.hub.returnsRepo.get('o-1')).toMatchObject({ resolution: 'accept', status: 'completed' });
    const rev = t.hub.resolution.resolve('o-2', 'reverse', 'goods never came back', 'admin:t');
    expect(rev.moved).toEqual([{ sku: 'A', qty: -1 }]);
    expect(t.hub.ledger.get('S1', 'A')!.onHand).toBe(onHand - 1000);
    expect(t.hub.returnsRepo.get('o-2')).toMatchObject({ status: 'reversed', resolution: 'reverse' });
    expect(() => t.hub.resolution.resolve('o-2', 'accept', 'again', 'admin:t')).toThrow(/no exception|already/);
    expect(
      t.hub.audit
        .tail(5)
        .filter((e) => e.action === 'exception.resolve')
        .map((e) => e.outcome),
    ).toEqual(['accept', 'reverse']);
    expect(t.hub.auditTrail.verify().ok).toBe(true);
  });

  it('refuses to reverse an exception whose return the hub never had, and leaves it open', () => {
    t.hub.storage.tx(() =>
      t.hub.exceptions.record({
        store: 'S1',
        register: 'R1',
        kind: 'return.complete',
        code: 'unknown_authorization',
        reason: 'authorization ghost-1 is not known at the hub',
        authorization: 'ghost-1',
      }),
    );
    expect(() => t.hub.resolution.resolve('ghost-1', 'reverse', 'undo', 'admin:t')).toThrow(
      /return ghost-1 is not known at the hub: nothing to reverse/,
    );
    expect(t.hub.resolution.resolve('ghost-1', 'accept', 'nothing to undo', 'admin:t')).toMatchObject({
      authorization: 'ghost-1',
      moved: [],
    });
  });
});

describe('policies', () => {
  it('versions every change, merges store overrides over the default, and audits the operator', () => {
    expect(t.hub.policies.effective('S1')).toMatchObject({ version: 0, policy: { returnWindowDays: 30 } });
    const v1 = t.hub.policies.set(undefined, { returnWindowDays: 14 }, 'admin:ops');
    const v2 = t.hub.policies.set('S1', { offline: { maxRefundPerReturn: 100 } }, 'admin:ops', { note: 'pilot' });
    expect(v2).toBeGreaterThan(v1);
    expect(t.hub.policies.effective('S1')).toMatchObject({
      version: v2,
      policy: { returnWindowDays: 14, offline: { maxRefundPerReturn: 100 } },
    });
    expect(t.hub.policies.effective('S2')).toMatchObject({
      version: v1,
      policy: { offline: { maxRefundPerReturn: 10_000 } },
    });
    const v3 = t.hub.policies.set(undefined, { returnWindowDays: 21 }, 'admin:ops');
    expect(t.hub.policies.effective('S1').version).toBe(v3); // a default change is a new version for every store
    expect(() => t.hub.policies.set(undefined, { returnWindowDays: 'x' }, 'admin:ops')).toThrow(/returnWindowDays/);
    expect(t.hub.policies.list('S1').map((p) => p.note)).toEqual(['pilot']);
    expect(t.hub.audit.tail(10).filter((e) => e.action === 'policy.set')).toHaveLength(3);
  });
});

describe("the store's daily refund limit", () => {
  it('counts what the store approved today: the return that would go over it needs a manager', () => {
    t.hub.policies.set(undefined, { maxRefundPerStorePerDay: 1500 }, 'admin:test');
    const first = t.hub.engine.authorize('S1', req(one()));
    expect(first).toMatchObject({ decision: 'approved', refundAmount: 1000 });
    const second = t.hub.engine.authorize('S1', req(one()));
    expect(second).toMatchObject({ decision: 'override_required' });
    expect(second.reason).toContain('the store approved 1000 today; 1000 more is over 1500');
  });

  it("sums the day's returns only for a policy that has one (a scan per request otherwise spent for nothing)", () => {
    const summed = vi.spyOn(t.hub.returnsRepo, 'approvedSince');
    expect(t.hub.engine.authorize('S1', req(one()))).toMatchObject({ decision: 'approved' });
    expect(summed).not.toHaveBeenCalled();
    t.hub.policies.set(undefined, { maxRefundPerStorePerDay: 5000 }, 'admin:test');
    expect(t.hub.engine.authorize('S1', req(one()))).toMatchObject({ decision: 'approved' });
    expect(summed).toHaveBeenCalledTimes(1);
  });
});
