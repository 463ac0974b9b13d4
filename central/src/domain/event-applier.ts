import {
  describeZodError,
  TbCodes,
  TbError,
  EventBodies,
  type EventResult,
  type Logger,
  type ReturnCancelEventBody,
  type DayCloseEventBody,
  type ReturnCompleteEventBody,
  type ReturnDecisionEventBody,
  type SaleEventBody,
  type WireEvent,
} from '@tillbridge/shared';
import type { HubStorage, Statement } from '../storage/index.js';
import { iso, systemClock, type Clock } from './clock.js';
import { auditOrigin, type AuditLog } from './audit-log.js';
import type { AppliedMark, CursorMove, Cursors } from './cursors.js';
import type { Exceptions } from './exceptions.js';
import { ExceptionCodes, Refusal } from './refusal.js';
import type { OfflineReconciler } from './offline-reconciler.js';
import type { EventOutcome, ReturnCompletion } from './return-completion.js';
import type { SaleBatch, SaleService } from './sale-service.js';
import type { DayReconciliation, ResentClose } from '../reconcile/day-reconciliation.js';

export interface BatchResult {
  upTo: number;
  results: EventResult[];
}

/** One agent's `events` frame, as `applyBatches` takes it. */
export interface BatchInput {
  store: string;
  agentId: string;
  incarnation: string;
  items: WireEvent[];
  /** the origin its audit entries name (`auditOrigin`); default: the caller's */
  origin?: string | undefined;
}

export type BatchOutcome = { ok: true; result: BatchResult } | { ok: false; error: unknown };

/** Runs `fn` with `origin` as the audit origin (`auditOrigin`), or in the caller's when there is none. */
function within<T>(origin: string | undefined, fn: () => T): T {
  return origin === undefined ? fn() : auditOrigin.run(origin, fn);
}

export type AppliedObserver = (e: {
  store: string;
  kind: string;
  agentAt: string;
  outcome: EventResult['outcome'];
}) => void;

/** How `applied_events` keeps `item` of batch `b`, applied with `outcome`. */
function appliedMark(b: BatchInput, item: WireEvent, outcome: EventResult): AppliedMark {
  return {
    eventId: item.id,
    store: b.store,
    agentId: b.agentId,
    incarnation: b.incarnation,
    seq: item.seq,
    kind: item.kind,
    register: item.register,
    outcome: outcome.outcome,
    code: outcome.code ?? null,
    agentAt: item.at,
  };
}

/** What the `onApplied` observer hears of an applied event. */
function observation(store: string, item: WireEvent, outcome: EventResult): Parameters<AppliedObserver>[0] {
  return { store, kind: item.kind, agentAt: item.at, outcome: outcome.outcome };
}

/** Attempts at one event failing for an unexpected reason before it is set aside as an exception. */
const MAX_ATTEMPTS = 5;

/**
 * An event the hub has not seen, at or below the cursor of its incarnation: another history of
 * this agent's database was written under the same seqs (a copy that went on after it was taken,
 * or a reverted VM that sold again). Nothing of the batch is applied; the agent must start a new
 * incarnation and send its outbox again (DESIGN rule 9).
 */
export class ForkedHistory extends Error {
  readonly code = 'agent_forked';
  constructor(
    readonly seq: number,
    readonly eventId: string,
    /** the cursor of the incarnation: the hub applied other events up to here */
    readonly applied: number,
  ) {
    super(
      `event ${eventId} at seq ${seq} is not the one the hub applied under this incarnation (applied up to ${applied})`,
    );
    this.name = 'ForkedHistory';
  }
}

/**
 * Applies a batch of an agent's events in one transaction, exactly once each (DESIGN rules 2 and
 * 9): an event whose id the hub has applied is a duplicate, whatever its seq; the cursor of the
 * agent's incarnation moves in the same transaction as the effects. An unseen event at or below
 * that cursor is a forked history (`ForkedHistory`), never taken for a duplicate. A permanent
 * refusal is acknowledged and kept as an exception (rule 3); an unexpected failure rolls the batch
 * back for a retry, and after MAX_ATTEMPTS the event is set aside as an `internal_error` exception
 * so the queue moves on.
 */
export class EventApplier {
  private observer: AppliedObserver | undefined;
  private readonly attemptsOf: Statement;
  private readonly countAttempt: Statement;
  private readonly forgetAttempts: Statement;
  private readonly forgetOld: Statement;
  /**
   * Whether `applyBatches` first tries the whole group in a few multi-row statements (see
   * `applyGrouped`); false applies every event on its own, as the group falls back to. A seam for
   * the tests that compare the two.
   */
  grouped = true;
  /** Groups that did not apply as one and were applied batch by batch (a failing event, a forked history). */
  private fallbacks = 0;
  /** Register days: day.close events are reconciled there, and days waiting for a resend hear of the events applied. */
  private days: DayReconciliation | undefined;

  constructor(
    private readonly storage: HubStorage,
    private readonly cursors: Cursors,
    private readonly sales: SaleService,
    private readonly reconciler: OfflineReconciler,
    private readonly completion: ReturnCompletion,
    private readonly exceptions: Exceptions,
    private readonly audit: AuditLog,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    // unexpected failures per event, shared by every hub process on the database: an agent whose
    // batches reach one process, then another, still has its event set aside after MAX_ATTEMPTS
    this.attemptsOf = storage.db.prepare(`SELECT attempts FROM event_attempts WHERE event_id = ?`);
    this.countAttempt = storage.db.prepare(
      `INSERT INTO event_attempts (event_id, agent_id, attempts, last_error, updated_at)
       VALUES (@event, @agent, 1, @error, @at)
       ON CONFLICT (event_id) DO UPDATE SET attempts = event_attempts.attempts + 1, last_error = excluded.last_error,
         updated_at = excluded.updated_at`,
    );
    this.forgetAttempts = storage.db.prepare(`DELETE FROM event_attempts WHERE event_id = ?`);
    this.forgetOld = storage.db.prepare(`DELETE FROM event_attempts WHERE updated_at < ?`);
  }

  /** How many groups fell back to applying their batches one by one since the hub started. */
  get groupFallbacks(): number {
    return this.fallbacks;
  }

  /** Where day.close events go (docs/reconciliation.md); without it they are refused as an unknown kind. */
  reconcileDays(days: DayReconciliation): void {
    this.days = days;
  }

  onApplied(o: AppliedObserver): void {
    this.observer = o;
  }

  /**
   * `upTo` is the batch's highest seq: every event in it is committed (applied, a duplicate, or an
   * exception). One batch in one synced commit; throws what `applyBatches` reports for it.
   */
  applyBatch(store: string, agentId: string, incarnation: string, items: WireEvent[]): BatchResult {
    const [outcome] = this.applyBatches([{ store, agentId, incarnation, items }]);
    if (!outcome) throw new Error('applyBatches answered no outcome for one batch');
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  }

  /**
   * Applies several agents' batches in ONE write transaction (one synced commit: group commit),
   * each batch in a savepoint of its own: a batch that throws (an unexpected failure, a forked
   * history) is rolled back alone and reported as failed, the others commit. A batch of an
   * agent's incarnation after one of its batches failed in the same call is not attempted (its
   * events would come after a gap). When the commit itself fails, every batch is reported failed:
   * nothing of any of them is stored. The outcomes come back in order, once the commit returned —
   * an outcome `ok` is durable. Inventory pushes and observers run after the commit.
   */
  applyBatches(batches: BatchInput[]): BatchOutcome[] {
    const outcomes: BatchOutcome[] = [];
    const observed: Parameters<AppliedObserver>[0][] = [];
    const failedAgents = new Map<string, unknown>();
    try {
      this.storage.tx(() => {
        const grouped = this.grouped ? this.tryGrouped(batches, observed) : undefined;
        if (grouped) {
          outcomes.push(...grouped);
          this.afterApplied(batches, outcomes);
          return;
        }
        for (const b of batches) {
          const key = `${b.agentId}\u0000${b.incarnation}`;
          if (failedAgents.has(key)) {
            outcomes.push({
              ok: false,
              error: new TbError(TbCodes.STORAGE_BUSY, 'an earlier batch of this agent failed in the same commit'),
            });
            continue;
          }
          const o = within(b.origin, () => this.applyInSavepoint(b, observed));
          if (!o.ok) failedAgents.set(key, o.error);
          outcomes.push(o);
        }
        this.afterApplied(batches, outcomes);
      });
    } catch (error) {
      // the transaction could not commit: nothing of any batch is stored (nor announced)
      return batches.map(() => ({ ok: false, error }));
    }
    for (const o of observed) this.observer?.(o);
    return outcomes;
  }

  /**
   * The register days waiting for a resend hear of the sales and completed returns just applied —
   * or answered as duplicates — and of the day closes answered as duplicates: a resend ends with the
   * day's close, so a close that comes back says the resend is all in (in the same transaction, in a
   * savepoint: a failure there is logged and costs no batch — the day is reconciled again with the
   * next events or day close).
   */
  private afterApplied(batches: BatchInput[], outcomes: BatchOutcome[]): void {
    const days = this.days;
    if (!days) return;
    const touched: { store: string; register: string; at: string }[] = [];
    const closesBack: ResentClose[] = [];
    batches.forEach((b, i) => {
      const o = outcomes[i];
      if (!o?.ok) return;
      const answered = new Map(o.result.results.map((r) => [r.seq, r.outcome]));
      for (const item of b.items) {
        const outcome = answered.get(item.seq);
        if (outcome === undefined) continue;
        if (item.kind === 'sale') {
          const at = (item.body as { at?: unknown } | null)?.at;
          if (typeof at === 'string') touched.push({ store: b.store, register: item.register, at });
        } else if (item.kind === 'return.complete')
          touched.push({ store: b.store, register: item.register, at: item.at });
        else if (item.kind === 'day.close' && outcome === 'duplicate') {
          const businessDay = (item.body as { businessDay?: unknown } | null)?.businessDay;
          if (typeof businessDay === 'string')
            closesBack.push({ store: b.store, register: item.register, businessDay, eventId: item.id });
        }
      }
    });
    if (touched.length === 0 && closesBack.length === 0) return;
    try {
      this.storage.savepoint(() => days.applied(touched, closesBack));
    } catch (err) {
      this.log.error(
        { err, events: touched.length + closesBack.length },
        'could not reconcile again the register days waiting for a resend',
      );
    }
  }

  /**
   * The group's fast path, in a savepoint of its own: `applyGrouped`, or — when anything in it
   * throws (a forked history, a failing event, a broken statement) — nothing: its writes are rolled
   * back and undefined tells the caller to apply the batches one by one, each in its savepoint, as
   * they always were, so that a failure costs only its own batch and is counted against its event.
   */
  private tryGrouped(batches: BatchInput[], observed: Parameters<AppliedObserver>[0][]): BatchOutcome[] | undefined {
    const seen: Parameters<AppliedObserver>[0][] = [];
    try {
      const outcomes = this.storage.savepoint(() => this.applyGrouped(batches, seen));
      observed.push(...seen);
      return outcomes;
    } catch (err) {
      this.fallbacks++;
      this.log.debug(
        { err, batches: batches.length },
        'the group did not apply as one; applying its batches one by one',
      );
      return undefined;
    }
  }

  /**
   * Every batch of the group with what no other write waits for done first and the rest in a few
   * multi-row statements, for PostgreSQL, where each statement is a network round trip taken under
   * the cluster-wide write lock: one query tells which events were applied before, one the
   * cursors, one which receipts are used; the new sales are checked and built here (body schema,
   * receipt not used, audit entries chained) and written together — sales, lines, movements,
   * inventory, audit entries, applied events, cursors. An event that is not a clean new sale (a
   * return, a refusal) is applied as `applyOne` always did, the sales before it written first, so
   * that the audit chain and the ledger keep the order of the events. Commits exactly what applying
   * each batch on its own would; throws when anything fails (the caller then does just that).
   */
  private applyGrouped(batches: BatchInput[], observed: Parameters<AppliedObserver>[0][]): BatchOutcome[] {
    const applied = this.cursors.appliedAmong(batches.flatMap((b) => b.items.map((i) => i.id)));
    const cursors = this.cursors.incarnationsOf(batches.map((b) => b.agentId));
    const saleKeys = batches.flatMap((b) =>
      b.items.flatMap((i) => {
        const receipt = i.kind === 'sale' ? (i.body as { receipt?: unknown } | null)?.receipt : undefined;
        return typeof receipt === 'string' ? [{ store: b.store, receipt }] : [];
      }),
    );
    const sales = this.sales.batch(saleKeys);
    let marks: AppliedMark[] = [];
    const write = (): void => {
      sales.write();
      this.cursors.markAppliedMany(marks);
      marks = [];
    };
    const moves: CursorMove[] = [];
    const outcomes: BatchOutcome[] = [];
    for (const b of batches) {
      const { store, agentId, incarnation } = b;
      const key = `${agentId}\u0000${incarnation}`;
      const origin = b.origin ?? auditOrigin.getStore() ?? null;
      let cursor = cursors.get(key) ?? 0;
      const results: EventResult[] = [];
      let upTo = 0;
      for (const item of [...b.items].sort((x, y) => x.seq - y.seq)) {
        upTo = item.seq;
        if (applied.has(item.id)) {
          results.push({ seq: item.seq, outcome: 'duplicate' });
          cursor = Math.max(cursor, item.seq);
          continue;
        }
        if (item.seq <= cursor) throw new ForkedHistory(item.seq, item.id, cursor);
        let outcome: EventResult;
        if (this.addSale(sales, store, item, origin)) outcome = { seq: item.seq, outcome: 'applied' };
        else {
          write();
          outcome = within(b.origin, () => this.applyOne(store, agentId, item));
        }
        applied.add(item.id);
        marks.push(appliedMark(b, item, outcome));
        observed.push(observation(store, item, outcome));
        results.push(outcome);
        cursor = item.seq;
      }
      cursors.set(key, cursor);
      moves.push({ agentId, incarnation, store, lastSeq: cursor });
      outcomes.push({ ok: true, result: { upTo, results } });
    }
    write();
    this.cursors.setCursors(moves);
    return outcomes;
  }

  /**
   * Adds `item` to the batch of sales when it is a sale the batch can take as it stands: its body
   * valid, its receipt not used. False for anything else — `applyOne` then applies (or refuses) it.
   */
  private addSale(sales: SaleBatch, store: string, item: WireEvent, origin: string | null): boolean {
    if (item.kind !== 'sale') return false;
    const parsed = EventBodies.sale.safeParse(item.body, { reportInput: true });
    if (!parsed.success) return false;
    try {
      sales.add(store, item.register, 'store', parsed.data, item.id, origin);
      return true;
    } catch (err) {
      if (err instanceof Refusal) return false;
      throw err;
    }
  }

  /** One batch in its own savepoint (a transaction of its own outside one). */
  private applyInSavepoint(b: BatchInput, observed: Parameters<AppliedObserver>[0][]): BatchOutcome {
    const { store, agentId, incarnation, items } = b;
    let current: WireEvent | undefined;
    const seen: Parameters<AppliedObserver>[0][] = [];
    try {
      const result = this.storage.savepoint(() => {
        let cursor = this.cursors.incarnation(agentId, incarnation)?.lastSeq ?? 0;
        const results: EventResult[] = [];
        let upTo = 0;
        for (const item of [...items].sort((a, b) => a.seq - b.seq)) {
          upTo = item.seq;
          if (this.cursors.wasApplied(item.id)) {
            results.push({ seq: item.seq, outcome: 'duplicate' });
            cursor = Math.max(cursor, item.seq);
            continue;
          }
          if (item.seq <= cursor) throw new ForkedHistory(item.seq, item.id, cursor);
          current = item;
          const outcome = this.applyOne(store, agentId, item);
          this.cursors.markApplied(appliedMark(b, item, outcome));
          seen.push(observation(store, item, outcome));
          results.push(outcome);
          cursor = item.seq;
        }
        this.cursors.setCursor(agentId, incarnation, store, cursor);
        return { upTo, results };
      });
      observed.push(...seen);
      return { ok: true, result };
    } catch (error) {
      if (current && !(error instanceof ForkedHistory)) this.countFailure(agentId, current.id, error);
      return { ok: false, error };
    }
  }

  private applyOne(store: string, agentId: string, item: WireEvent): EventResult {
    const schema = (EventBodies as Record<string, (typeof EventBodies)[keyof typeof EventBodies]>)[item.kind];
    if (!schema) return this.refuse(store, item, ExceptionCodes.UNKNOWN_KIND, `unknown event kind "${item.kind}"`);
    const parsed = schema.safeParse(item.body, { reportInput: true });
    if (!parsed.success)
      return this.refuse(store, item, ExceptionCodes.INVALID_EVENT, describeZodError(parsed.error, 'body').join('; '));
    try {
      // a savepoint: a refused event leaves no partial effect behind
      const out: EventOutcome = this.storage.savepoint(() => {
        switch (item.kind) {
          case 'sale':
            this.sales.record(store, item.register, 'store', parsed.data as SaleEventBody, item.id);
            return {};
          case 'return.decision':
            return this.reconciler.apply(store, item.register, parsed.data as ReturnDecisionEventBody);
          case 'return.complete': {
            const body = parsed.data as ReturnCompleteEventBody;
            const out = this.completion.complete(store, item.register, body);
            // a completed return's business day is the agent's time of its completion (docs/reconciliation.md)
            this.days?.returnCompleted(body.authorization, item.register, item.at);
            return out;
          }
          case 'return.cancel':
            return this.completion.cancel(store, item.register, parsed.data as ReturnCancelEventBody);
          case 'day.close':
            if (!this.days) throw new Refusal(ExceptionCodes.UNKNOWN_KIND, 'day.close is not reconciled by this hub');
            this.days.closed(store, item.register, parsed.data as DayCloseEventBody, item.id, item.at);
            return {};
          default:
            throw new Refusal(ExceptionCodes.UNKNOWN_KIND, `unknown event kind "${item.kind}"`);
        }
      });
      return out.exception
        ? { seq: item.seq, outcome: 'exception', code: out.exception }
        : { seq: item.seq, outcome: 'applied' };
    } catch (err) {
      if (err instanceof Refusal) return this.refuse(store, item, err.code, err.message, err.authorization);
      const attempts = (this.attemptsOf.get(item.id) as { attempts: number } | undefined)?.attempts ?? 0;
      if (attempts + 1 >= MAX_ATTEMPTS) {
        this.log.error({ store, seq: item.seq, err }, 'event failed repeatedly; set aside as an exception');
        this.forgetAttempts.run(item.id);
        return this.refuse(
          store,
          item,
          ExceptionCodes.INTERNAL_ERROR,
          `failed ${attempts + 1} times: ${(err as Error).message}`,
        );
      }
      throw err;
    }
  }

  /**
   * Counts an unexpected failure of the event (its batch was rolled back): a transaction of its
   * own, or a savepoint of the group's transaction, committed with the batches beside it.
   * Counts of events that later applied are forgotten a week on; a failure to count is logged.
   */
  private countFailure(agentId: string, eventId: string, err: unknown): void {
    const now = this.clock.now();
    try {
      this.storage.savepoint(() => {
        this.countAttempt.run({
          event: eventId,
          agent: agentId,
          error: String((err as Error | null | undefined)?.message ?? err).slice(0, 500),
          at: iso(now),
        });
        this.forgetOld.run(iso(now - 7 * 86_400_000));
      });
    } catch (e) {
      this.log.error({ eventId, err: e }, 'could not count a failed attempt at an event');
    }
  }

  private refuse(store: string, item: WireEvent, code: string, reason: string, authorization?: string): EventResult {
    const e: Parameters<Exceptions['record']>[0] = {
      store,
      register: item.register,
      eventId: item.id,
      kind: item.kind,
      code,
      reason,
      body: item.body,
    };
    if (authorization) e.authorization = authorization;
    this.exceptions.record(e);
    this.audit.append({
      actor: `store:${store}`,
      action: `${item.kind}.refused`,
      outcome: code,
      store,
      register: item.register,
      resource: authorization ? `return:${authorization}` : `event:${item.id}`,
      details: { reason, seq: item.seq },
    });
    this.log.warn({ store, seq: item.seq, kind: item.kind, code }, `event refused: ${reason}`);
    return { seq: item.seq, outcome: 'exception', code };
  }
}
