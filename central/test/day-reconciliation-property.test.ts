import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { DayCloseEventBody, Tender, WireEvent } from '@tillbridge/shared';
import { testBackend } from '@tillbridge/scripts/lib/pg-test-db';
import type { DayOutcome, RegisterDayView, ResendRequest } from '../src/reconcile/day-reconciliation.js';
import { FEED_DATA_SCHEMAS } from '../src/feed/event-schemas.js';
import type { FeedEventType } from '../src/feed/feed.js';
import { testHub, wireDayClose, type TestHub } from './helpers.js';
import { askReturn } from './returns-support.js';

/**
 * Register day-close reconciliation (docs/reconciliation.md) against a model written from the doc, as a property.
 * One or two stores (S1, S2), each with its agent, one to three registers, one to three business days, a real hub
 * (SQLite, or PostgreSQL with TILLBRIDGE_TEST_BACKEND=postgres) on a test clock, the agents' clocks maybe hours
 * off it. Each run is a random sequence of what the stores do and what reaches the hub:
 * - sales (lines, tenders of several kinds and spellings, register times near either midnight, some written with
 *   an offset, a receipt another register used already: refused) and returns asked online (what the outbox holds
 *   up to the sale is sent first) and completed at any register, refunded to any kind, some above what was
 *   authorized (the hub keeps the authorized amount);
 * - day closes from a register or from the agent, their totals right or wrong by sales or returns count or amount
 *   or a tender kind (or equal but spelled otherwise, or with a kind at 0 the other side lacks), their lists as the
 *   agent's journal has them, short of one, or naming what nobody will ever send; a corrected close later;
 * - the agent's journal and outbox: every event journalled with its business day fixed when written, some lost on
 *   the way (the hub gets them only if a resend brings them: the close finds them missing), some written after
 *   their day's close; the outbox sent in batches of any size (the two stores' in one group commit, grouped or
 *   event by event), the last batch sent again (duplicates), resend requests served as they reach the agent or after
 *   a reconnect (the hub's pending resends after `welcome`): the day's journal back in the outbox under new seqs;
 * - the store's time zone changed, the clock moved, discrepancies settled by an operator.
 * After every step the hub must agree with the model, for every store, register and day: its register day as the
 * admin API and `reconcile` read it (status, totals reported and recorded, differences, missing, resend attempts,
 * closed, reported and reconciled times, exception and whether settled); the resend requests raised (`onResend`:
 * exactly what is missing, only when something is, at most 3 per day close, none for a reconnect) and the pending
 * ones an agent gets after its welcome; the outcomes the metrics hear; the ERP feed (`day.reconciled`,
 * `day.discrepancy` with its exception and a reason naming each figure and id that differs, valid against the feed's
 * schemas, nothing while a day waits for a resend, `return.resolved` when an operator settles); the
 * `day_discrepancy` exceptions (one per discrepancy, settled by the hub when a later close replaces it, or by the
 * operator); the audit entries (`day.reconcile`, `day.resend`, each day's in order). At the end everything is
 * delivered and every resend served: no day is left `resending`, the webhook endpoint was given what the feed holds,
 * and the audit chain verifies.
 *
 * A close the agent wrote before the one the day keeps (a resend brought it after its correction) is ignored and
 * audited (`day.close` ignored). The events a resend brings settle a waiting day once the hub has what it lacked,
 * whatever day the store's zone now puts them on; a resend, however many commits it takes, counts as one that brought
 * nothing only when the day's close comes back (last of it) and something is still missing.
 */

/** Runs per test run: about 5 s on SQLite (a hub each); fewer on PostgreSQL (a database each). */
const RUNS = testBackend() === 'postgres' ? 5 : 30;

const DAYS = ['2026-11-27', '2026-11-28', '2026-11-29'] as const;
/** Register times of sales (UTC) on a day: either midnight is near, so the store's zone decides the day. */
const TIMES = ['00:30', '09:00', '14:00', '23:30'] as const;
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Pacific/Auckland'] as const;
/** Tender kinds as registers spell them (compared without regard to case). */
const KINDS = ['card', 'cash', 'Gift', 'CARD'] as const;
const START = Date.parse('2026-11-27T00:00:00.000Z');
/** "after 3 requests without the missing transactions, a discrepancy" */
const MAX_RESENDS = 3;
const INCARNATION = 'i1';

// ---------- what happens ----------

type Wrong =
  | 'sales.count'
  | 'sales.amount'
  | 'returns.count'
  | 'returns.amount'
  | 'tender'
  | 'new kind'
  | 'zero kind'
  | 'kind case';

type Op =
  | {
      k: 'sell';
      store: number;
      reg: number;
      day: number;
      time: number;
      lines: [number, number][];
      pay: number[];
      lost: boolean;
      reuse: boolean;
      pick: number;
      offset: boolean;
    }
  | { k: 'return'; store: number; pick: number; reg: number; kind: number; over: number; lost: boolean }
  | {
      k: 'close';
      store: number;
      reg: number;
      day: number;
      agent: boolean;
      wrong: Wrong | null;
      by: number;
      drop: number;
      phantom: boolean;
      lost: boolean;
      currency: boolean;
      offset: boolean;
      pick: number;
    }
  | { k: 'deliver'; store: number; n: number; both: boolean }
  | { k: 'again'; store: number }
  | { k: 'answer'; store: number }
  | { k: 'welcome'; store: number }
  | { k: 'zone'; store: number; zone: number }
  | { k: 'tick'; minutes: number }
  | { k: 'settle'; pick: number };

const sometimes = fc.constantFrom(false, false, false, false, true);
const often = fc.constantFrom(false, false, true);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant('sell' as const),
      store: fc.nat(1),
      reg: fc.nat(2),
      day: fc.nat(2),
      time: fc.nat(3),
      lines: fc.array(
        fc.tuple(
          fc.integer({ min: 1, max: 2 }),
          fc.integer({ min: 1, max: 60 }).map((n) => n * 25),
        ),
        {
          minLength: 1,
          maxLength: 2,
        },
      ),
      pay: fc.array(fc.nat(3), { maxLength: 2 }),
      lost: often,
      reuse: fc.constantFrom(false, false, false, false, false, false, true),
      pick: fc.nat(),
      offset: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('return' as const),
      store: fc.nat(1),
      pick: fc.nat(),
      reg: fc.nat(2),
      kind: fc.nat(3),
      over: fc.constantFrom(0, 0, 0, 50),
      lost: sometimes,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('close' as const),
      store: fc.nat(1),
      reg: fc.nat(2),
      day: fc.nat(5),
      agent: fc.boolean(),
      wrong: fc.option(
        fc.constantFrom<Wrong>(
          'sales.count',
          'sales.amount',
          'returns.count',
          'returns.amount',
          'tender',
          'new kind',
          'zero kind',
          'kind case',
        ),
        { freq: 2 },
      ),
      by: fc.integer({ min: 1, max: 3 }),
      drop: fc.constantFrom(0, 0, 0, 1, 2, 3),
      phantom: sometimes,
      lost: sometimes,
      currency: fc.boolean(),
      offset: fc.boolean(),
      pick: fc.nat(),
    }),
  },
  {
    weight: 7,
    arbitrary: fc.record({
      k: fc.constant('deliver' as const),
      store: fc.nat(1),
      n: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(50)),
      both: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('again' as const), store: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('answer' as const), store: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('welcome' as const), store: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('zone' as const), store: fc.nat(1), zone: fc.nat(3) }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('tick' as const), minutes: fc.integer({ min: 1, max: 16 * 60 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('settle' as const), pick: fc.nat() }) },
);

interface Setup {
  stores: number;
  registers: number;
  days: number;
  grouped: boolean;
  /** the batch size the outbox is sent in at the end */
  drain: number;
  /** how far the agents' clock is from the hub's (minutes): a completion's day is the agent's time of it */
  skew: number;
  /** the hub's clock at the start: hours into the first day (UTC) */
  start: number;
}
const setup: fc.Arbitrary<Setup> = fc.record({
  stores: fc.integer({ min: 1, max: 2 }),
  registers: fc.integer({ min: 1, max: 3 }),
  days: fc.integer({ min: 1, max: 3 }),
  grouped: fc.boolean(),
  drain: fc.constantFrom(1, 3, 50, 50),
  skew: fc.constantFrom(0, -7 * 60, 9 * 60 + 30, -27 * 60),
  start: fc.integer({ min: 0, max: 23 }),
});

// ---------- shared vocabulary ----------

interface Count {
  count: number;
  amount: number;
}
interface Totals {
  sales: Count;
  returns: Count;
  tenders: { kind: string; amount: number }[];
}
interface Lists<T = string> {
  receipts: T[];
  authorizations: T[];
}
interface Where {
  id: string;
  register: string | null;
  businessDay: string | null;
}
interface Diff {
  missing: Lists;
  extra: Lists;
  elsewhere: Lists<Where>;
  totals: { what: string; register: number; hub: number }[];
}
type Status = 'matched' | 'resending' | 'discrepancy';

interface SaleBody {
  receipt: string;
  at: string;
  lines: { qty: number; unitPrice: number }[];
  tenders: Tender[];
}
interface CompleteBody {
  authorization: string;
  refund: { kind: string; amount: number };
}

const formats = new Map<string, Intl.DateTimeFormat>();
/** The date of `at` in `zone` (YYYY-MM-DD), by the platform's own calendar. */
function dayOf(at: string, zone: string): string {
  let f = formats.get(zone);
  if (!f)
    formats.set(
      zone,
      (f = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })),
    );
  return f.format(new Date(at));
}

const iso = (ms: number): string => new Date(ms).toISOString();
/** The same instant as a register in India writes it (+05:30). */
const inIndia = (at: string): string => `${iso(Date.parse(at) + 330 * 60_000).slice(0, 19)}+05:30`;
const totalOf = (b: SaleBody): number => b.lines.reduce((s, l) => s + l.qty * l.unitPrice, 0);
const add = (m: Map<string, number>, kind: string, amount: number): void => {
  m.set(kind, (m.get(kind) ?? 0) + amount);
};
const byKind = (list: readonly { kind: string; amount: number }[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const t of list) add(m, t.kind.toLowerCase(), t.amount);
  return m;
};
const sortedKinds = (m: Map<string, number>): { kind: string; amount: number }[] =>
  [...m].map(([kind, amount]) => ({ kind, amount })).sort((a, b) => (a.kind < b.kind ? -1 : 1));
const key = (store: string, register: string, day: string): string => `${store}/${register}/${day}`;
const byJson = (a: unknown, b: unknown): number => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
const group = (n: number): string => n.toLocaleString('en-US');

/** Totals as compared: a tender at 0 is no tender (the doc: "at 0 on one side and absent on the other is equal"). */
const tidy = (t: Totals): Totals => ({ ...t, tenders: t.tenders.filter((x) => x.amount !== 0) });
/** Differences whatever order the hub lists them in. */
function tidyDiff(d: Diff): Diff {
  const sorted = (l: Lists): Lists => ({
    receipts: [...l.receipts].sort(),
    authorizations: [...l.authorizations].sort(),
  });
  const where = (l: Where[]): Where[] => [...l].sort(byJson);
  return {
    missing: sorted(d.missing),
    extra: sorted(d.extra),
    elsewhere: { receipts: where(d.elsewhere.receipts), authorizations: where(d.elsewhere.authorizations) },
    totals: [...d.totals].sort(byJson),
  };
}
const noLists = (): Lists => ({ receipts: [], authorizations: [] });
const lacking = (d: Diff | null): number => (d ? d.missing.receipts.length + d.missing.authorizations.length : 0);
const isEmpty = (d: Diff): boolean =>
  d.totals.length === 0 &&
  [d.missing, d.extra, d.elsewhere].every((l) => l.receipts.length === 0 && l.authorizations.length === 0);

// ---------- the store's agent ----------

/** An event the agent forwarded, with its business day as written (a later zone change does not move it). */
interface Journaled {
  event: WireEvent;
  day: string;
}

/** A store's agent: its journal, its outbox (seqs as it gives them) and the resend frames that reached it. */
class Agent {
  readonly journal: Journaled[] = [];
  outbox: WireEvent[] = [];
  last: WireEvent[] = [];
  received: ResendRequest[] = [];
  private seq = 0;

  constructor(
    readonly store: string,
    readonly agentId = `agent-${store}`,
  ) {}

  /** Journalled and queued, or — `lost` — journalled only: the hub gets it only if a resend brings it. */
  write(event: WireEvent, day: string, lost: boolean): void {
    this.journal.push({ event, day });
    if (!lost) this.queue(event);
  }

  private queue(e: WireEvent): void {
    this.outbox.push({ ...e, seq: ++this.seq });
  }

  /** The hub asked for the register's day: its journalled events back in the outbox, but those still waiting. */
  resend(register: string, day: string): void {
    const waiting = new Set(this.outbox.map((e) => e.id));
    for (const j of this.journal)
      if (j.event.register === register && j.day === day && !waiting.has(j.event.id)) this.queue(j.event);
  }

  /** The agent's count of a register's day from its journal, as docs/reconciliation.md says it makes it. */
  count(register: string, day: string): Totals & Lists {
    const sales = { count: 0, amount: 0 };
    const returns = { count: 0, amount: 0 };
    const tenders = new Map<string, number>();
    const lists = noLists();
    for (const { event: e, day: d } of this.journal) {
      if (e.register !== register || d !== day) continue;
      if (e.kind === 'sale') {
        const b = e.body as SaleBody;
        sales.count++;
        sales.amount += totalOf(b);
        lists.receipts.push(b.receipt);
        for (const t of b.tenders) add(tenders, t.kind.toLowerCase(), t.amount);
      } else if (e.kind === 'return.complete') {
        const b = e.body as CompleteBody;
        returns.count++;
        returns.amount += b.refund.amount;
        lists.authorizations.push(b.authorization);
        add(tenders, b.refund.kind.toLowerCase(), -b.refund.amount);
      }
    }
    return { sales, returns, tenders: sortedKinds(tenders), ...lists };
  }

  /** Whether the journal holds a sale or completed return of the register's day (a resend would bring one). */
  hasTransactions(register: string, day: string): boolean {
    return this.journal.some((j) => j.event.register === register && j.day === day && j.event.kind !== 'day.close');
  }
}

// ---------- the model: what docs/reconciliation.md says the hub does ----------

interface Sold {
  register: string;
  at: string;
  total: number;
  tenders: Tender[];
}
interface Ticket {
  store: string;
  cap: number;
  done?: { register: string; at: string; refund: number; kind: string };
}
/** A `day_discrepancy` exception: its id once the hub's feed told it; what its reason must say. */
interface Exc {
  store: string;
  register: string;
  day: string;
  id?: string;
  parts: string[];
  stillMissing: number | null;
  resolved: null | 'hub' | 'operator';
}
/** A register's day as the hub must hold it. */
interface Day {
  store: string;
  register: string;
  day: string;
  source: string;
  event: string;
  /** the close event's time at the agent */
  eventAt: string;
  currency: string | null;
  reported: Totals;
  receipts: string[];
  authorizations: string[];
  closedAt: string;
  reportedAt: string;
  status: Status;
  recorded: Totals | null;
  diff: Diff | null;
  reconciledAt: string | null;
  attempts: number;
  exception: Exc | null;
}
/** What the hub must say in a step. */
interface Said {
  resends: ResendRequest[];
  /** day.* and return.resolved entries, each under its day or exception */
  feed: { type: string; store: string; key: string; data: Record<string, unknown>; exc?: Exc }[];
  audits: { resource: string; action: string; outcome: string; trigger: string; attempt?: number; settled: boolean }[];
  /** what the hub's metrics hear once committed: each resend asked, each day matched or a discrepancy */
  outcomes: string[];
}
const nothingSaid = (): Said => ({ resends: [], feed: [], audits: [], outcomes: [] });

class Model {
  readonly zones = new Map<string, string>();
  readonly sales = new Map<string, Map<string, Sold>>();
  readonly tickets = new Map<string, Ticket>();
  readonly applied = new Set<string>();
  readonly days = new Map<string, Day>();
  readonly exceptions: Exc[] = [];
  /** stores whose zone was changed during the run */
  said = nothingSaid();
  now = iso(START);

  constructor(stores: string[]) {
    for (const s of stores) {
      this.zones.set(s, 'UTC');
      this.sales.set(s, new Map());
    }
  }

  zone(store: string): string {
    return this.zones.get(store)!;
  }

  /**
   * Batches committed together (one group commit): each event applied once by id (a duplicate is answered
   * `duplicate`), a day close kept and compared at once; then the days waiting for a resend that the commit's sales
   * and completions touch are compared again: those of their own register and day, in the store's zone, and those of
   * their register that the hub now has some of the missing transactions of, whatever the zone says. Answers the
   * outcome each event must get: 'duplicate', 'refused' (a receipt the store used), or 'applied' (a completion:
   * either).
   */
  commit(batches: { store: string; items: WireEvent[] }[]): string[][] {
    const closedNow = new Set<string>();
    const touched: { store: string; register: string; at: string }[] = [];
    const closesBack: { k: string; event: string }[] = [];
    const answers = batches.map(({ store, items }) =>
      items.map((e) => {
        if (e.kind === 'sale') touched.push({ store, register: e.register, at: (e.body as SaleBody).at });
        if (e.kind === 'return.complete') touched.push({ store, register: e.register, at: e.at });
        if (this.applied.has(e.id)) {
          if (e.kind === 'day.close')
            closesBack.push({ k: key(store, e.register, (e.body as DayCloseEventBody).businessDay), event: e.id });
          return 'duplicate';
        }
        this.applied.add(e.id);
        if (e.kind === 'sale') {
          const b = e.body as SaleBody;
          const sold = this.sales.get(store)!;
          if (sold.has(b.receipt)) return 'refused';
          sold.set(b.receipt, { register: e.register, at: b.at, total: totalOf(b), tenders: b.tenders });
        } else if (e.kind === 'return.complete') {
          const b = e.body as CompleteBody;
          const t = this.tickets.get(b.authorization)!;
          t.done = { register: e.register, at: e.at, refund: Math.min(b.refund.amount, t.cap), kind: b.refund.kind };
        } else if (e.kind === 'day.close') {
          if (this.close(store, e.register, e.body as DayCloseEventBody, e.id, e.at))
            closedNow.add(key(store, e.register, (e.body as DayCloseEventBody).businessDay));
        }
        return 'applied';
      }),
    );
    // a day whose kept close came back: the resend is all in; compared once, for that
    const resent = new Set<string>();
    for (const { k, event } of closesBack) {
      const d = this.days.get(k);
      if (d?.status !== 'resending' || d.event !== event || resent.has(k)) continue;
      resent.add(k);
      this.reconcile(d, closedNow.has(k) ? 'recheck' : 'resent', false);
    }
    const due = new Set<string>();
    for (const t of touched) {
      const k = key(t.store, t.register, dayOf(t.at, this.zone(t.store)));
      if (this.days.get(k)?.status === 'resending') due.add(k);
    }
    const registers = new Set(touched.map((t) => key(t.store, t.register, '')));
    for (const [k, d] of this.days)
      if (d.status === 'resending' && registers.has(key(d.store, d.register, '')) && this.arrived(d)) due.add(k);
    // a day closed in this commit is compared again (events after its close may bring what it lacks), without asking
    // again: it asked at its close
    for (const k of due)
      if (!resent.has(k)) this.reconcile(this.days.get(k)!, closedNow.has(k) ? 'recheck' : 'events', false);
    return answers;
  }

  /** Whether the hub has any of the transactions the waiting day lacked when it was last compared. */
  private arrived(d: Day): boolean {
    const missing = d.diff?.missing ?? noLists();
    return (
      missing.receipts.some((r) => this.sales.get(d.store)!.has(r)) ||
      missing.authorizations.some((a) => {
        const t = this.tickets.get(a);
        return t?.store === d.store && t.done !== undefined;
      })
    );
  }

  /**
   * A day close kept (replacing an earlier one of the register and day, whose exception the hub settles), unless the
   * agent wrote it before the one kept (a resend brought a close the hub never had, after its correction): ignored,
   * audited. Whether it was kept.
   */
  private close(store: string, register: string, body: DayCloseEventBody, event: string, at: string): boolean {
    const k = key(store, register, body.businessDay);
    const before = this.days.get(k);
    if (before && Date.parse(at) < Date.parse(before.eventAt)) {
      this.said.audits.push({
        resource: `register-day:${k}`,
        action: 'day.close',
        outcome: 'ignored',
        trigger: 'close',
        settled: false,
      });
      return false;
    }
    const settled = before?.status === 'discrepancy';
    // settled by the hub, and told on the feed as an operator's settling is
    if (settled && before.exception?.resolved === null) this.settle(before.exception, 'hub');
    const row: Day = {
      store,
      register,
      day: body.businessDay,
      source: body.source,
      event,
      eventAt: at,
      currency: body.currency ?? null,
      reported: { sales: body.sales, returns: body.returns, tenders: sortedKinds(byKind(body.tenders)) },
      receipts: [...new Set(body.receipts)],
      authorizations: [...new Set(body.authorizations)],
      closedAt: iso(Date.parse(body.closedAt)),
      reportedAt: this.now,
      status: 'resending',
      recorded: null,
      diff: null,
      reconciledAt: null,
      attempts: 0,
      exception: null,
    };
    this.days.set(k, row);
    this.reconcile(row, 'close', settled);
    return true;
  }

  /** What the hub recorded for the register and day, in the store's zone now. */
  private recorded(store: string, register: string, day: string): Totals & { ids: Lists } {
    const zone = this.zone(store);
    const sales = { count: 0, amount: 0 };
    const returns = { count: 0, amount: 0 };
    const tenders = new Map<string, number>();
    const ids = noLists();
    for (const [receipt, s] of this.sales.get(store)!) {
      if (s.register !== register || dayOf(s.at, zone) !== day) continue;
      sales.count++;
      sales.amount += s.total;
      ids.receipts.push(receipt);
      for (const t of s.tenders) add(tenders, t.kind.toLowerCase(), t.amount);
    }
    for (const [authorization, t] of this.tickets) {
      const done = t.store === store ? t.done : undefined;
      if (done?.register !== register || dayOf(done.at, zone) !== day) continue;
      returns.count++;
      returns.amount += done.refund;
      ids.authorizations.push(authorization);
      add(tenders, done.kind.toLowerCase(), -done.refund);
    }
    return { sales, returns, tenders: sortedKinds(tenders), ids };
  }

  /** The doc's table: missing, extra, elsewhere, totals. */
  private compare(row: Day, hub: Totals & { ids: Lists }): Diff {
    const zone = this.zone(row.store);
    const d: Diff = {
      missing: noLists(),
      extra: noLists(),
      elsewhere: { receipts: [], authorizations: [] },
      totals: [],
    };
    const total = (what: string, register: number, recorded: number): void => {
      if (register !== recorded) d.totals.push({ what, register, hub: recorded });
    };
    total('sales.count', row.reported.sales.count, hub.sales.count);
    total('sales.amount', row.reported.sales.amount, hub.sales.amount);
    total('returns.count', row.reported.returns.count, hub.returns.count);
    total('returns.amount', row.reported.returns.amount, hub.returns.amount);
    const theirs = byKind(row.reported.tenders);
    const ours = byKind(hub.tenders);
    for (const kind of new Set([...theirs.keys(), ...ours.keys()]))
      total(`tender ${kind}`, theirs.get(kind) ?? 0, ours.get(kind) ?? 0);
    for (const receipt of row.receipts) {
      if (hub.ids.receipts.includes(receipt)) continue;
      const s = this.sales.get(row.store)!.get(receipt);
      if (s) d.elsewhere.receipts.push({ id: receipt, register: s.register, businessDay: dayOf(s.at, zone) });
      else d.missing.receipts.push(receipt);
    }
    d.extra.receipts = hub.ids.receipts.filter((r) => !row.receipts.includes(r));
    for (const authorization of row.authorizations) {
      if (hub.ids.authorizations.includes(authorization)) continue;
      const t = this.tickets.get(authorization);
      if (t?.store === row.store && t.done)
        d.elsewhere.authorizations.push({
          id: authorization,
          register: t.done.register,
          businessDay: dayOf(t.done.at, zone),
        });
      else d.missing.authorizations.push(authorization);
    }
    d.extra.authorizations = hub.ids.authorizations.filter((a) => !row.authorizations.includes(a));
    return d;
  }

  /**
   * Compared, and the outcome: matched or a discrepancy when nothing is missing; else waiting while a resend comes in,
   * a resend asked — at a close, or when a resend is all in (the day's close came back) — while fewer than 3 were
   * asked for this close, a discrepancy naming what is missing after 3.
   */
  private reconcile(row: Day, trigger: 'close' | 'events' | 'resent' | 'recheck', settled: boolean): void {
    const hub = this.recorded(row.store, row.register, row.day);
    const d = this.compare(row, hub);
    const lack = lacking(d);
    let status: Status;
    let ask = false;
    if (lack === 0) status = isEmpty(d) ? 'matched' : 'discrepancy';
    // events of a resend coming in (it may take several commits), or after a close in its own commit: wait
    else if (trigger === 'recheck' || trigger === 'events') status = 'resending';
    // at a close, and once a resend is all in (its close came back) with something still missing: ask again
    else if (row.attempts < MAX_RESENDS) {
      status = 'resending';
      ask = true;
      row.attempts++;
    } else status = 'discrepancy';
    const k = key(row.store, row.register, row.day);
    const totals: Totals = { sales: hub.sales, returns: hub.returns, tenders: hub.tenders };
    const base = {
      store: row.store,
      register: row.register,
      businessDay: row.day,
      source: row.source,
      closedAt: row.closedAt,
      currency: row.currency,
    };
    let exc: Exc | null = null;
    if (status === 'matched')
      this.said.feed.push({
        type: 'day.reconciled',
        store: row.store,
        key: k,
        data: { ...base, totals: row.reported, resendAttempts: row.attempts, reconciledAt: this.now },
      });
    if (status === 'discrepancy') {
      exc = {
        store: row.store,
        register: row.register,
        day: row.day,
        parts: reasonParts(d),
        stillMissing: lack > 0 ? row.attempts : null,
        resolved: null,
      };
      this.exceptions.push(exc);
      this.said.feed.push({
        type: 'day.discrepancy',
        store: row.store,
        key: k,
        exc,
        data: {
          ...base,
          reported: row.reported,
          recorded: tidy(totals),
          differences: tidyDiff(d),
          reconciledAt: this.now,
        },
      });
    }
    Object.assign(row, {
      status,
      recorded: totals,
      diff: isEmpty(d) ? null : d,
      reconciledAt: status === 'resending' ? null : this.now,
      exception: exc,
    });
    // "Every outcome is written ... with an audit entry (day.reconcile, or day.resend when the hub asks)"; waiting
    // for the rest of a resend is no new outcome
    if (ask || status !== 'resending' || settled)
      this.said.audits.push({
        resource: `register-day:${k}`,
        action: ask ? 'day.resend' : 'day.reconcile',
        outcome: status,
        trigger: trigger === 'close' ? 'close' : 'events',
        ...(ask ? { attempt: row.attempts } : {}),
        settled,
      });
    if (ask || status !== 'resending') this.said.outcomes.push(`${k} ${status} ${row.closedAt}`);
    if (ask)
      this.said.resends.push({ store: row.store, register: row.register, businessDay: row.day, missing: d.missing });
  }

  /** The resends the store's agent owes (asked again after its welcome): its days waiting, by day and register. */
  pending(store: string): ResendRequest[] {
    return [...this.days.values()]
      .filter((r) => r.store === store && r.status === 'resending')
      .sort((a, b) => (a.day === b.day ? (a.register < b.register ? -1 : 1) : a.day < b.day ? -1 : 1))
      .map((r) => ({ store, register: r.register, businessDay: r.day, missing: r.diff!.missing }));
  }

  /**
   * The exception settled — by an operator (`returns resolve ID --action accept`), or by the hub when a later close
   * replaces the one that raised it — and told on the feed.
   */
  settle(exc: Exc, by: 'hub' | 'operator' = 'operator'): void {
    exc.resolved = by;
    this.said.feed.push({
      type: 'return.resolved',
      store: exc.store,
      key: key(exc.store, exc.register, exc.day),
      exc,
      data: {},
    });
  }
}

/** What an exception's reason must name: each total that differs with both figures, and each id (ten at most). */
function reasonParts(d: Diff): string[] {
  const few = (l: string[]): string[] => (l.length <= 10 ? l : []);
  return [
    ...d.totals.map((t) => `${t.what}: register ${group(t.register)}, hub ${group(t.hub)}`),
    ...few(d.missing.receipts),
    ...few(d.missing.authorizations),
    ...few(d.extra.receipts),
    ...few(d.extra.authorizations),
    ...few(d.elsewhere.receipts.map((w) => w.id)),
    ...few(d.elsewhere.authorizations.map((w) => w.id)),
  ];
}

function expectReason(reason: string, exc: Exc): void {
  expect(reason.startsWith(`register ${exc.register}, business day ${exc.day}: `), reason).toBe(true);
  for (const p of exc.parts) expect(reason, 'the reason names what differs').toContain(p);
  if (exc.stillMissing === null) expect(reason).not.toContain('still missing');
  else expect(reason).toContain(`(still missing after ${exc.stillMissing} resend request(s))`);
}

// ---------- a run: the hub, the agents, the model ----------

const open: TestHub[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.cleanup();
});

class Run {
  readonly t: TestHub;
  readonly stores: string[];
  readonly registers: string[];
  readonly agents: Agent[];
  readonly model: Model;
  private raised: ResendRequest[] = [];
  private heard: DayOutcome[] = [];
  private feedAt = 0;
  private auditAt = 0;
  private n = 0;
  /** the receipts a return was asked of (once each) */
  private readonly returnedReceipts = new Set<string>();
  /** exceptions the feed named, by id */
  private readonly known = new Map<string, Exc>();

  constructor(readonly setup: Setup) {
    this.t = testHub();
    open.push(this.t);
    this.t.clock.t = START + setup.start * 3_600_000;
    this.stores = ['S1', 'S2'].slice(0, setup.stores);
    this.registers = ['R1', 'R2', 'R3'].slice(0, setup.registers);
    for (const s of this.stores) this.t.hub.stores.create(s, s);
    this.t.hub.webhooks.add(
      { url: 'https://erp.example/hook', events: ['day.reconciled', 'day.discrepancy', 'return.resolved'] },
      'test',
    );
    this.t.hub.applier.grouped = setup.grouped;
    this.t.hub.registerDays.onResend((r) => this.raised.push(r));
    this.t.hub.registerDays.onOutcome((o) => this.heard.push(o));
    this.agents = this.stores.map((s) => new Agent(s));
    this.model = new Model(this.stores);
    this.auditAt = Number(this.scalar(`SELECT COALESCE(MAX(id), 0) AS n FROM audit`));
  }

  private scalar(sql: string, ...params: unknown[]): unknown {
    return Object.values(this.t.hub.storage.db.prepare(sql).get(...params) as object)[0];
  }

  private get nowIso(): string {
    return iso(this.t.clock.now());
  }

  /** The agent's time now. */
  private get agentNow(): string {
    return iso(this.t.clock.now() + this.setup.skew * 60_000);
  }

  private agent(i: number): Agent {
    return this.agents[i % this.agents.length]!;
  }

  step(o: Op): void {
    this.model.said = nothingSaid();
    this.model.now = this.nowIso;
    switch (o.k) {
      case 'sell':
        this.sell(o);
        break;
      case 'return':
        this.returned(o);
        break;
      case 'close':
        this.close(o);
        break;
      case 'deliver': {
        const first = this.agent(o.store);
        const all = o.both ? this.agents : [first];
        this.deliver(all.map((a) => ({ a, items: a.outbox.slice(0, o.n) })));
        break;
      }
      case 'again': {
        const a = this.agent(o.store);
        if (a.last.length) this.send([{ a, items: a.last }], false);
        break;
      }
      case 'answer': {
        const a = this.agent(o.store);
        for (const r of a.received.splice(0)) a.resend(r.register, r.businessDay);
        break;
      }
      case 'welcome':
        this.welcome(this.agent(o.store));
        break;
      case 'zone': {
        const store = this.agent(o.store).store;
        const zone = ZONES[o.zone % ZONES.length]!;
        this.t.hub.useCases.settings.setSyncSettings('admin:test', store, { timeZone: zone }, { note: 'zone' });
        this.model.zones.set(store, zone);
        break;
      }
      case 'tick':
        this.t.clock.advance(o.minutes * 60_000);
        break;
      case 'settle': {
        const openOnes = this.model.exceptions.filter((e) => e.id !== undefined && e.resolved === null);
        const exc = openOnes[o.pick % Math.max(1, openOnes.length)];
        if (!exc) break;
        this.model.settle(exc);
        this.t.hub.useCases.returns.resolveException('admin:lead', exc.id!, 'accept', 'counted at the register');
        break;
      }
    }
    this.check();
  }

  private sell(o: Extract<Op, { k: 'sell' }>): void {
    const a = this.agent(o.store);
    const register = this.registers[o.reg % this.registers.length]!;
    const utc = `${DAYS[o.day % this.setup.days]}T${TIMES[o.time]}:00.000Z`;
    const at = o.offset ? inIndia(utc) : utc;
    // a receipt another register of the store used already: the hub refuses it (duplicate_receipt)
    const used = a.journal
      .filter((j) => j.event.kind === 'sale' && j.event.register !== register)
      .map((j) => (j.event.body as SaleBody).receipt);
    const receipt = o.reuse && used.length ? used[o.pick % used.length]! : `${a.store}-${++this.n}`;
    const id = `${a.store}-e${++this.n}`;
    const lines = o.lines.map(([qty, unitPrice], i) => ({ line: i + 1, sku: i ? 'B' : 'A', qty, unitPrice }));
    const total = lines.reduce((s, l) => s + l.qty * l.unitPrice, 0);
    const tenders = o.pay.map((k, i) => ({
      kind: KINDS[k]!,
      amount: Math.floor(total / o.pay.length) + (i === 0 ? total % o.pay.length : 0),
    }));
    const event: WireEvent = {
      seq: 0,
      id,
      kind: 'sale',
      register,
      at: this.agentNow,
      body: { requestId: `m-${id}`, receipt, at, currency: 'EUR', lines, tenders },
    };
    a.write(event, dayOf(utc, this.model.zone(a.store)), o.lost);
  }

  /**
   * A return asked online (the sale must be at the hub: what the outbox holds up to it is sent first), completed at a
   * register now: the completion is an event.
   */
  private returned(o: Extract<Op, { k: 'return' }>): void {
    const a = this.agent(o.store);
    // a sale at the hub, or still in the outbox: the agent asks once what it queued before has gone
    const queued = a.outbox.filter((e) => e.kind === 'sale').map((e) => (e.body as SaleBody).receipt);
    const receipts = [...new Set([...this.model.sales.get(a.store)!.keys(), ...queued])].filter(
      (r) => !this.returnedReceipts.has(`${a.store}/${r}`),
    );
    const receipt = receipts[o.pick % Math.max(1, receipts.length)];
    if (receipt === undefined) return;
    this.returnedReceipts.add(`${a.store}/${receipt}`);
    const upTo = a.outbox.findIndex((e) => e.kind === 'sale' && (e.body as SaleBody).receipt === receipt);
    if (!this.model.sales.get(a.store)!.has(receipt)) this.deliver([{ a, items: a.outbox.slice(0, upTo + 1) }]);
    const authorization = `${a.store}-A${++this.n}`;
    const decision = askReturn(this.t.hub, a.store, authorization, receipt, 1);
    if (decision.decision !== 'approved') return;
    this.model.tickets.set(authorization, { store: a.store, cap: decision.refundAmount });
    const register = this.registers[o.reg % this.registers.length]!;
    const id = `${a.store}-e${++this.n}`;
    const event: WireEvent = {
      seq: 0,
      id,
      kind: 'return.complete',
      register,
      at: this.agentNow,
      body: {
        authorization,
        requestId: `c-${id}`,
        lines: [{ line: 1, qty: 1 }],
        refund: { kind: KINDS[o.kind]!, amount: decision.refundAmount + o.over },
      },
    };
    a.write(event, dayOf(this.agentNow, this.model.zone(a.store)), o.lost);
  }

  private close(o: Extract<Op, { k: 'close' }>): void {
    const a = this.agent(o.store);
    // mostly a register and day with sales or returns in the journal; else any (an empty day, or one only closed)
    const busy = [
      ...new Set(a.journal.filter((j) => j.event.kind !== 'day.close').map((j) => key('', j.event.register, j.day))),
    ];
    const [, register, day] = (
      busy.length && o.day < 4
        ? busy.sort()[o.pick % busy.length]!
        : key('', this.registers[o.reg % this.registers.length]!, DAYS[o.day % this.setup.days]!)
    ).split('/') as [string, string, string];
    const c = a.count(register, day);
    const id = `${a.store}-e${++this.n}`;
    const body: Partial<DayCloseEventBody> = {
      businessDay: day,
      source: o.agent ? 'agent' : 'register',
      closedAt: o.offset ? inIndia(this.agentNow) : this.agentNow,
      ...(o.currency ? { currency: 'EUR' } : {}),
      sales: c.sales,
      returns: c.returns,
      tenders: c.tenders,
      receipts: c.receipts,
      authorizations: c.authorizations,
    };
    // the register's own totals may be wrong (or right but put otherwise); the agent's count is its journal's
    const by = o.by * 10;
    if (!o.agent && o.wrong) {
      const w = o.wrong;
      if (w === 'sales.count') body.sales = { ...c.sales, count: c.sales.count + o.by };
      if (w === 'sales.amount') body.sales = { ...c.sales, amount: c.sales.amount + by };
      if (w === 'returns.count') body.returns = { ...c.returns, count: c.returns.count + o.by };
      if (w === 'returns.amount') body.returns = { ...c.returns, amount: c.returns.amount + by };
      if (w === 'tender')
        body.tenders = c.tenders.length
          ? c.tenders.map((x, i) => (i === 0 ? { ...x, amount: x.amount + by } : x))
          : [{ kind: 'card', amount: by }];
      if (w === 'new kind') body.tenders = [...c.tenders, { kind: 'voucher', amount: by }];
      if (w === 'zero kind') body.tenders = [...c.tenders, { kind: 'coupon', amount: 0 }];
      if (w === 'kind case') body.tenders = c.tenders.map((x) => ({ ...x, kind: x.kind.toUpperCase() }));
    }
    // lists short of one (the hub has it: extra), or naming what nobody will send (as if the journal lost it)
    const both = [...c.receipts.map((r) => ['r', r]), ...c.authorizations.map((x) => ['a', x])];
    if (o.drop && both.length) {
      const [kind, gone] = both[(o.drop - 1) % both.length]!;
      if (kind === 'r') body.receipts = c.receipts.filter((r) => r !== gone);
      else body.authorizations = c.authorizations.filter((x) => x !== gone);
    }
    // a phantom only on a day with transactions of its own: a resend then brings something of that day
    if (o.phantom && a.hasTransactions(register, day))
      body.receipts = [...body.receipts!, `${a.store}-GONE${++this.n}`];
    const event = wireDayClose(0, id, body, { register, at: this.agentNow });
    a.write(event, day, o.lost);
  }

  /** Each agent's batch (the next rows of its outbox), acknowledged: one group commit. */
  private deliver(sent: { a: Agent; items: WireEvent[] }[]): void {
    const batches = sent.filter((s) => s.items.length > 0);
    if (!batches.length) return;
    for (const { a, items } of batches) {
      a.outbox = a.outbox.slice(items.length);
      a.last = items;
    }
    this.send(batches, true);
  }

  private send(batches: { a: Agent; items: WireEvent[] }[], fresh: boolean): void {
    const expected = this.model.commit(batches.map(({ a, items }) => ({ store: a.store, items })));
    const outcomes = this.t.hub.applier.applyBatches(
      batches.map(({ a, items }) => ({ store: a.store, agentId: a.agentId, incarnation: INCARNATION, items })),
    );
    outcomes.forEach((o, i) => {
      if (!o.ok) throw o.error;
      const got = o.result.results.map((r) =>
        r.outcome === 'duplicate'
          ? 'duplicate'
          : r.outcome === 'exception' && r.code === 'duplicate_receipt'
            ? 'refused'
            : 'applied',
      );
      expect(got, `answers to ${batches[i]!.a.store}'s batch`).toEqual(expected[i]);
      if (!fresh) expect(new Set(got)).toEqual(new Set(['duplicate']));
    });
  }

  /** The agent connects again: after the welcome, the hub's pending resends, each served. */
  private welcome(a: Agent): void {
    const pending = this.t.hub.useCases.agents.pendingResends(a.store);
    expect(pending, `${a.store}'s pending resends`).toEqual(this.model.pending(a.store));
    a.received = [];
    for (const r of pending) a.resend(r.register, r.businessDay);
  }

  /** Everything sent and every resend answered, until the hub waits for nothing more (or for what never comes). */
  drain(): void {
    for (let round = 0; round < 40; round++) {
      this.model.said = nothingSaid();
      this.model.now = this.nowIso;
      while (this.agents.some((a) => a.outbox.length > 0)) {
        this.deliver(this.agents.map((a) => ({ a, items: a.outbox.slice(0, this.setup.drain) })));
        this.check();
        this.model.said = nothingSaid();
      }
      const waiting = this.agents.filter((a) => this.model.pending(a.store).length > 0);
      if (!waiting.length) return;
      for (const a of waiting) this.welcome(a);
      this.t.clock.advance(60_000);
      this.model.now = this.nowIso;
    }
  }

  // ---------- the hub against the model ----------

  check(): void {
    const said = this.model.said;
    const m = this.model;
    // resend requests: exactly what is missing, as the model asked them
    const raised = this.raised.splice(0);
    expect([...raised].sort(byJson), 'resend requests raised').toEqual([...said.resends].sort(byJson));
    for (const r of raised) this.agents.find((a) => a.store === r.store)!.received.push(r);
    // what the metrics count (each resend asked, each outcome), once committed, on the hub's clock
    const heard = this.heard.splice(0);
    for (const o of heard) expect(o.at).toBe(this.t.clock.now());
    expect(
      heard.map((o) => `${key(o.store, o.register, o.businessDay)} ${o.status} ${o.closedAt}`).sort(),
      'outcomes heard',
    ).toEqual([...said.outcomes].sort());
    for (const s of this.stores)
      expect(this.t.hub.useCases.agents.pendingResends(s), `${s}'s pending resends`).toEqual(m.pending(s));

    // the ERP feed: each day's entries in order, valid, the discrepancy's exception and reason
    const entries: { type: string; store: string | null; businessDay: string | null; data: Record<string, unknown> }[] =
      [];
    for (;;) {
      const page = this.t.hub.erpFeed.read(this.feedAt, 500);
      if (page.next === this.feedAt) break;
      this.feedAt = page.next;
      entries.push(...(page.entries as typeof entries));
    }
    const told = entries.filter((e) => ['day.reconciled', 'day.discrepancy', 'return.resolved'].includes(e.type));
    for (const e of told) FEED_DATA_SCHEMAS[e.type as FeedEventType].parse(e.data);
    // a settled exception is told by its id: its register day is in its body
    const dayOfException = (id: string): string => {
      const sql = `SELECT store, register, body FROM exceptions WHERE id = ?`;
      const row = this.t.hub.storage.db.prepare(sql).get(id) as { store: string; register: string; body: string };
      return key(row.store, row.register, (JSON.parse(row.body) as { businessDay: string }).businessDay);
    };
    const keyOf = (e: (typeof told)[number]): string =>
      e.type === 'return.resolved'
        ? dayOfException((e.data.resolution as { exceptions: { id: string }[] }).exceptions[0]!.id)
        : key(String(e.data.store), String(e.data.register), String(e.data.businessDay));
    expect(told.map((e) => `${e.type} ${keyOf(e)}`).sort(), 'feed entries').toEqual(
      said.feed.map((e) => `${e.type} ${e.key}`).sort(),
    );
    const queue = [...said.feed];
    for (const e of told) {
      const i = queue.findIndex((x) => x.type === e.type && x.key === keyOf(e));
      const want = queue.splice(i, 1)[0]!;
      expect(e.store).toBe(want.store);
      if (e.type === 'return.resolved') {
        expect(e.data).toMatchObject({ store: want.store, register: want.exc!.register, authorization: null });
        // settled by the hub (a later close replaced it) or by the operator
        const by = (e.data.resolution as { by: string }).by;
        expect(by === 'hub', `return.resolved by ${by}`).toBe(want.exc!.resolved === 'hub');
        continue;
      }
      expect(e.businessDay, 'the entry is on the register day').toBe(e.data.businessDay);
      const { exception, reason, ...data } = e.data;
      const got = {
        ...data,
        ...(data.recorded ? { recorded: tidy(data.recorded as Totals) } : {}),
        ...(data.differences ? { differences: tidyDiff(data.differences as Diff) } : {}),
      };
      expect(got, `${e.type} ${keyOf(e)}`).toEqual(want.data);
      if (e.type === 'day.discrepancy') {
        expectReason(String(reason), want.exc!);
        want.exc!.id = String(exception);
        this.known.set(String(exception), want.exc!);
      }
    }

    // the day_discrepancy exceptions: one per discrepancy, settled by the hub when replaced, or by the operator
    const rows = this.stores
      .flatMap((s) => this.t.hub.exceptions.forStore(s))
      .filter((r) => r.code === 'day_discrepancy');
    expect(rows.length, 'day_discrepancy exceptions').toBe(m.exceptions.length);
    for (const r of rows) {
      const exc = this.known.get(r.id);
      expect(exc, `exception ${r.id} was announced`).toBeDefined();
      expect(r).toMatchObject({ store: exc!.store, register: exc!.register, kind: 'day.close' });
      expectReason(r.reason, exc!);
      expect(r.resolved_at !== null, `exception ${r.id} settled`).toBe(exc!.resolved !== null);
      if (exc!.resolved) {
        const how = JSON.parse(String(r.resolution)) as { action: string; by: string; note: string };
        expect(how.action).toBe('accept');
        expect(how.by).toBe(exc!.resolved === 'hub' ? 'hub' : 'admin:lead');
        if (exc!.resolved === 'hub') expect(how.note).toContain('replaced by a later day close');
      }
    }

    // each register day as the admin API and the CLI read it
    const days = new Set<string>([...DAYS, ...[...m.days.values()].map((d) => d.day)]);
    for (const s of this.stores)
      for (const day of days) {
        const got = this.t.hub.registerDays.list(day, s).map((v) => this.viewOf(v));
        const want = [...m.days.values()]
          .filter((d) => d.store === s && d.day === day)
          .sort((a, b) => (a.register < b.register ? -1 : 1))
          .map((d) => expectedView(d));
        expect(got, `register days of ${s} on ${day}`).toEqual(want);
      }

    // the audit entries of the step, each day's in order
    const audits = (
      this.t.hub.storage.db
        .prepare(`SELECT id, actor, action, outcome, resource, details FROM audit WHERE id > ? ORDER BY id`)
        .all(this.auditAt) as {
        id: unknown;
        actor: string;
        action: string;
        outcome: string;
        resource: string;
        details: string;
      }[]
    ).map((r) => ({ ...r, id: Number(r.id) }));
    if (audits.length) this.auditAt = audits.at(-1)!.id;
    const dayAudits = audits
      .filter((r) => r.action.startsWith('day.'))
      .map((r) => {
        const d = JSON.parse(r.details) as { trigger: string; attempt?: number; settled?: string };
        expect(r.actor).toBe(`store:${r.resource.split(':')[1]!.split('/')[0]!}`);
        return {
          resource: r.resource,
          action: r.action,
          outcome: r.outcome,
          trigger: d.trigger,
          ...(d.attempt !== undefined ? { attempt: d.attempt } : {}),
          settled: d.settled !== undefined,
        };
      });
    const byResource = (l: Said['audits']) =>
      [...l].sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
    expect(byResource(dayAudits), 'audit entries').toEqual(byResource(said.audits));
  }

  private viewOf(v: RegisterDayView): DayView {
    const day = this.model.days.get(key(v.store, v.register, v.businessDay));
    if (v.exception && day?.exception?.id) expect(v.exception.id).toBe(day.exception.id);
    const { store: _store, businessDay: _day, exception, ...view } = v;
    return comparable({ ...view, exception: exception && { resolved: exception.resolved } });
  }

  /** The end: no day waits for a resend the agent answered, webhooks got what the feed has, the chain verifies. */
  finish(): void {
    this.drain();
    // every resend was served and ends with the day's close: each day is settled, matched or a discrepancy
    for (const d of this.model.days.values())
      expect(d.status, `${key(d.store, d.register, d.day)} is left resending`).not.toBe('resending');
    const q = (sql: string) =>
      (this.t.hub.storage.db.prepare(sql).all() as { type: string; body?: string; data?: string }[]).map((r) => {
        const data = r.body ? (JSON.parse(r.body) as { data: unknown }).data : JSON.parse(r.data!);
        return { type: r.type, data };
      });
    const hooked = q(`SELECT type, body FROM webhook_messages`);
    const fed = q(`SELECT type, data FROM feed WHERE type IN ('day.reconciled', 'day.discrepancy', 'return.resolved')`);
    const strip = (l: { type: string; data: unknown }[]) =>
      l
        .map((x) => {
          const { id: _id, ...data } = x.data as Record<string, unknown>;
          return { type: x.type, data };
        })
        .sort(byJson);
    expect(strip(hooked), 'webhook messages').toEqual(strip(fed));
    expect(this.t.hub.auditTrail.verify().ok).toBe(true);
  }
}

/** A register day as the model holds it, as `reconcile` would list it. */
function expectedView(d: Day): DayView {
  const { register, source, status, currency, reported, recorded, closedAt, reportedAt, reconciledAt } = d;
  return comparable({
    register,
    source,
    status,
    currency,
    reported,
    recorded,
    closedAt,
    reportedAt,
    reconciledAt,
    differences: d.diff,
    resendAttempts: d.attempts,
    missing: d.diff?.missing ?? noLists(),
    exception: d.exception && { resolved: d.exception.resolved !== null },
  });
}

/** A register day as compared: the hub's view but its store and day, the exception by whether it is settled. */
type DayView = Omit<RegisterDayView, 'store' | 'businessDay' | 'exception'> & {
  exception: { resolved: boolean } | null;
};

/** The view with its totals and lists in one order, whatever order the hub or the model keeps them in. */
function comparable(v: DayView): DayView {
  return {
    ...v,
    recorded: v.recorded && tidy(v.recorded),
    differences: v.differences && tidyDiff(v.differences),
    missing: { receipts: [...v.missing.receipts].sort(), authorizations: [...v.missing.authorizations].sort() },
  };
}

describe('register day-close reconciliation against its model', () => {
  it('matches, asks for resends and raises discrepancies as docs/reconciliation.md says, step by step', () => {
    fc.assert(
      fc.property(setup, fc.array(op, { minLength: 8, maxLength: 50, size: 'max' }), (s, ops) => {
        const run = new Run(s);
        try {
          for (const o of ops) run.step(o);
          run.finish();
        } finally {
          for (const t of open.splice(0)) t.cleanup();
        }
      }),
      { numRuns: RUNS },
    );
  });
});
