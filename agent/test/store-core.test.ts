import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type OverrideBody,
  type ReceiptLookupBody,
  type ReceiptLookupResult,
  type ReturnDecisionReply,
} from '@tillbridge/shared';
import type { Db } from '../src/db/agent-db.js';
import type { Outbox } from '../src/sync/outbox.js';
import type { StoreCore } from '../src/core/store-core.js';
import type { HubAuthorizer } from '../src/sync/hub-link.js';
import { PolicyStore } from '../src/core/policy-store.js';
import { LiveSettings } from '../src/core/live-settings.js';
import { approvalOf } from './support/hub-answers.js';
import { closeTempDb, openTempStore, type TempStore } from './support/temp-store.js';

const hubCfg = { authorizationDeadlineMs: 200, reconnectBaseMs: 500, reconnectCapMs: 30_000, heartbeatMs: 10_000 };

/** The hub's online approval of every line as asked (1000 refunded), with what a test changes. */
const approval = (b: AuthorizeRequestBody, over: Partial<AuthorizeResult> = {}): AuthorizeResult =>
  approvalOf(b, { allowedTenders: ['cash', 'store_credit'], policyVersion: 3, ...over });

/** The in-memory double of the hub link: same interface, answers decided by the test. */
class FakeHub implements HubAuthorizer {
  connected = true;
  calls: AuthorizeRequestBody[] = [];
  answer: (b: AuthorizeRequestBody) => Promise<AuthorizeResult> = (b) => Promise.resolve(approval(b));
  overrides: OverrideBody[] = [];
  override(body: OverrideBody): Promise<AuthorizeResult> {
    this.overrides.push(body);
    return Promise.reject(new Error('not used'));
  }
  lookups: ReceiptLookupBody[] = [];
  lookupReceipt(body: ReceiptLookupBody): Promise<ReceiptLookupResult> {
    this.lookups.push(body);
    return Promise.resolve({ receipt: body.receipt ?? '', found: false, lines: [] });
  }
  authorize(body: AuthorizeRequestBody, deadlineMs: number): Promise<AuthorizeResult> {
    this.calls.push(body);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`late after ${deadlineMs} ms`)), deadlineMs);
    });
    return Promise.race([this.answer(body), late]).finally(() => clearTimeout(timer));
  }
}

const log = createLogger({ name: 'test', level: 'silent' });
let store: TempStore;
let db: Db;
let hub: FakeHub;
let core: StoreCore;
let outbox: Outbox;
let policy: PolicyStore;
let live: LiveSettings;

/** The store's clock in these tests: a day after the sales below, whatever the date today. */
const NOW = Date.parse('2026-11-28T10:00:00Z');
const sale = (id: string, receipt: string, qty = 2, unitPrice = 1000) => ({
  type: 'sale' as const,
  id,
  receipt,
  at: '2026-11-27T10:00:00Z',
  currency: 'EUR',
  lines: [{ line: 1, sku: 'A', qty, unitPrice }],
  tenders: [],
});
const request = (id: string, receipt: string, qty = 1) => ({
  type: 'return.request' as const,
  id,
  receipt,
  lines: [{ line: 1, qty, disposition: 'restock' as const }],
});

/** Register R1 sells `qty` of receipt X1 (sale m1) at `unitPrice` while the hub is unreachable, as it stays. */
async function sellOffline(qty: number, unitPrice: number): Promise<void> {
  hub.connected = false;
  await core.handle('R1', sale('m1', 'X1', qty, unitPrice));
}

/** A register's completion of an authorized return: one line, refunded in cash. */
const complete = (id: string, authorization: string, qty: number, amount: number, kind = 'cash') =>
  core.handle('R1', {
    type: 'return.complete',
    id,
    authorization,
    lines: [{ line: 1, qty }],
    refund: { kind, amount },
  });

beforeEach(() => {
  hub = new FakeHub();
  store = openTempStore('tb-core-', hub, log, {
    now: () => NOW,
    over: (opened) => {
      policy = new PolicyStore(opened, 5000, log);
      live = new LiveSettings(opened, hubCfg, log);
      return { policy, live };
    },
  });
  ({ db, outbox, core } = store);
});
afterEach(() => closeTempDb(store));

describe('StoreCore', () => {
  it(
    'acks a sale once it is in the outbox, ' + 'and answers a retransmission the same way without a second effect',
    async () => {
      expect(await core.handle('R1', sale('m1', 'X1'))).toEqual({ type: 'ack', id: 'm1' });
      expect(await core.handle('R1', sale('m1', 'X1'))).toEqual({ type: 'ack', id: 'm1' });
      expect(outbox.stats().depth).toBe(1);
      const row = outbox.after(0, 10)[0]!;
      expect(row.kind).toBe('sale');
      expect(JSON.parse(row.body)).toMatchObject({ requestId: 'm1', receipt: 'X1' });
    },
  );

  it('asks the hub with a stable authorization id and records the online decision', async () => {
    await core.handle('R1', sale('m1', 'X1'));
    const d = (await core.handle('R1', request('m2', 'X1'))) as ReturnDecisionReply;
    expect(d).toMatchObject({ type: 'return.decision', decision: 'approved', mode: 'online' });
    expect(hub.calls[0]!.after).toBe(1); // the hub must apply the sale first
    expect(d.authorization).toBe(hub.calls[0]!.authorization);
    // a retransmitted request is answered from the database, not asked again
    expect(await core.handle('R1', request('m2', 'X1'))).toEqual(d);
    expect(hub.calls).toHaveLength(1);
    expect(await complete('m3', d.authorization, 1, 1000)).toEqual({ type: 'ack', id: 'm3' });
    expect(outbox.after(0, 10).map((r) => r.kind)).toEqual(['sale', 'return.complete']);
  });

  it(
    "asks the hub to wait for the queued events its decision reads (the receipt's sale and returns; under a " +
      'store-wide daily limit every event that is not a sale), not for every queued sale',
    async () => {
      for (const [i, receipt] of ['X1', 'X2', 'X3'].entries()) await core.handle('R1', sale(`s${i}`, receipt)); // 1–3
      const d = (await core.handle('R1', request('q1', 'X1'))) as ReturnDecisionReply;
      expect(hub.calls.at(-1)!.after).toBe(1); // X1's sale, not the sales after it
      await core.handle('R1', request('q2', 'X9'));
      expect(hub.calls.at(-1)!.after).toBe(0); // no queued event is about it
      expect(await complete('c1', d.authorization, 1, 1000)).toEqual({ type: 'ack', id: 'c1' }); // 4
      await core.handle('R1', sale('s3', 'X4')); // 5
      await core.handle('R1', request('q3', 'X1'));
      expect(hub.calls.at(-1)!.after).toBe(4); // X1's return completed: what is claimed of it
      await core.handle('R1', request('q4', 'X2'));
      expect(hub.calls.at(-1)!.after).toBe(2); // another receipt's return is not read…
      const { DEFAULT_POLICY, mergePolicy } = await import('@tillbridge/shared');
      expect(policy.accept(2, mergePolicy(DEFAULT_POLICY, { maxRefundPerStorePerDay: 100_000 }))).toBe(true);
      await core.handle('R1', request('q5', 'X2'));
      expect(hub.calls.at(-1)!.after).toBe(4); // …unless the store's refunds today are
      await core.handle('R1', { type: 'receipt.lookup', id: 'l1', receipt: 'X4' });
      expect(hub.lookups.at(-1)).toEqual({ receipt: 'X4', after: 5 });
      // an exchange reads stock, which every sale moves
      await core.handle('R1', { ...request('q6', 'X2'), exchange: [{ sku: 'A', qty: 1 }] });
      expect(hub.calls.at(-1)!.after).toBe(5);
      // the hub acked everything: nothing to wait for
      outbox.deleteUpTo(5);
      await core.handle('R1', request('q7', 'X1'));
      expect(hub.calls.at(-1)!.after).toBe(0);
    },
  );

  it('refuses to complete more than was approved, or an authorization it never issued', async () => {
    await core.handle('R1', sale('m1', 'X1'));
    const d = (await core.handle('R1', request('m2', 'X1'))) as ReturnDecisionReply;
    expect(await complete('m3', d.authorization, 2, 0)).toMatchObject({
      type: 'error',
      code: 'TB_EXCEEDS_AUTHORIZATION',
    });
    expect(await complete('m4', 'nope', 1, 0)).toMatchObject({ type: 'error', code: 'TB_UNKNOWN_AUTHORIZATION' });
    expect(await core.handle('R1', { type: 'return.cancel', id: 'm5', authorization: d.authorization })).toEqual({
      type: 'ack',
      id: 'm5',
    });
    expect(await complete('m6', d.authorization, 1, 0)).toMatchObject({
      type: 'error',
      code: 'TB_AUTHORIZATION_STATE',
    });
    expect(outbox.after(0, 10).map((r) => r.kind)).toEqual(['sale', 'return.cancel']);
  });

  it('refunds only to a tender the decision allowed, read without regard to case', async () => {
    await core.handle('R1', sale('m1', 'X1'));
    const d = (await core.handle('R1', request('m2', 'X1'))) as ReturnDecisionReply; // cash or store credit
    expect(await complete('m3', d.authorization, 1, 1000, 'card')).toMatchObject({
      type: 'error',
      code: 'TB_INVALID',
      message: 'refund.kind: expected one of cash, store_credit for this return',
    });
    expect(await complete('m4', d.authorization, 1, 1000, 'Cash')).toEqual({ type: 'ack', id: 'm4' });
  });

  describe('a completion never refunds more than its authorization (nothing recorded, nothing sent)', () => {
    const nothingRecorded = (id: string, authorization: string) => {
      expect(outbox.after(0, 50).filter((r) => r.kind === 'return.complete')).toEqual([]);
      expect(db.prepare('SELECT COUNT(*) AS n FROM replies WHERE msg_id = ?').get(id)).toEqual({ n: 0 });
      expect(db.prepare('SELECT status FROM local_returns WHERE authorization = ?').get(authorization)).toEqual({
        status: 'approved',
      });
    };
    /** A completion over its authorization: refused with the code, and nothing of it recorded. */
    const refusedOver = async (id: string, authorization: string, qty: number, amount: number) => {
      expect(await complete(id, authorization, qty, amount)).toMatchObject({
        type: 'error',
        code: 'TB_EXCEEDS_AUTHORIZATION',
      });
      nothingRecorded(id, authorization);
    };
    /**
     * Sells receipt X1 (sale m1: `sold` as qty and unit price) and has `qty` of it approved online (request m2), the
     * hub refunding `refund` for it, told per line or not; resolves with the authorization.
     */
    const approvedOnline = async (refund: number, perLine: boolean, qty = 1, sold: [number, number] = [2, 1000]) => {
      hubAnswers(refund, perLine);
      await core.handle('R1', sale('m1', 'X1', ...sold));
      return ((await core.handle('R1', request('m2', 'X1', qty))) as ReturnDecisionReply).authorization;
    };
    const hubAnswers = (refund: number, perLine: boolean) => {
      hub.answer = (b) =>
        Promise.resolve(
          approval(b, {
            lines: b.lines.map((l) => ({
              line: l.line ?? 0,
              approvedQty: l.qty,
              code: 'ok',
              ...(perLine ? { refund } : {}),
            })),
            refundAmount: refund,
          }),
        );
    };

    it(
      'online: refuses a refund above the authorization with a code, ' + 'then takes the right one under the same id',
      async () => {
        const auth = await approvedOnline(1000, true);
        expect(await complete('c1', auth, 1, 1001)).toMatchObject({
          type: 'error',
          id: 'c1',
          code: 'TB_EXCEEDS_AUTHORIZATION',
          message: expect.stringContaining('1000'),
        });
        nothingRecorded('c1', auth);
        expect(await complete('c1', auth, 1, 1000)).toEqual({ type: 'ack', id: 'c1' });
      },
    );

    it('online, from a hub that does not give each line its refund: held to the whole authorization', async () => {
      await refusedOver('c1', await approvedOnline(1000, false), 1, 1001);
    });

    it('a partial completion refunds at most its share of the line', async () => {
      const auth = await approvedOnline(1998, true, 2, [2, 999]);
      await refusedOver('c1', auth, 1, 1000);
      expect(await complete('c2', auth, 1, 999)).toEqual({ type: 'ack', id: 'c2' });
    });

    it(
      'offline: held to what the agent authorized, ' + 'and a line returned in halves refunds what was paid, not more',
      async () => {
        await sellOffline(1, 999);
        const a = (await core.handle('R1', request('r1', 'X1', 0.5))) as ReturnDecisionReply;
        expect(a).toMatchObject({
          decision: 'approved',
          mode: 'offline',
          refundAmount: 500,
          lines: [{ line: 1, approvedQty: 0.5, code: 'ok', refund: 500 }],
        });
        await refusedOver('c1', a.authorization, 0.5, 501);
        expect(await complete('c2', a.authorization, 0.5, 500)).toEqual({ type: 'ack', id: 'c2' });
        const b = (await core.handle('R2', request('r2', 'X1', 0.5))) as ReturnDecisionReply;
        expect(b).toMatchObject({ decision: 'approved', refundAmount: 499, lines: [{ refund: 499 }] });
        expect(await complete('c3', b.authorization, 0.5, 500)).toMatchObject({
          type: 'error',
          code: 'TB_EXCEEDS_AUTHORIZATION',
        });
        // the hub is told each line's refund with the decision
        const decisions = outbox
          .after(0, 50)
          .filter((r) => r.kind === 'return.decision')
          .map((r) => JSON.parse(r.body) as { lines: { refund?: number }[] });
        expect(decisions.map((e) => e.lines[0]!.refund)).toEqual([500, 499]);
      },
    );

    it(
      'a request left pending by a crash: ' + 'the hub is asked what it decided, and the completion is held to it',
      async () => {
        const auth = await approvedOnline(1000, true);
        db.prepare(`DELETE FROM replies WHERE msg_id = 'm2'`).run();
        db.prepare(
          `UPDATE local_returns SET status = 'pending', decision = 'pending', refund = 0,
           lines = '[{"line":1,"qty":1000,"disposition":"restock"}]' WHERE authorization = ?`,
        ).run(auth);
        expect(await complete('c1', auth, 1, 1500)).toMatchObject({
          type: 'error',
          code: 'TB_EXCEEDS_AUTHORIZATION',
        });
        expect(hub.calls.at(-1)!.authorization).toBe(auth);
        expect(await complete('c1', auth, 1, 1000)).toEqual({ type: 'ack', id: 'c1' });
      },
    );
  });

  it(
    'decides offline when the hub is unreachable: ' + 'within policy, outside it, and never the same unit twice',
    async () => {
      await sellOffline(2, 1000);
      await core.handle('R1', sale('m2', 'BIG', 1, 9000));
      const a = (await core.handle('R1', request('r1', 'X1', 1))) as ReturnDecisionReply;
      expect(a).toMatchObject({
        decision: 'approved',
        mode: 'offline',
        lines: [{ line: 1, approvedQty: 1, code: 'ok' }],
      });
      const b = (await core.handle('R2', request('r2', 'X1', 1))) as ReturnDecisionReply;
      expect(b.decision).toBe('approved');
      const c = (await core.handle('R1', request('r3', 'X1', 1))) as ReturnDecisionReply;
      expect(c).toMatchObject({ decision: 'denied', lines: [{ code: 'exceeds_returnable' }] });
      expect(await core.handle('R1', request('r4', 'NOWHERE'))).toMatchObject({
        decision: 'denied',
        lines: [{ code: 'receipt_unknown_offline' }],
      });
      expect(await core.handle('R1', request('r5', 'BIG'))).toMatchObject({
        decision: 'denied',
        lines: [{ code: 'offline_limit_exceeded' }],
      });
      expect(hub.calls).toHaveLength(0);
      const decisions = outbox
        .after(0, 20)
        .filter((r) => r.kind === 'return.decision')
        .map((r) => JSON.parse(r.body) as { decision: string; mode: string });
      expect(decisions.map((d) => d.decision)).toEqual(['approved', 'approved', 'denied', 'denied', 'denied']);
      expect(decisions.every((d) => d.mode === 'offline')).toBe(true);
    },
  );

  it(
    'decides offline by the policy version the hub pushed: ' + 'per-register daily limit, receipts, exchanges',
    async () => {
      const { DEFAULT_POLICY, mergePolicy } = await import('@tillbridge/shared');
      expect(
        policy.accept(
          7,
          mergePolicy(DEFAULT_POLICY, { offline: { maxRefundPerReturn: 3000, maxRefundPerRegisterPerDay: 2500 } }),
        ),
      ).toBe(true);
      expect(policy.accept(6, DEFAULT_POLICY)).toBe(false); // an older version never replaces a newer one
      await sellOffline(3, 1000);
      expect(await core.handle('R1', request('r1', 'X1', 2))).toMatchObject({
        decision: 'approved',
        mode: 'offline',
        refundAmount: 2000,
      });
      expect(await core.handle('R1', request('r2', 'X1', 1))).toMatchObject({
        decision: 'denied',
        lines: [{ code: 'offline_register_daily_limit' }],
      });
      // another register has its own limit
      expect(await core.handle('R2', request('r3', 'X1', 1))).toMatchObject({ decision: 'approved' });
      expect(
        await core.handle('R1', {
          type: 'return.request',
          id: 'r4',
          lines: [{ sku: 'A', qty: 1, unitPrice: 100, disposition: 'restock' }],
        }),
      ).toMatchObject({ decision: 'denied', lines: [{ code: 'offline_receipt_required' }] });
      await core.handle('R1', sale('m2', 'X2', 1, 500));
      expect(
        await core.handle('R3', {
          type: 'return.request',
          id: 'r5',
          receipt: 'X2',
          lines: [{ line: 1, qty: 1, disposition: 'restock' }],
          exchange: [{ sku: 'B', qty: 1 }],
        }),
      ).toMatchObject({
        decision: 'conditional',
        conditions: ['exchange_unavailable'],
        exchange: [{ sku: 'B', approvedQty: 0, code: 'exchange_unavailable_offline' }],
      });
      const events = outbox
        .after(0, 50)
        .filter((r) => r.kind === 'return.decision')
        .map((r) => JSON.parse(r.body) as { policyVersion: number });
      expect(events.every((e) => e.policyVersion === 7)).toBe(true);
    },
  );

  it('falls back to an offline decision when the hub answers after the deadline', async () => {
    await core.handle('R1', sale('m1', 'X1'));
    // The hub answers only when the test lets it, after the register has its decision.
    let release = (): void => {
      /* replaced below, once the hub is asked */
    };
    hub.answer = (b) =>
      new Promise(
        (r) => (release = () => r(approval(b, { lines: [], refundAmount: 0, allowedTenders: [], policyVersion: 0 }))),
      );
    const d = (await core.handle('R1', request('r1', 'X1'))) as ReturnDecisionReply;
    release();
    expect(d).toMatchObject({ decision: 'approved', mode: 'offline' });
    expect(d.authorization).toBe(hub.calls[0]!.authorization); // the hub reconciles the same id
  });

  it('recovers a decision whose local copy was lost after the register got it (power loss)', async () => {
    await core.handle('R1', sale('m1', 'X1'));
    const d = (await core.handle('R1', request('m2', 'X1'))) as ReturnDecisionReply;
    // what a power loss can leave behind: the durable pending row, not the unsynced decision
    db.prepare(`DELETE FROM replies WHERE msg_id = 'm2'`).run();
    db.prepare(`UPDATE local_returns SET status = 'pending', decision = 'pending' WHERE authorization = ?`).run(
      d.authorization,
    );
    // offline, the pending request still counts against the receipt
    hub.connected = false;
    expect(await core.handle('R1', request('m3', 'X1', 2))).toMatchObject({
      decision: 'denied',
      lines: [{ code: 'exceeds_returnable' }],
    });
    // and the register can complete it; the hub checks it against what it decided
    expect(await complete('m4', d.authorization, 1, 1000)).toEqual({ type: 'ack', id: 'm4' });
    db.prepare(`UPDATE local_returns SET status = 'pending' WHERE authorization = ?`).run(d.authorization);
    hub.connected = true;
    expect(await core.resolvePending()).toBe(1);
    expect(hub.calls.at(-1)!.authorization).toBe(d.authorization);
    expect(db.prepare(`SELECT status FROM local_returns WHERE authorization = ?`).get(d.authorization)).toEqual({
      status: 'approved',
    });
    expect(await core.handle('R1', request('m2', 'X1'))).toEqual(d);
  });

  it('answers a receipt lookup from the hub, or from what it knows when offline', async () => {
    await core.handle('R1', sale('m1', 'X1', 3));
    expect(await core.handle('R1', { type: 'receipt.lookup', id: 'l1', receipt: 'X1' })).toMatchObject({
      type: 'receipt',
      source: 'hub',
      found: false,
    });
    expect(hub.lookups[0]).toEqual({ receipt: 'X1', after: 1 });
    hub.connected = false;
    await core.handle('R1', request('r1', 'X1', 1));
    expect(await core.handle('R1', { type: 'receipt.lookup', id: 'l2', receipt: 'X1' })).toEqual({
      type: 'receipt',
      id: 'l2',
      receipt: 'X1',
      found: true,
      source: 'local',
      store: 'S1',
      currency: 'EUR',
      at: '2026-11-27T10:00:00Z',
      lines: [{ line: 1, sku: 'A', qty: 3, unitPrice: 1000, returnable: 2 }],
    });
  });

  it('records what a register reports about itself', async () => {
    expect(await core.handle('R1', { type: 'status', id: 'st1', state: 'paper_out', detail: 'printer' })).toEqual({
      type: 'ack',
      id: 'st1',
    });
    expect(db.prepare('SELECT state, detail FROM terminal_status WHERE register = ?').get('R1')).toEqual({
      state: 'paper_out',
      detail: 'printer',
    });
  });

  it('acknowledges nothing when the commit fails', async () => {
    db.exec(`CREATE TRIGGER fail BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
    await expect(core.handle('R1', sale('m1', 'X1'))).rejects.toThrow(/disk full/);
    expect(db.prepare('SELECT COUNT(*) AS n FROM replies').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM receipts').get()).toEqual({ n: 0 });
    db.exec('DROP TRIGGER fail');
    expect(await core.handle('R1', sale('m1', 'X1'))).toEqual({ type: 'ack', id: 'm1' });
  });

  it(
    'runs by the sync settings the hub pushes: a new deadline at once, ' +
      'no offline approvals when forbidden, kept across restarts',
    async () => {
      expect(live.version).toBe(0);
      await core.handle('R1', sale('m1', 'X1'));
      hub.answer = (b) =>
        new Promise((r) =>
          setTimeout(
            () =>
              r(
                approval(b, { lines: [{ line: 1, approvedQty: 1, code: 'ok' }], allowedTenders: [], policyVersion: 0 }),
              ),
            400,
          ),
        );
      // the hub widens the deadline: the slow answer now arrives in time
      expect(live.accept(2, { authorizationDeadlineMs: 1500 })).toBe(true);
      expect(await core.handle('R1', request('r1', 'X1'))).toMatchObject({ decision: 'approved', mode: 'online' });
      expect(live.accept(1, { authorizationDeadlineMs: 50 })).toBe(false); // older: ignored
      expect(live.accept(3, { authorizationDeadlineMs: 'soon' })).toBe(false); // unreadable: ignored, kept
      expect(live.settings.authorizationDeadlineMs).toBe(1500);
      // offline approvals switched off: offline, every request is denied with its own code
      expect(live.accept(4, { offlineApprovals: false })).toBe(true);
      hub.connected = false;
      expect(await core.handle('R1', request('r2', 'X1'))).toMatchObject({
        decision: 'denied',
        mode: 'offline',
        lines: [{ code: 'offline_disabled' }],
      });
      const again = new LiveSettings(db, hubCfg, log);
      expect(again.version).toBe(4);
      expect(again.settings.offlineApprovals).toBe(false);
    },
  );
});
