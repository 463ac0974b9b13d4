import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DayCloseEventBody, Tender, WireEvent } from '@tillbridge/shared';
import type { ResendRequest } from '../src/reconcile/day-reconciliation.js';
import { column, scalar, testHub, wireDayClose, wireSale } from './helpers.js';
import { askReturn } from './returns-support.js';

/**
 * Registers' business days reconciled at the hub (docs/reconciliation.md): a day.close event
 * applied through the event applier, compared with what the hub recorded, on a real database
 * (SQLite, or PostgreSQL with TILLBRIDGE_TEST_BACKEND=postgres).
 */
let t: ReturnType<typeof testHub>;
let resends: ResendRequest[];
let seq: number;
beforeEach(() => {
  t = testHub();
  t.hub.stores.create('S1', 'S1');
  resends = [];
  seq = 0;
  t.hub.registerDays.onResend((r) => resends.push(r));
});
afterEach(() => t.cleanup());

const DAY = '2026-11-27';

function sale(
  id: string,
  receipt: string,
  amount: number,
  tenders: Tender[] = [{ kind: 'card', amount }],
  at = '2026-11-27T10:00:00Z',
  register = 'R1',
): WireEvent {
  return wireSale(++seq, id, receipt, { amount, tenders, at, register });
}

function close(id: string, body: Partial<DayCloseEventBody>): WireEvent {
  return wireDayClose(++seq, id, { businessDay: DAY, currency: 'EUR', ...body }, { at: '2026-11-27T21:00:05Z' });
}

const apply = (...items: WireEvent[]) => t.hub.applier.applyBatch('S1', 'agent-1', 'inc-1', items);
const day = () => t.hub.registerDays.list(DAY, 'S1')[0]!;
const feed = (type: string) => t.hub.erpFeed.read(0, 100).entries.filter((e) => e.type === type);
const audits = (action: string) =>
  column(t.hub.storage.db, `SELECT outcome FROM audit WHERE action = ? ORDER BY id`, action);

describe.each([
  ['grouped', true],
  ['event by event', false],
])('a register day close at the hub (applied %s)', (_name, grouped) => {
  beforeEach(() => {
    t.hub.applier.grouped = grouped;
  });

  it(
    'matches when the totals, tenders and lists are what the hub recorded (a return among them): day.reconciled on ' +
      'the feed, audited',
    () => {
      apply(sale('e1', 'X1', 1200), sale('e2', 'X2', 500, [{ kind: 'Cash', amount: 500 }]));
      const a = askReturn(t.hub, 'S1', 'A1', 'X1', 1);
      expect(a.decision).toBe('approved');
      // completed on the register at 15:00 (the agent's time): the return's business day
      const done = apply({
        seq: ++seq,
        id: 'e3',
        kind: 'return.complete',
        register: 'R1',
        at: '2026-11-27T15:00:00.000Z',
        body: {
          authorization: 'A1',
          requestId: 'c-A1',
          lines: [{ line: 1, qty: 1 }],
          refund: { kind: 'card', amount: a.refundAmount },
        },
      });
      expect(done.results[0]!.outcome).toBe('applied');
      const r = apply(
        close('d1', {
          sales: { count: 2, amount: 1700 },
          returns: { count: 1, amount: a.refundAmount },
          tenders: [
            { kind: 'card', amount: 1200 - a.refundAmount },
            { kind: 'cash', amount: 500 },
          ],
          receipts: ['X1', 'X2'],
          authorizations: ['A1'],
        }),
      );
      expect(r.results).toEqual([{ seq, outcome: 'applied' }]);
      expect(day()).toMatchObject({
        register: 'R1',
        source: 'register',
        status: 'matched',
        differences: null,
        resendAttempts: 0,
        exception: null,
        reconciledAt: '2026-11-27T10:00:00.000Z',
      });
      expect(day().recorded).toEqual({
        sales: { count: 2, amount: 1700 },
        returns: { count: 1, amount: a.refundAmount },
        tenders: [
          { kind: 'card', amount: 1200 - a.refundAmount },
          { kind: 'cash', amount: 500 },
        ],
      });
      const reconciled = feed('day.reconciled');
      expect(reconciled).toHaveLength(1);
      expect(reconciled[0]).toMatchObject({
        store: 'S1',
        businessDay: DAY,
        data: { store: 'S1', register: 'R1', businessDay: DAY, source: 'register' },
      });
      expect(feed('day.discrepancy')).toEqual([]);
      expect(audits('day.reconcile')).toEqual(['matched']);
      expect(t.hub.exceptions.forStore('S1')).toEqual([]);
      expect(t.hub.auditTrail.verify().ok).toBe(true);
    },
  );

  it('raises a discrepancy naming the tender and both amounts when the card total is off', () => {
    apply(sale('e1', 'X1', 11_990));
    apply(
      close('d1', {
        sales: { count: 1, amount: 11_990 },
        tenders: [{ kind: 'CARD', amount: 12_340 }],
        receipts: ['X1'],
      }),
    );
    const d = day();
    expect(d.status).toBe('discrepancy');
    expect(d.differences?.totals).toEqual([{ what: 'tender card', register: 12_340, hub: 11_990 }]);
    const [e] = t.hub.exceptions.forStore('S1');
    expect(e).toMatchObject({ code: 'day_discrepancy', kind: 'day.close', register: 'R1', resolved_at: null });
    expect(e!.reason).toContain('tender card: register 12,340, hub 11,990');
    expect(d.exception).toEqual({ id: e!.id, resolved: false });
    const disc = feed('day.discrepancy');
    expect(disc).toHaveLength(1);
    expect(disc[0]!.data).toMatchObject({
      register: 'R1',
      businessDay: DAY,
      exception: e!.id,
      differences: { totals: [{ what: 'tender card', register: 12_340, hub: 11_990 }] },
    });
    expect(feed('day.reconciled')).toEqual([]);
    expect(feed('return.exception')).toEqual([]); // announced once, as day.discrepancy
    expect(audits('day.reconcile')).toEqual(['discrepancy']);

    // a corrected Z report replaces the first: matched, and the first one's exception is settled
    apply(
      close('d2', {
        sales: { count: 1, amount: 11_990 },
        tenders: [{ kind: 'card', amount: 11_990 }],
        receipts: ['X1'],
      }),
    );
    expect(day()).toMatchObject({ status: 'matched', exception: null });
    expect(t.hub.exceptions.forStore('S1')[0]!.resolved_at).not.toBeNull();
    expect(feed('day.reconciled')).toHaveLength(1);
    // told as an operator's settling is, so an ERP that took in the discrepancy sees it closed
    expect(feed('return.resolved').map((r) => r.data)).toEqual([
      {
        store: 'S1',
        register: 'R1',
        authorization: null,
        resolution: {
          exceptions: [{ id: e!.id, code: 'day_discrepancy', kind: 'day.close' }],
          action: 'accept',
          note: 'replaced by a later day close (event d2)',
          by: 'hub',
          moved: [],
        },
      },
    ]);
    expect(scalar(t.hub.storage.db, `SELECT COUNT(*) FROM register_days`)).toBe(1);
    // the same event again is a duplicate, as for every event
    expect(apply({ ...close('d2', {}), seq: ++seq }).results[0]!.outcome).toBe('duplicate');
  });

  it('asks the agent to resend a sale the hub lacks, and matches once it arrives', () => {
    const lost = sale('e2', 'X2', 700);
    apply(sale('e1', 'X1', 1000), lost);
    // the hub's view loses X2: its rows and the record of its event
    t.hub.storage.tx(() => {
      t.hub.storage.db.prepare(`DELETE FROM sale_lines WHERE store = ? AND receipt = ?`).run('S1', 'X2');
      t.hub.storage.db.prepare(`DELETE FROM sales WHERE store = ? AND receipt = ?`).run('S1', 'X2');
      t.hub.storage.db.prepare(`DELETE FROM applied_events WHERE event_id = ?`).run('e2');
    });
    apply(
      close('d1', {
        sales: { count: 2, amount: 1700 },
        tenders: [{ kind: 'card', amount: 1700 }],
        receipts: ['X1', 'X2'],
      }),
    );
    expect(day()).toMatchObject({
      status: 'resending',
      resendAttempts: 1,
      missing: { receipts: ['X2'], authorizations: [] },
      reconciledAt: null,
    });
    expect(resends).toEqual([
      { store: 'S1', register: 'R1', businessDay: DAY, missing: { receipts: ['X2'], authorizations: [] } },
    ]);
    expect(t.hub.useCases.agents.pendingResends('S1')).toEqual(resends);
    expect(audits('day.resend')).toEqual(['resending']);
    expect(t.hub.exceptions.forStore('S1')).toEqual([]);

    // the agent sends the day's events again, with their original ids (new seqs): X1 is a duplicate, X2 applies
    const again = apply({ ...sale('e1', 'X1', 1000), seq: ++seq }, { ...lost, seq: ++seq });
    expect(again.results.map((r) => r.outcome)).toEqual(['duplicate', 'applied']);
    expect(day()).toMatchObject({ status: 'matched', resendAttempts: 1, differences: null });
    expect(feed('day.reconciled')).toHaveLength(1);
    expect(t.hub.useCases.agents.pendingResends('S1')).toEqual([]);
    expect(resends).toHaveLength(1);
  });

  it("asks once when the day's sales come in the same batch as its close", () => {
    apply(
      sale('e1', 'X1', 1000),
      close('d1', {
        sales: { count: 2, amount: 1700 },
        tenders: [{ kind: 'card', amount: 1700 }],
        receipts: ['X1', 'X2'],
      }),
    );
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1, missing: { receipts: ['X2'] } });
    expect(resends).toHaveLength(1);
  });

  it('a day closed in a batch whose later events bring what it lacks matches in that commit', () => {
    const lost = sale('e2', 'X2', 700);
    const body = {
      sales: { count: 2, amount: 1700 },
      tenders: [{ kind: 'card', amount: 1700 }],
      receipts: ['X1', 'X2'],
    };
    apply(sale('e1', 'X1', 1000));
    apply(close('d1', body));
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1, missing: { receipts: ['X2'] } });
    // a corrected close waiting in the outbox goes first, the resend of X2 behind it, in one batch
    const r = apply(close('d2', body), { ...lost, seq: ++seq });
    expect(r.results.map((x) => x.outcome)).toEqual(['applied', 'applied']);
    expect(day()).toMatchObject({ status: 'matched', differences: null, recorded: { sales: { count: 2 } } });
    expect(t.hub.useCases.agents.pendingResends('S1')).toEqual([]);
    expect(feed('day.reconciled')).toHaveLength(1);
  });

  it('an earlier close a resend brings after its correction is ignored (audited): the correction stands', () => {
    const closeAt = (id: string, count: number, at: string) =>
      wireDayClose(
        ++seq,
        id,
        {
          businessDay: DAY,
          currency: 'EUR',
          sales: { count, amount: 1700 },
          tenders: [{ kind: 'card', amount: 1700 }],
          receipts: ['X1', 'X2'],
        },
        { at },
      );
    const x1 = sale('e1', 'X1', 1000);
    const x2 = sale('e2', 'X2', 700); // lost on the way, as is the first close (its count wrong)
    const d1 = closeAt('d1', 3, '2026-11-27T21:00:05Z');
    const d2 = closeAt('d2', 2, '2026-11-27T21:10:00Z'); // the corrected Z report
    apply(x1);
    apply(d2);
    expect(day()).toMatchObject({ status: 'resending', missing: { receipts: ['X2'] } });
    // the resend: the day's journal in order, d1 among it
    const r = apply(...[x1, x2, d1, d2].map((e) => ({ ...e, seq: ++seq })));
    expect(r.results.map((x) => x.outcome)).toEqual(['duplicate', 'applied', 'applied', 'duplicate']);
    expect(day()).toMatchObject({ status: 'matched', reported: { sales: { count: 2 } } });
    expect(audits('day.close')).toEqual(['ignored']);
    expect(t.hub.exceptions.forStore('S1')).toEqual([]);
  });

  it('waits while a resend arrives in several batches, without asking again', () => {
    const lost = [sale('e2', 'X2', 300), sale('e3', 'X3', 400)];
    apply(sale('e1', 'X1', 1000));
    apply(
      close('d1', {
        sales: { count: 3, amount: 1700 },
        tenders: [{ kind: 'card', amount: 1700 }],
        receipts: ['X1', 'X2', 'X3'],
      }),
    );
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1, missing: { receipts: ['X2', 'X3'] } });
    apply({ ...lost[0]!, seq: ++seq });
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1, missing: { receipts: ['X3'] } });
    apply({ ...lost[1]!, seq: ++seq });
    expect(day()).toMatchObject({ status: 'matched', resendAttempts: 1 });
    expect(resends).toHaveLength(1);
    expect(audits('day.resend')).toEqual(['resending']);
    expect(audits('day.reconcile')).toEqual(['matched']);
  });

  it('gives up after the resends bring nothing: a discrepancy naming what is missing', () => {
    const x1 = sale('e1', 'X1', 1000);
    apply(x1);
    const d1 = close('d1', {
      sales: { count: 2, amount: 1700 },
      tenders: [{ kind: 'card', amount: 1700 }],
      receipts: ['X1', 'GONE'],
    });
    apply(d1);
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1 });
    // the agent resends the day as it journalled it, its close last: all of it duplicates, asked again
    const resend = (): WireEvent[] => [x1, d1].map((e) => ({ ...e, seq: ++seq }));
    expect(apply(...resend()).results.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate']);
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 2 });
    // a sale of another day, or of another register, does not touch it
    apply(sale('e4', 'Y1', 1, [], '2026-11-28T09:00:00Z'), sale('e5', 'Z1', 1, [], '2026-11-27T09:00:00Z', 'R2'));
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 2 });
    // a new sale of that register and day that is not the missing one is not a resend: the day waits
    apply(sale('e3', 'X3', 1, [], '2026-11-27T20:01:00Z'));
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 2 });
    // a resend in two commits counts once, when its close comes back
    const [again, itsClose] = resend();
    apply(again!);
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 2 });
    apply(itsClose!);
    expect(day()).toMatchObject({ status: 'resending', resendAttempts: 3 });
    apply(...resend());
    expect(day().status).toBe('discrepancy');
    expect(resends).toHaveLength(3);
    const [e] = t.hub.exceptions.forStore('S1');
    expect(e!.reason).toContain('receipts missing at the hub: GONE');
    expect(e!.reason).toContain('still missing after 3 resend request(s)');
  });

  it(
    "a large day's resend over many commits is one attempt: the commits before the missing sale and the close " +
      'do not count as resends that brought nothing',
    () => {
      const day1 = Array.from({ length: 8 }, (_, i) => sale(`e${i}`, `X${i}`, 100));
      apply(...day1);
      const lost = sale('lost', 'LOST', 100);
      const d1 = close('d1', {
        sales: { count: 9, amount: 900 },
        tenders: [{ kind: 'card', amount: 900 }],
        receipts: [...day1.map((_, i) => `X${i}`), 'LOST'],
      });
      apply(d1);
      expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1, missing: { receipts: ['LOST'] } });
      // the resend, in the agent's order (the lost sale was journalled last), two events per commit
      const resent = [...day1, lost, d1].map((e) => ({ ...e, seq: ++seq }));
      for (let i = 0; i < 8; i += 2) {
        apply(...resent.slice(i, i + 2));
        expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1 });
      }
      apply(...resent.slice(8));
      expect(day()).toMatchObject({ status: 'matched', resendAttempts: 1 });
      expect(resends).toHaveLength(1);
    },
  );

  it('raises a discrepancy for a sale at the hub the register did not list', () => {
    apply(sale('e1', 'X1', 1000), sale('e2', 'X9', 250));
    apply(
      close('d1', { sales: { count: 1, amount: 1000 }, tenders: [{ kind: 'card', amount: 1000 }], receipts: ['X1'] }),
    );
    const d = day();
    expect(d.status).toBe('discrepancy');
    expect(d.differences).toMatchObject({ extra: { receipts: ['X9'], authorizations: [] }, missing: { receipts: [] } });
    expect(resends).toEqual([]);
    expect(t.hub.exceptions.forStore('S1')[0]!.reason).toContain('receipts at the hub the register did not list: X9');
    expect(feed('day.discrepancy')).toHaveLength(1);

    // settled the way every exception is (returns resolve): accepted, audited, announced
    const [e] = t.hub.exceptions.forStore('S1');
    expect(
      t.hub.useCases.returns.resolveException('admin:lead', e!.id, 'accept', 'X9 was a training sale'),
    ).toMatchObject({ resolved: [e!.id], authorization: null });
    expect(day().exception).toEqual({ id: e!.id, resolved: true });
    expect(feed('return.resolved')[0]!.data).toMatchObject({ store: 'S1', register: 'R1', authorization: null });
  });

  it("reckons business days in the store's time zone", () => {
    t.hub.useCases.settings.setSyncSettings('admin:test', 'S1', { timeZone: 'Europe/Berlin' }, { note: 'zone' });
    // 23:30 UTC on the 26th is 00:30 on the 27th in Berlin
    apply(
      sale('e1', 'X1', 1000, [{ kind: 'card', amount: 1000 }], '2026-11-26T23:30:00Z'),
      sale('e2', 'X2', 400, [{ kind: 'card', amount: 400 }], '2026-11-27T23:30:00Z'),
    );
    apply(
      close('d1', { sales: { count: 1, amount: 1000 }, tenders: [{ kind: 'card', amount: 1000 }], receipts: ['X1'] }),
    );
    expect(day().status).toBe('matched');
  });

  it(
    "settles a day waiting for a resend when the resend brings what it lacked, though the store's zone changed " +
      'since and none of its events falls on that day any more',
    () => {
      // late in the 27th in UTC, when the agent journalled them: the 28th in Berlin
      const x1 = sale('e1', 'X1', 1000, [{ kind: 'card', amount: 1000 }], '2026-11-27T23:00:00Z');
      const lostSale = sale('e2', 'X2', 700, [{ kind: 'card', amount: 700 }], '2026-11-27T23:30:00Z');
      apply(x1);
      const a = askReturn(t.hub, 'S1', 'A1', 'X1', 1);
      const refund = a.refundAmount;
      const lostCompletion: WireEvent = {
        seq: 0,
        id: 'e3',
        kind: 'return.complete',
        register: 'R1',
        at: '2026-11-27T23:40:00.000Z',
        body: {
          authorization: 'A1',
          requestId: 'c-A1',
          lines: [{ line: 1, qty: 1 }],
          refund: { kind: 'card', amount: refund },
        },
      };
      apply(
        close('d1', {
          sales: { count: 2, amount: 1700 },
          returns: { count: 1, amount: refund },
          tenders: [{ kind: 'card', amount: 1700 - refund }],
          receipts: ['X1', 'X2'],
          authorizations: ['A1'],
        }),
      );
      expect(day()).toMatchObject({
        status: 'resending',
        resendAttempts: 1,
        missing: { receipts: ['X2'], authorizations: ['A1'] },
      });
      t.hub.useCases.settings.setSyncSettings('admin:test', 'S1', { timeZone: 'Europe/Berlin' }, { note: 'zone' });
      // the agent's resend, the day as it journalled it, in two commits: X1 (a duplicate), then X2 and the completion
      expect(apply({ ...x1, seq: ++seq }).results[0]!.outcome).toBe('duplicate');
      expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1 });
      apply({ ...lostCompletion, seq: ++seq });
      expect(day()).toMatchObject({ status: 'resending', resendAttempts: 1, missing: { receipts: ['X2'] } });
      apply({ ...lostSale, seq: ++seq });
      // nothing is missing any more: compared in the zone the store has now, all of it is on the 28th
      expect(day()).toMatchObject({
        status: 'discrepancy',
        resendAttempts: 1,
        missing: { receipts: [], authorizations: [] },
      });
      expect(day().differences?.elsewhere).toEqual({
        receipts: [
          { id: 'X1', register: 'R1', businessDay: '2026-11-28' },
          { id: 'X2', register: 'R1', businessDay: '2026-11-28' },
        ],
        authorizations: [{ id: 'A1', register: 'R1', businessDay: '2026-11-28' }],
      });
      expect(t.hub.useCases.agents.pendingResends('S1')).toEqual([]);
      expect(resends).toHaveLength(1);
      expect(t.hub.exceptions.forStore('S1')[0]!.reason).not.toContain('still missing');
    },
  );

  it('refuses a day close with a bad body, naming the field, and keeps it as an exception', () => {
    const bad = close('d1', {});
    (bad.body as Record<string, unknown>).businessDay = '27.11.2026';
    expect(apply(bad).results[0]).toMatchObject({ outcome: 'exception', code: 'invalid_event' });
    expect(t.hub.exceptions.forStore('S1')[0]!.reason).toContain('businessDay');
    expect(t.hub.registerDays.list(DAY)).toEqual([]);
  });
});
