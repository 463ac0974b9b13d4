import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WireEvent } from '@tillbridge/shared';
import { testHub } from './helpers.js';

let t: ReturnType<typeof testHub>;
beforeEach(() => {
  t = testHub();
  t.hub.stores.create('S1', 'S1');
  t.hub.stores.create('S2', 'S2');
});
afterEach(() => t.cleanup());

let n = 0;
const saleEvent = (seq: number, receipt: string, id = `ev-${++n}`): WireEvent => ({
  seq,
  id,
  kind: 'sale',
  register: 'R1',
  at: '2026-11-27T10:00:00.000Z',
  body: { requestId: `m-${id}`, receipt, at: '2026-11-27T10:00:00Z', currency: 'EUR', lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 100 }], tenders: [] },
});

describe('event applier', () => {
  it('applies each event once, however often it is resent', () => {
    const batch = [saleEvent(1, 'X1', 'e1'), saleEvent(2, 'X2', 'e2')];
    expect(t.hub.applier.applyBatch('S1', 'agent-a', batch)).toMatchObject({ upTo: 2, results: [{ outcome: 'applied' }, { outcome: 'applied' }] });
    expect(t.hub.applier.applyBatch('S1', 'agent-a', batch)).toMatchObject({ upTo: 2, results: [{ outcome: 'duplicate' }, { outcome: 'duplicate' }] });
    // the same event id under a new seq (an agent that lost its cursor) is still not applied twice
    expect(t.hub.applier.applyBatch('S1', 'agent-a', [{ ...batch[0]!, seq: 3 }])).toMatchObject({ upTo: 3, results: [{ outcome: 'duplicate' }] });
    expect(t.hub.ledger.get('S1', 'A')?.onHand).toBe(-2000);
    expect(t.hub.cursors.cursor('agent-a')).toEqual({ store: 'S1', lastSeq: 3 });
  });

  it('acknowledges a refused event as an exception and goes on with the queue', () => {
    t.hub.applier.applyBatch('S1', 'agent-a', [saleEvent(1, 'DUP')]);
    const r = t.hub.applier.applyBatch('S1', 'agent-a', [
      saleEvent(2, 'DUP'), // the store's receipt number again, under another event id
      { ...saleEvent(3, 'BAD'), body: { receipt: 'BAD' } },
      { ...saleEvent(4, 'K'), kind: 'teleport' },
      saleEvent(5, 'FINE'),
    ]);
    expect(r.upTo).toBe(5);
    expect(r.results.map((x) => x.code ?? x.outcome)).toEqual(['duplicate_receipt', 'invalid_event', 'unknown_kind', 'applied']);
    expect(t.hub.exceptions.forStore('S1').map((e) => e.code)).toEqual(['duplicate_receipt', 'invalid_event', 'unknown_kind']);
    expect(t.hub.sales.get('S1', 'FINE')?.store).toBe('S1');
    expect(t.hub.sales.get('S1', 'DUP')?.lines).toHaveLength(1);
    expect(t.hub.audit.verify().ok).toBe(true);
  });

  it('records the same receipt number from two stores as two honest sales', () => {
    const a = t.hub.applier.applyBatch('S1', 'agent-a', [saleEvent(1, '1001')]);
    const b = t.hub.applier.applyBatch('S2', 'agent-b', [saleEvent(1, '1001')]);
    expect([...a.results, ...b.results].map((x) => x.code ?? x.outcome)).toEqual(['applied', 'applied']);
    expect(t.hub.exceptions.forStore()).toEqual([]);
    expect([t.hub.sales.get('S1', '1001')?.store, t.hub.sales.get('S2', '1001')?.store]).toEqual(['S1', 'S2']);
    expect([t.hub.ledger.get('S1', 'A')?.onHand, t.hub.ledger.get('S2', 'A')?.onHand]).toEqual([-1000, -1000]);
  });

  it('rolls a batch back on an unexpected failure, and sets the event aside after repeated failures', () => {
    t.hub.storage.db.exec(`CREATE TRIGGER boom BEFORE INSERT ON sales WHEN NEW.receipt = 'POISON' BEGIN SELECT RAISE(ABORT, 'disk error'); END`);
    const batch = [saleEvent(1, 'OK1'), saleEvent(2, 'POISON')];
    for (let i = 0; i < 4; i++) {
      expect(() => t.hub.applier.applyBatch('S1', 'agent-a', batch)).toThrow(/disk error/);
      expect(t.hub.sales.get('S1', 'OK1')).toBeUndefined(); // nothing half-applied
      expect(t.hub.cursors.cursor('agent-a')).toBeUndefined();
    }
    const r = t.hub.applier.applyBatch('S1', 'agent-a', batch);
    expect(r).toMatchObject({ upTo: 2, results: [{ outcome: 'applied' }, { outcome: 'exception', code: 'internal_error' }] });
    expect(t.hub.sales.get('S1', 'OK1')).toBeDefined();
  });

  it('keeps a completion of an authorization the hub never saw as an exception', () => {
    const r = t.hub.applier.applyBatch('S1', 'agent-a', [
      { seq: 1, id: 'c1', kind: 'return.complete', register: 'R1', at: '2026-11-27T10:00:00.000Z', body: { authorization: 'nope', requestId: 'm1', lines: [{ line: 1, qty: 1 }], refund: { kind: 'cash', amount: 100 } } },
    ]);
    expect(r.results).toEqual([{ seq: 1, outcome: 'exception', code: 'unknown_authorization' }]);
    expect(t.hub.exceptions.forStore('S1')[0]).toMatchObject({ code: 'unknown_authorization', authorization: 'nope' });
  });
});
