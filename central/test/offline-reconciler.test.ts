import { describe, expect, it } from 'vitest';
import type { ReturnDecisionEventBody } from '@tillbridge/shared';
import { hubForEachTest, recordSale } from './helpers.js';
import { askReturn, completeReturn, offlineApproval } from './returns-support.js';

/**
 * DESIGN rule 10: an offline decision is judged as of the time it was made and by the policy
 * version the agent applied, not when it reached the hub. What is returnable is still what is
 * left now (returns never exceed sales).
 */

const DAY = 86_400_000;
const SOLD = Date.parse('2026-10-01T12:00:00.000Z');
const day = (n: number, hour = 12) => SOLD + n * DAY + (hour - 12) * 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

const t = hubForEachTest({ S1: 'S1', S2: 'S2' }, () => sell('S1', 'X1', 2));

const sell = (store: string, receipt: string, qty: number, at = SOLD) =>
  recordSale(t.hub, store, { receipt, qty, at: iso(at) });

/** One unit of X1 approved offline at `decidedAt` under `policyVersion`. */
const offline = (
  authorization: string,
  decidedAt: number,
  policyVersion: number,
  extra: Partial<ReturnDecisionEventBody> = {},
): ReturnDecisionEventBody =>
  offlineApproval(authorization, 'X1', 1, { policyVersion, decidedAt: iso(decidedAt), ...extra });
const sync = (b: ReturnDecisionEventBody, store = 'S1') =>
  t.hub.storage.tx(() => t.hub.reconciler.apply(store, 'R1', b));
const online = (store: string, authorization: string, receipt = 'X1', qty = 1) =>
  askReturn(t.hub, store, authorization, receipt, qty);

describe('offline decisions judged as of when they were made', () => {
  it('confirms an approval made on day 29 of a 30-day window that reaches the hub on day 31', () => {
    const v = t.hub.policies.set(undefined, { returnWindowDays: 30, windowOverridable: false }, 'admin:t');
    t.clock.t = day(31);
    expect(sync(offline('o-29', day(29), v))).toEqual({});
    expect(t.hub.returnsRepo.get('o-29')).toMatchObject({
      reconciliation: 'confirmed',
      exception_code: null,
      policy_version: v,
      created_at: iso(day(29)),
    });
    // judged now, the same request is outside the window
    expect(online('S1', 'on-31').decision).toBe('denied');
  });

  it('flags an approval made outside the window, naming when it was decided and by which policy version', () => {
    const v = t.hub.policies.set(undefined, { returnWindowDays: 30, windowOverridable: false }, 'admin:t');
    t.clock.t = day(33);
    expect(sync(offline('o-32', day(32), v))).toEqual({ exception: 'outside_window' });
    const [ex] = t.hub.exceptions.forAuthorization('o-32');
    expect(ex!.reason).toContain(iso(day(32)));
    expect(ex!.reason).toContain(`policy version ${v}`);
    expect(JSON.parse(ex!.body!)).toEqual({ decidedAt: iso(day(32)), policyVersion: v, agentPolicyVersion: v });
  });

  it('judges by the policy version the agent applied, not a newer one', () => {
    const v1 = t.hub.policies.set(undefined, { returnWindowDays: 30, windowOverridable: false }, 'admin:t');
    t.clock.t = day(20);
    // after the agent decided, the operator shortens the window and makes A non-returnable
    t.hub.policies.set(undefined, { returnWindowDays: 7, nonReturnable: { skus: ['A'] } }, 'admin:t');
    t.hub.policies.set('S1', { maxRefundPerReturn: 100 }, 'admin:t');
    expect(sync(offline('o-v1', day(19), v1))).toEqual({});
    expect(t.hub.returnsRepo.get('o-v1')).toMatchObject({ reconciliation: 'confirmed', policy_version: v1 });
  });

  it('flags what the agent’s own version forbade, even when a newer version allows it', () => {
    const v1 = t.hub.policies.set('S1', { maxRefundPerReturn: 500 }, 'admin:t');
    const v2 = t.hub.policies.set('S1', { maxRefundPerReturn: null }, 'admin:t');
    expect(v2).toBeGreaterThan(v1);
    t.clock.t = day(3);
    expect(sync(offline('o-lim', day(2), v1))).toEqual({ exception: 'limit_exceeded' });
    expect(t.hub.exceptions.forAuthorization('o-lim')[0]!.reason).toContain(`policy version ${v1}`);
  });

  it('reconstructs each version a store held: the default and its override as they stood then', () => {
    const seen: [number, unknown][] = [];
    const snap = () => {
      const e = t.hub.policies.effective('S1');
      seen.push([e.version, e.policy]);
    };
    snap();
    t.hub.policies.set(undefined, { returnWindowDays: 20 }, 'admin:t');
    snap();
    t.hub.policies.set('S1', { returnWindowDays: 60, maxRefundPerReturn: 700 }, 'admin:t');
    snap();
    t.hub.policies.set('S2', { returnWindowDays: 5 }, 'admin:t'); // another store's change: not a version S1 ever held
    t.hub.policies.set(undefined, { maxRefundPerStorePerDay: 9000 }, 'admin:t');
    snap();
    t.hub.policies.set('S1', { returnWindowDays: 45 }, 'admin:t');
    snap();
    for (const [version, policy] of seen) expect(t.hub.policies.asOf('S1', version)).toEqual({ version, policy });
    const s2Only = t.hub.policies.list('S2')[0]!.version;
    expect(t.hub.policies.asOf('S1', s2Only)).toBeUndefined();
    expect(t.hub.policies.asOf('S1', 999)).toBeUndefined();
  });

  it('judges an unknown policy version by the version in force when the decision was made, and says so', () => {
    t.clock.t = day(0);
    const v1 = t.hub.policies.set(undefined, { returnWindowDays: 30, windowOverridable: false }, 'admin:t');
    t.clock.t = day(10);
    t.hub.policies.set(undefined, { returnWindowDays: 3 }, 'admin:t');
    t.clock.t = day(12);
    // decided on day 5 (under v1: within 30 days), claiming a version the hub never gave this store
    expect(sync(offline('o-unk', day(5), 777))).toEqual({});
    expect(t.hub.returnsRepo.get('o-unk')).toMatchObject({ reconciliation: 'confirmed', policy_version: 777 });
    const entry = t.hub.audit.tail(5).find((e) => e.action === 'return.authorize' && e.resource === 'return:o-unk')!;
    expect(JSON.parse(entry.details)).toMatchObject({ policyVersion: 777, judgedBy: v1, decidedAt: iso(day(5)) });
    // decided on day 11 with an unknown version: judged by the 3-day window then in force
    expect(sync(offline('o-unk2', day(11), 777))).toEqual({ exception: 'outside_window' });
    const ex = t.hub.exceptions.forAuthorization('o-unk2')[0]!;
    expect(ex.reason).toMatch(/policy version \d+ \(the agent's version 777 is not one this store had\)/);
  });

  it('a decision time ahead of the hub (a fast agent clock) is judged as of the hub’s now', () => {
    const v = t.hub.policies.set(undefined, { returnWindowDays: 30, windowOverridable: false }, 'admin:t');
    t.clock.t = day(29);
    // the agent's clock is two days fast: it says day 31, but nothing can be decided after it reached the hub
    expect(sync(offline('o-fast', day(31), v))).toEqual({});
    expect(t.hub.returnsRepo.get('o-fast')).toMatchObject({ reconciliation: 'confirmed', created_at: iso(day(29)) });
  });

  it('counts the store’s daily limit on the decision’s own day', () => {
    const v = t.hub.policies.set(undefined, { maxRefundPerStorePerDay: 1500, windowOverridable: false }, 'admin:t');
    sell('S1', 'X2', 5);
    // today (day 3) the store already approved 1000 online
    t.clock.t = day(3, 9);
    expect(online('S1', 'today', 'X2').decision).toBe('approved');
    // yesterday's offline approval of 1000 reaches the hub today: nothing else was approved yesterday
    t.clock.t = day(3, 10);
    expect(sync(offline('o-yday', day(2, 15), v))).toEqual({});
    expect(t.hub.returnsRepo.get('o-yday')).toMatchObject({ reconciliation: 'confirmed' });

    // on day 5, 1000 approved online in the morning; an offline approval that afternoon goes over
    t.clock.t = day(5, 9);
    expect(online('S1', 'morning', 'X2').decision).toBe('approved');
    completeReturn(t.hub, 'S1', 'morning', 1, { kind: 'cash', amount: 1000 });
    t.clock.t = day(6, 10);
    expect(sync(offline('o-aft', day(5, 15), v, { receipt: 'X2' }))).toEqual({ exception: 'limit_exceeded' });
    // …but approvals made later that day do not count against an earlier decision
    t.clock.t = day(7, 9);
    sell('S1', 'X3', 5, day(7, 8));
    t.clock.t = day(7, 16);
    expect(online('S1', 'evening', 'X3').decision).toBe('approved');
    t.clock.t = day(8);
    expect(sync(offline('o-early', day(7, 10), v, { receipt: 'X3' }))).toEqual({});
  });

  it('still counts what is returnable now: a return elsewhere after the decision makes it an over_return', () => {
    const v = t.hub.policies.set(undefined, { returnWindowDays: 30 }, 'admin:t');
    t.clock.t = day(4);
    expect(online('S2', 'later-elsewhere', 'X1', 2).decision).toBe('approved');
    expect(sync(offline('o-phys', day(3), v))).toEqual({ exception: 'over_return' });
  });
});
