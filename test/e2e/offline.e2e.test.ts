import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onHand, returnsList, setStock, type AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { invariantViolations, sale, World, type Decision } from './fixture.js';

let w: World;

beforeAll(async () => {
  w = new World();
  await w.startHub();
  await w.addStore('S1');
  await w.addStore('S2');
  await setStock(w.hub, 'S1', 'P', 10);
  await setStock(w.hub, 'S1', 'Q', 10);
});
afterAll(async () => w?.close());

async function drained(agent: AgentHandle): Promise<void> {
  await waitFor('the outbox to drain', async () => ((await (await fetch(`${agent.statusUrl}/status`)).json()) as { outbox: { depth: number } }).outbox.depth === 0, 20_000);
}

describe('offline decisions and reconciliation', () => {
  it('decides by local policy while the hub is down, then reconciles exactly once — and flags what conflicts', async () => {
    let a = await w.startAgent('S1', 'S1');
    const b = await w.startAgent('S2', 'S2');
    let reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('s1', 'OFF-1', [{ sku: 'P', qty: 2, unitPrice: 500 }]));
    await reg.send(sale('s2', 'OFF-2', [{ sku: 'Q', qty: 1, unitPrice: 50_000 }]));
    await reg.send(sale('s3', 'OFF-3', [{ sku: 'P', qty: 1, unitPrice: 500 }]));
    await drained(a);
    expect(await onHand(w.hub, 'S1', 'P')).toBe(7);
    const port = w.hub.port;

    // the hub goes away
    await w.hub.proc.stop();
    await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');

    const within = await reg.send<Decision>({ type: 'return.request', id: 'o1', receipt: 'OFF-1', lines: [{ line: 1, qty: 1 }] });
    expect(within).toMatchObject({ decision: 'approved', mode: 'offline', lines: [{ approvedQty: 1, code: 'ok' }] });
    expect(await reg.send({ type: 'return.complete', id: 'o1c', authorization: within.authorization, lines: [{ line: 1, qty: 1 }], refund: { kind: 'cash', amount: 500 } })).toEqual({ type: 'ack', id: 'o1c' });

    const overLimit = await reg.send<Decision>({ type: 'return.request', id: 'o2', receipt: 'OFF-2', lines: [{ line: 1, qty: 1 }] });
    expect(overLimit).toMatchObject({ decision: 'denied', mode: 'offline', lines: [{ approvedQty: 0, code: 'offline_limit_exceeded' }] });
    const elsewhere = await reg.send<Decision>({ type: 'return.request', id: 'o3', receipt: 'SOLD-ELSEWHERE', lines: [{ line: 1, qty: 1 }] });
    expect(elsewhere).toMatchObject({ decision: 'denied', mode: 'offline', lines: [{ code: 'receipt_unknown_offline' }] });
    const again = await reg.send<Decision>({ type: 'return.request', id: 'o4', receipt: 'OFF-1', lines: [{ line: 1, qty: 2 }] });
    expect(again).toMatchObject({ decision: 'denied', lines: [{ code: 'exceeds_returnable' }] }); // only 1 left, by what the agent knows

    const conflicting = await reg.send<Decision>({ type: 'return.request', id: 'o5', receipt: 'OFF-3', lines: [{ line: 1, qty: 1 }] });
    expect(conflicting).toMatchObject({ decision: 'approved', mode: 'offline' });
    await reg.send({ type: 'return.complete', id: 'o5c', authorization: conflicting.authorization, lines: [{ line: 1, qty: 1 }], refund: { kind: 'cash', amount: 500 } });

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
    await w.startHub(port);
    await waitFor('store S2 to reconnect', async () => ((await (await fetch(`${b.statusUrl}/status`)).json()) as { hub: { connected: boolean } }).hub.connected);
    const regB = await JsonLinesRegister.connect(b.port());
    const online = await regB.send<Decision>({ type: 'return.request', id: 'b1', receipt: 'OFF-3', lines: [{ line: 1, qty: 1 }] });
    expect(online).toMatchObject({ decision: 'approved', mode: 'online' });
    regB.close();

    // S1's agent comes back and syncs
    a = await w.startAgent('S1', 'S1');
    await drained(a);
    const rets = await returnsList(w.hub, 'S1');
    const byAuth = new Map(rets.map((r) => [r.authorization, r]));
    expect(byAuth.get(within.authorization)).toMatchObject({ mode: 'offline', status: 'completed', reconciliation: 'confirmed', exception: null });
    expect(byAuth.get(overLimit.authorization)).toMatchObject({ mode: 'offline', decision: 'denied', status: 'denied' });
    expect(byAuth.get(elsewhere.authorization)).toMatchObject({ decision: 'denied' });
    expect(byAuth.get(conflicting.authorization)).toMatchObject({ mode: 'offline', status: 'completed', reconciliation: 'exception', exception: 'over_return' });
    const exceptions = await w.hub.admin.get<{ code: string; authorization: string }[]>('/v1/admin/exceptions?store=S1');
    expect(exceptions).toEqual([expect.objectContaining({ code: 'over_return', authorization: conflicting.authorization })]);

    // applied exactly once: P was 7 after the sales, +1 for the confirmed return, +1 for the physical return flagged as an exception
    expect(await onHand(w.hub, 'S1', 'P')).toBe(9);
    expect(w.hubQuery(`SELECT COUNT(*) AS n FROM movements WHERE ref = ?`, within.authorization)).toEqual([{ n: 1 }]);

    // a restart of the agent and another of the hub change nothing
    await a.proc.stop();
    a = await w.startAgent('S1', 'S1');
    await drained(a);
    expect(await onHand(w.hub, 'S1', 'P')).toBe(9);
    expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
  });
});
