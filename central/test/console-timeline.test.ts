import { describe, expect, it } from 'vitest';
import type { Hub } from '../src/hub-services.js';
import { ConsoleTimeline, percentile, TIMELINE_MINUTES, type Timeline } from '../src/console/timeline.js';
import {
  cleanupsAfterEach,
  hubEngines,
  hubForEachTest,
  recordSale,
  silent,
  twoHubProcesses,
  wireSale,
  type TestClock,
} from './helpers.js';
import { askBody, askReturn, offlineApproval } from './returns-support.js';

// The console's charts over time (central/src/console/timeline.ts), computed from a real hub database (SQLite; or
// PostgreSQL with TILLBRIDGE_TEST_BACKEND=postgres) by a fixed clock.

const t = hubForEachTest({ S1: 'S1', S2: 'S2' });
const at = (hhmmss: string): number => Date.parse(`2026-11-27T${hhmmss}Z`);
const minuteSec = (hhmm: string): number => at(`${hhmm}:00`) / 1000;

/** The value of `series` in the minute starting at hh:mm. */
function inMinute<T>(tl: Timeline, series: T[], hhmm: string): T | undefined {
  return series[tl.minutes.indexOf(minuteSec(hhmm))];
}

/** The hub's activity queries, counting the reads of each. */
function counted(hub: Hub) {
  const reads = { decisions: 0, applied: 0, deliveries: 0 };
  const since = { decisions: [] as string[], applied: [] as string[] };
  const a = hub.queries.activity;
  return {
    reads,
    since,
    activity: {
      decisionsSince: (from: string) => (reads.decisions++, since.decisions.push(from), a.decisionsSince(from)),
      appliedSince: (from: string) => (reads.applied++, since.applied.push(from), a.appliedSince(from)),
      deliveriesSince: (from: string, now: number) => (reads.deliveries++, a.deliveriesSince(from, now)),
    },
  };
}

function timeline(hub: Hub, outboxes: () => number[] = () => [], clock: TestClock = t.clock) {
  const c = counted(hub);
  const tl = new ConsoleTimeline(
    { activity: c.activity, clock, outboxes, commits: hub.erpFeed, log: silent },
    { tickMs: 60_000, commitMs: 5 },
  );
  return { tl, reads: c.reads, since: c.since };
}

/** Receipt `receipt` sold at S1 (two units of A). */
const sell = (receipt: string): void => recordSale(t.hub, 'S1', { receipt, requestId: `m-${receipt}` });

/** A return of one unit asked online at hh:mm:ss, its latency `ms` (none when undefined); denied when no sale. */
function online(hhmmss: string, authorization: string, receipt: string, ms?: number): void {
  t.clock.t = at(hhmmss);
  t.hub.engine.authorize('S1', askBody(authorization, receipt), ms === undefined ? undefined : () => ms);
}

describe('the console timeline', () => {
  it('counts decisions per minute, online and offline, their success rate and latency, over 30 minutes', () => {
    sell('X1');
    sell('X2');
    online('09:59:50', 'a-before', 'X1', 99); // before the window: not counted
    online('10:05:10', 'a-1', 'X1', 4);
    online('10:05:40', 'a-2', 'X2', 8);
    online('10:05:50', 'a-denied', 'NOPE', 2);
    t.clock.t = at('10:07:05');
    t.hub.storage.tx(() => t.hub.reconciler.apply('S1', 'R1', offlineApproval('o-1', 'X2', 1)));
    online('10:29:30', 'a-3', 'X2');

    const tl = timeline(t.hub).tl.current();
    expect(tl.minutes).toHaveLength(TIMELINE_MINUTES);
    expect(tl.minutes[0]).toBe(minuteSec('10:00'));
    expect(tl.minutes.at(-1)).toBe(minuteSec('10:29'));
    expect(tl.at).toBe('2026-11-27T10:29:30.000Z');
    expect([inMinute(tl, tl.online, '10:05'), inMinute(tl, tl.offline, '10:05')]).toEqual([3, 0]);
    expect([inMinute(tl, tl.online, '10:07'), inMinute(tl, tl.offline, '10:07')]).toEqual([0, 1]);
    expect(tl.online.reduce((a, b) => a + b)).toBe(4);
    // two of the three authorized; the offline approval alone; nothing decided: no rate
    expect(inMinute(tl, tl.successRate, '10:05')).toBeCloseTo(2 / 3);
    expect(inMinute(tl, tl.successRate, '10:07')).toBe(1);
    expect(inMinute(tl, tl.successRate, '10:06')).toBeNull();
    // latencies 2, 4, 8: median 4, 99th percentile 8; an offline decision and an unmeasured one have none
    expect([inMinute(tl, tl.decisionP50, '10:05'), inMinute(tl, tl.decisionP99, '10:05')]).toEqual([4, 8]);
    expect(inMinute(tl, tl.decisionP50, '10:07')).toBeNull();
    expect(inMinute(tl, tl.decisionP50, '10:29')).toBeNull();
    expect(inMinute(tl, tl.successRate, '10:29')).toBe(1);
  });

  it("takes sync latency from the agents' events applied, agent commit to hub commit", () => {
    const apply = (hhmmss: string, seq: number, agentAt: string): void => {
      t.clock.t = at(hhmmss);
      t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [wireSale(seq, `ev-${seq}`, `R-${seq}`, { at: agentAt })]);
    };
    apply('10:10:01', 1, '2026-11-27T10:10:00.900Z'); // 100 ms
    apply('10:10:30', 2, '2026-11-27T10:10:29.700Z'); // 300 ms
    apply('10:10:59', 3, '2026-11-27T10:10:58.000Z'); // 1 s
    apply('10:12:00', 4, '2026-11-27T10:11:00.000Z'); // a minute (queued at the agent)
    t.clock.t = at('10:20:00');
    const tl = timeline(t.hub).tl.current();
    expect([inMinute(tl, tl.syncP50, '10:10'), inMinute(tl, tl.syncP99, '10:10')]).toEqual([300, 1000]);
    expect(inMinute(tl, tl.syncP50, '10:12')).toBe(60_000);
    expect(inMinute(tl, tl.syncP50, '10:11')).toBeNull();
  });

  it('counts webhook deliveries by the outcome and minute of their latest attempt', () => {
    const db = t.hub.storage.db;
    db.prepare(
      `INSERT INTO webhooks (id, url, events, secret_enc, created_at, created_by)
       VALUES ('wh1', 'https://erp.example/hook', '["*"]', 'x', '2026-11-27T08:00:00.000Z', 'admin:t')`,
    ).run();
    db.prepare(`INSERT INTO webhook_messages (id, type, body, created_at) VALUES ('m1', 'sale.recorded', '{}', ?)`).run(
      '2026-11-27T08:00:00.000Z',
    );
    const delivery = db.prepare(
      `INSERT INTO webhook_deliveries (id, webhook, message, state, created_at, last_attempt_at)
       VALUES (?, 'wh1', 'm1', ?, ?, ?)`,
    );
    const d = (id: string, state: string, created: string, last: string | null): void =>
      void delivery.run(id, state, `2026-11-${created}Z`, last === null ? null : `2026-11-27T${last}Z`);
    d('d1', 'succeeded', '27T10:14:00', '10:14:01');
    d('d2', 'succeeded', '27T10:14:00', '10:14:59');
    d('d3', 'failed', '27T10:14:00', '10:14:30');
    d('d4', 'abandoned', '26T00:00:00', '10:15:00'); // its last retry, a day and more after it was made
    d('d5', 'pending', '27T10:16:00', null); // not attempted yet
    d('d6', 'succeeded', '27T09:00:00', '09:00:01'); // before the window
    t.clock.t = at('10:20:00');
    const tl = timeline(t.hub).tl.current();
    expect(['delivered', 'failed', 'abandoned'].map((k) => inMinute(tl, tl[k as 'failed'], '10:14'))).toEqual([
      2, 1, 0,
    ]);
    expect(inMinute(tl, tl.abandoned, '10:15')).toBe(1);
    expect(tl.delivered.reduce((a, b) => a + b)).toBe(2);
  });

  it('samples the outbox depths of the connected stores at each reading', () => {
    let depths = [3, 5];
    t.clock.t = at('10:10:00');
    const { tl } = timeline(t.hub, () => depths);
    tl.current();
    depths = [];
    t.clock.t = at('10:11:00');
    const now = tl.current();
    expect([inMinute(now, now.outboxTotal, '10:10'), inMinute(now, now.outboxDeepest, '10:10')]).toEqual([8, 5]);
    expect(inMinute(now, now.outboxTotal, '10:11')).toBeNull(); // no store connected
    expect(inMinute(now, now.outboxTotal, '10:09')).toBeNull(); // before this process looked
  });

  it('reads the database at most once a minute, and only the last decisions after a commit', async () => {
    sell('X1');
    t.clock.t = at('10:10:00');
    const { tl, reads } = timeline(t.hub);
    const first = tl.current();
    t.clock.t = at('10:10:50');
    expect(tl.current()).toBe(first);
    expect(reads).toEqual({ decisions: 1, applied: 1, deliveries: 1 });

    const sent: Timeline[] = [];
    tl.start((x) => sent.push(x));
    askReturn(t.hub, 'S1', 'a-live', 'X1', 1); // committed: the feed tells the timeline
    await expect.poll(() => sent.length).toBe(1);
    expect(sent[0]?.online.at(-1)).toBe(1);
    expect(reads).toEqual({ decisions: 2, applied: 1, deliveries: 1 });
    tl.stop();
    askReturn(t.hub, 'S1', 'a-unwatched', 'X1', 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(sent).toHaveLength(1);
    expect(reads.decisions).toBe(2); // nobody watches: nothing read

    t.clock.t = at('10:11:00'); // a new minute: all of it again
    expect(tl.current().online.at(-2)).toBe(2);
    expect(reads).toEqual({ decisions: 3, applied: 2, deliveries: 2 });
  });

  it('at a new minute reads the decisions and events applied since the minute before its last read, no more', () => {
    sell('X1');
    sell('X2');
    online('10:05:10', 'a-1', 'X1', 4);
    t.clock.t = at('10:10:00');
    const { tl, since } = timeline(t.hub);
    tl.current();
    online('10:12:30', 'a-2', 'X2', 6);
    t.hub.applier.applyBatch('S1', 'agent-a', 'i1', [wireSale(1, 'ev-1', 'R-1', { at: '2026-11-27T10:12:29.500Z' })]);
    t.clock.t = at('10:13:00');
    const later = tl.current();
    expect(since.decisions).toEqual(['2026-11-27T09:41:00.000Z', '2026-11-27T10:09:00.000Z']);
    expect(since.applied).toEqual(['2026-11-27T09:41:00.000Z', '2026-11-27T10:09:00.000Z']);
    expect([inMinute(later, later.online, '10:05'), inMinute(later, later.online, '10:12')]).toEqual([1, 1]);
    expect(inMinute(later, later.syncP50, '10:12')).toBe(500);
    // what it kept and what it read again add up to what a process reading the whole window finds
    expect(later).toEqual(timeline(t.hub).tl.current());
  });

  it('finds where on the feed a time begins by halving over its positions', () => {
    for (let i = 0; i < 37; i++) {
      t.clock.t = at('10:00:00') + i * 20_000;
      sell(`P${i}`);
    }
    const entries = t.hub.erpFeed.read(0, 1000).entries;
    expect(entries.length).toBeGreaterThanOrEqual(37);
    /** the first entry recorded at or after `ms`, read one by one */
    const expected = (ms: number): number =>
      entries.find((e) => Date.parse(e.recordedAt) >= ms)?.position ?? (entries.at(-1)?.position ?? 0) + 1;
    const a = t.hub.activity;
    for (const ms of [at('09:00:00'), at('11:00:00'), ...entries.map((_, i) => at('10:00:00') + i * 10_000 - 1)])
      expect(a.feedPositionAt(new Date(ms).toISOString())).toBe(expected(ms));
  });

  it('takes percentiles by nearest rank', () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(
      percentile(
        Array.from({ length: 200 }, (_, i) => i + 1),
        0.99,
      ),
    ).toBe(198);
  });
});

const engines = hubEngines('console-timeline.test.ts');
const cleanups = cleanupsAfterEach();

for (const engine of engines) {
  describe(`the console timeline of two hub processes on one ${engine} database`, () => {
    it('is the same on both, whichever process decided and applied what', () => {
      const p = twoHubProcesses(engine, cleanups);
      p.a.stores.create('S1', 'S1');
      p.clock.t = at('10:02:00');
      recordSale(p.a, 'S1', { receipt: 'X1', requestId: 'm-X1' });
      recordSale(p.b, 'S1', { receipt: 'X2', requestId: 'm-X2' });
      p.clock.t = at('10:03:10');
      p.a.engine.authorize('S1', askBody('a-on-a', 'X1'), () => 3);
      p.clock.t = at('10:04:20');
      p.b.engine.authorize('S1', askBody('a-on-b', 'X2'), () => 9);
      p.b.applier.applyBatch('S1', 'agent-a', 'i1', [wireSale(1, 'ev-1', 'R-1', { at: '2026-11-27T10:04:19.750Z' })]);
      p.clock.t = at('10:05:00');
      const onA = timeline(p.a, () => [], p.clock).tl.current();
      const onB = timeline(p.b, () => [], p.clock).tl.current();
      expect(onB).toEqual(onA);
      expect(onA.online.reduce((x, y) => x + y)).toBe(2);
      expect([inMinute(onA, onA.decisionP50, '10:03'), inMinute(onA, onA.decisionP50, '10:04')]).toEqual([3, 9]);
      expect(inMinute(onA, onA.syncP50, '10:04')).toBe(250);
    });
  });
}
