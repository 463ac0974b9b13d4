import { describe, expect, it } from 'vitest';
import type { AuthorizeRequestBody, ReturnDecisionEventBody } from '@tillbridge/shared';
import { hubForEachTest, recordSale } from './helpers.js';
import { askReturn, completeReturn, offlineApproval } from './returns-support.js';

/**
 * DESIGN rule 11, at the hub: summed over every return of a line, refunds never exceed what was
 * paid for it, and a completion never refunds more than its authorization — online, offline,
 * partial, with an exchange, and when an older agent sends one anyway.
 */
const t = hubForEachTest({ S1: 'S1', S2: 'S2' });

const sell = (receipt: string, qty: number, unitPrice: number, sku = 'A') =>
  recordSale(t.hub, 'S1', { receipt, qty, unitPrice, sku, requestId: `m-${receipt}`, eventId: `e-${receipt}` });
const ask = (
  authorization: string,
  receipt: string,
  qty: number,
  over: Partial<AuthorizeRequestBody> = {},
  store = 'S1',
) => askReturn(t.hub, store, authorization, receipt, qty, over);
const complete = (
  authorization: string,
  qty: Parameters<typeof completeReturn>[3],
  amount: number,
  store = 'S1',
  kind = 'cash',
) => completeReturn(t.hub, store, authorization, qty, { kind, amount });
const ticket = (authorization: string) => t.hub.returnsRepo.get(authorization)!;
const completedRefunds = (receipt: string) =>
  t.hub.returnsRepo
    .forSale({ store: 'S1', receipt })
    .filter((r) => r.status === 'completed')
    .reduce((s, r) => s + (r.refund_amount ?? 0), 0);

describe('refunds of a line never add up to more than was paid for it', () => {
  it('one unit at 999 returned as 0.5 and 0.5 refunds 500 + 499', () => {
    sell('H-1', 1, 999);
    const a = ask('h1-a', 'H-1', 0.5);
    expect(a).toMatchObject({
      decision: 'approved',
      refundAmount: 500,
      lines: [{ line: 1, approvedQty: 0.5, code: 'ok', refund: 500 }],
    });
    expect(complete('h1-a', 0.5, 500)).toEqual({});
    const b = ask('h1-b', 'H-1', 0.5, {}, 'S2'); // another store: the hub counts every store's returns
    expect(b).toMatchObject({ decision: 'approved', refundAmount: 499, lines: [{ refund: 499 }] });
    expect(complete('h1-b', 0.5, 500, 'S2')).toEqual({ exception: 'refund_exceeds_authorized' });
    expect(completedRefunds('H-1')).toBe(999);
  });

  it('a reservation still held counts with what it refunds; a cancelled one gives its money back', () => {
    sell('H-2', 1, 999);
    expect(ask('h2-a', 'H-2', 0.5).refundAmount).toBe(500);
    expect(ask('h2-b', 'H-2', 0.5).refundAmount).toBe(499);
    t.hub.storage.tx(() => t.hub.completion.cancel('S1', 'R1', { authorization: 'h2-a', requestId: 'x' }));
    expect(ask('h2-c', 'H-2', 0.5).refundAmount).toBe(500); // 999 − 499 held by h2-b
  });

  it('a partial completion refunds at most its share; the rest of the line is priced against what was refunded', () => {
    sell('H-3', 3, 999);
    expect(ask('h3-a', 'H-3', 2).refundAmount).toBe(1998);
    expect(complete('h3-a', 1, 1000)).toEqual({ exception: 'refund_exceeds_authorized' });
    expect(ticket('h3-a')).toMatchObject({ refund_amount: 999, exception_code: 'refund_exceeds_authorized' });
    expect(t.hub.returnsRepo.lines('h3-a')[0]).toMatchObject({ completed_qty: 1000, completed_amount: 999 });
    const rest = ask('h3-b', 'H-3', 2);
    expect(rest.refundAmount).toBe(1998);
    expect(complete('h3-b', 2, 1998)).toEqual({});
    expect(completedRefunds('H-3')).toBe(2997);
  });

  it('a completion for less than the share is what was refunded', () => {
    sell('H-4', 2, 1000);
    ask('h4', 'H-4', 2);
    expect(complete('h4', 1, 700)).toEqual({});
    expect(ticket('h4')).toMatchObject({ refund_amount: 700, exception_code: null });
  });

  it('a lapsed reservation completed late is priced again: it cannot take money another return already got', () => {
    sell('H-5', 1, 999);
    expect(ask('h5-a', 'H-5', 0.5).refundAmount).toBe(500);
    t.clock.advance(16 * 60_000);
    expect(t.hub.completion.expireDue()).toBe(1);
    expect(ask('h5-b', 'H-5', 0.5).refundAmount).toBe(500);
    expect(complete('h5-b', 0.5, 500)).toEqual({});
    // the quantity still fits, but only 499 of what was paid is left
    expect(complete('h5-a', 0.5, 500)).toEqual({ exception: 'over_refund' });
    expect(ticket('h5-a')).toMatchObject({ refund_amount: 499, exception_code: 'over_refund' });
  });
});

describe('a completion above its authorization (an older agent acked it)', () => {
  it(
    'keeps the authorized amount on the ticket, ' + 'flags it with what the register said, and the shelf still moves',
    () => {
      sell('H-6', 1, 1000);
      ask('h6', 'H-6', 1);
      const onHand = t.hub.ledger.get('S1', 'A')!.onHand;
      expect(complete('h6', 1, 1500)).toEqual({ exception: 'refund_exceeds_authorized' });
      expect(ticket('h6')).toMatchObject({
        status: 'completed',
        refund_amount: 1000,
        exception_code: 'refund_exceeds_authorized',
        reconciliation: 'exception',
      });
      const [ex] = t.hub.exceptions.forAuthorization('h6');
      expect(ex).toMatchObject({ code: 'refund_exceeds_authorized', kind: 'return.complete' });
      expect(JSON.parse(ex!.body!)).toMatchObject({ refund: { kind: 'cash', amount: 1500 }, authorized: 1000 });
      expect(t.hub.audit.tail(5).find((e) => e.action === 'return.exception')).toMatchObject({
        outcome: 'refund_exceeds_authorized',
      });
      expect(t.hub.ledger.get('S1', 'A')!.onHand).toBe(onHand + 1000);
      expect(t.hub.auditTrail.verify().ok).toBe(true);
    },
  );

  it('an exchange: the returned item and the exchanged one move, the refund stays what was authorized', () => {
    sell('H-7', 1, 1000);
    t.hub.storage.tx(() => t.hub.ledger.setOnHand('S1', 'B', 1000, 'test'));
    expect(ask('h7', 'H-7', 1, { exchange: [{ sku: 'B', qty: 1 }] })).toMatchObject({
      decision: 'approved',
      refundAmount: 1000,
      exchange: [{ approvedQty: 1 }],
    });
    expect(complete('h7', 1, 1001)).toEqual({ exception: 'refund_exceeds_authorized' });
    expect(ticket('h7').refund_amount).toBe(1000);
    expect(t.hub.ledger.get('S1', 'B')!.onHand).toBe(0);
  });

  it('a ticket decided before per-line amounts were kept is capped by its whole authorized refund', () => {
    sell('H-8', 2, 1000);
    ask('h8', 'H-8', 2);
    t.hub.storage.db.prepare(`UPDATE return_lines SET amount = NULL, fee = NULL WHERE authorization = 'h8'`).run();
    expect(complete('h8', 2, 2001)).toEqual({ exception: 'refund_exceeds_authorized' });
    expect(ticket('h8').refund_amount).toBe(2000);
  });
});

describe('the refund tender', () => {
  it('is compared with the allowed ones without regard to case, as the sale tenders are read', () => {
    sell('H-30', 2, 1000); // paid cash: a refund may go to cash or store credit
    expect(ask('h30', 'H-30', 1)).toMatchObject({ decision: 'approved', allowedTenders: ['cash', 'store_credit'] });
    expect(complete('h30', 1, 1000, 'S1', 'CASH')).toEqual({});
    expect(ticket('h30').exception_code).toBeNull();
    ask('h30-b', 'H-30', 1);
    expect(complete('h30-b', 1, 1000, 'S1', 'Card')).toEqual({ exception: 'tender_not_allowed' });
  });
});

describe('a flagged return counts against its sale until an operator reverses it', () => {
  it.each([
    ['refund_exceeds_authorized', 'cash', 1001],
    ['tender_not_allowed', 'card', 1000],
  ])('completed with %s, its unit is not returnable again', (code, kind, amount) => {
    sell('H-12', 1, 1000);
    expect(ask('h12', 'H-12', 1)).toMatchObject({ decision: 'approved', refundAmount: 1000 });
    expect(complete('h12', 1, amount, 'S1', kind)).toEqual({ exception: code });
    expect(t.hub.ledger.get('S1', 'A')!.onHand).toBe(0); // sold −1, back +1: the goods came back
    // (before: approved again, refunded again and restocked again: two back of one sold)
    const again = ask('h12-b', 'H-12', 1, {}, 'S2');
    expect(again).toMatchObject({ decision: 'denied', lines: [{ code: 'exceeds_returnable', approvedQty: 0 }] });
    expect(t.hub.resolution.resolve('h12', 'accept', 'refunded by hand, fine', 'admin:t').resolved).toHaveLength(1);
    expect(ask('h12-c', 'H-12', 1).decision).toBe('denied'); // accepted: it stands
  });

  it('completed with more than approved, the excess is priced in: the next unit refunds its own price', () => {
    sell('H-16', 3, 100);
    expect(ask('h16', 'H-16', 1).refundAmount).toBe(100);
    expect(complete('h16', 2, 100)).toEqual({ exception: 'exceeds_authorized' });
    expect(t.hub.returnsRepo.lines('h16')[0]).toMatchObject({ completed_qty: 2000, completed_amount: 200 });
    // (before: 200 for one unit of 100, the first return's second unit paid for again)
    expect(ask('h16-b', 'H-16', 1)).toMatchObject({ decision: 'approved', refundAmount: 100 });
  });

  it('a line the decision approved none of, completed anyway, is priced at the sold price', () => {
    const lines = [
      { line: 1, sku: 'A', qty: 1, unitPrice: 100 },
      { line: 2, sku: 'B', qty: 2, unitPrice: 100 },
    ];
    const at = '2026-11-27T09:00:00Z';
    t.hub.storage.tx(() =>
      t.hub.saleService.record(
        'S1',
        'R1',
        'store',
        { requestId: 'm-17', receipt: 'H-17', at, currency: 'EUR', lines, tenders: [] },
        'e-17',
      ),
    );
    const both = [
      { line: 1, qty: 1, disposition: 'restock' as const },
      { line: 2, qty: 3, disposition: 'restock' as const },
    ];
    expect(ask('h17', 'H-17', 1, { lines: both })).toMatchObject({
      decision: 'approved',
      lines: [
        { line: 1, approvedQty: 1 },
        { line: 2, approvedQty: 0, code: 'exceeds_returnable' },
      ],
    });
    const outcome = complete('h17', [{ line: 2, qty: 1 }], 0);
    expect(outcome).toEqual({ exception: 'exceeds_authorized' });
    // (before: 200 for the one unit of line 2 left, its other unit, back already, paid for again)
    const rest = [{ line: 2, qty: 1, disposition: 'restock' as const }];
    expect(ask('h17-b', 'H-17', 1, { lines: rest })).toMatchObject({ decision: 'approved', refundAmount: 100 });
  });

  it('reversed (the goods never came back), its quantity is returnable again', () => {
    sell('H-13', 1, 1000);
    ask('h13', 'H-13', 1);
    expect(complete('h13', 1, 1000, 'S1', 'card')).toEqual({ exception: 'tender_not_allowed' });
    expect(ask('h13-b', 'H-13', 1).decision).toBe('denied');
    t.hub.resolution.resolve('h13', 'reverse', 'goods never came back', 'admin:t');
    expect(ask('h13-c', 'H-13', 1)).toMatchObject({ decision: 'approved', refundAmount: 1000 });
  });
});

describe('a completion naming one line twice', () => {
  it('by its number and by its SKU, returns both together and is flagged when that is more than approved', () => {
    sell('H-14', 2, 1000);
    const lines = [{ sku: 'A', qty: 2, disposition: 'restock' as const }];
    expect(ask('h14', 'H-14', 2, { lines })).toMatchObject({ decision: 'approved', refundAmount: 2000 });
    const twice = [
      { line: 1, qty: 2 },
      { sku: 'A', qty: 2 },
    ];
    const outcome = complete('h14', twice, 2000);
    // (before: not flagged, 2 recorded and moved while the register said 4)
    expect(outcome).toEqual({ exception: 'exceeds_authorized' });
    expect(ticket('h14').reason).toContain('line 1 (1 and A): completed 4, approved 2');
    expect(t.hub.returnsRepo.lines('h14')[0]).toMatchObject({ completed_qty: 4000, completed_amount: 4000 });
    expect(t.hub.ledger.get('S1', 'A')!.onHand).toBe(2000); // −2 sold, +4 back (milli-units): as the shelf
  });

  it('within what was approved, completes the line once with both quantities', () => {
    sell('H-15', 2, 1000);
    ask('h15', 'H-15', 2, { lines: [{ sku: 'A', qty: 2, disposition: 'restock' }] });
    const halves = [
      { line: 1, qty: 1 },
      { sku: 'A', qty: 1 },
    ];
    const outcome = complete('h15', halves, 2000);
    expect(outcome).toEqual({});
    expect(t.hub.returnsRepo.lines('h15')[0]).toMatchObject({ completed_qty: 2000, completed_amount: 2000 });
    expect(t.hub.ledger.get('S1', 'A')!.onHand).toBe(0);
  });
});

describe('offline decisions', () => {
  const offline = (
    authorization: string,
    receipt: string,
    qty: number,
    refund: number | undefined,
    fee?: number,
  ): ReturnDecisionEventBody =>
    offlineApproval(
      authorization,
      receipt,
      qty,
      { refundEstimate: refund ?? 0 },
      { ...(refund !== undefined ? { refund } : {}), ...(fee !== undefined ? { fee } : {}) },
    );
  const apply = (b: ReturnDecisionEventBody) => t.hub.storage.tx(() => t.hub.reconciler.apply('S1', 'R1', b));

  it('a completion is held to what the agent authorized offline, line by line', () => {
    sell('H-9', 2, 999);
    expect(apply(offline('o9', 'H-9', 2, 1700, 298))).toEqual({});
    expect(t.hub.returnsRepo.lines('o9')[0]).toMatchObject({ amount: 1998, fee: 298 });
    expect(complete('o9', 1, 851)).toEqual({ exception: 'refund_exceeds_authorized' }); // half of 1700 is 850
    expect(ticket('o9')).toMatchObject({ refund_amount: 850 });
  });

  it('flags an offline refund that, with the other returns of the line, is more than was paid', () => {
    sell('H-10', 1, 999);
    ask('h10', 'H-10', 0.5, {}, 'S2'); // 500 at another store the agent could not see
    expect(apply(offline('o10', 'H-10', 0.5, 500))).toEqual({ exception: 'over_refund' });
    expect(ticket('o10')).toMatchObject({ reconciliation: 'exception', exception_code: 'over_refund' });
    // flagged, it still holds its half until an operator reverses it: nothing of the line is left
    expect(apply(offline('o10b', 'H-10', 0.5, undefined))).toEqual({ exception: 'over_return' });
    // an older agent does not say what a line refunds; the completion is held to the whole
    sell('H-10c', 1, 999);
    ask('h10c', 'H-10c', 0.5, {}, 'S2');
    expect(apply(offline('o10c', 'H-10c', 0.5, undefined))).toEqual({});
  });
});

describe('what a register is told', () => {
  it('each line says what it refunds, its fee, and every rule that shaped it; a held line names why', () => {
    sell('H-11', 1, 80_000, 'TV-55');
    t.hub.policies.set(
      undefined,
      { restockingFees: [{ skuPrefix: 'TV-', percent: 15 }], managerOverrideAbove: 50_000 },
      'admin:test',
    );
    const r = ask('h11', 'H-11', 1);
    expect(r).toMatchObject({ decision: 'override_required', refundAmount: 68_000 });
    expect(r.lines).toEqual([
      {
        line: 1,
        approvedQty: 1,
        code: 'manager_override_required',
        refund: 68_000,
        fee: 12_000,
        rules: ['restocking_fee', 'manager_override_required', 'store_credit_only'],
      },
    ]);
    t.hub.managers.set('M-1', 'M', '4711');
    const ok = t.hub.engine.override('S1', { authorization: 'h11', requestId: 'o', manager: 'M-1', code: '4711' });
    expect(ok.lines).toEqual([
      {
        line: 1,
        approvedQty: 1,
        code: 'ok',
        refund: 68_000,
        fee: 12_000,
        rules: ['restocking_fee', 'manager_override_required', 'store_credit_only', 'overridden'],
      },
    ]);
  });
});
