import { describe, expect, it } from 'vitest';
import type { AuthorizeRequestBody } from '@tillbridge/shared';
import { seedSale, hubForEachTest } from './helpers.js';
import { completeReturn } from './returns-support.js';

const t = hubForEachTest({ S2: 'S2' }, ({ hub }) => seedSale(hub, 'S1', 'X1', 2));

const req = (
  authorization: string,
  qty: number,
  receipt = 'X1',
  disposition: 'restock' | 'damaged' = 'restock',
): AuthorizeRequestBody => ({
  authorization,
  after: 0,
  register: 'R1',
  requestId: `q-${authorization}`,
  receipt,
  lines: [{ line: 1, qty, disposition }],
});

function invariantHolds(): boolean {
  const db = t.hub.storage.db;
  const bad = db
    .prepare(
      `SELECT sl.store, sl.receipt, sl.line FROM sale_lines sl
        LEFT JOIN (SELECT r.sale_store, r.receipt, rl.line,
                          SUM(CASE WHEN r.status = 'completed' THEN rl.completed_qty
                                   WHEN r.status = 'reserved' THEN rl.approved_qty ELSE 0 END) AS used
                     FROM returns r JOIN return_lines rl ON rl.authorization = r.authorization
                    WHERE r.exception_code IS NULL GROUP BY r.sale_store, r.receipt, rl.line) u
          ON u.sale_store = sl.store AND u.receipt = sl.receipt AND u.line = sl.line
        WHERE COALESCE(u.used, 0) > sl.qty`,
    )
    .all();
  const ledger = db
    .prepare(
      `SELECT i.store, i.sku FROM inventory i WHERE i.on_hand <> (SELECT COALESCE(SUM(delta), 0)
         FROM movements m WHERE m.store = i.store AND m.sku = i.sku)`,
    )
    .all();
  return bad.length === 0 && ledger.length === 0;
}

describe('returns engine', () => {
  it('approves, reserves, and refuses the next request for more than is left', () => {
    expect(t.hub.engine.authorize('S1', req('a1', 1)).decision).toBe('approved');
    expect(t.hub.engine.authorize('S2', req('a2', 1)).decision).toBe('approved'); // cross-store
    const third = t.hub.engine.authorize('S1', req('a3', 1));
    expect(third).toMatchObject({ decision: 'denied', lines: [{ code: 'exceeds_returnable', approvedQty: 0 }] });
    expect(invariantHolds()).toBe(true);
  });

  it('answers lines asked for by SKU with the receipt line they resolved to', () => {
    const r = t.hub.engine.authorize('S1', {
      ...req('s1', 1),
      lines: [
        { sku: 'A', qty: 1, disposition: 'restock' },
        { sku: 'NOPE', qty: 1, disposition: 'restock' },
      ],
    });
    expect(r).toMatchObject({
      decision: 'approved',
      lines: [
        { line: 0, sku: 'NOPE', code: 'line_not_found' },
        { line: 1, sku: 'A', approvedQty: 1, code: 'ok' },
      ],
    });
    expect(t.hub.returnsRepo.claimedByLine({ store: 'S1', receipt: 'X1' }, '2026-11-27T10:00:00.000Z')).toEqual(
      new Map([[1, 1000]]),
    );
    expect(
      t.hub.engine.authorize('S1', { ...req('s1', 1), lines: [{ sku: 'A', qty: 1, disposition: 'restock' }] }),
    ).toEqual(r); // idempotent
  });

  it('is idempotent by authorization id', () => {
    const a = t.hub.engine.authorize('S1', req('a1', 2));
    const again = t.hub.engine.authorize('S1', req('a1', 2));
    expect(again).toEqual(a);
    expect(t.hub.returnsRepo.list()).toHaveLength(1);
  });

  it('completes a reservation: restock goes back on hand at the returning store, damaged does not', () => {
    seedSale(t.hub, 'S1', 'X2', 2, 'B');
    t.hub.engine.authorize('S2', req('a1', 1));
    t.hub.engine.authorize('S1', { ...req('a2', 1, 'X2', 'damaged') });
    completeReturn(t.hub, 'S2', 'a1', 1, { kind: 'cash', amount: 1000 });
    completeReturn(t.hub, 'S1', 'a2', 1, { kind: 'cash', amount: 1000 });
    expect(t.hub.ledger.get('S2', 'A')?.onHand).toBe(1000);
    expect(t.hub.ledger.get('S1', 'A')?.onHand).toBe(-2000);
    expect(t.hub.ledger.get('S1', 'B')?.onHand).toBe(-2000);
    expect(invariantHolds()).toBe(true);
  });

  it('lets a reservation lapse, and flags a completion that no longer fits', () => {
    t.hub.engine.authorize('S1', req('a1', 2));
    t.clock.advance(16 * 60_000);
    expect(t.hub.completion.expireDue()).toBe(1);
    expect(t.hub.engine.authorize('S1', req('a2', 2)).decision).toBe('approved');
    const out = completeReturn(t.hub, 'S1', 'a1', 2, { kind: 'cash', amount: 2000 });
    expect(out.exception).toBe('over_return');
    expect(t.hub.exceptions.forStore('S1').map((e) => e.code)).toEqual(['over_return']);
    expect(invariantHolds()).toBe(true);
  });

  it('reconciles offline decisions: confirmed when they fit, an exception when they do not', () => {
    t.hub.engine.authorize('S2', req('online', 1));
    const body = (authorization: string, qty: number) => ({
      authorization,
      requestId: `q-${authorization}`,
      receipt: 'X1',
      decision: 'approved' as const,
      mode: 'offline' as const,
      lines: [{ line: 1, qty, approvedQty: qty, code: 'ok', disposition: 'restock' as const }],
      refundEstimate: 1000 * qty,
      decidedAt: '2026-11-27T10:00:00.000Z',
      allowedTenders: [],
      conditions: [],
      rules: [],
      policyVersion: 0,
    });
    expect(t.hub.storage.tx(() => t.hub.reconciler.apply('S1', 'R1', body('off1', 1)))).toEqual({});
    expect(t.hub.storage.tx(() => t.hub.reconciler.apply('S1', 'R1', body('off2', 1)))).toEqual({
      exception: 'over_return',
    });
    const rows = Object.fromEntries(t.hub.returnsRepo.list().map((r) => [r.authorization, r]));
    expect(rows.off1).toMatchObject({ reconciliation: 'confirmed', exception_code: null });
    expect(rows.off2).toMatchObject({ reconciliation: 'exception', exception_code: 'over_return' });
    expect(invariantHolds()).toBe(true);
  });

  it('lets an offline decision replace an online answer that arrived too late', () => {
    t.hub.engine.authorize('S1', req('late', 2));
    t.hub.storage.tx(() =>
      t.hub.reconciler.apply('S1', 'R1', {
        authorization: 'late',
        requestId: 'q-late',
        receipt: 'X1',
        decision: 'denied',
        mode: 'offline',
        lines: [{ line: 1, qty: 2, approvedQty: 0, code: 'offline_limit_exceeded', disposition: 'restock' }],
        refundEstimate: 0,
        decidedAt: '2026-11-27T10:00:00.000Z',
        allowedTenders: [],
        conditions: [],
        rules: [],
        policyVersion: 0,
      }),
    );
    expect(t.hub.returnsRepo.get('late')).toMatchObject({ status: 'denied', mode: 'offline' });
    expect(t.hub.engine.authorize('S1', req('next', 2)).decision).toBe('approved');
  });
});
