import { describe, expect, it } from 'vitest';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { sale, worldForFile } from './fixture.js';

/**
 * The clock a real agent process is started with (TILLBRIDGE_TEST_CLOCK) is the one in everything
 * it shows and sends: its status, the events the hub applies, the terminal states the hub keeps.
 * The hub's clock starts two hours earlier, so what carries the agent's time cannot be the hub's.
 */
const HUB_START = '2031-03-14T09:00:00Z';
const AGENT_START = '2031-03-14T11:00:00Z';
/** A time read from the agent's clock: that day, that hour (the test takes minutes, not an hour). */
const AGENT_TIME = /^2031-03-14T11:/;
const HUB_TIME = /^2031-03-14T09:/;

const w = worldForFile({ clockStart: HUB_START, stores: ['S1'] });

interface Term {
  register: string;
  state: string;
  reported: { state: string; at: string } | null;
  lastMessageAt: string | null;
  at: string;
}
const terminals = async (): Promise<Term[]> =>
  JSON.parse((await w.hub.cli(['status', '--store', 'S1', '--json'])).stdout).stores[0].terminals as Term[];

describe('an agent process on a test clock', () => {
  it("shows, sends and reports that clock's times", async () => {
    const a = await w.startAgent('S1', 'S1', undefined, true, { clockStart: AGENT_START });
    const reg = await JsonLinesRegister.connect(a.port());
    expect(
      await reg.send({ ...sale('c-1', 'CLK-1', [{ sku: 'A', qty: 1, unitPrice: 100 }]), at: '2031-03-14T11:00:30Z' }),
    ).toEqual({ type: 'ack', id: 'c-1' });
    expect(await reg.send({ type: 'status', id: 'c-2', state: 'paper_out' })).toEqual({ type: 'ack', id: 'c-2' });

    const st = await a.cli(['status', '--config', a.configFile, '--json']);
    expect(st.code).toBe(0);
    const status = JSON.parse(st.stdout) as {
      startedAt: string;
      hub: { since: string };
      registers: { reported: { at: string }; lastMessageAt: string }[];
    };
    expect(status.startedAt).toMatch(AGENT_TIME);
    expect(status.hub.since).toMatch(AGENT_TIME);
    expect(status.registers[0]!.reported.at).toMatch(AGENT_TIME);
    expect(status.registers[0]!.lastMessageAt).toMatch(AGENT_TIME);

    await waitFor('the reported state at the hub', async () => (await terminals())[0]?.reported?.state === 'paper_out');
    const [t] = await terminals();
    expect(t!.at).toMatch(AGENT_TIME);
    expect(t!.reported!.at).toMatch(AGENT_TIME);
    expect(t!.lastMessageAt).toMatch(AGENT_TIME);

    await waitFor(
      'the sale applied at the hub',
      () => w.hubQuery(`SELECT 1 FROM applied_events WHERE kind = 'sale'`).length === 1,
    );
    const [ev] = w.hubQuery<{ agent_at: string; applied_at: string }>(
      `SELECT agent_at, applied_at FROM applied_events WHERE kind = 'sale'`,
    );
    expect(ev!.agent_at).toMatch(AGENT_TIME);
    expect(ev!.applied_at).toMatch(HUB_TIME);
    reg.close();
  });
});
