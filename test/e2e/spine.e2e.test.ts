import { beforeAll, describe, expect, it } from 'vitest';
import { onHand, returnsList, type AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import {
  cashReturn,
  invariantViolations,
  returnRequest,
  sale,
  statusOf,
  worldForFile,
  type Decision,
} from './fixture.js';

const w = worldForFile({ stores: ['S1', 'S2'], stock: { S1: { 'SKU-A': 10 }, S2: { 'SKU-A': 10 } } });
let a: AgentHandle, b: AgentHandle, regA: JsonLinesRegister, regB: JsonLinesRegister;
beforeAll(async () => {
  [a, b] = [await w.startAgent('S1'), await w.startAgent('S2')];
  [regA, regB] = [await w.register(a), await w.register(b)];
});

const stock = (store: string) => onHand(w.hub, store, 'SKU-A');

describe('the spine, end to end through real processes', () => {
  it('a sale lowers the hub inventory; a return is approved, completed, and the inventory goes back up', async () => {
    expect(await regA.send(sale('s-1', 'RC-1', [{ sku: 'SKU-A', qty: 3, unitPrice: 1000 }]))).toEqual({
      type: 'ack',
      id: 's-1',
    });
    await waitFor('the sale at the hub', async () => (await stock('S1')) === 7);

    const d = await regA.send<Decision>(returnRequest('r-1', 'RC-1'));
    expect(d).toMatchObject({
      type: 'return.decision',
      decision: 'approved',
      mode: 'online',
      lines: [{ line: 1, approvedQty: 1, code: 'ok' }],
    });
    expect(await stock('S1')).toBe(7); // reserved, not yet back on the shelf
    expect(await regA.send(cashReturn('c-1', d.authorization, 1000))).toEqual({ type: 'ack', id: 'c-1' });
    await waitFor('the restock at the hub', async () => (await stock('S1')) === 8);
    const ret = (await returnsList(w.hub)).find((r) => r.authorization === d.authorization);
    expect(ret).toMatchObject({ status: 'completed', mode: 'online', exception: null });
  });

  it('an over-return is denied', async () => {
    const d = await regA.send<Decision>(returnRequest('r-2', 'RC-1', 3));
    expect(d).toMatchObject({
      decision: 'denied',
      mode: 'online',
      lines: [{ line: 1, approvedQty: 0, code: 'exceeds_returnable' }],
    });
    const unknown = await regA.send<Decision>(returnRequest('r-3', 'NO-SUCH'));
    expect(unknown).toMatchObject({ decision: 'denied', mode: 'online', lines: [{ code: 'receipt_not_found' }] });
  });

  it('a cross-store return is approved online and restocks the returning store', async () => {
    const d = await regB.send<Decision>(returnRequest('x-1', 'RC-1'));
    expect(d).toMatchObject({ decision: 'approved', mode: 'online' });
    await regB.send(cashReturn('x-2', d.authorization, 1000));
    await waitFor('the restock at S2', async () => (await stock('S2')) === 11);
    expect(await stock('S1')).toBe(8);
  });

  it('a register resending an answered id gets the same answer and causes no second effect', async () => {
    const first = await regA.send(sale('s-dup', 'RC-DUP', [{ sku: 'SKU-A', qty: 1, unitPrice: 500 }]));
    const d1 = await regA.send<Decision>(returnRequest('r-dup', 'RC-DUP'));
    await regA.send(cashReturn('c-dup', d1.authorization, 500));
    await waitFor('the completion at the hub', async () =>
      (await returnsList(w.hub, 'S1')).some((r) => r.authorization === d1.authorization && r.status === 'completed'),
    );
    const before = await stock('S1');
    // a register that never saw the answers sends everything again, on a new connection
    const again = await JsonLinesRegister.connect(a.port());
    expect(await again.send(sale('s-dup', 'RC-DUP', [{ sku: 'SKU-A', qty: 1, unitPrice: 500 }]))).toEqual(first);
    expect(await again.send(returnRequest('r-dup', 'RC-DUP'))).toEqual(d1);
    expect(await again.send(cashReturn('c-dup', d1.authorization, 500))).toEqual({ type: 'ack', id: 'c-dup' });
    again.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(await stock('S1')).toBe(before);
    expect(w.hubQuery(`SELECT COUNT(*) AS n FROM sales WHERE receipt = 'RC-DUP'`)).toEqual([{ n: 1 }]);
    expect(w.hubQuery(`SELECT COUNT(*) AS n FROM returns WHERE receipt = 'RC-DUP'`)).toEqual([{ n: 1 }]);
    expect(w.hubQuery(`SELECT COUNT(*) AS n FROM movements WHERE ref = ?`, d1.authorization)).toEqual([{ n: 1 }]);
  });

  it('malformed lines get an error, store nothing, and the connection stays usable', async () => {
    const count = () => ({
      agent: w.agentQuery<{ n: number }>(
        a,
        `SELECT (SELECT COUNT(*) FROM replies) + (SELECT COUNT(*) FROM
          receipts) + (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence) AS n`,
      )[0]!.n,
      hub: w.hubQuery<{ n: number }>(
        `SELECT (SELECT COUNT(*) FROM sales) + (SELECT COUNT(*) FROM returns) + (SELECT COUNT(*) FROM exceptions) AS n`,
      )[0]!.n,
    });
    const before = count();
    const bad: [string, string][] = [
      ['not json at all', 'TB_MALFORMED'],
      ['[1,2,3]', 'TB_MALFORMED'],
      ['{"type":"sale","id":"bad-1"}', 'TB_INVALID'],
      ['{"type":"refund","id":"bad-2"}', 'TB_UNKNOWN_TYPE'],
      [
        JSON.stringify({ ...sale('bad-3', 'RC-BAD', [{ sku: 'SKU-A', qty: 1, unitPrice: 1 }]), currency: 'euro' }),
        'TB_INVALID',
      ],
      [
        JSON.stringify({
          ...sale('bad-4', 'RC-BAD', [{ sku: 'SKU-A', qty: 1, unitPrice: 1 }]),
          tenders: [{ kind: 'card', amount: 1, pan: '4111111111111111', cvv: '123' }],
        }),
        'TB_CARD_DATA',
      ],
      ['{"type":"return.request","id":"bad-5","receipt":"RC-1","lines":[{"line":1,"qty":0}]}', 'TB_INVALID'],
      [
        '{"type":"return.complete","id":"bad-6","authorization":"nope",' +
          '"lines":[{"line":1,"qty":1}],"refund":{"kind":"cash","amount":1}}',
        'TB_UNKNOWN_AUTHORIZATION',
      ],
      ['x'.repeat(70_000), 'TB_FRAME_TOO_LARGE'],
    ];
    for (const [line, code] of bad) {
      const r = JSON.parse(await regA.sendRaw(`${line}\n`)) as { type: string; code: string };
      expect(r, line.slice(0, 40)).toMatchObject({ type: 'error', code });
    }
    expect(count()).toEqual(before);
    // the same connection still works
    expect(await regA.send(sale('s-after', 'RC-AFTER', [{ sku: 'SKU-A', qty: 1, unitPrice: 1 }]))).toEqual({
      type: 'ack',
      id: 's-after',
    });
  });

  it('two agents racing for the last returnable unit: exactly one approval, every time', async () => {
    for (let i = 0; i < 5; i++) {
      await regA.send(sale(`race-s-${i}`, `RACE-${i}`, [{ sku: 'SKU-A', qty: 1, unitPrice: 100 }]));
      await waitFor(
        'the sale at the hub',
        () => w.hubQuery(`SELECT 1 FROM sales WHERE receipt = ?`, `RACE-${i}`).length === 1,
      );
      const [x, y] = await Promise.all([
        regA.send<Decision>(returnRequest(`race-a-${i}`, `RACE-${i}`)),
        regB.send<Decision>(returnRequest(`race-b-${i}`, `RACE-${i}`)),
      ]);
      expect([x.mode, y.mode]).toEqual(['online', 'online']);
      expect([x.decision, y.decision].sort()).toEqual(['approved', 'denied']);
    }
  });

  it('keeps returns within sales and on-hand equal to the sum of movements', async () => {
    await waitFor('agents drained', async () => {
      const s = await Promise.all([a, b].map((x) => statusOf<{ outbox: { depth: number } }>(x)));
      return s.every((x) => x.outbox.depth === 0);
    });
    expect(invariantViolations(w)).toEqual({ overReturned: [], ledgerDrift: [] });
    expect((await w.hub.cli(['audit', 'verify', '--json'])).code).toBe(0);
  });
});
