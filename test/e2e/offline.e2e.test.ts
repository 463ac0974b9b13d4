import { afterAll, describe, expect, it } from 'vitest';
import { onHand, returnsList, type AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import {
  cashReturn,
  invariantViolations,
  returnRequest,
  sale,
  statusOf,
  World,
  worldForFile,
  type Decision,
} from './fixture.js';

const w = worldForFile({ stores: ['S1', 'S2'], stock: { S1: { P: 10, Q: 10 } } });

interface Depth {
  outbox: { depth: number };
}
interface Connected {
  hub: { connected: boolean };
}
const drained = (agent: AgentHandle): Promise<boolean> =>
  waitFor('the outbox to drain', async () => (await statusOf<Depth>(agent)).outbox.depth === 0, 20_000);

describe('offline decisions and reconciliation', () => {
  it(
    'decides by local policy while the hub is down, then ' + 'reconciles exactly once — and flags what conflicts',
    async () => {
      let a = await w.startAgent('S1', 'S1');
      const b = await w.startAgent('S2', 'S2');
      const reg = await JsonLinesRegister.connect(a.port());
      await reg.send(sale('s1', 'OFF-1', [{ sku: 'P', qty: 2, unitPrice: 500 }]));
      await reg.send(sale('s2', 'OFF-2', [{ sku: 'Q', qty: 1, unitPrice: 50_000 }]));
      await reg.send(sale('s3', 'OFF-3', [{ sku: 'P', qty: 1, unitPrice: 500 }]));
      await drained(a);
      expect(await onHand(w.hub, 'S1', 'P')).toBe(7);
      // the hub goes away (every process of it)
      await w.stopHubs();
      await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');

      const within = await reg.send<Decision>(returnRequest('o1', 'OFF-1'));
      expect(within).toMatchObject({ decision: 'approved', mode: 'offline', lines: [{ approvedQty: 1, code: 'ok' }] });
      expect(await reg.send(cashReturn('o1c', within.authorization, 500))).toEqual({ type: 'ack', id: 'o1c' });

      const overLimit = await reg.send<Decision>(returnRequest('o2', 'OFF-2'));
      expect(overLimit).toMatchObject({
        decision: 'denied',
        mode: 'offline',
        lines: [{ approvedQty: 0, code: 'offline_limit_exceeded' }],
      });
      const elsewhere = await reg.send<Decision>(returnRequest('o3', 'SOLD-ELSEWHERE'));
      expect(elsewhere).toMatchObject({
        decision: 'denied',
        mode: 'offline',
        lines: [{ code: 'receipt_unknown_offline' }],
      });
      const again = await reg.send<Decision>(returnRequest('o4', 'OFF-1', 2));
      // only 1 left, by what the agent knows
      expect(again).toMatchObject({ decision: 'denied', lines: [{ code: 'exceeds_returnable' }] });

      const conflicting = await reg.send<Decision>(returnRequest('o5', 'OFF-3'));
      expect(conflicting).toMatchObject({ decision: 'approved', mode: 'offline' });
      await reg.send(cashReturn('o5c', conflicting.authorization, 500));

      // store S1's agent goes down too, with its decisions safe in its outbox
      reg.close();
      await a.proc.stop();
      expect(w.agentQuery(a, `SELECT kind FROM outbox ORDER BY seq`).map((r) => (r as { kind: string }).kind)).toEqual([
        'return.decision',
        'return.complete',
        'return.decision',
        'return.decision',
        'return.decision',
        'return.decision',
        'return.complete',
      ]);

      // the hub comes back; meanwhile another store returns the last unit of OFF-3 online
      await w.restartHubs();
      await waitFor('store S2 to reconnect', async () => (await statusOf<Connected>(b)).hub.connected);
      const regB = await JsonLinesRegister.connect(b.port());
      const online = await regB.send<Decision>(returnRequest('b1', 'OFF-3'));
      expect(online).toMatchObject({ decision: 'approved', mode: 'online' });
      regB.close();

      // S1's agent comes back and syncs
      a = await w.startAgent('S1', 'S1');
      await drained(a);
      const rets = await returnsList(w.hub, 'S1');
      const byAuth = new Map(rets.map((r) => [r.authorization, r]));
      expect(byAuth.get(within.authorization)).toMatchObject({
        mode: 'offline',
        status: 'completed',
        reconciliation: 'confirmed',
        exception: null,
      });
      expect(byAuth.get(overLimit.authorization)).toMatchObject({
        mode: 'offline',
        decision: 'denied',
        status: 'denied',
      });
      expect(byAuth.get(elsewhere.authorization)).toMatchObject({ decision: 'denied' });
      expect(byAuth.get(conflicting.authorization)).toMatchObject({
        mode: 'offline',
        status: 'completed',
        reconciliation: 'exception',
        exception: 'over_return',
      });
      const exceptions = await w.hub.admin.get<{ code: string; authorization: string }[]>(
        '/v1/admin/exceptions?store=S1',
      );
      expect(exceptions).toEqual([
        expect.objectContaining({ code: 'over_return', authorization: conflicting.authorization }),
      ]);

      // applied exactly once: P was 7 after the sales, +1 for the confirmed return, +1 for the physical return
      // flagged as an exception
      expect(await onHand(w.hub, 'S1', 'P')).toBe(9);
      expect(w.hubQuery(`SELECT COUNT(*) AS n FROM movements WHERE ref = ?`, within.authorization)).toEqual([{ n: 1 }]);

      // a restart of the agent and another of the hub change nothing
      await a.proc.stop();
      a = await w.startAgent('S1', 'S1');
      await drained(a);
      expect(await onHand(w.hub, 'S1', 'P')).toBe(9);
      expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
    },
  );
});

describe('judged as of when it happened, with receipts numbered per store (real processes, pinned clocks)', () => {
  // The agent's day: day 29 after the sale. The hub's: day 31. Both clocks run on from there.
  const AGENT_NOW = '2031-03-10T12:00:00Z';
  const HUB_NOW = '2031-03-12T12:00:00Z';
  const SOLD_AT = '2031-02-09T14:00:00Z';
  let v: World;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset if the test failed first
  afterAll(async () => v?.close());

  const at = (id: string, receipt: string, sku: string, when = SOLD_AT) => ({
    ...sale(id, receipt, [{ sku, qty: 2, unitPrice: 500 }]),
    at: when,
  });
  const policySet = async (args: string[]): Promise<number> =>
    (await v.cliJson<{ version: number }>(['policy', 'set', ...args])).version;

  it(
    'confirms a day-29 offline approval that syncs on day 31 under a ' +
      'newer, stricter policy; two stores keep their own receipt 1001',
    async () => {
      v = new World();
      const hubClock = { clockStart: HUB_NOW };
      const agentClock = { clockStart: AGENT_NOW };
      await v.startHub(undefined, undefined, hubClock);
      await v.addStore('S1');
      await v.addStore('S2');
      const v1 = await policySet([
        'returnWindowDays=30',
        'windowOverridable=false',
        '--note',
        'the agent decides by this one',
      ]);
      let a = await v.startAgent('S1', 'S1', undefined, true, agentClock);
      const b = await v.startAgent('S2', 'S2');
      const policyOf = async (x: AgentHandle): Promise<number | undefined> =>
        (await statusOf<{ policyVersion?: number }>(x)).policyVersion;
      await waitFor('S1 to hold policy v1', async () => (await policyOf(a)) === v1);

      const regA = await JsonLinesRegister.connect(a.port());
      const regB = await JsonLinesRegister.connect(b.port());
      expect(await regA.send(at('s1', 'AS-1', 'P'))).toEqual({ type: 'ack', id: 's1' });
      // both stores number their receipts from 1001: two honest sales, no duplicate_receipt
      expect(await regA.send(at('s2', '1001', 'P', '2031-03-10T09:00:00Z'))).toEqual({ type: 'ack', id: 's2' });
      expect(await regB.send(at('s3', '1001', 'Q', '2031-03-12T09:00:00Z'))).toEqual({ type: 'ack', id: 's3' });
      await drained(a);
      await drained(b);
      expect(v.hubQuery(`SELECT store, receipt FROM sales WHERE receipt = '1001' ORDER BY store`)).toEqual([
        { store: 'S1', receipt: '1001' },
        { store: 'S2', receipt: '1001' },
      ]);
      expect(await v.hub.admin.get('/v1/admin/exceptions')).toEqual([]);

      // a return at S2 of "1001" is S2's own sale; naming S1 returns S1's
      const own = await regB.send<Decision>(returnRequest('b1', '1001'));
      const cross = await regB.send<Decision>({
        type: 'return.request',
        id: 'b2',
        receipt: '1001',
        originalStore: 'S1',
        lines: [{ line: 1, qty: 2 }],
      });
      expect([own.decision, cross.decision]).toEqual(['approved', 'approved']);
      const atS2 = new Map((await returnsList(v.hub, 'S2')).map((r) => [r.authorization, r]));
      expect([atS2.get(own.authorization)?.receiptStore, atS2.get(cross.authorization)?.receiptStore]).toEqual([
        'S2',
        'S1',
      ]);
      const lookup = await regA.send<{ found: boolean; store: string; lines: { returnable: number }[] }>({
        type: 'receipt.lookup',
        id: 'l1',
        receipt: '1001',
      });
      expect(lookup).toMatchObject({ found: true, store: 'S1', lines: [{ returnable: 0 }] });
      const ambiguous = await v.hub.cli(['sales', 'show', '1001']);
      expect(ambiguous.code).not.toBe(0);
      expect(ambiguous.stderr).toContain('S1, S2');
      const shown = await v.hub.cli(['sales', 'show', '1001', '--store', 'S2', '--json']);
      expect(shown.code, shown.stderr).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        store: 'S2',
        lines: [{ sku: 'Q', returnedOrReserved: 1, returnable: 1 }],
      });

      // the hub goes away; on its day 29 the store approves a return of AS-1 offline, under v1
      await v.stopHubs();
      await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
      const off = await regA.send<Decision>(returnRequest('o1', 'AS-1'));
      expect(off).toMatchObject({ decision: 'approved', mode: 'offline' });
      regA.close();
      regB.close();
      await a.proc.stop();

      // the hub is back (its day 31); the operator shortens the window before the store syncs
      await v.restartHubs(); // on the same clock as before
      const v2 = await policySet(['returnWindowDays=10', '--note', 'stricter, after the decision']);
      expect(v2).toBeGreaterThan(v1);
      a = await v.startAgent('S1', 'S1', undefined, true, agentClock);
      await drained(a);
      const ticket = await v.hub.admin.get<{
        reconciliation: { result: string };
        exception: string | null;
        policyVersion: number;
        createdAt: string;
      }>(`/v1/admin/returns/${off.authorization}`);
      expect(ticket).toMatchObject({
        reconciliation: { result: 'confirmed', exception: null },
        exception: null,
        policyVersion: v1,
      });
      expect(ticket.createdAt.slice(0, 10)).toBe('2031-03-10');
      expect(await v.hub.admin.get('/v1/admin/exceptions?store=S1')).toEqual([]);
      // judged now, by v2, the same return would be refused
      const now = await JsonLinesRegister.connect(a.port());
      expect(await now.send<Decision>(returnRequest('o2', 'AS-1'))).toMatchObject({
        decision: 'denied',
        mode: 'online',
        lines: [{ code: 'outside_window' }],
      });
      now.close();
      expect(invariantViolations(v)).toEqual({ overReturned: [], ledgerDrift: [] });
    },
  );
});
