import { describe, expect, it } from 'vitest';
import type { WireEvent } from '@tillbridge/shared';
import { ForkedHistory } from '../src/domain/event-applier.js';
import { hubForEachTest, wireSale, column, scalar, poisonSalesInsert, wireUnknownCompletion } from './helpers.js';

const t = hubForEachTest({ S1: 'S1', S2: 'S2' });

let n = 0;
const saleEvent = (seq: number, receipt: string, id = `ev-${++n}`): WireEvent => wireSale(seq, id, receipt);

describe('event applier', () => {
  it('applies each event once, however often it is resent', () => {
    const batch = [saleEvent(1, 'X1', 'e1'), saleEvent(2, 'X2', 'e2')];
    expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i1', batch)).toMatchObject({
      upTo: 2,
      results: [{ outcome: 'applied' }, { outcome: 'applied' }],
    });
    expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i1', batch)).toMatchObject({
      upTo: 2,
      results: [{ outcome: 'duplicate' }, { outcome: 'duplicate' }],
    });
    // the same event id under a new seq (an agent that lost its cursor) is still not applied twice
    expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [{ ...batch[0]!, seq: 3 }])).toMatchObject({
      upTo: 3,
      results: [{ outcome: 'duplicate' }],
    });
    expect(t.hub.ledger.get('S1', 'A')?.onHand).toBe(-2000);
    expect(t.hub.cursors.cursor('agent-a')).toEqual({ store: 'S1', incarnation: 'i1', lastSeq: 3 });
  });

  it('acknowledges a refused event as an exception and goes on with the queue', () => {
    t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [saleEvent(1, 'DUP')]);
    const r = t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [
      saleEvent(2, 'DUP'), // the store's receipt number again, under another event id
      { ...saleEvent(3, 'BAD'), body: { receipt: 'BAD' } },
      { ...saleEvent(4, 'K'), kind: 'teleport' },
      saleEvent(5, 'FINE'),
    ]);
    expect(r.upTo).toBe(5);
    expect(r.results.map((x) => x.code ?? x.outcome)).toEqual([
      'duplicate_receipt',
      'invalid_event',
      'unknown_kind',
      'applied',
    ]);
    expect(t.hub.exceptions.forStore('S1').map((e) => e.code)).toEqual([
      'duplicate_receipt',
      'invalid_event',
      'unknown_kind',
    ]);
    expect(t.hub.sales.get('S1', 'FINE')?.store).toBe('S1');
    expect(t.hub.sales.get('S1', 'DUP')?.lines).toHaveLength(1);
    expect(t.hub.auditTrail.verify().ok).toBe(true);
  });

  it('records the same receipt number from two stores as two honest sales', () => {
    const a = t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [saleEvent(1, '1001')]);
    const b = t.hub.applier.applyBatch('S2', 'agent-b', 'i1', [saleEvent(1, '1001')]);
    expect([...a.results, ...b.results].map((x) => x.code ?? x.outcome)).toEqual(['applied', 'applied']);
    expect(t.hub.exceptions.forStore()).toEqual([]);
    expect([t.hub.sales.get('S1', '1001')?.store, t.hub.sales.get('S2', '1001')?.store]).toEqual(['S1', 'S2']);
    expect([t.hub.ledger.get('S1', 'A')?.onHand, t.hub.ledger.get('S2', 'A')?.onHand]).toEqual([-1000, -1000]);
  });

  it('rolls a batch back on an unexpected failure, and sets the event aside after repeated failures', () => {
    poisonSalesInsert(t.hub.storage.db, t.hub.storage.engine);
    const batch = [saleEvent(1, 'OK1'), saleEvent(2, 'POISON')];
    for (let i = 0; i < 4; i++) {
      expect(() => t.hub.applier.applyBatch('S1', 'agent-a', 'i1', batch)).toThrow(/disk error/);
      expect(t.hub.sales.get('S1', 'OK1')).toBeUndefined(); // nothing half-applied
      expect(t.hub.cursors.cursor('agent-a')).toBeUndefined();
    }
    const r = t.hub.applier.applyBatch('S1', 'agent-a', 'i1', batch);
    expect(r).toMatchObject({
      upTo: 2,
      results: [{ outcome: 'applied' }, { outcome: 'exception', code: 'internal_error' }],
    });
    expect(t.hub.sales.get('S1', 'OK1')).toBeDefined();
  });

  it('keeps a completion of an authorization the hub never saw as an exception', () => {
    const r = t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [wireUnknownCompletion(1, 'c1')]);
    expect(r.results).toEqual([{ seq: 1, outcome: 'exception', code: 'unknown_authorization' }]);
    expect(t.hub.exceptions.forStore('S1')[0]).toMatchObject({ code: 'unknown_authorization', authorization: 'nope' });
  });
});

describe('event applier: restored, reverted and copied databases (DESIGN rule 9)', () => {
  const sales = () => column(t.hub.storage.db, `SELECT receipt FROM sales ORDER BY receipt`);
  /** The agent's history as the hub first saw it: A1 to A3 (events e1 to e3, seqs 1 to 3) under incarnation i1. */
  const applyFirstHistory = () =>
    t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [
      saleEvent(1, 'A1', 'e1'),
      saleEvent(2, 'A2', 'e2'),
      saleEvent(3, 'A3', 'e3'),
    ]);

  it(
    "takes a restored database's new events under a new incarnation, though their seqs are at or below the old " +
      'cursor',
    () => {
      applyFirstHistory();
      // put back from a copy holding e1, e2 (e2 not yet confirmed then); it sold N3, N4 under seqs 3 and 4
      const r = t.hub.applier.applyBatch('S1', 'agent-a', 'i2', [
        saleEvent(2, 'A2', 'e2'),
        saleEvent(3, 'N3', 'n3'),
        saleEvent(4, 'N4', 'n4'),
      ]);
      expect(r).toEqual({
        upTo: 4,
        results: [
          { seq: 2, outcome: 'duplicate' },
          { seq: 3, outcome: 'applied' },
          { seq: 4, outcome: 'applied' },
        ],
      });
      expect(sales()).toEqual(['A1', 'A2', 'A3', 'N3', 'N4']);
      expect(t.hub.ledger.get('S1', 'A')?.onHand).toBe(-5000);
      expect(t.hub.cursors.incarnation('agent-a', 'i1')).toMatchObject({ lastSeq: 3 });
      expect(t.hub.cursors.incarnation('agent-a', 'i2')).toMatchObject({ lastSeq: 4 });
      expect(t.hub.cursors.cursor('agent-a')).toEqual({ store: 'S1', incarnation: 'i2', lastSeq: 4 });
      expect(scalar(t.hub.storage.db, `SELECT incarnation FROM applied_events WHERE event_id = 'n3'`)).toBe('i2');
    },
  );

  it(
    "never takes an unseen event at or below its incarnation's cursor for a duplicate: a forked history, nothing of " +
      'the batch applied',
    () => {
      applyFirstHistory();
      // a copy of the database that went on after seq 1: its own events under seqs 2 and 3, then 4
      const forked = [
        saleEvent(1, 'A1', 'e1'),
        saleEvent(2, 'B2', 'x2'),
        saleEvent(3, 'B3', 'x3'),
        saleEvent(4, 'B4', 'x4'),
      ];
      let caught: unknown;
      try {
        t.hub.applier.applyBatch('S1', 'agent-a', 'i1', forked);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ForkedHistory);
      expect(caught).toMatchObject({ code: 'agent_forked', seq: 2, eventId: 'x2', applied: 3 });
      expect(sales()).toEqual(['A1', 'A2', 'A3']);
      expect(t.hub.cursors.incarnation('agent-a', 'i1')).toMatchObject({ lastSeq: 3 });
      // a fork is not a failure: however often it comes, it is never set aside as an internal error
      for (let i = 0; i < 6; i++)
        expect(() => t.hub.applier.applyBatch('S1', 'agent-a', 'i1', forked)).toThrow(ForkedHistory);
      expect(t.hub.exceptions.forStore('S1')).toEqual([]);
      // under a new incarnation every one of them is taken, once
      expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i2', forked).results.map((x) => x.outcome)).toEqual([
        'duplicate',
        'applied',
        'applied',
        'applied',
      ]);
      expect(sales()).toEqual(['A1', 'A2', 'A3', 'B2', 'B3', 'B4']);
    },
  );

  it('acks the batch it was sent, never past it', () => {
    applyFirstHistory();
    // a resent first event: the ack covers seq 1 only, not the cursor (3)
    expect(t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [saleEvent(1, 'A1', 'e1')])).toEqual({
      upTo: 1,
      results: [{ seq: 1, outcome: 'duplicate' }],
    });
    expect(t.hub.cursors.incarnation('agent-a', 'i1')).toMatchObject({ lastSeq: 3 });
  });
});
