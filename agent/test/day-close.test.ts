import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type ReturnDecisionReply,
} from '@tillbridge/shared';
import type { Db } from '../src/db/agent-db.js';
import type { Outbox } from '../src/sync/outbox.js';
import type { StoreCore } from '../src/core/store-core.js';
import type { HubAuthorizer } from '../src/sync/hub-link.js';
import { LiveSettings } from '../src/core/live-settings.js';
import { JOURNAL_RETENTION_MS } from '../src/sync/journal.js';
import { dayCloseMessage, dayTotals, expectedDayClose, type DayTotals } from './support/day-close.js';
import { approvalOf } from './support/hub-answers.js';
import { closeTempDb, dayCloseEvents, openTempStore, type TempStore } from './support/temp-store.js';

/**
 * The agent's side of the business day (docs/reconciliation.md#at-the-store-the-agents-side), on a real agent database:
 * the journal of forwarded events, registers' day closes, the agent's own at the store's cut-off
 * (on a settable clock), and the hub's resends.
 */

const log = createLogger({ name: 'test', level: 'silent' });
const hubCfg = { authorizationDeadlineMs: 200, reconnectBaseMs: 500, reconnectCapMs: 30_000, heartbeatMs: 10_000 };

/** Approves every return online, refunding what the test says. */
class ApprovingHub implements HubAuthorizer {
  connected = true;
  authorize(b: AuthorizeRequestBody): Promise<AuthorizeResult> {
    return Promise.resolve(approvalOf(b, { policyVersion: 1 }));
  }
  lookupReceipt(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  override(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
}

let store: TempStore;
let db: Db;
let outbox: Outbox;
let live: LiveSettings;
let core: StoreCore;
let t: number;

const sale = (
  id: string,
  receipt: string,
  at: string,
  lines: { qty: number; unitPrice: number }[],
  tenders: { kind: string; amount: number }[],
) => ({
  type: 'sale' as const,
  id,
  receipt,
  at,
  currency: 'EUR',
  lines: lines.map((l, i) => ({ line: i + 1, sku: `SKU${i + 1}`, ...l })),
  tenders,
});
/** A sale of one item, paid in full in one tender (in none when `tender` is not given). */
const oneItem = (id: string, receipt: string, at: string, unitPrice: number, tender?: string) =>
  sale(id, receipt, at, [{ qty: 1, unitPrice }], tender !== undefined ? [{ kind: tender, amount: unitPrice }] : []);

async function completedReturn(
  register: string,
  id: string,
  receipt: string,
  refund: { kind: string; amount: number },
): Promise<string> {
  const d = (await core.handle(register, {
    type: 'return.request',
    id: `${id}-req`,
    receipt,
    lines: [{ line: 1, qty: 1, disposition: 'restock' }],
  })) as ReturnDecisionReply;
  expect(d).toMatchObject({ type: 'return.decision', decision: 'approved' });
  expect(
    await core.handle(register, {
      type: 'return.complete',
      id,
      authorization: d.authorization,
      lines: [{ line: 1, qty: 1 }],
      refund,
    }),
  ).toEqual({ type: 'ack', id });
  return d.authorization;
}

const outboxRows = () => outbox.after(0, 1000);
const dayCloses = () => dayCloseEvents(outbox);

/** Opens the store on the test's clock `t` and the time zone of its live settings; `dir` again for a restart. */
function openStore(dir?: string): void {
  store = openTempStore('tb-dayclose-', new ApprovingHub(), log, {
    ...(dir !== undefined ? { dir } : {}),
    now: () => t,
    zone: () => live.settings.timeZone,
    over: (opened) => {
      live = new LiveSettings(opened, hubCfg, log);
      return { live };
    },
  });
  ({ db, outbox, core } = store);
}

beforeEach(() => {
  t = Date.parse('2026-11-27T09:00:00Z');
  openStore();
});
afterEach(() => closeTempDb(store));

describe('the journal of forwarded events', () => {
  it('is written with the outbox row, in its transaction: a message that fails leaves neither', async () => {
    expect(
      await core.handle(
        'R1',
        sale(
          's1',
          'X1',
          '2026-11-27T08:00:00Z',
          [
            { qty: 2, unitPrice: 1250 },
            { qty: 0.5, unitPrice: 999 },
          ],
          [{ kind: 'Cash', amount: 3000 }],
        ),
      ),
    ).toEqual({ type: 'ack', id: 's1' });
    const [row] = outboxRows();
    const journal = db
      .prepare(`SELECT event_id, kind, register, business_day, at, ref, amount, tenders FROM journal`)
      .all();
    expect(journal).toEqual([
      {
        event_id: row!.event_id,
        kind: 'sale',
        register: 'R1',
        business_day: '2026-11-27',
        at: row!.at,
        ref: 'X1',
        amount: 2500 + 500,
        tenders: '{"cash":3000}',
      },
    ]);

    // an outbox append inside a transaction that then fails: neither the row nor its journal entry stays
    expect(() =>
      db.transaction(() => {
        outbox.append('sale', 'R1', {
          requestId: 'x',
          receipt: 'X2',
          at: '2026-11-27T08:00:00Z',
          currency: 'EUR',
          lines: [],
          tenders: [],
        });
        throw new Error('the message failed after its event was written');
      })(),
    ).toThrow('the message failed');
    expect(outboxRows()).toHaveLength(1);
    expect(db.prepare(`SELECT COUNT(*) AS n FROM journal`).get()).toEqual({ n: 1 });
  });

  it("outlives the ack, and is pruned after its retention (14 days by default) on the agent's clock", async () => {
    await core.handle('R1', oneItem('s1', 'X1', '2026-11-27T08:00:00Z', 100));
    outbox.deleteUpTo(outbox.lastSeq()); // the hub acked it
    expect(outboxRows()).toEqual([]);
    t += JOURNAL_RETENTION_MS - 1;
    expect(core.days.prune()).toBe(0);
    expect(outbox.journal.day('R1', '2026-11-27')).toHaveLength(1);
    t += 1;
    await core.handle('R1', oneItem('s2', 'X2', '2026-12-11T08:00:00Z', 100));
    t += 1;
    expect(core.days.prune()).toBe(1);
    expect(outbox.journal.day('R1', '2026-11-27')).toEqual([]);
    expect(outbox.journal.day('R1', '2026-12-11')).toHaveLength(1);
  });
});

describe("a register's day close", () => {
  it(
    'becomes one day.close event (source register) with ' + 'the receipts and returns the agent forwarded that day',
    async () => {
      await core.handle(
        'R1',
        sale('s1', 'X1', '2026-11-27T08:00:00Z', [{ qty: 2, unitPrice: 1000 }], [{ kind: 'card', amount: 2000 }]),
      );
      await core.handle('R1', oneItem('s2', 'X2', '2026-11-27T10:00:00Z', 500, 'cash'));
      await core.handle('R2', oneItem('s3', 'Y1', '2026-11-27T10:00:00Z', 700, 'cash')); // another register
      await core.handle('R1', oneItem('s4', 'X0', '2026-11-26T10:00:00Z', 900, 'cash')); // another day
      t = Date.parse('2026-11-27T12:00:00Z');
      const auth = await completedReturn('R1', 'c1', 'X1', { kind: 'card', amount: 1000 });
      outbox.deleteUpTo(outbox.lastSeq()); // all acked: the day close reads the journal, not the outbox

      const day = { businessDay: '2026-11-27', closedAt: '2026-11-27T21:00:00+01:00', currency: 'EUR' };
      const close = dayCloseMessage('z-1', day, dayTotals([2, 2500], [1, 1000], ['CARD', 1000], ['cash', 500]));
      expect(await core.handle('R1', close)).toEqual({ type: 'ack', id: 'z-1' });
      expect(await core.handle('R1', close)).toEqual({ type: 'ack', id: 'z-1' }); // a retransmission: no second event
      const totals = dayTotals([2, 2500], [1, 1000], ['card', 1000], ['cash', 500]); // tender kinds in lower case
      expect(dayCloses()).toEqual([
        { register: 'R1', body: expectedDayClose('z-1', 'register', day, totals, ['X1', 'X2'], [auth]) },
      ]);
      // closed by the register: no day close of the agent's for it at the cut-off
      t = Date.parse('2026-11-28T03:00:00Z');
      expect(core.days.runDue()).toBe(2); // R1's 26th and R2's 27th, not R1's 27th
      expect(dayCloses().map((d) => [d.register, d.body.businessDay, d.body.source])).toEqual([
        ['R1', '2026-11-27', 'register'],
        ['R1', '2026-11-26', 'agent'],
        ['R2', '2026-11-27', 'agent'],
      ]);
      expect(core.days.counters.sent).toEqual({ register: 1, agent: 2 });
    },
  );

  it('refuses a day that is no date, naming the field, and enqueues nothing', async () => {
    const reply = await core.handle(
      'R1',
      dayCloseMessage('z-1', { businessDay: '2026-13-45' }, dayTotals([0, 0], [0, 0])),
    );
    expect(reply).toMatchObject({ type: 'error', id: 'z-1', code: 'TB_INVALID' });
    expect((reply as { message: string }).message).toMatch(/^businessDay: /);
    expect(outboxRows()).toEqual([]);
    expect(db.prepare(`SELECT COUNT(*) AS n FROM day_closes`).get()).toEqual({ n: 0 });
  });
});

describe("the agent's own day close at the store's cut-off", () => {
  it(
    'for a register that sent none: once, with its totals, ' +
      'at 03:00 the next day in the store zone (across the end of summer time)',
    async () => {
      expect(live.accept(1, { timeZone: 'Europe/Berlin', dayCutoff: '03:00' })).toBe(true);
      // Saturday 24 October 2026 in Berlin; the clocks go back at 03:00 on Sunday the 25th
      t = Date.parse('2026-10-24T10:00:00Z');
      await core.handle(
        'R1',
        sale('s1', 'B1', '2026-10-24T09:00:00+02:00', [{ qty: 2, unitPrice: 1999 }], [{ kind: 'card', amount: 3998 }]),
      );
      await core.handle(
        'R1',
        sale(
          's2',
          'B2',
          '2026-10-24T23:30:00+02:00',
          [{ qty: 1, unitPrice: 500 }],
          [
            { kind: 'cash', amount: 300 },
            { kind: 'card', amount: 200 },
          ],
        ),
      );
      // 00:30 in Berlin is the next business day, though still the 24th in UTC
      await core.handle('R1', oneItem('s3', 'B3', '2026-10-24T22:30:00Z', 100, 'cash'));
      t = Date.parse('2026-10-24T20:00:00Z');
      const auth = await completedReturn('R1', 'c1', 'B1', { kind: 'cash', amount: 1000 });

      // 03:00 in Berlin on the 25th is 02:00 UTC (CET, after the change), not 01:00 (CEST)
      t = Date.parse('2026-10-25T01:59:59Z');
      expect(core.days.runDue()).toBe(0);
      t = Date.parse('2026-10-25T02:00:00Z');
      expect(core.days.runDue()).toBe(1);
      expect(core.days.runDue()).toBe(0); // not twice
      t = Date.parse('2026-10-26T05:00:00Z');
      expect(core.days.runDue()).toBe(1); // the 25th (s3), once its cut-off is past
      expect(core.days.runDue()).toBe(0);

      /** R1's close of `businessDay` by the agent at `closedAt` (in the store's currency), and what it forwarded. */
      const agentClose = (
        businessDay: string,
        closedAt: string,
        totals: DayTotals,
        receipts: string[],
        auths: string[],
      ) => {
        const day = { businessDay, closedAt, currency: 'EUR' };
        return {
          register: 'R1',
          body: expectedDayClose(`agent-close:R1:${businessDay}`, 'agent', day, totals, receipts, auths),
        };
      };
      const oct24 = dayTotals([2, 3998 + 500], [1, 1000], ['card', 4198], ['cash', 300 - 1000]);
      const oct25 = dayTotals([1, 100], [0, 0], ['cash', 100]);
      expect(dayCloses()).toEqual([
        agentClose('2026-10-24', '2026-10-25T02:00:00.000Z', oct24, ['B1', 'B2'], [auth]),
        agentClose('2026-10-25', '2026-10-26T05:00:00.000Z', oct25, ['B3'], []),
      ]);
    },
  );

  it('remembers durably that it closed a day: a restarted agent does not close it again', async () => {
    await core.handle('R1', oneItem('s1', 'X1', '2026-11-27T08:00:00Z', 100));
    t = Date.parse('2026-11-28T03:00:00Z');
    expect(core.days.runDue()).toBe(1);
    db.close();
    openStore(store.dir);
    t += 3600_000;
    expect(core.days.runDue()).toBe(0);
    expect(dayCloses()).toHaveLength(1);
  });
});

describe("the hub's resend of a register's day", () => {
  it("puts exactly that day's journalled events back in the outbox under their original ids, once", async () => {
    await core.handle('R1', oneItem('s1', 'X1', '2026-11-27T08:00:00Z', 100, 'cash'));
    await core.handle('R1', oneItem('s2', 'X2', '2026-11-27T09:00:00Z', 200, 'cash'));
    await core.handle('R2', oneItem('s3', 'Y1', '2026-11-27T09:00:00Z', 300));
    await core.handle('R1', oneItem('s4', 'X0', '2026-11-26T09:00:00Z', 400));
    t = Date.parse('2026-11-27T15:00:00Z');
    await completedReturn('R1', 'c1', 'X1', { kind: 'cash', amount: 100 });
    // R1's events of the 27th: not R2's, not the sale of the 26th
    const ofDay = outboxRows().filter(
      (r) => r.register === 'R1' && (JSON.parse(r.body) as { receipt?: string }).receipt !== 'X0',
    );
    outbox.deleteUpTo(outbox.lastSeq()); // acked and gone
    expect(outboxRows()).toEqual([]);

    const r = core.days.resend('R1', '2026-11-27', { receipts: ['X2'], authorizations: [] });
    expect(r).toEqual({ requeued: ofDay.length, waiting: 0 });
    const again = outboxRows();
    expect(again.map((x) => [x.event_id, x.kind, x.register, x.at, x.body])).toEqual(
      ofDay.map((x) => [x.event_id, x.kind, x.register, x.at, x.body]),
    );
    expect(again.map((x) => x.kind)).toEqual(['sale', 'sale', 'return.complete']);
    // idempotent: asked again while they wait, nothing is added
    expect(core.days.resend('R1', '2026-11-27', { receipts: ['X2'], authorizations: [] })).toEqual({
      requeued: 0,
      waiting: ofDay.length,
    });
    expect(outboxRows()).toHaveLength(ofDay.length);
    expect(core.days.counters).toMatchObject({ resends: 2, requeued: ofDay.length });
    // the journal is not written twice by a resend
    expect(
      db.prepare(`SELECT COUNT(*) AS n FROM journal WHERE register = 'R1' AND business_day = '2026-11-27'`).get(),
    ).toEqual({ n: ofDay.length });
  });
});
