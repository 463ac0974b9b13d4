import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Clock } from '@tillbridge/shared';
import { agentConfig } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { startAgent, type RunningAgent } from '../src/agent.js';
import { parseAgentConfig } from '../src/config.js';
import { StubHub } from './stub-hub.js';
import { dayCloseMessage, dayTotals } from './support/day-close.js';
import { cashSale } from './support/register-messages.js';

/**
 * A whole agent (its composition root) with a register on real TCP speaking JSON lines and a hub
 * stand-in on a real WebSocket: the register's day close goes to the hub as a day.close event, a
 * malformed one is refused naming its field on a connection that stays usable, and a `resend`
 * from the hub sends the register's day again under the original event ids.
 */

const log = createLogger({ name: 'test', level: 'silent' });
const CONFIG_KEY = 'tbk_0123456789abcdefghjkmnpqrstvwxyz0123456_abcdef';

interface Item {
  seq: number;
  id: string;
  kind: string;
  register: string;
  body: Record<string, unknown>;
}

let dir: string;
let hub: StubHub;
let agent: RunningAgent | undefined;
const clock: Clock & { t: number } = { t: Date.parse('2026-11-27T18:00:00Z'), now: () => clock.t };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-dayclose-agent-'));
  hub = await new StubHub().start();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The events the agent has sent the hub so far. */
const sent = (): Item[] => hub.frames.filter((f) => f.t === 'events').flatMap((f) => f.items as Item[]);

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('day close through a running agent', () => {
  it(
    'JSON lines day.close → ack and one day.close event; ' +
      'malformed ones refused naming the field; resend sends the day again by id',
    async () => {
      const raw = agentConfig({ dir, store: 'S1', apiKey: CONFIG_KEY, hubWsUrl: hub.wsUrl });
      raw.log = { level: 'silent' };
      // the hub commits every batch it gets (the uploader sends the next only after the ack)
      hub.on('frame', (f) => {
        if (f.t !== 'events') return;
        const items = f.items as Item[];
        hub.push({
          t: 'ack',
          upTo: items[items.length - 1]!.seq,
          results: items.map((i) => ({ seq: i.seq, outcome: 'applied' })),
        });
      });
      agent = await startAgent(parseAgentConfig(raw), log, { clock });
      await until('the hello', () => hub.frames.find((f) => f.t === 'hello'));
      const reg = await JsonLinesRegister.connect(agent.registerPort('R1')!);
      try {
        expect(await reg.send(cashSale('m-1', 'C-1', '2026-11-27T17:00:00Z', 2, 500))).toEqual({
          type: 'ack',
          id: 'm-1',
        });

        // malformed: refused naming the field, nothing enqueued, the connection still answers
        const negative = await reg.send<{ type: string; code: string; message: string }>({
          type: 'day.close',
          id: 'z-0',
          businessDay: '2026-11-27',
          sales: { count: -1, amount: 1000 },
          returns: { count: 0, amount: 0 },
        });
        expect(negative).toMatchObject({ type: 'error', id: 'z-0', code: 'TB_INVALID' });
        expect(negative.message).toContain('sales.count');
        const badDay = await reg.send<{ type: string; code: string; message: string }>({
          type: 'day.close',
          id: 'z-00',
          businessDay: '2026-13-45',
          sales: { count: 1, amount: 1000 },
          returns: { count: 0, amount: 0 },
        });
        expect(badDay).toMatchObject({ type: 'error', id: 'z-00', code: 'TB_INVALID' });
        expect(badDay.message).toContain('businessDay');

        expect(
          await reg.send(
            dayCloseMessage('z-1', { businessDay: '2026-11-27' }, dayTotals([1, 1000], [0, 0], ['cash', 1000])),
          ),
        ).toEqual({ type: 'ack', id: 'z-1' });
      } finally {
        reg.close();
      }

      const first = await until('both events at the hub', () => (sent().length >= 2 ? sent() : undefined));
      expect(first.map((i) => i.kind)).toEqual(['sale', 'day.close']);
      expect(first[1]).toMatchObject({
        register: 'R1',
        body: {
          requestId: 'z-1',
          businessDay: '2026-11-27',
          source: 'register',
          sales: { count: 1, amount: 1000 },
          receipts: ['C-1'],
          authorizations: [],
        },
      });
      // the hub committed them: the outbox is empty
      await until('an empty outbox', () => (agent!.status().outbox.depth === 0 ? true : undefined));

      // reconciliation found the sale missing: the agent sends that register's day again, by id
      hub.push({
        t: 'resend',
        register: 'R1',
        businessDay: '2026-11-27',
        missing: { receipts: ['C-1'], authorizations: [] },
      });
      const again = await until('the resent events', () => (sent().length >= 4 ? sent().slice(2) : undefined));
      expect(again.map((i) => [i.id, i.kind])).toEqual(first.map((i) => [i.id, i.kind]));
      expect(again.every((i, n) => i.seq > first[n]!.seq)).toBe(true);
      // and for a day it forwarded nothing of, nothing
      hub.push({
        t: 'resend',
        register: 'R1',
        businessDay: '2026-11-20',
        missing: { receipts: ['C-0'], authorizations: [] },
      });
      hub.push({
        t: 'resend',
        register: 'R9',
        businessDay: '2026-11-27',
        missing: { receipts: [], authorizations: [] },
      });
      await until('the three resends served', () => (agent!.core.days.counters.resends === 3 ? true : undefined));
      expect(agent.core.days.counters.requeued).toBe(2);
      await until('an empty outbox again', () => (agent!.status().outbox.depth === 0 ? true : undefined));
      expect(sent()).toHaveLength(4);

      // and it shows on /metrics
      const metrics = await (await fetch(new URL('/metrics', agent.statusUrl))).text();
      expect(metrics).toContain('tillbridge_agent_day_closes_sent{source="register"} 1');
      expect(metrics).toContain('tillbridge_agent_day_closes_sent{source="agent"} 0');
      expect(metrics).toContain('tillbridge_agent_resends_served 3');
      expect(metrics).toContain('tillbridge_agent_resent_events 2');
    },
  );
});
