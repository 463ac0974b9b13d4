import { describe, expect, it } from 'vitest';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { sale, worldForFile } from './fixture.js';

const w = worldForFile({ stores: ['S1', 'S2'], stock: { S1: { A: 10 } } });

interface Term {
  register: string;
  state: string;
  connections: number;
  reported: { state: string; detail: string | null } | null;
  lastMessageAt: string | null;
}
const terminals = async (store: string): Promise<Term[]> =>
  JSON.parse((await w.hub.cli(['status', '--store', store, '--json'])).stdout).stores[0].terminals as Term[];

describe('terminal status and receipt lookup', () => {
  it("shows each register's state at the hub as it changes", async () => {
    const a = await w.startAgent('S1');
    await waitFor(
      'R1 listening at the hub',
      async () => (await terminals('S1')).find((t) => t.register === 'R1')?.state === 'listening',
    );
    const reg = await JsonLinesRegister.connect(a.port());
    await waitFor('R1 connected at the hub', async () => (await terminals('S1'))[0]?.connections === 1);
    expect(await reg.send({ type: 'status', id: 'st-1', state: 'paper_out', detail: 'receipt printer' })).toEqual({
      type: 'ack',
      id: 'st-1',
    });
    await waitFor(
      'the reported state at the hub',
      async () => (await terminals('S1'))[0]?.reported?.state === 'paper_out',
    );
    expect((await terminals('S1'))[0]).toMatchObject({
      register: 'R1',
      kind: 'register',
      codec: 'jsonl',
      state: 'connected',
      reported: { state: 'paper_out', detail: 'receipt printer' },
      lastMessageAt: expect.any(String),
    });
    reg.close();
    await waitFor('R1 back to listening', async () => (await terminals('S1'))[0]?.connections === 0);
    const human = await w.hub.cli(['status', '--store', 'S1']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /R1\s+register\s+jsonl\s+listening\s+tcp:\/\/127\.0\.0\.1:\d+\s+0\s+paper_out \(receipt printer\)/,
    );
    expect((await w.hub.cli(['status', '--store', 'NOPE'])).code).toBe(3);
  });

  it(
    'looks a receipt up across stores, with what is left ' + 'to return, and answers from the local copy offline',
    async () => {
      const a = w.agents[0]!;
      const b = await w.startAgent('S2');
      const regA = await JsonLinesRegister.connect(a.port());
      const regB = await JsonLinesRegister.connect(b.port());
      await regA.send(sale('s-1', 'LOOK-1', [{ sku: 'A', qty: 3, unitPrice: 250 }]));
      const d = await regA.send<{ authorization: string }>({
        type: 'return.request',
        id: 'r-1',
        receipt: 'LOOK-1',
        lines: [{ sku: 'A', qty: 1 }],
      });
      expect(d).toMatchObject({ decision: 'approved', lines: [{ line: 1, sku: 'A', approvedQty: 1, code: 'ok' }] });
      const fromB = await regB.send({ type: 'receipt.lookup', id: 'l-1', receipt: 'LOOK-1' });
      expect(fromB).toMatchObject({
        type: 'receipt',
        id: 'l-1',
        found: true,
        source: 'hub',
        store: 'S1',
        currency: 'EUR',
        lines: [{ line: 1, sku: 'A', qty: 3, unitPrice: 250, returnable: 2 }],
      });
      expect(await regB.send({ type: 'receipt.lookup', id: 'l-2', receipt: 'NOPE' })).toMatchObject({
        found: false,
        source: 'hub',
        lines: [],
      });
      const port = w.hub.port;
      await w.hub.proc.stop();
      await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
      expect(await regA.send({ type: 'receipt.lookup', id: 'l-3', receipt: 'LOOK-1' })).toMatchObject({
        found: true,
        source: 'local',
        lines: [{ returnable: 2 }],
      });
      regA.close();
      regB.close();
      await w.startHub(port);
    },
  );
});
