import type { Logger } from '@tillbridge/shared';
import type { Clock } from '../domain/clock.js';
import type { Feed } from '../feed/feed.js';
import type { ConsoleQueries } from './fleet.js';
import type { Timeline } from './wire.js';

export type { Timeline } from './wire.js';

/** The minutes the timeline spans, up to and with the current one. */
export const TIMELINE_MINUTES = 30;

export interface TimelineDeps {
  activity: ConsoleQueries['activity'];
  clock: Clock;
  /** the outbox depths the connected stores' agents last reported (every hub process's stores) */
  outboxes(): number[];
  /** the feed's after-commit signal: the decisions of the last minutes are read again */
  commits: Pick<Feed, 'onCommitted'>;
  log: Logger;
}

export interface TimelineOptions {
  /** how often, while anyone watches, it looks whether a new minute began (then reads it all again; default 10 s) */
  tickMs?: number;
  /** how soon after a commit the last two minutes' decisions are read again (commits within it go together; 1 s) */
  commitMs?: number;
}

interface MinuteDecisions {
  online: number;
  offline: number;
  authorized: number;
  latencies: number[];
}

interface MinuteDeliveries {
  delivered: number;
  failed: number;
  abandoned: number;
}

const MINUTE = 60_000;
const minuteOf = (iso: string): number => Math.floor(Date.parse(iso) / MINUTE);

/** The value at rank ⌈p·n⌉ of `xs` (nearest rank); null when there is none. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? null;
}

/** Puts `value` into the minute `minute` of `into`, starting it with `empty()`. */
function bucket<T>(into: Map<number, T>, minute: number, empty: () => T): T {
  let b = into.get(minute);
  if (!b) into.set(minute, (b = empty()));
  return b;
}

/** `into` with the minutes before `first` dropped and those from `from` on replaced by `fresh`'s. */
function renew<T>(into: Map<number, T>, fresh: Map<number, T>, first: number, from: number): void {
  for (const m of into.keys()) if (m < first || m >= from) into.delete(m);
  for (const [m, v] of fresh) if (m >= from) into.set(m, v);
}

const noDecisions = (): MinuteDecisions => ({ online: 0, offline: 0, authorized: 0, latencies: [] });
const noDeliveries = (): MinuteDeliveries => ({ delivered: 0, failed: 0, abandoned: 0 });

/**
 * The console's charts over time, computed in one place per hub process for all its viewers, from the database (so
 * every hub process on one database shows the same): return decisions and their latency from the ERP feed, sync
 * latency from the agents' events applied, webhook delivery outcomes from the deliveries' latest attempts. It is read
 * again at most once a minute of the hub's clock, while anyone watches (or when asked for after a minute without) —
 * the decisions and events applied only since the last read; after a commit on the feed the last two minutes'
 * decisions are. The outbox depths are
 * sampled from the stores' last heartbeats at each of those reads: kept by this process, they start when it first
 * computed the timeline.
 */
export class ConsoleTimeline {
  private readonly decisions = new Map<number, MinuteDecisions>();
  private readonly sync = new Map<number, number[]>();
  private deliveries = new Map<number, MinuteDeliveries>();
  private readonly outbox = new Map<number, { total: number; deepest: number } | null>();
  /** the minute of the last full read */
  private readMinute: number | undefined;
  private latest: Timeline | undefined;
  private send: ((t: Timeline) => void) | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private readonly timing: Required<TimelineOptions>;

  constructor(
    private readonly deps: TimelineDeps,
    { tickMs = 10_000, commitMs = 1000 }: TimelineOptions = {},
  ) {
    this.timing = { tickMs, commitMs };
    deps.commits.onCommitted(() => this.committed());
  }

  /** The timeline now: read again first when a new minute began since the last read. */
  current(): Timeline {
    if (!this.latest || this.readMinute !== this.minuteNow()) return this.readAll();
    return this.latest;
  }

  /** Someone watches: each new timeline goes to `send` (a viewer that joins is given `current()` first). */
  start(send: (t: Timeline) => void): void {
    this.send = send;
    this.tickTimer = setInterval(() => {
      if (this.readMinute !== this.minuteNow()) this.guard('compute the timeline', () => send(this.readAll()));
    }, this.timing.tickMs);
    this.tickTimer.unref();
  }

  /** Nobody watches: nothing is read until someone asks. */
  stop(): void {
    clearInterval(this.tickTimer);
    clearTimeout(this.commitTimer);
    this.tickTimer = this.commitTimer = this.send = undefined;
  }

  private minuteNow(): number {
    return Math.floor(this.deps.clock.now() / MINUTE);
  }

  private committed(): void {
    if (!this.send || this.commitTimer) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      const send = this.send;
      if (send) this.guard("read the last minutes' decisions", () => send(this.readRecent()));
    }, this.timing.commitMs);
    this.commitTimer.unref();
  }

  /**
   * Reads the window again: the webhook deliveries all of it (a delivery's latest attempt moves as it is retried), the
   * decisions and the events applied only from the minute before the last read on (rows that never change once
   * written; the minute before, for another process's commits stamped a little earlier), the minutes before kept.
   */
  private readAll(): Timeline {
    const now = this.deps.clock.now();
    const minute = Math.floor(now / MINUTE);
    const first = minute - TIMELINE_MINUTES + 1;
    const from = this.readMinute === undefined ? first : Math.max(first, Math.min(minute, this.readMinute - 1));
    const since = new Date(from * MINUTE).toISOString();
    const a = this.deps.activity;
    const sync = new Map<number, number[]>();
    for (const e of a.appliedSince(since))
      bucket(sync, minuteOf(e.appliedAt), () => []).push(Math.max(0, Date.parse(e.appliedAt) - Date.parse(e.agentAt)));
    renew(this.decisions, this.countDecisions(since), first, from);
    renew(this.sync, sync, first, from);
    this.deliveries = new Map();
    for (const e of a.deliveriesSince(new Date(first * MINUTE).toISOString(), now)) {
      const b = bucket(this.deliveries, minuteOf(e.at), noDeliveries);
      if (e.state === 'succeeded') b.delivered++;
      else if (e.state === 'failed') b.failed++;
      else b.abandoned++;
    }
    this.sampleOutbox(minute);
    this.readMinute = minute;
    return this.build(minute);
  }

  /** Reads the decisions of the last two minutes again (after a commit). */
  private readRecent(): Timeline {
    const minute = this.minuteNow();
    if (this.readMinute !== minute) return this.readAll();
    const recent = this.countDecisions(new Date((minute - 1) * MINUTE).toISOString());
    for (const m of [minute - 1, minute]) this.decisions.set(m, recent.get(m) ?? noDecisions());
    return this.build(minute);
  }

  private countDecisions(since: string): Map<number, MinuteDecisions> {
    const out = new Map<number, MinuteDecisions>();
    for (const e of this.deps.activity.decisionsSince(since)) {
      const b = bucket(out, minuteOf(e.recordedAt), noDecisions);
      if (e.mode === 'offline') b.offline++;
      else b.online++;
      if (e.decision === 'approved' || e.decision === 'conditional') b.authorized++;
      if (e.latencyMs !== null) b.latencies.push(e.latencyMs);
    }
    return out;
  }

  private sampleOutbox(minute: number): void {
    const depths = this.deps.outboxes();
    this.outbox.set(
      minute,
      depths.length === 0 ? null : { total: depths.reduce((x, y) => x + y, 0), deepest: Math.max(...depths) },
    );
    for (const m of this.outbox.keys()) if (m <= minute - TIMELINE_MINUTES) this.outbox.delete(m);
  }

  private build(last: number): Timeline {
    const t: Timeline = {
      at: new Date(this.deps.clock.now()).toISOString(),
      minutes: [],
      online: [],
      offline: [],
      successRate: [],
      decisionP50: [],
      decisionP99: [],
      syncP50: [],
      syncP99: [],
      outboxTotal: [],
      outboxDeepest: [],
      delivered: [],
      failed: [],
      abandoned: [],
    };
    for (let m = last - TIMELINE_MINUTES + 1; m <= last; m++) {
      const d = this.decisions.get(m) ?? noDecisions();
      const decided = d.online + d.offline;
      const sync = this.sync.get(m) ?? [];
      const box = this.outbox.get(m) ?? null;
      const w = this.deliveries.get(m) ?? noDeliveries();
      t.minutes.push((m * MINUTE) / 1000);
      t.online.push(d.online);
      t.offline.push(d.offline);
      t.successRate.push(decided === 0 ? null : d.authorized / decided);
      t.decisionP50.push(percentile(d.latencies, 0.5));
      t.decisionP99.push(percentile(d.latencies, 0.99));
      t.syncP50.push(percentile(sync, 0.5));
      t.syncP99.push(percentile(sync, 0.99));
      t.outboxTotal.push(box?.total ?? null);
      t.outboxDeepest.push(box?.deepest ?? null);
      t.delivered.push(w.delivered);
      t.failed.push(w.failed);
      t.abandoned.push(w.abandoned);
    }
    this.latest = t;
    return t;
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log.warn({ err }, `console: could not ${what}`);
    }
  }
}
