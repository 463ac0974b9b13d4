import {
  describeZodError,
  EventBodies,
  type EventResult,
  type Logger,
  type ReturnCancelEventBody,
  type ReturnCompleteEventBody,
  type ReturnDecisionEventBody,
  type SaleEventBody,
  type WireEvent,
} from '@tillbridge/shared';
import type { HubStorage } from '../storage/sqlite.js';
import type { AuditLog } from './audit-log.js';
import type { ChangeFeed } from './change-feed.js';
import type { Cursors } from './cursors.js';
import type { Exceptions } from './exceptions.js';
import { ExceptionCodes, Refusal } from './refusal.js';
import type { OfflineReconciler } from './offline-reconciler.js';
import type { EventOutcome, ReturnCompletion } from './return-completion.js';
import type { SaleService } from './sale-service.js';

export interface BatchResult {
  upTo: number;
  results: EventResult[];
}

export interface AppliedObserver {
  (e: { store: string; kind: string; agentAt: string; outcome: EventResult['outcome'] }): void;
}

/** Attempts at one event failing for an unexpected reason before it is set aside as an exception. */
const MAX_ATTEMPTS = 5;

/**
 * Applies a batch of an agent's events in one transaction, exactly once each (DESIGN rule 2):
 * the agent's cursor moves in the same transaction as the effects; a seq at or below the
 * cursor, or an event id seen before, is skipped. A permanent refusal is acknowledged and kept
 * as an exception (rule 3); an unexpected failure rolls the batch back for a retry, and after
 * MAX_ATTEMPTS the event is set aside as an `internal_error` exception so the queue moves on.
 */
export class EventApplier {
  private readonly attempts = new Map<string, number>();
  private observer: AppliedObserver | undefined;

  constructor(
    private readonly s: HubStorage,
    private readonly cursors: Cursors,
    private readonly sales: SaleService,
    private readonly reconciler: OfflineReconciler,
    private readonly completion: ReturnCompletion,
    private readonly exceptions: Exceptions,
    private readonly audit: AuditLog,
    private readonly feed: ChangeFeed,
    private readonly log: Logger,
  ) {}

  onApplied(o: AppliedObserver): void {
    this.observer = o;
  }

  applyBatch(store: string, agentId: string, items: WireEvent[]): BatchResult {
    let current: WireEvent | undefined;
    const observed: { kind: string; agentAt: string; outcome: EventResult['outcome'] }[] = [];
    try {
      const result = this.s.tx(() => {
        const c = this.cursors.cursor(agentId);
        let cursor = c?.lastSeq ?? 0;
        const results: EventResult[] = [];
        for (const item of [...items].sort((a, b) => a.seq - b.seq)) {
          if (item.seq <= cursor) {
            results.push({ seq: item.seq, outcome: 'duplicate' });
            continue;
          }
          current = item;
          let outcome: EventResult;
          if (this.cursors.wasApplied(item.id)) {
            outcome = { seq: item.seq, outcome: 'duplicate' };
          } else {
            outcome = this.applyOne(store, agentId, item);
            this.cursors.markApplied({
              eventId: item.id,
              store,
              agentId,
              seq: item.seq,
              kind: item.kind,
              register: item.register,
              outcome: outcome.outcome,
              code: outcome.code ?? null,
              agentAt: item.at,
            });
            observed.push({ kind: item.kind, agentAt: item.at, outcome: outcome.outcome });
          }
          results.push(outcome);
          cursor = item.seq;
        }
        this.cursors.setCursor(agentId, store, cursor);
        return { upTo: cursor, results };
      });
      this.feed.publish();
      for (const o of observed) this.observer?.({ store, ...o });
      return result;
    } catch (err) {
      this.feed.discard();
      if (current) {
        const key = `${agentId}:${current.seq}`;
        this.attempts.set(key, (this.attempts.get(key) ?? 0) + 1);
      }
      throw err;
    }
  }

  private applyOne(store: string, agentId: string, item: WireEvent): EventResult {
    const schema = (EventBodies as Record<string, (typeof EventBodies)[keyof typeof EventBodies]>)[item.kind];
    if (!schema) return this.refuse(store, item, ExceptionCodes.UNKNOWN_KIND, `unknown event kind "${item.kind}"`);
    const parsed = schema.safeParse(item.body, { reportInput: true });
    if (!parsed.success) return this.refuse(store, item, ExceptionCodes.INVALID_EVENT, describeZodError(parsed.error, 'body').join('; '));
    try {
      // a savepoint: a refused event leaves no partial effect behind
      const out: EventOutcome = this.s.savepoint(() => {
        switch (item.kind) {
          case 'sale':
            this.sales.record(store, item.register, 'store', parsed.data as SaleEventBody, item.id);
            return {};
          case 'return.decision':
            return this.reconciler.apply(store, item.register, parsed.data as ReturnDecisionEventBody);
          case 'return.complete':
            return this.completion.complete(store, item.register, parsed.data as ReturnCompleteEventBody);
          case 'return.cancel':
            return this.completion.cancel(store, item.register, parsed.data as ReturnCancelEventBody);
          default:
            throw new Refusal(ExceptionCodes.UNKNOWN_KIND, `unknown event kind "${item.kind}"`);
        }
      });
      return out.exception ? { seq: item.seq, outcome: 'exception', code: out.exception } : { seq: item.seq, outcome: 'applied' };
    } catch (err) {
      if (err instanceof Refusal) return this.refuse(store, item, err.code, err.message, err.authorization);
      const attempts = this.attempts.get(`${agentId}:${item.seq}`) ?? 0;
      if (attempts + 1 >= MAX_ATTEMPTS) {
        this.log.error({ store, seq: item.seq, err: (err as Error).message }, 'event failed repeatedly; set aside as an exception');
        return this.refuse(store, item, ExceptionCodes.INTERNAL_ERROR, `failed ${attempts + 1} times: ${(err as Error).message}`);
      }
      throw err;
    }
  }

  private refuse(store: string, item: WireEvent, code: string, reason: string, authorization?: string): EventResult {
    const e: Parameters<Exceptions['record']>[0] = { store, register: item.register, eventId: item.id, kind: item.kind, code, reason, body: item.body };
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
