import { beforeAll, describe, expect, it } from 'vitest';
import { onHand, type AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { dayCloseMessage, dayTotals } from '../../agent/test/support/day-close.js';
import { worldForFile } from './fixture.js';

/**
 * The business day that closes itself, through real processes: a register's day close reaches the
 * hub through its agent; a sale the hub lost is asked of the agent again and the day heals without
 * a person; a day whose card total is off becomes an exception and a day.discrepancy on the feed.
 * The clocks start on a fixed day (the store's cut-off, 03:00 the next day, is not reached).
 */
const DAY = '2026-11-27';
const w = worldForFile({
  clockStart: `${DAY}T12:00:00Z`,
  stores: ['S1', 'S2'],
  stock: { S1: { 'SKU-A': 100 }, S2: { 'SKU-A': 100 } },
});
let a: AgentHandle, b: AgentHandle, regA: JsonLinesRegister, regB: JsonLinesRegister;
beforeAll(async () => {
  [a, b] = [await w.startAgent('S1'), await w.startAgent('S2')];
  [regA, regB] = [await w.register(a), await w.register(b)];
});

const sale = (receipt: string, minute: number, price: number, kind: string) => ({
  type: 'sale',
  id: `m-${receipt}`,
  receipt,
  at: `${DAY}T10:${String(minute).padStart(2, '0')}:00Z`,
  currency: 'EUR',
  lines: [{ line: 1, sku: 'SKU-A', qty: 1, unitPrice: price }],
  tenders: [{ kind, amount: price }],
});

interface RegisterDay {
  store: string;
  register: string;
  status: string;
  resendAttempts: number;
  differences: { totals: { what: string; register: number; hub: number }[] } | null;
  exception: { id: string } | null;
}
const days = async (store: string): Promise<RegisterDay[]> => {
  const r = await w.hub.cli(['reconcile', '--day', DAY, '--store', store, '--json']);
  expect(r.stderr).toBe('');
  return (JSON.parse(r.stdout) as { registers: RegisterDay[] }).registers;
};

describe('a register closes its day', () => {
  it('a sale deleted from the hub’s view is found missing, asked of the agent, and the day heals', async () => {
    for (const [r, m, p, k] of [
      ['F-1', 1, 1200, 'card'],
      ['F-2', 2, 500, 'cash'],
      ['F-3', 3, 300, 'card'],
    ] as const) {
      expect(await regA.send(sale(r, m, p, k))).toEqual({ type: 'ack', id: `m-${r}` });
    }
    await waitFor('the sales at the hub', async () => (await onHand(w.hub, 'S1', 'SKU-A')) === 97);

    // the hub loses F-2 (as a restore from an older backup would): the sale, and that it ever applied it
    w.hubExec(
      `DELETE FROM applied_events WHERE event_id IN (SELECT
        event_id FROM sales WHERE store = 'S1' AND receipt = 'F-2')`,
    );
    w.hubExec(`DELETE FROM sale_lines WHERE store = 'S1' AND receipt = 'F-2'`);
    w.hubExec(`DELETE FROM sales WHERE store = 'S1' AND receipt = 'F-2'`);
    w.hubExec(`DELETE FROM movements WHERE store = 'S1' AND ref = 'F-2'`);
    w.hubExec(`UPDATE inventory SET on_hand = on_hand + 1000 WHERE store = 'S1' AND sku = 'SKU-A'`);
    expect((await w.hub.cli(['sales', 'show', 'F-2', '--store', 'S1'])).code).not.toBe(0);

    const closed = { businessDay: DAY, closedAt: `${DAY}T21:00:00Z`, currency: 'EUR' };
    const close = dayCloseMessage('z-1', closed, dayTotals([3, 2000], [0, 0], ['card', 1500], ['cash', 500]));
    expect(await regA.send(close)).toEqual({ type: 'ack', id: 'z-1' });

    await waitFor('the day reconciled', async () => (await days('S1'))[0]?.status === 'matched', 30_000);
    const [day] = await days('S1');
    expect(day).toMatchObject({ register: 'R1', status: 'matched', exception: null });
    expect(day!.resendAttempts).toBeGreaterThanOrEqual(1); // healed by the agent's resend, not by a person
    expect((await w.hub.cli(['sales', 'show', 'F-2', '--store', 'S1'])).code).toBe(0);
    expect(await onHand(w.hub, 'S1', 'SKU-A')).toBe(97);
    const feed = await w.hub.admin.get<{ entries: { type: string; data: Record<string, unknown> }[] }>(
      `/v1/feed?type=day.reconciled&store=S1`,
    );
    expect(feed.entries).toEqual([
      expect.objectContaining({
        type: 'day.reconciled',
        data: expect.objectContaining({ register: 'R1', businessDay: DAY }),
      }),
    ]);
  });

  it('a day whose card total is off becomes an exception that says what differs', async () => {
    expect(await regB.send(sale('G-1', 5, 1000, 'card'))).toEqual({ type: 'ack', id: 'm-G-1' });
    await waitFor('the sale at the hub', async () => (await onHand(w.hub, 'S2', 'SKU-A')) === 99);
    const close = dayCloseMessage(
      'z-2',
      { businessDay: DAY, currency: 'EUR' },
      dayTotals([1, 1000], [0, 0], ['card', 1100]),
    );
    expect(await regB.send(close)).toEqual({ type: 'ack', id: 'z-2' });
    await waitFor('the discrepancy', async () => (await days('S2'))[0]?.status === 'discrepancy', 30_000);
    const [day] = await days('S2');
    expect(day!.differences!.totals).toEqual([{ what: 'tender card', register: 1100, hub: 1000 }]);
    const exceptions = await w.hub.cli(['returns', 'exceptions', '--store', 'S2', '--json']);
    expect(exceptions.stdout).toContain('day_discrepancy');
    expect(exceptions.stdout).toContain('tender card');
    expect((await w.hub.cli(['reconcile', '--day', DAY, '--check'])).code).toBe(1);
    const feed = await w.hub.admin.get<{ entries: { type: string; data: Record<string, unknown> }[] }>(
      `/v1/feed?type=day.discrepancy`,
    );
    expect(feed.entries).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({ store: 'S2', register: 'R1', reason: expect.stringContaining('tender card') }),
      }),
    ]);
  });
});
