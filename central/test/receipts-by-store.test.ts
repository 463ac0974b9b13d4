import { describe, expect, it } from 'vitest';
import { panHmac, TbCodes, type AuthorizeRequestBody, type ReturnDecisionEventBody } from '@tillbridge/shared';
import { hubForEachTest, recordSale } from './helpers.js';
import { askReturn, completeReturn, offlineApproval } from './returns-support.js';

/**
 * Receipt numbers are each store's own: two stores may both issue "1001". A sale is keyed by its
 * store and receipt; a return names the receipt (and, when it must, the store that issued it).
 */

const t = hubForEachTest({ S1: 'S1', S2: 'S2', S3: 'S3' });

function sell(
  store: string,
  receipt: string,
  sku: string,
  qty: number,
  unitPrice = 1000,
  extra: { panHash?: string; eventId?: string } = {},
): void {
  const tenders = extra.panHash
    ? [{ kind: 'card', amount: qty * unitPrice, pan: '411111******1111', panHash: extra.panHash }]
    : [];
  recordSale(t.hub, store, { receipt, sku, qty, unitPrice, tenders, eventId: extra.eventId });
}

let n = 0;
const ask = (store: string, receipt: string, qty: number, over: Partial<AuthorizeRequestBody> = {}) =>
  askReturn(t.hub, store, `a-${++n}`, receipt, qty, over);
const complete = (store: string, authorization: string, qty: number) =>
  completeReturn(t.hub, store, authorization, qty, { kind: 'cash', amount: 0 });

describe('sales keyed by store and receipt', () => {
  it('records the same receipt number at two stores as two sales; the same store using it again is a duplicate', () => {
    sell('S1', '1001', 'A', 2);
    sell('S2', '1001', 'B', 5, 300);
    expect(t.hub.sales.get('S1', '1001')).toMatchObject({ store: 'S1', total: 2000, lines: [{ sku: 'A', qty: 2000 }] });
    expect(t.hub.sales.get('S2', '1001')).toMatchObject({ store: 'S2', total: 1500, lines: [{ sku: 'B', qty: 5000 }] });
    expect(() => sell('S2', '1001', 'B', 1, 300, { eventId: 'another-event' })).toThrow(
      expect.objectContaining({ code: 'duplicate_receipt' }),
    );
    expect(t.hub.sales.get('S2', '1001')!.total).toBe(1500);
    expect([t.hub.ledger.get('S1', 'A')?.onHand, t.hub.ledger.get('S2', 'B')?.onHand]).toEqual([-2000, -5000]);
  });

  it('a return at a store takes its own receipt, and counts only against that sale', () => {
    sell('S1', '1001', 'A', 2);
    sell('S2', '1001', 'B', 1);
    const r = ask('S2', '1001', 1);
    expect(r).toMatchObject({
      decision: 'approved',
      lines: [{ line: 1, approvedQty: 1 }],
      receipt: { store: 'S2', lines: [{ sku: 'B' }] },
    });
    expect(t.hub.returnsRepo.get(r.authorization)).toMatchObject({ receipt: '1001', sale_store: 'S2' });
    expect(ask('S2', '1001', 1).lines[0]!.code).toBe('exceeds_returnable'); // S2's only unit is taken
    // S1's 1001 is untouched: both units still returnable there
    expect(t.hub.engine.lookup('S1', { receipt: '1001' })).toMatchObject({
      found: true,
      store: 'S1',
      lines: [{ sku: 'A', returnable: 2 }],
    });
    expect(ask('S1', '1001', 2).decision).toBe('approved');
  });

  it(
    'a cross-store return finds the only store that issued the receipt, moves stock at the returning store, and is ' +
      '`full` against that sale',
    () => {
      sell('S1', 'R-77', 'A', 1);
      const r = ask('S3', 'R-77', 1);
      expect(r).toMatchObject({ decision: 'approved', receipt: { store: 'S1' } });
      expect(complete('S3', r.authorization, 1)).toEqual({});
      expect(t.hub.returnsRepo.get(r.authorization)).toMatchObject({
        status: 'completed',
        kind: 'full',
        sale_store: 'S1',
      });
      expect(t.hub.ledger.get('S3', 'A')?.onHand).toBe(1000);
      expect(t.hub.engine.lookup('S2', { receipt: 'R-77' })).toMatchObject({
        found: true,
        store: 'S1',
        lines: [{ returnable: 0 }],
      });
    },
  );

  it('a receipt number several other stores issued is ambiguous until the register names the store', () => {
    sell('S1', '1001', 'A', 1);
    sell('S2', '1001', 'B', 1);
    const r = ask('S3', '1001', 1);
    expect(r).toMatchObject({ decision: 'denied', lines: [{ approvedQty: 0, code: 'receipt_ambiguous' }] });
    expect(r.reason).toMatch(/issued at stores S1, S2.*originalStore/);
    expect(t.hub.engine.lookup('S3', { receipt: '1001' })).toEqual({
      receipt: '1001',
      found: false,
      lines: [],
      code: 'receipt_ambiguous',
      matches: [
        { receipt: '1001', store: 'S1', at: '2026-11-27T09:00:00.000Z' },
        { receipt: '1001', store: 'S2', at: '2026-11-27T09:00:00.000Z' },
      ],
    });
    const named = ask('S3', '1001', 1, { originalStore: 'S2' });
    expect(named).toMatchObject({ decision: 'approved', receipt: { store: 'S2', lines: [{ sku: 'B' }] } });
    expect(JSON.parse(t.hub.returnsRepo.get(named.authorization)!.request)).toMatchObject({
      receipt: '1001',
      originalStore: 'S2',
    });
    expect(t.hub.engine.lookup('S3', { receipt: '1001', originalStore: 'S1' })).toMatchObject({
      found: true,
      store: 'S1',
    });
    // a store that did not issue it
    expect(ask('S3', '1001', 1, { originalStore: 'S3' }).lines[0]!.code).toBe('receipt_not_found');
    // asked at S1 itself, its own receipt wins
    expect(ask('S1', '1001', 1).receipt?.store).toBe('S1');
  });

  it('an override re-judges the same sale the request resolved to', () => {
    t.hub.policies.set(undefined, { managerOverrideAbove: 500 }, 'admin:t');
    t.hub.managers.set('M-1', 'M', '1234');
    sell('S1', '1001', 'A', 1);
    sell('S2', '1001', 'B', 1, 900);
    const r = ask('S3', '1001', 1, { originalStore: 'S2' });
    expect(r.decision).toBe('override_required');
    const o = t.hub.engine.override('S3', {
      authorization: r.authorization,
      requestId: 'o1',
      manager: 'M-1',
      code: '1234',
    });
    expect(o).toMatchObject({ decision: 'approved', refundAmount: 900, receipt: { store: 'S2' } });
  });

  it('returns by card tell apart two stores’ sales under one receipt number', () => {
    const card = panHmac(t.hub.cardKey, '4111111111111111');
    sell('S1', '1001', 'A', 1, 1000, { panHash: card });
    sell('S2', '1001', 'A', 1, 1000, { panHash: card });
    expect(
      t.hub.engine
        .lookup('S3', { cardHash: card })
        .matches?.map((m) => m.store)
        .sort(),
    ).toEqual(['S1', 'S2']);
    const first = ask('S3', '', 1, {
      receipt: undefined,
      cardHash: card,
      lines: [{ sku: 'A', qty: 1, disposition: 'restock' }],
    });
    const second = ask('S3', '', 1, {
      receipt: undefined,
      cardHash: card,
      lines: [{ sku: 'A', qty: 1, disposition: 'restock' }],
    });
    const stores = [first, second].map((r) => t.hub.returnsRepo.get(r.authorization)!.sale_store);
    expect([first.decision, second.decision]).toEqual(['approved', 'approved']);
    expect(stores.sort()).toEqual(['S1', 'S2']);
  });

  it('reconciles an offline return against the returning store’s own receipt, or the store the register named', () => {
    sell('S1', '1001', 'A', 1);
    sell('S2', '1001', 'B', 1);
    const offline = (authorization: string, extra: Partial<ReturnDecisionEventBody> = {}): ReturnDecisionEventBody =>
      offlineApproval(authorization, '1001', 1, {
        allowedTenders: [],
        decidedAt: '2026-11-27T09:30:00.000Z',
        ...extra,
      });
    const sync = (store: string, b: ReturnDecisionEventBody) =>
      t.hub.storage.tx(() => t.hub.reconciler.apply(store, 'R1', b));
    expect(sync('S1', offline('o-own'))).toEqual({});
    expect(t.hub.returnsRepo.get('o-own')).toMatchObject({ reconciliation: 'confirmed', sale_store: 'S1' });
    expect(sync('S3', offline('o-named', { originalStore: 'S2' }))).toEqual({});
    expect(t.hub.returnsRepo.get('o-named')).toMatchObject({ reconciliation: 'confirmed', sale_store: 'S2' });
    expect(sync('S3', offline('o-amb'))).toEqual({ exception: 'receipt_ambiguous' });
    expect(t.hub.returnsRepo.get('o-amb')).toMatchObject({ reconciliation: 'exception', sale_store: null });
  });

  it('an operator names the store when several issued the receipt number', () => {
    sell('S1', '1001', 'A', 1);
    expect(t.hub.sales.named('1001')?.store).toBe('S1');
    sell('S2', '1001', 'B', 1);
    expect(() => t.hub.sales.named('1001')).toThrow(
      expect.objectContaining({ code: TbCodes.RECEIPT_AMBIGUOUS, details: { stores: ['S1', 'S2'] } }),
    );
    expect(t.hub.sales.named('1001', 'S2')?.lines[0]!.sku).toBe('B');
    expect(t.hub.sales.named('1001', 'S3')).toBeUndefined();
    expect(t.hub.sales.named('NOPE')).toBeUndefined();
  });
});
