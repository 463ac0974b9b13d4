import { afterEach, describe, expect, it } from 'vitest';
import type { FeedEntry, FeedFilter } from '../src/feed/feed.js';
import { ConsoleLive, type LiveDeps, type LiveMessage } from '../src/console/live.js';
import type { AuditRow, ExceptionDetail, Timeline } from '../src/console/wire.js';
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

const entry = (id: number, action: string): AuditRow => ({
  id,
  at: '2026-11-27T10:00:00.000Z',
  actor: 'admin:test',
  action,
  outcome: 'ok',
  store: 'S1',
  register: null,
  resource: null,
  details: '{}',
  origin: null,
});

const exception = (id: string): ExceptionDetail => ({
  id,
  store: 'S1',
  register: 'R1',
  kind: 'event',
  code: 'invalid',
  reason: 'a bad sale',
  authorization: null,
  eventId: null,
  createdAt: '2026-11-27T10:00:00.000Z',
  resolvedAt: null,
  detail: null,
  ticket: null,
});

function world(timeline?: LiveDeps['timeline'], refreshMs = 3_600_000) {
  const entries: FeedEntry[] = [];
  const audit: AuditRow[] = [];
  const open: ExceptionDetail[] = [];
  const oversightReads = { audit: 0, exceptions: 0 };
  let appended: () => void = () => undefined;
  const registers = new Map<string, LiveStoreRow['registers']>();
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
        return [...connected]
          .filter(([s]) => !only || only.has(s))
          .map(([s, c]) => ({ ...row(s, c), registers: registers.get(s) ?? null }));
      },
      terminals: { onChange: (l) => (terminals = l) },
      terminalRows: (store) => {
        terminalReads.push(store);
        return [];
      },
      oversight: {
        exceptions: () => {
          oversightReads.exceptions++;
          return [...open];
        },
        auditLastId: () => audit.at(-1)?.id ?? 0,
        auditAfter: (id, limit) => {
          oversightReads.audit++;
          return audit.filter((e) => e.id > id).slice(0, limit);
        },
        onAppended: (l) => (appended = l),
      },
      log: silent,
      ...(timeline ? { timeline } : {}),
    },
    { flushMs: 1, refreshMs },
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
    audit,
    open,
    oversightReads,
    registers,
    appended: () => appended(),
  };
}

const settle = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

describe('the console live feed, exceptions and the audit tail', () => {
  it('sends the audit entries appended, once read for all viewers, newest first; nothing read unwatched', async () => {
    const w = world();
    lives.push(w.live);
    w.audit.push(entry(1, 'token.create'));
    w.appended();
    await settle();
    expect(w.oversightReads).toEqual({ audit: 0, exceptions: 0 });
    const got: LiveMessage[][] = [[], []];
    for (const g of got) w.live.join((m) => g.push(m));
    w.audit.push(entry(2, 'store.create'), entry(3, 'policy.set'));
    w.appended();
    w.appended(); // two appends within flushMs: one read
    await settle();
    expect(w.oversightReads).toEqual({ audit: 1, exceptions: 0 });
    for (const g of got)
      expect(g).toEqual([{ event: 'audit', data: [entry(3, 'policy.set'), entry(2, 'store.create')] }]);
    // the log has not moved: nothing read, nothing sent
    w.appended();
    await settle();
    expect(w.oversightReads.audit).toBe(1);
    expect(got[0]).toHaveLength(1);
  });

  it('sends the open exceptions when the feed raises one or the audit settles one, when they differ', async () => {
    const w = world();
    lives.push(w.live);
    const got: LiveMessage[] = [];
    w.live.join((m) => got.push(m));
    // a return flagged: its feed entry says so
    w.open.push(exception('ex-1'));
    w.entries.push({ ...decision(1, 'a-1'), type: 'return.exception' });
    w.commit();
    await settle();
    expect(got).toEqual([{ event: 'exceptions', data: [exception('ex-1')] }]);
    // decisions still go as before, and do not read the exceptions
    w.entries.push(decision(2, 'a-2'));
    w.commit();
    await settle();
    expect(got.map((m) => m.event)).toEqual(['exceptions', 'decision']);
    expect(w.oversightReads.exceptions).toBe(1);
    // settled by an operator: the audit entry says so, the list is sent again without it
    w.open.splice(0);
    w.audit.push(entry(1, 'exception.resolve'));
    w.appended();
    await settle();
    expect(got.slice(2)).toEqual([
      { event: 'audit', data: [entry(1, 'exception.resolve')] },
      { event: 'exceptions', data: [] },
    ]);
    // a day reconciled that settles nothing: read, the same list, not sent
    w.entries.push({ ...decision(3, 'a-3'), type: 'day.reconciled' });
    w.commit();
    await settle();
    expect(w.oversightReads.exceptions).toBe(3);
    expect(got).toHaveLength(4);
  });

  it("at each refresh, sends the registers of a store whose register counts changed (another process's)", async () => {
    const w = world(undefined, 15);
    lives.push(w.live);
    w.registers.set('S2', { total: 2, connected: 2 });
    const got: LiveMessage[] = [];
    w.live.join((m) => got.push(m));
    await settle(40);
    expect(w.terminalReads).toEqual([]); // nothing changed since the viewer joined
    w.registers.set('S2', { total: 2, connected: 1 });
    await expect.poll(() => w.terminalReads).toEqual(['S2']);
    expect(got.filter((m) => m.event === 'terminals')).toEqual([
      { event: 'terminals', data: { store: 'S2', terminals: [] } },
    ]);
  });
});
