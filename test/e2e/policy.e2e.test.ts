import { describe, expect, it } from 'vitest';
import type { AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { cashReturn, returnRequest, sale, statusOf, worldForFile, type Decision } from './fixture.js';

const w = worldForFile({ stores: ['S1', 'S2'], stock: { S1: { A: 10 } } });

const agentPolicy = async (a: AgentHandle): Promise<number> =>
  (await statusOf<{ policyVersion: number }>(a)).policyVersion;
const setPolicy = async (args: string[]): Promise<number> =>
  (await w.cliJson<{ version: number }>(['policy', 'set', ...args])).version;

describe('returns policies reach the stores; overrides and card lookups go through the register', () => {
  it('pushes a policy change to a connected agent, and to one that was offline when it changed', async () => {
    const a = await w.startAgent('S1');
    const b = await w.startAgent('S2');
    const v1 = await setPolicy(['--store', 'S1', 'offline.maxRefundPerReturn=500', '--note', 'tighter offline limit']);
    await waitFor('S1 holds the new version', async () => (await agentPolicy(a)) === v1);
    await b.proc.stop();
    const v2 = await setPolicy(['returnWindowDays=20']);
    expect(v2).toBeGreaterThan(v1);
    await waitFor('S1 holds the default change too', async () => (await agentPolicy(a)) === v2);
    const b2 = await w.startAgent('S2');
    await waitFor('S2 got it on reconnecting', async () => (await agentPolicy(b2)) === v2);
    interface Status {
      stores: { store: string; policy: { version: number; agentHolds: number | null } }[];
    }
    await waitFor(
      'the hub to hear which version each agent holds (heartbeat)',
      async () => {
        const s = JSON.parse((await w.hub.cli(['status', '--json'])).stdout) as Status;
        return s.stores.every((x) => x.policy.agentHolds === x.policy.version);
      },
      20_000,
    );
    const list = JSON.parse((await w.hub.cli(['policy', 'list', '--json'])).stdout) as {
      version: number;
      note: string | null;
      actor: string;
    }[];
    expect(list.map((p) => p.version)).toEqual([v2, v1]);
    expect(list[1]).toMatchObject({ note: 'tighter offline limit', actor: expect.stringMatching(/^admin:tba_/) });

    // offline, S1 decides by the version it holds: 1000 is over its 500 limit
    const reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('s-1', 'POL-1', [{ sku: 'A', qty: 1, unitPrice: 1000 }]));
    await w.stopHubs(); // every hub process: the store is offline
    await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
    const d = await reg.send<Decision>(returnRequest('r-1', 'POL-1'));
    expect(d).toMatchObject({ decision: 'denied', mode: 'offline', lines: [{ code: 'offline_limit_exceeded' }] });
    reg.close();
    await w.restartHubs();
    await waitFor('S1 back', async () => (await statusOf<{ hub: { connected: boolean } }>(a)).hub.connected);
  });

  it('a manager overrides through the register: a wrong code changes nothing, the right one approves', async () => {
    await setPolicy(['--store', 'S1', 'managerOverrideAbove=1500']);
    const mgr = await runCommand(process.execPath, [HUB_BIN, 'managers', 'add', 'M-ANNA', '--name', 'Anna Berg'], {
      TILLBRIDGE_HUB_URL: w.hub.url,
      TILLBRIDGE_ADMIN_TOKEN: w.adminToken,
      TILLBRIDGE_MANAGER_CODE: '4711',
    });
    expect(mgr.code, mgr.stderr).toBe(0);
    const a = w.agents.find((x) => x.configFile.includes('agent-S1'))!;
    const reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('s-2', 'POL-2', [{ sku: 'A', qty: 1, unitPrice: 2000 }]));
    const d = await reg.send<Decision & { refundAmount: number }>(returnRequest('r-2', 'POL-2'));
    expect(d).toMatchObject({ decision: 'override_required', mode: 'online', refundAmount: 2000 });
    // the held line says why, as a code the register can branch on
    expect(d.lines).toEqual([
      {
        line: 1,
        approvedQty: 1,
        code: 'manager_override_required',
        refund: 2000,
        rules: ['manager_override_required'],
      },
    ]);
    // it cannot be completed yet
    expect(await reg.send(cashReturn('c-0', d.authorization, 2000))).toMatchObject({
      type: 'error',
      code: 'TB_AUTHORIZATION_STATE',
    });
    const wrong = await reg.send<Decision>({
      type: 'return.override',
      id: 'ov-1',
      authorization: d.authorization,
      manager: 'M-ANNA',
      code: '1234',
    });
    expect(wrong).toMatchObject({ decision: 'override_required', reason: 'manager M-ANNA: code not accepted' });
    const right = await reg.send<Decision>({
      type: 'return.override',
      id: 'ov-2',
      authorization: d.authorization,
      manager: 'M-ANNA',
      code: '4711',
    });
    expect(right).toMatchObject({ decision: 'approved', authorization: d.authorization });
    expect(await reg.send(cashReturn('c-1', d.authorization, 2000))).toEqual({ type: 'ack', id: 'c-1' });
    await waitFor(
      'the completion at the hub',
      async () =>
        JSON.parse((await w.hub.cli(['returns', 'show', d.authorization, '--json'])).stdout).status === 'completed',
    );
    const ticket = JSON.parse((await w.hub.cli(['returns', 'show', d.authorization, '--json'])).stdout) as Record<
      string,
      unknown
    >;
    expect(ticket).toMatchObject({
      decision: 'approved',
      kind: 'full',
      override: { manager: 'M-ANNA' },
      completion: { refund: { kind: 'cash', amount: 2000 } },
    });
    expect((await w.hub.cli(['returns', 'show', d.authorization])).stdout).toMatch(/override {2}by manager M-ANNA/);
    reg.close();
  });

  it('finds a sale by the card it was paid with; the number never reaches the hub', async () => {
    const a = w.agents.find((x) => x.configFile.includes('agent-S1'))!;
    const reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('s-3', 'POL-3', [{ sku: 'A', qty: 2, unitPrice: 300 }], '5500 0000 0000 0004'));
    const d = await reg.send<Decision & { receipt: string }>({
      type: 'return.request',
      id: 'r-3',
      card: '5500000000000004',
      lines: [{ sku: 'A', qty: 1 }],
    });
    expect(d).toMatchObject({
      decision: 'approved',
      mode: 'online',
      receipt: 'POL-3',
      lines: [{ line: 1, sku: 'A', approvedQty: 1 }],
    });
    const look = await reg.send({ type: 'receipt.lookup', id: 'l-3', card: '5500-0000-0000-0004' });
    expect(look).toMatchObject({
      type: 'receipt',
      found: true,
      receipt: 'POL-3',
      source: 'hub',
      lines: [{ returnable: 1 }],
      matches: [{ receipt: 'POL-3', store: 'S1' }],
    });
    expect(
      await reg.send({ type: 'return.request', id: 'r-4', card: '550000******0004', lines: [{ sku: 'A', qty: 1 }] }),
    ).toMatchObject({ type: 'error', code: 'TB_CARD_DATA' });
    expect(w.hubQuery(`SELECT COUNT(*) AS n FROM sale_cards WHERE receipt = 'POL-3'`)).toEqual([{ n: 1 }]);
    expect(JSON.stringify(w.hubQuery(`SELECT * FROM returns`))).not.toContain('5500000000000004');
    reg.close();
  });

  it(
    'money never grows: a completion above its authorization is refused ' +
      'at the register; a line returned in halves refunds what was paid',
    async () => {
      const a = w.agents.find((x) => x.configFile.includes('agent-S1'))!;
      const reg = await JsonLinesRegister.connect(a.port());
      await reg.send(sale('s-5', 'POL-5', [{ sku: 'A', qty: 1, unitPrice: 999 }]));
      const first = await reg.send<Decision & { refundAmount: number }>(returnRequest('r-5a', 'POL-5', 0.5));
      expect(first).toMatchObject({
        decision: 'approved',
        mode: 'online',
        refundAmount: 500,
        lines: [{ line: 1, approvedQty: 0.5, code: 'ok', refund: 500 }],
      });
      const over = cashReturn('c-5a', first.authorization, 501, 0.5);
      expect(await reg.send(over)).toMatchObject({ type: 'error', id: 'c-5a', code: 'TB_EXCEEDS_AUTHORIZATION' });
      expect(await reg.send({ ...over, refund: { kind: 'cash', amount: 500 } })).toEqual({ type: 'ack', id: 'c-5a' });
      const second = await reg.send<Decision & { refundAmount: number }>(returnRequest('r-5b', 'POL-5', 0.5));
      expect(second).toMatchObject({ decision: 'approved', refundAmount: 499, lines: [{ refund: 499 }] });
      expect(await reg.send(cashReturn('c-5b', second.authorization, 500, 0.5))).toMatchObject({
        type: 'error',
        code: 'TB_EXCEEDS_AUTHORIZATION',
      });
      expect(await reg.send(cashReturn('c-5c', second.authorization, 499, 0.5))).toEqual({ type: 'ack', id: 'c-5c' });
      reg.close();
      // the refused completions never reached the hub; the line refunded exactly what was paid for it
      await waitFor(
        'both completions at the hub',
        () =>
          w.hubQuery<{ n: number }>(
            `SELECT COUNT(*) AS n FROM returns WHERE receipt = 'POL-5' AND status = 'completed'`,
          )[0]!.n === 2,
      );
      expect(
        w.hubQuery(
          `SELECT SUM(refund_amount) AS refunded, COUNT(exception_code)
            AS flagged FROM returns WHERE receipt = 'POL-5'`,
        ),
      ).toEqual([{ refunded: 999, flagged: 0 }]);
      expect(
        w.hubQuery(
          `SELECT code FROM exceptions WHERE authorization IN (?, ?)`,
          first.authorization,
          second.authorization,
        ),
      ).toEqual([]);
    },
  );
});
