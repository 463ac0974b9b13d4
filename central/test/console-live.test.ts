import { afterEach, describe, expect, it } from 'vitest';
import type { FeedEntry, FeedFilter } from '../src/feed/feed.js';
import { ConsoleLive, type LiveDeps, type LiveMessage } from '../src/console/live.js';
import type { Timeline } from '../src/console/wire.js';
import type { LiveStoreRow } from '../src/console/fleet.js';
import { silent } from './helpers.js';

// The console's live feed (central/src/console/live.ts) against a fake feed and presence: one read of the feed per
// commit whatever the number of viewers, none while nobody watches; only the rows that changed are sent.

const decision = (position: number, authorization: string): FeedEntry => ({
  position,
  id: `evt-${position}`,
  type: 'return.authorized',
  store: 'S1',
  businessDay: '2026-11-27',
  at: '2026-11-27T10:00:00.000Z',
  recordedAt: '2026-11-27T10:00:00.000Z',
  data: { authorization, register: 'R1', decision: 'approved', mode: 'online', status: 'reserved' },
});

const row = (store: string, connected: boolean): LiveStoreRow => ({
  store,
  name: store,
  connected,
  since: null,
  lastSeen: null,
  lastHeartbeat: null,
  agentVersion: null,
  outboxDepth: null,
  outboxAgeMs: null,
  registers: null,
  policyHeld: null,
  settingsRun: null,
});

function world(timeline?: LiveDeps['timeline']) {
  const entries: FeedEntry[] = [];
  const reads: number[] = [];
  let commit: (local: boolean) => void = () => undefined;
  let presence: (store: string) => void = () => undefined;
  let terminals: (store: string) => void = () => undefined;
  const terminalReads: string[] = [];
  const connected = new Map([
    ['S1', true],
    ['S2', true],
  ]);
  let rowReads = 0;
  const live = new ConsoleLive(
    {
      feed: {
        head: () => entries.at(-1)?.position ?? 0,
        read: (position: number, limit: number, filter?: FeedFilter) => {
          reads.push(position);
          const after = entries.filter((e) => e.position > position).slice(0, limit);
          const wanted = after.filter((e) => !filter?.types || filter.types.includes(e.type));
          return { entries: wanted, next: after.at(-1)?.position ?? position };
        },
      },
      commits: { onCommitted: (l) => (commit = l) },
      presence: { onChange: (l) => (presence = l) },
      rows: (only) => {
        rowReads++;
        return [...connected].filter(([s]) => !only || only.has(s)).map(([s, c]) => row(s, c));
      },
      terminals: { onChange: (l) => (terminals = l) },
      terminalRows: (store) => {
        terminalReads.push(store);
        return [];
      },
      log: silent,
      ...(timeline ? { timeline } : {}),
    },
    { flushMs: 1, refreshMs: 3_600_000 },
  );
  return {
    live,
    entries,
    reads,
    connected,
    commit: () => commit(true),
    presenceChanged: (store: string) => presence(store),
    terminalsChanged: (store: string) => terminals(store),
    terminalReads,
    rowReads: () => rowReads,
  };
}

const lives: ConsoleLive[] = [];
afterEach(() => {
  for (const l of lives.splice(0)) l.close();
});

describe('the console live feed', () => {
  it('reads nothing while nobody watches', () => {
    const w = world();
    lives.push(w.live);
    w.entries.push(decision(1, 'a-1'));
    w.commit();
    w.presenceChanged('S1');
    expect(w.reads).toEqual([]);
    expect(w.rowReads()).toBe(0);
  });

  it('reads the feed once per commit for all its viewers, and sends each of them the new decisions', () => {
    const w = world();
    lives.push(w.live);
    w.entries.push(decision(1, 'old'));
    const got: LiveMessage[][] = [[], [], []];
    const leave = got.map((g) => w.live.join((m) => g.push(m)));
    expect(w.live.watching()).toBe(3);
    w.entries.push(decision(2, 'a-2'), decision(3, 'a-3'));
    w.commit();
    // one read from where the first viewer joined (after "old"), one more finding nothing new
    expect(w.reads).toEqual([1, 3]);
    for (const g of got) {
      expect(g.map((m) => (m.event === 'decision' ? m.data.authorization : m.event))).toEqual(['a-2', 'a-3']);
    }
    for (const l of leave) l();
    expect(w.live.watching()).toBe(0);
    w.entries.push(decision(4, 'a-4'));
    w.commit();
    expect(w.reads).toEqual([1, 3]);
  });

  it('runs the timeline while anyone watches, and sends each new one to every viewer', () => {
    let send: ((t: Timeline) => void) | undefined;
    const calls: string[] = [];
    const w = world({
      start: (s) => {
        calls.push('start');
        send = s;
      },
      stop: () => calls.push('stop'),
    });
    lives.push(w.live);
    const got: LiveMessage[][] = [[], []];
    const leave = got.map((g) => w.live.join((m) => g.push(m)));
    expect(calls).toEqual(['start']);
    send?.({ at: '2026-11-27T10:00:00.000Z' } as Timeline);
    for (const g of got) expect(g).toEqual([{ event: 'timeline', data: { at: '2026-11-27T10:00:00.000Z' } }]);
    for (const l of leave) l();
    expect(calls).toEqual(['start', 'stop']);
  });

  it('sends a store whose presence changed, once, and not again while it stays the same', async () => {
    const w = world();
    lives.push(w.live);
    const got: LiveMessage[] = [];
    w.live.join((m) => got.push(m));
    w.connected.set('S2', false);
    w.presenceChanged('S2');
    w.presenceChanged('S2'); // two changes within flushMs: one read, one message
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([{ event: 'stores', data: [row('S2', false)] }]);
    w.presenceChanged('S2');
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toHaveLength(1); // nothing changed since
  });
});

describe("the console live feed, a store's registers", () => {
  it('sends the registers of a store whose report changed them, once per flush; nothing unwatched', async () => {
    const w = world();
    lives.push(w.live);
    w.terminalsChanged('S1');
    expect(w.terminalReads).toEqual([]);
    const got: LiveMessage[] = [];
    w.live.join((m) => got.push(m));
    w.terminalsChanged('S1');
    w.terminalsChanged('S1');
    await new Promise((r) => setTimeout(r, 20));
    expect(w.terminalReads).toEqual(['S1']);
    expect(got).toEqual([{ event: 'terminals', data: { store: 'S1', terminals: [] } }]);
    expect(w.rowReads()).toBe(1); // the fleet's first rows when the viewer joined; not read again for registers
  });
});
