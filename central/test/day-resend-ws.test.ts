import { describe, expect, it } from 'vitest';
import type { WireEvent } from '@tillbridge/shared';
import type { RunningHub } from '../src/hub.js';
import { agentToken, wireDayClose, wireHello, wireSale } from './helpers.js';
import { hubPerTest } from './hub-per-test.js';
import { wsText } from '../../test/support/ws.js';

/**
 * The hub's `resend` frame over a real WebSocket: a day close naming a sale the hub never got
 * brings a resend to the connected agent (through the cluster's bus, as on PostgreSQL with several
 * processes), the sale sent again closes the gap; a resend still owed is asked again when the agent
 * connects.
 */
const hubs = hubPerTest();
let running: RunningHub | undefined;

interface Frame {
  t: string;
  [k: string]: unknown;
}
interface Agent {
  frames: Frame[];
  next(t: string, after?: number): Promise<Frame>;
  send(frame: unknown): void;
  close(): Promise<void>;
}

async function connect(token: string, newest: number): Promise<Agent> {
  const ws = hubs.dial(token);
  const frames: Frame[] = [];
  const waiting: { t: string; from: number; resolve: (f: Frame) => void }[] = [];
  ws.on('message', (data) => {
    const f = JSON.parse(wsText(data)) as Frame;
    frames.push(f);
    for (const w of waiting.filter((x) => x.t === f.t && frames.length - 1 >= x.from)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(f);
    }
  });
  await new Promise<void>((r) => ws.once('open', () => r()));
  const agent: Agent = {
    frames,
    // the first frame of type t at or after index `after`
    next: (t, after = 0) => {
      const seen = frames.slice(after).find((f) => f.t === t);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ t, from: after, resolve }));
    },
    send: (frame) => ws.send(JSON.stringify(frame)),
    close: () =>
      new Promise<void>((r) => {
        ws.once('close', () => r());
        ws.close();
      }),
  };
  agent.send(wireHello('agent-1', { incarnation: 'inc-1', newest }));
  await agent.next('welcome');
  return agent;
}

const sale = (seq: number, id: string, receipt: string, at = '2026-11-27T10:00:00Z'): WireEvent =>
  wireSale(seq, id, receipt, { amount: 500, tenders: [{ kind: 'cash', amount: 500 }], at });
const close = (seq: number, id: string, day: string, receipts: string[]): WireEvent =>
  wireDayClose(seq, id, {
    businessDay: day,
    closedAt: `${day}T21:00:00Z`,
    sales: { count: receipts.length, amount: 500 * receipts.length },
    tenders: [{ kind: 'cash', amount: 500 * receipts.length }],
    receipts,
  });

describe('resend frames to a connected agent', () => {
  it('asks the agent for what the hub lacks, and again when it connects', async () => {
    running = await hubs.start('tb-resend-');
    const hub = running.hub;
    hub.stores.create('S1', 'S1');
    const token = await agentToken(hub, 'S1');

    const a = await connect(token, 0);
    // X2 was sold (seq 2) but never reached the hub; the day close lists it
    a.send({ t: 'events', items: [sale(1, 'e1', 'X1'), close(3, 'd1', '2026-11-27', ['X1', 'X2'])] });
    const resend = await a.next('resend');
    expect(resend).toEqual({
      t: 'resend',
      register: 'R1',
      businessDay: '2026-11-27',
      missing: { receipts: ['X2'], authorizations: [] },
    });
    expect(hub.registerDays.list('2026-11-27')[0]).toMatchObject({ status: 'resending', resendAttempts: 1 });

    // the agent sends the day again, original ids under new seqs: the gap closes
    const before = a.frames.length;
    a.send({ t: 'events', items: [{ ...sale(4, 'e1', 'X1') }, { ...sale(5, 'e2', 'X2') }] });
    expect(await a.next('ack', before)).toMatchObject({
      upTo: 5,
      results: [{ outcome: 'duplicate' }, { outcome: 'applied' }],
    });
    expect(hub.registerDays.list('2026-11-27')[0]).toMatchObject({ status: 'matched' });
    expect(hub.erpFeed.read(0, 100).entries.filter((e) => e.type === 'day.reconciled')).toHaveLength(1);

    // another day's close while the agent is away: the resend waits for its next connection
    await a.close();
    hub.applier.applyBatch('S1', 'agent-1', 'inc-1', [close(6, 'd2', '2026-11-28', ['Y1'])]);
    expect(hub.registerDays.list('2026-11-28')[0]).toMatchObject({ status: 'resending' });
    const b = await connect(token, 6);
    expect(await b.next('resend')).toEqual({
      t: 'resend',
      register: 'R1',
      businessDay: '2026-11-28',
      missing: { receipts: ['Y1'], authorizations: [] },
    });
    // the welcome came first: an agent hears of a resend only once it is the store's connection
    expect(b.frames.findIndex((f) => f.t === 'welcome')).toBeLessThan(b.frames.findIndex((f) => f.t === 'resend'));
    expect(b.frames.filter((f) => f.t === 'resend')).toHaveLength(1);
  });
});
