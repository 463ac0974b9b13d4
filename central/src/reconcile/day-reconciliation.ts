import {
  businessDayOf,
  nextBusinessDay,
  wallTimeToInstant,
  type DayCloseEventBody,
  type Logger,
} from '@tillbridge/shared';
import type { HubStorage, Statement } from '../storage/index.js';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import type { Exceptions } from '../domain/exceptions.js';
import type { HubEvents } from '../domain/hub-events.js';
import { MultiKeySelect } from '../domain/multi-row.js';

/**
 * A register's business day, as the hub reconciled it (docs/reconciliation.md):
 * - matched: what the register (or its agent) reported is what the hub recorded;
 * - resending: the hub lacks transactions the agent listed and asked it to send them again;
 * - discrepancy: something else differs (or the resends did not bring what was lacking): an
 *   exception `day_discrepancy` says what.
 */
export type DayStatus = 'matched' | 'discrepancy' | 'resending';

/** How many times the hub asks an agent to send a day's missing transactions before it raises a discrepancy. */
export const MAX_RESEND_ATTEMPTS = 3;

export const DAY_DISCREPANCY = 'day_discrepancy';

export interface DayTotals {
  sales: { count: number; amount: number };
  returns: { count: number; amount: number };
  /** per tender kind (lower-cased): sale tenders minus refunds paid to it */
  tenders: { kind: string; amount: number }[];
}

export interface DayDifferences {
  /** listed by the agent, unknown at the hub: what a resend brings */
  missing: { receipts: string[]; authorizations: string[] };
  /** recorded at the hub for this register and day, not in the agent's lists */
  extra: { receipts: string[]; authorizations: string[] };
  /** listed by the agent, recorded at the hub under another register or business day */
  elsewhere: { receipts: Elsewhere[]; authorizations: Elsewhere[] };
  /** totals that differ: `what` is sales.count, sales.amount, returns.count, returns.amount or `tender KIND` */
  totals: { what: string; register: number; hub: number }[];
}

interface Elsewhere {
  id: string;
  register: string | null;
  businessDay: string | null;
}

/** The `resend` the store's agent is asked for (a `resend` frame). */
export interface ResendRequest {
  store: string;
  register: string;
  businessDay: string;
  missing: { receipts: string[]; authorizations: string[] };
}

/** A reconciliation's outcome, after its commit (metrics). */
export interface DayOutcome {
  store: string;
  register: string;
  businessDay: string;
  status: DayStatus;
  closedAt: string;
  /** when it was reconciled (the hub's clock, ms) */
  at: number;
}

/** A register's day as `reconcile` lists it. */
export interface RegisterDayView {
  store: string;
  register: string;
  businessDay: string;
  source: string;
  status: DayStatus;
  currency: string | null;
  reported: DayTotals;
  recorded: DayTotals | null;
  differences: DayDifferences | null;
  closedAt: string;
  reportedAt: string;
  reconciledAt: string | null;
  resendAttempts: number;
  missing: { receipts: string[]; authorizations: string[] };
  exception: { id: string; resolved: boolean } | null;
}

interface DayRow {
  store: string;
  register: string;
  business_day: string;
  source: string;
  event_id: string;
  currency: string | null;
  reported: string;
  receipts: string;
  authorizations: string;
  status: string;
  recorded: string | null;
  differences: string | null;
  closed_at: string;
  reported_at: string;
  reconciled_at: string | null;
  resend_attempts: number | string;
  resend_at: string | null;
  exception_id: string | null;
}

/** A sale or completed return applied or answered as a duplicate: its register time, or the agent's of completion. */
interface Touched {
  store: string;
  register: string;
  at: string;
}

/** A day close answered as a duplicate: the agent sent it again, last of a resend of its day. */
export interface ResentClose {
  store: string;
  register: string;
  businessDay: string;
  eventId: string;
}

/** A day waiting for a resend, as `openAmong` finds it. */
interface OpenDay {
  store: string;
  register: string;
  business_day: string;
}

/** Whether and when a return was completed: the agent's time of it, else the hub's. */
interface Completion {
  status: string;
  completed_agent_at: string | null;
  completed_at: string | null;
}

/** A return as the hub holds it: its completion, and the register it was asked at and completed at. */
interface ReturnState extends Completion {
  register: string;
  completed_register: string | null;
}

interface Recorded {
  totals: DayTotals;
  receipts: Set<string>;
  authorizations: Set<string>;
}

const DAY_MS = 86_400_000;
/** names listed in an exception's reason per kind; the rest are counted */
const NAMES_IN_REASON = 10;

const group = (n: number): string => n.toLocaleString('en-US');

const dayKey = (d: OpenDay): string => `${d.store}\u0000${d.register}\u0000${d.business_day}`;

/**
 * When a return was completed — the agent's time, else the hub's — once it is completed (or reversed since): until
 * then the hub lacks its completion.
 */
function completedAtOf(r: Completion | undefined): string | null {
  if (!r || (r.status !== 'completed' && r.status !== 'reversed')) return null;
  return r.completed_agent_at ?? r.completed_at ?? null;
}

/** Tender amounts by lower-cased kind (kinds given twice are added up). */
function byKind(list: readonly { kind: string; amount: number }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of list) m.set(t.kind.toLowerCase(), (m.get(t.kind.toLowerCase()) ?? 0) + t.amount);
  return m;
}

function names(list: readonly string[]): string {
  const shown = list.slice(0, NAMES_IN_REASON).join(', ');
  return list.length > NAMES_IN_REASON ? `${shown} and ${list.length - NAMES_IN_REASON} more` : shown;
}

/** What differs, in words, for the exception's reason. */
export function describeDifferences(d: DayDifferences): string {
  const parts: string[] = [];
  for (const t of d.totals) parts.push(`${t.what}: register ${group(t.register)}, hub ${group(t.hub)}`);
  if (d.missing.receipts.length > 0) parts.push(`receipts missing at the hub: ${names(d.missing.receipts)}`);
  if (d.missing.authorizations.length > 0) parts.push(`returns missing at the hub: ${names(d.missing.authorizations)}`);
  if (d.extra.receipts.length > 0)
    parts.push(`receipts at the hub the register did not list: ${names(d.extra.receipts)}`);
  if (d.extra.authorizations.length > 0)
    parts.push(`returns at the hub the register did not list: ${names(d.extra.authorizations)}`);
  const where = (e: Elsewhere): string => `${e.id} (register ${e.register ?? '-'}, ${e.businessDay ?? 'no day'})`;
  if (d.elsewhere.receipts.length > 0)
    parts.push(
      'receipts recorded under another register or day: ' +
        d.elsewhere.receipts.slice(0, NAMES_IN_REASON).map(where).join(', '),
    );
  if (d.elsewhere.authorizations.length > 0)
    parts.push(
      'returns recorded under another register or day: ' +
        d.elsewhere.authorizations.slice(0, NAMES_IN_REASON).map(where).join(', '),
    );
  return parts.join('; ');
}

function isEmpty(d: DayDifferences): boolean {
  return (
    d.totals.length === 0 &&
    d.missing.receipts.length === 0 &&
    d.missing.authorizations.length === 0 &&
    d.extra.receipts.length === 0 &&
    d.extra.authorizations.length === 0 &&
    d.elsewhere.receipts.length === 0 &&
    d.elsewhere.authorizations.length === 0
  );
}

/** The reported figures of a day close (its totals, tender kinds lower-cased). */
function reportedTotals(body: DayCloseEventBody): DayTotals {
  return {
    sales: body.sales,
    returns: body.returns,
    tenders: [...byKind(body.tenders)]
      .map(([kind, amount]) => ({ kind, amount }))
      .sort((a, b) => a.kind.localeCompare(b.kind)),
  };
}

/**
 * Why a day is compared: its close applied; events of its register and day applied while it waits for a resend;
 * (`resent`) its close answered as a duplicate while it waits — the agent resends a day as it journalled it, the close
 * last, so the resend is all in; or (`recheck`) events applied after its close in the commit that applied the close.
 */
type Trigger = 'close' | 'events' | 'resent' | 'recheck';

/** Where a reconciliation leaves a day: its status, whether a resend is asked, and the resend requests so far. */
interface ReconcileStep {
  status: DayStatus;
  ask: boolean;
  attempts: number;
  /** how many receipts and authorizations the hub still lacks */
  lacking: number;
}

/**
 * Matched or a discrepancy when nothing is missing; else waiting while a resend comes in (however many commits it
 * takes), asking (again) at a close and when a resend is all in (its close came back) with something still missing,
 * a discrepancy after MAX_RESEND_ATTEMPTS.
 */
function nextStep(row: DayRow, d: DayDifferences, trigger: Trigger): ReconcileStep {
  let attempts = Number(row.resend_attempts);
  const lacking = d.missing.receipts.length + d.missing.authorizations.length;
  if (lacking === 0) return { status: isEmpty(d) ? 'matched' : 'discrepancy', ask: false, attempts, lacking };
  // closed in this very commit, and asked then: the events after its close brought only some of it (or none yet);
  // or a resend coming in: the rest may be in a later commit, up to the day's close
  if (trigger === 'recheck' || trigger === 'events') return { status: 'resending', ask: false, attempts, lacking };
  if (attempts < MAX_RESEND_ATTEMPTS) {
    attempts++;
    return { status: 'resending', ask: true, attempts, lacking };
  }
  return { status: 'discrepancy', ask: false, attempts, lacking };
}

/**
 * Reconciles each register's business day (a `day.close` event) against what the hub recorded for
 * that store, register and day — sales by the register's time, completed returns by the agent's
 * time of their completion, both in the store's zone — inside the transaction that applied the
 * event, with its audit entry and its announcement (`day.reconciled`, `day.discrepancy`). What the
 * hub lacks is asked for again (`onResend`: the cluster's bus carries it to the process holding the
 * store's agent); days waiting for a resend are reconciled again as events of that register are
 * applied (`applied`): those of that day in the store's zone, or any once they brought what the day lacked.
 */
export class DayReconciliation {
  private resendSink: ((r: ResendRequest) => void) | undefined;
  private readonly outcomeListeners: ((o: DayOutcome) => void)[] = [];
  /** the days closed in the transaction running now: the events applied with their close were compared already */
  private closedIn: { tx: number | undefined; keys: Set<string> } = { tx: undefined, keys: new Set() };
  private readonly getDay: Statement;
  private readonly eventAt: Statement;
  private readonly upsert: Statement;
  private readonly setOutcome: Statement;
  private readonly openAmong: MultiKeySelect;
  private readonly openOfStore: Statement;
  private readonly daysOf: Statement;
  private readonly daysOfStore: Statement;
  private readonly salesIn: Statement;
  private readonly returnsIn: Statement;
  private readonly saleNamed: Statement;
  private readonly returnNamed: Statement;
  private readonly salesAmong: MultiKeySelect;
  private readonly returnsAmong: MultiKeySelect;
  private readonly markCompleted: Statement;
  private readonly exceptionState: Statement;
  private readonly resolveException: Statement;

  constructor(
    private readonly storage: HubStorage,
    private readonly exceptions: Exceptions,
    private readonly audit: AuditLog,
    private readonly events: HubEvents,
    private readonly clock: Clock,
    /** the store's time zone (sync setting timeZone) */
    private readonly zoneOf: (store: string) => string,
    private readonly log: Logger,
  ) {
    const db = storage.db;
    this.eventAt = db.prepare(`SELECT agent_at FROM applied_events WHERE event_id = ?`);
    this.getDay = db.prepare(`SELECT * FROM register_days WHERE store = ? AND register = ? AND business_day = ?`);
    this.upsert = db.prepare(
      `INSERT INTO register_days (store, register, business_day, source, event_id, currency, reported, receipts,
         authorizations, status, closed_at, reported_at, resend_attempts)
       VALUES (@store, @register, @day, @source, @event, @currency, @reported, @receipts, @authorizations, 'resending',
         @closedAt, @reportedAt, 0)
       ON CONFLICT (store, register, business_day) DO UPDATE SET source = excluded.source, event_id = excluded.event_id,
         currency = excluded.currency, reported = excluded.reported, receipts = excluded.receipts,
         authorizations = excluded.authorizations, status = excluded.status, recorded = NULL, differences = NULL,
         closed_at = excluded.closed_at, reported_at = excluded.reported_at, reconciled_at = NULL, resend_attempts = 0,
         resend_at = NULL, exception_id = NULL`,
    );
    this.setOutcome = db.prepare(
      `UPDATE register_days SET status = @status, recorded = @recorded, differences = @differences,
         reconciled_at = @reconciledAt,
         resend_attempts = @attempts, resend_at = @resendAt, exception_id = @exception
       WHERE store = @store AND register = @register AND business_day = @day`,
    );
    this.openAmong = new MultiKeySelect(
      db,
      `SELECT store, register, business_day FROM register_days WHERE status = 'resending' AND store IN (?*)`,
    );
    this.openOfStore = db.prepare(
      `SELECT * FROM register_days WHERE status = 'resending' AND store = ? ORDER BY business_day, register`,
    );
    this.daysOf = db.prepare(`SELECT * FROM register_days WHERE business_day = ? ORDER BY store, register`);
    this.daysOfStore = db.prepare(
      `SELECT * FROM register_days WHERE business_day = ? AND store = ? ORDER BY store, register`,
    );
    this.salesIn = db.prepare(
      `SELECT receipt, at, total, tenders FROM sales WHERE store = ? AND register = ? AND at >= ? AND at < ?`,
    );
    this.returnsIn = db.prepare(
      `SELECT authorization, refund_amount, refund_kind, completed_agent_at FROM returns
       WHERE store = ? AND completed_register = ? AND completed_agent_at >= ? AND completed_agent_at < ?`,
    );
    this.saleNamed = db.prepare(`SELECT register, at FROM sales WHERE store = ? AND receipt = ?`);
    this.returnNamed = db.prepare(
      `SELECT status, register, completed_register, completed_agent_at, completed_at FROM returns
       WHERE store = ? AND authorization = ?`,
    );
    this.salesAmong = new MultiKeySelect(db, `SELECT receipt FROM sales WHERE (store, receipt) IN (?*)`, 2);
    this.returnsAmong = new MultiKeySelect(
      db,
      `SELECT status, completed_agent_at, completed_at FROM returns WHERE (store, authorization) IN (?*)`,
      2,
    );
    this.markCompleted = db.prepare(
      `UPDATE returns SET completed_register = ?, completed_agent_at = ?
       WHERE authorization = ? AND status = 'completed'`,
    );
    this.exceptionState = db.prepare(`SELECT id, resolved_at FROM exceptions WHERE id = ?`);
    this.resolveException = db.prepare(
      `UPDATE exceptions SET resolved_at = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL`,
    );
  }

  /** Where a resend goes (the cluster's bus); without one it waits for the agent's next connection (`pending`). */
  onResend(sink: (r: ResendRequest) => void): void {
    this.resendSink = sink;
  }

  /** Hears each outcome once its transaction committed. */
  onOutcome(listener: (o: DayOutcome) => void): void {
    this.outcomeListeners.push(listener);
  }

  /**
   * A `day.close` event of the store's register, applied (inside the applier's transaction): kept
   * — replacing an earlier close of the same register and day (a corrected Z report) — and
   * reconciled at once. One the agent wrote before the close the day keeps (`agentAt`, the event's time at the
   * agent: a resend brought a close the hub never had) is ignored, audited.
   */
  closed(store: string, register: string, body: DayCloseEventBody, eventId: string, agentAt: string): void {
    const before = this.getDay.get(store, register, body.businessDay) as DayRow | undefined;
    if (before && this.older(agentAt, before.event_id)) {
      // an earlier close the hub never had (a resend brought it) after its correction: the correction stands
      this.audit.append({
        actor: `store:${store}`,
        action: 'day.close',
        outcome: 'ignored',
        store,
        register,
        resource: `register-day:${store}/${register}/${body.businessDay}`,
        details: { businessDay: body.businessDay, event: eventId, kept: before.event_id, trigger: 'close' },
      });
      return;
    }
    const now = iso(this.clock.now());
    this.upsert.run({
      store,
      register,
      day: body.businessDay,
      source: body.source,
      event: eventId,
      currency: body.currency ?? null,
      reported: JSON.stringify(reportedTotals(body)),
      receipts: JSON.stringify([...new Set(body.receipts)]),
      authorizations: JSON.stringify([...new Set(body.authorizations)]),
      closedAt: new Date(body.closedAt).toISOString(),
      reportedAt: now,
    });
    // the exception the earlier close raised is settled by this one (a new one is raised if it still differs)
    if (before?.exception_id) this.settleReplaced(store, register, before.exception_id, eventId, now);
    const row = this.getDay.get(store, register, body.businessDay) as DayRow;
    this.reconcile(row, 'close', before?.exception_id ?? undefined);
    const tx = this.storage.transactionId();
    if (this.closedIn.tx !== tx) this.closedIn = { tx, keys: new Set() };
    this.closedIn.keys.add(`${store}\u0000${register}\u0000${body.businessDay}`);
  }

  /**
   * The exception an earlier close raised, settled by the later close that replaced it (accepted, by `hub`), and told
   * as an operator's settling is (`return.resolved`): an ERP that took in the discrepancy sees it closed. Nothing when
   * an operator had settled it already.
   */
  private settleReplaced(store: string, register: string, exceptionId: string, eventId: string, now: string): void {
    const note = `replaced by a later day close (event ${eventId})`;
    const resolution = { action: 'accept', note, by: 'hub' };
    if (this.resolveException.run(now, JSON.stringify(resolution), exceptionId).changes === 0) return;
    this.events.emit('return.resolved', store, () => ({
      store,
      register,
      authorization: null,
      resolution: {
        exceptions: [{ id: exceptionId, code: DAY_DISCREPANCY, kind: 'day.close' }],
        ...resolution,
        moved: [],
      },
    }));
  }

  /** Whether the agent wrote a close (at `agentAt`) before the one the day keeps (event `keptEvent`). */
  private older(agentAt: string, keptEvent: string): boolean {
    const kept = this.eventAt.get(keptEvent) as { agent_at: string } | undefined;
    return kept !== undefined && Date.parse(agentAt) < Date.parse(kept.agent_at);
  }

  /** A return.complete applied: the register and the agent's time of it (its business day is the agent's). */
  returnCompleted(authorization: string, register: string, agentAt: string): void {
    this.markCompleted.run(register, new Date(agentAt).toISOString(), authorization);
  }

  /**
   * Events applied or answered as duplicates (inside the applier's transaction): the days waiting
   * for a resend that they touch are reconciled again — the days of their own register and day in
   * the store's zone (`dueByZone`), and the waiting days of their register whose missing
   * transactions the hub now has (`dueByLists`); a day whose kept close is among `closesBack` (its
   * resend is all in) is reconciled for that instead. One query (up to 256 stores) for the days
   * waiting at the stores they came from; the stores' zones only for a store with a day waiting.
   */
  applied(touched: readonly Touched[], closesBack: readonly ResentClose[] = []): void {
    if (touched.length === 0 && closesBack.length === 0) return;
    // a day closed in this very transaction was compared with the events before its close, and asked for what it
    // lacked: those after it may bring that, but do not ask again
    const closedNow =
      this.closedIn.tx !== undefined && this.closedIn.tx === this.storage.transactionId()
        ? this.closedIn.keys
        : new Set<string>();
    // the days whose kept close came back: their resend is all in (compared once, for that)
    const resent = new Set<string>();
    for (const c of closesBack) {
      const row = this.getDay.get(c.store, c.register, c.businessDay) as DayRow | undefined;
      const k = dayKey({ store: c.store, register: c.register, business_day: c.businessDay });
      if (row?.status !== 'resending' || row.event_id !== c.eventId || resent.has(k)) continue;
      resent.add(k);
      this.reconcile(row, closedNow.has(k) ? 'recheck' : 'resent');
    }
    if (touched.length === 0) return;
    const open = this.openAmong.all(touched.map((t) => t.store)) as OpenDay[];
    if (open.length === 0) return;
    const due = this.dueByZone(touched, open);
    for (const k of this.dueByLists(touched, open, due)) due.add(k);
    for (const k of due) {
      if (resent.has(k)) continue;
      const [store, register, day] = k.split('\u0000') as [string, string, string];
      const row = this.getDay.get(store, register, day) as DayRow | undefined;
      if (row?.status === 'resending') this.reconcile(row, closedNow.has(k) ? 'recheck' : 'events');
    }
  }

  /** The waiting days (keys) of the events' registers and business days, reckoned in the store's zone now. */
  private dueByZone(touched: readonly Touched[], open: OpenDay[]): Set<string> {
    const openStores = new Set(open.map((o) => o.store));
    const zones = new Map<string, string>();
    const waiting = new Set(open.map(dayKey));
    const due = new Set<string>();
    for (const t of touched) {
      if (!openStores.has(t.store)) continue;
      let zone = zones.get(t.store);
      if (zone === undefined) zones.set(t.store, (zone = this.zoneOf(t.store)));
      let day: string;
      try {
        day = businessDayOf(t.at, zone);
      } catch {
        continue;
      }
      const k = `${t.store}\u0000${t.register}\u0000${day}`;
      if (waiting.has(k)) due.add(k);
    }
    return due;
  }

  /**
   * The waiting days (keys) of the events' registers, not due already, of which the hub now has some of the
   * transactions the day close named as missing. The agent resends a day as it journalled it, each event under the
   * business day of the zone the store had then: after a change of zone none of them may fall on the day in the zone
   * it has now (`dueByZone`), yet what they bring settles it.
   */
  private dueByLists(touched: readonly Touched[], open: OpenDay[], due: ReadonlySet<string>): string[] {
    const registers = new Set(touched.map((t) => `${t.store}\u0000${t.register}`));
    const found: string[] = [];
    for (const o of open) {
      const k = dayKey(o);
      if (due.has(k) || !registers.has(`${o.store}\u0000${o.register}`)) continue;
      const row = this.getDay.get(o.store, o.register, o.business_day) as DayRow | undefined;
      if (row && this.arrivedOf(row)) found.push(k);
    }
    return found;
  }

  /** Whether the hub now has any of the receipts or authorizations the day lacked when it was last compared. */
  private arrivedOf(row: DayRow): boolean {
    const { receipts, authorizations } = this.missingOf(row);
    if (receipts.length > 0 && this.salesAmong.all(receipts.map((r) => [row.store, r])).length > 0) return true;
    if (authorizations.length === 0) return false;
    // as `compare` tells it: a return is there once completed (or reversed) with a time of completion
    const returns = this.returnsAmong.all(authorizations.map((a) => [row.store, a])) as Completion[];
    return returns.some((r) => completedAtOf(r) !== null);
  }

  /** The resends the store's agent still owes (sent again when it connects). */
  pending(store: string): ResendRequest[] {
    return (this.openOfStore.all(store) as DayRow[]).map((r) => ({
      store,
      register: r.register,
      businessDay: r.business_day,
      missing: this.missingOf(r),
    }));
  }

  /** Every register's day closed on `day` (of `store`). */
  list(day: string, store?: string): RegisterDayView[] {
    const rows = (store !== undefined ? this.daysOfStore.all(day, store) : this.daysOf.all(day)) as DayRow[];
    return rows.map((r) => {
      const e = r.exception_id
        ? (this.exceptionState.get(r.exception_id) as { id: string; resolved_at: string | null } | undefined)
        : undefined;
      return {
        store: r.store,
        register: r.register,
        businessDay: r.business_day,
        source: r.source,
        status: r.status as DayStatus,
        currency: r.currency,
        reported: JSON.parse(r.reported) as DayTotals,
        recorded: r.recorded ? (JSON.parse(r.recorded) as DayTotals) : null,
        differences: r.differences ? (JSON.parse(r.differences) as DayDifferences) : null,
        closedAt: r.closed_at,
        reportedAt: r.reported_at,
        reconciledAt: r.reconciled_at,
        resendAttempts: Number(r.resend_attempts),
        missing: this.missingOf(r),
        exception: e ? { id: e.id, resolved: e.resolved_at !== null } : null,
      };
    });
  }

  private missingOf(r: DayRow): { receipts: string[]; authorizations: string[] } {
    const d = r.differences ? (JSON.parse(r.differences) as DayDifferences) : undefined;
    return d ? d.missing : { receipts: [], authorizations: [] };
  }

  /** What the hub recorded for the store's register on `day` (in the store's zone). */
  recorded(store: string, register: string, day: string): Recorded {
    const zone = this.zoneOf(store);
    // a day's instants, widened a day each way (zones, summer time), then each time's own day checked
    const lo = iso(wallTimeToInstant(day, '00:00', zone) - DAY_MS);
    const hi = iso(wallTimeToInstant(nextBusinessDay(day), '00:00', zone) + DAY_MS);
    const receipts = new Set<string>();
    const authorizations = new Set<string>();
    const tenders = new Map<string, number>();
    const sales = { count: 0, amount: 0 };
    const returns = { count: 0, amount: 0 };
    for (const r of this.salesIn.all(store, register, lo, hi) as {
      receipt: string;
      at: string;
      total: number | string;
      tenders: string;
    }[]) {
      if (businessDayOf(r.at, zone) !== day) continue;
      receipts.add(r.receipt);
      sales.count++;
      sales.amount += Number(r.total);
      for (const [kind, amount] of byKind(JSON.parse(r.tenders) as { kind: string; amount: number }[]))
        tenders.set(kind, (tenders.get(kind) ?? 0) + amount);
    }
    for (const r of this.returnsIn.all(store, register, lo, hi) as {
      authorization: string;
      refund_amount: number | string | null;
      refund_kind: string | null;
      completed_agent_at: string;
    }[]) {
      if (businessDayOf(r.completed_agent_at, zone) !== day) continue;
      authorizations.add(r.authorization);
      const amount = Number(r.refund_amount ?? 0);
      returns.count++;
      returns.amount += amount;
      const kind = (r.refund_kind ?? 'unknown').toLowerCase();
      tenders.set(kind, (tenders.get(kind) ?? 0) - amount);
    }
    return {
      totals: {
        sales,
        returns,
        tenders: [...tenders].map(([kind, amount]) => ({ kind, amount })).sort((a, b) => a.kind.localeCompare(b.kind)),
      },
      receipts,
      authorizations,
    };
  }

  /** What differs between the register's report and what the hub recorded. */
  private compare(row: DayRow, reported: DayTotals, hub: Recorded): DayDifferences {
    const zone = this.zoneOf(row.store);
    const listedReceipts = JSON.parse(row.receipts) as string[];
    const listedAuths = JSON.parse(row.authorizations) as string[];
    const d: DayDifferences = {
      missing: { receipts: [], authorizations: [] },
      extra: { receipts: [], authorizations: [] },
      elsewhere: { receipts: [], authorizations: [] },
      totals: [],
    };
    const total = (what: string, register: number, recorded: number): void => {
      if (register !== recorded) d.totals.push({ what, register, hub: recorded });
    };
    total('sales.count', reported.sales.count, hub.totals.sales.count);
    total('sales.amount', reported.sales.amount, hub.totals.sales.amount);
    total('returns.count', reported.returns.count, hub.totals.returns.count);
    total('returns.amount', reported.returns.amount, hub.totals.returns.amount);
    const theirs = byKind(reported.tenders);
    const ours = byKind(hub.totals.tenders);
    for (const kind of [...new Set([...theirs.keys(), ...ours.keys()])].sort())
      total(`tender ${kind}`, theirs.get(kind) ?? 0, ours.get(kind) ?? 0);

    const listedR = new Set(listedReceipts);
    for (const receipt of listedReceipts) {
      if (hub.receipts.has(receipt)) continue;
      const at = this.saleNamed.get(row.store, receipt) as { register: string | null; at: string } | undefined;
      if (at)
        d.elsewhere.receipts.push({ id: receipt, register: at.register, businessDay: businessDayOf(at.at, zone) });
      else d.missing.receipts.push(receipt);
    }
    for (const receipt of [...hub.receipts].sort()) if (!listedR.has(receipt)) d.extra.receipts.push(receipt);

    const listedA = new Set(listedAuths);
    for (const authorization of listedAuths) {
      if (hub.authorizations.has(authorization)) continue;
      const r = this.returnNamed.get(row.store, authorization) as ReturnState | undefined;
      const completedAt = completedAtOf(r);
      if (r && completedAt) {
        d.elsewhere.authorizations.push({
          id: authorization,
          register: r.completed_register ?? r.register,
          businessDay: businessDayOf(completedAt, zone),
        });
      } else d.missing.authorizations.push(authorization);
    }
    for (const authorization of [...hub.authorizations].sort())
      if (!listedA.has(authorization)) d.extra.authorizations.push(authorization);
    return d;
  }

  /**
   * Compares the day and records the outcome (inside the caller's transaction). `close`: a day
   * close was just kept; `events`: events of a day waiting for a resend were applied — matched
   * when they brought everything, else still waiting; `resent`: the day's close came back, the
   * resend is all in — asked again when something is still missing, a discrepancy after
   * MAX_RESEND_ATTEMPTS.
   */
  private reconcile(row: DayRow, trigger: Trigger, settled?: string): void {
    const { store, register, business_day: day } = row;
    const reported = JSON.parse(row.reported) as DayTotals;
    const hub = this.recorded(store, register, day);
    const d = this.compare(row, reported, hub);
    const nowMs = this.clock.now();
    const now = iso(nowMs);
    const step = nextStep(row, d, trigger);
    const { status, ask, attempts } = step;
    const exception = this.announce(row, step, d, { reported, recorded: hub.totals }, now);
    this.setOutcome.run({
      store,
      register,
      day,
      status,
      recorded: JSON.stringify(hub.totals),
      differences: isEmpty(d) ? null : JSON.stringify(d),
      reconciledAt: status === 'resending' ? null : now,
      attempts,
      resendAt: ask ? now : row.resend_at,
      exception,
    });
    if (ask || status !== 'resending' || settled)
      this.auditStep(row, step, d, trigger === 'close' ? 'close' : 'events', { settled, exception });
    if (ask) {
      const request: ResendRequest = { store, register, businessDay: day, missing: d.missing };
      if (this.resendSink) this.resendSink(request);
      else this.log.debug({ store, register, businessDay: day }, "resend kept for the agent's next connection");
    }
    if (this.outcomeListeners.length > 0 && (ask || status !== 'resending')) {
      const o: DayOutcome = { store, register, businessDay: day, status, closedAt: row.closed_at, at: nowMs };
      this.storage.afterCommit(() => {
        for (const l of this.outcomeListeners) l(o);
      });
    }
  }

  /**
   * A discrepancy recorded as an exception and announced (day.discrepancy), a match announced (day.reconciled);
   * answers the exception's id, if any.
   */
  private announce(
    row: DayRow,
    step: ReconcileStep,
    d: DayDifferences,
    totals: { reported: DayTotals; recorded: DayTotals },
    now: string,
  ): string | null {
    const { store, register, business_day: day } = row;
    const base = {
      store,
      register,
      businessDay: day,
      source: row.source,
      closedAt: row.closed_at,
      currency: row.currency,
    };
    if (step.status === 'matched') {
      this.events.emit('day.reconciled', store, () => ({
        ...base,
        totals: totals.reported,
        resendAttempts: step.attempts,
        reconciledAt: now,
      }));
    }
    if (step.status !== 'discrepancy') return null;
    const stillMissing = step.lacking > 0 ? ` (still missing after ${step.attempts} resend request(s))` : '';
    const reason = `register ${register}, business day ${day}: ${describeDifferences(d)}${stillMissing}`;
    const exception = this.exceptions.record(
      {
        store,
        register,
        kind: 'day.close',
        code: DAY_DISCREPANCY,
        reason,
        body: { businessDay: day, differences: d },
      },
      { announce: false },
    );
    this.events.emit('day.discrepancy', store, () => ({
      ...base,
      ...totals,
      differences: d,
      reason,
      exception,
      reconciledAt: now,
    }));
    return exception;
  }

  /** The audit entry of a resend request or of a reconciled day. */
  private auditStep(
    row: DayRow,
    step: ReconcileStep,
    d: DayDifferences,
    trigger: 'close' | 'events',
    outcome: { settled: string | undefined; exception: string | null },
  ): void {
    const { store, register, business_day: day } = row;
    const { ask, attempts } = step;
    const { settled, exception } = outcome;
    this.audit.append({
      actor: `store:${store}`,
      action: ask ? 'day.resend' : 'day.reconcile',
      outcome: step.status,
      store,
      register,
      resource: `register-day:${store}/${register}/${day}`,
      details: {
        businessDay: day,
        source: row.source,
        event: row.event_id,
        trigger,
        ...(ask
          ? {
              attempt: attempts,
              missing: {
                receipts: d.missing.receipts.slice(0, 50),
                authorizations: d.missing.authorizations.slice(0, 50),
                count: step.lacking,
              },
            }
          : {}),
        ...(settled ? { settled } : {}),
        ...(exception ? { exception, differences: describeDifferences(d) } : {}),
      },
    });
  }
}
