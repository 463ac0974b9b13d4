import { fromMilli } from '@tillbridge/shared';
import type { WebhookEvent, WebhookEventType } from '../webhooks/events.js';
import { sortableId } from '../webhooks/repo.js';
import type { ReturnRow, ReturnsRepo } from './returns-repo.js';
import type { Sales } from './sales.js';
import { ticketHeader } from './return-ticket.js';

/** An event as the domain announces it: with its id, the same on every way out (feed, webhooks, broker). */
export type HubEvent = WebhookEvent & { id: string };
interface Sink {
  /** A sink that records everything that happened (the ERP feed), whatever is announced elsewhere. */
  records?: boolean;
  /** Whether this sink takes `type` for `store`: nothing is built for an event nobody takes. */
  wants(type: WebhookEventType, store: string | null): boolean;
  take(e: HubEvent): void;
  /** Gathers what `fn` makes it take and writes it together when `fn` returns (see `HubEvents.together`). */
  together?<T>(fn: () => T): T;
}

/**
 * Where the domain says what happened, for the ERP feed and webhooks: called INSIDE the
 * transaction that made the change, so what is announced is exactly what committed (a rolled-back
 * change announces nothing: feed entries and webhook deliveries are rows of the same transaction).
 */
export class HubEvents {
  private readonly sinks: Sink[] = [];
  private returns: ReturnsRepo | undefined;
  private sales: Sales | undefined;
  private refusedWebhooks: (store: string) => boolean = () => true;

  /**
   * Lets `returnChanged` read tickets; `refusedWebhooks`: whether a store's refused events are announced (sync setting
   * refusedEvents).
   */
  bind(returns: ReturnsRepo, sales: Sales, refusedWebhooks?: (store: string) => boolean): void {
    this.returns = returns;
    this.sales = sales;
    if (refusedWebhooks) this.refusedWebhooks = refusedWebhooks;
  }

  attach(sink: Sink): void {
    this.sinks.push(sink);
  }

  /**
   * Whether any sink takes `type` for `store` (what is announced to nobody need not be committed with an announcement).
   */
  wants(type: WebhookEventType, store: string | null): boolean {
    return this.sinks.some((s) => s.wants(type, store));
  }

  /**
   * Runs `fn` with what it emits gathered by the sinks that can write in groups (the feed) and
   * written together when it returns, nothing when it throws: for the group commit, where each row
   * is a round trip on PostgreSQL. `fn` must not roll back a savepoint and go on.
   */
  together<T>(fn: () => T): T {
    let run = fn;
    for (const s of this.sinks) {
      if (!s.together) continue;
      const together = s.together.bind(s);
      const inner = run;
      run = () => together(inner);
    }
    return run();
  }

  /** `data` is built only when a sink takes the event (the hot paths announce on every sale and decision). */
  emit(
    type: WebhookEventType,
    store: string | null,
    data: () => Record<string, unknown>,
    opts: { recordOnly?: boolean } = {},
  ): void {
    const takers = this.sinks.filter((s) => (!opts.recordOnly || s.records === true) && s.wants(type, store));
    if (takers.length === 0) return;
    const e: HubEvent = { id: sortableId('evt'), type, store, data: data() };
    for (const s of takers) s.take(e);
  }

  /**
   * An exception was recorded. refused: an agent's event the hub could not apply (on the feed
   * always, by webhook as the store's refusedEvents setting says); flagged: a return kept, but
   * against the rules (always).
   */
  exceptionRecorded(origin: 'refused' | 'flagged', store: string, data: () => Record<string, unknown>): void {
    // the feed records every exception; webhooks announce a refused event only as the store's setting says
    this.emit('return.exception', store, () => ({ ...data(), origin }), {
      recordOnly: origin === 'refused' && !this.refusedWebhooks(store),
    });
  }

  /** A return ticket as it is now (decision, status, lines), with `extra` fields. */
  returnChanged(
    type: Extract<WebhookEventType, `return.${string}`>,
    authorization: string,
    extra: Record<string, unknown> = {},
  ): void {
    const returns = this.returns;
    if (!returns) return;
    const r = returns.get(authorization);
    if (!r) return;
    this.emit(type, r.store, () => ({ ...this.ticket(returns, r), ...extra }));
  }

  /**
   * return.authorized, return.denied — or nothing while a manager's override is still needed. `extra`: fields added to
   * the ticket (the hub's decision latency, `latencyMs`, on an online decision).
   */
  decided(authorization: string, decision: string, extra: Record<string, unknown> = {}): void {
    if (decision === 'approved' || decision === 'conditional')
      this.returnChanged('return.authorized', authorization, extra);
    else if (decision === 'denied') this.returnChanged('return.denied', authorization, extra);
  }

  private ticket(returns: ReturnsRepo, r: ReturnRow): Record<string, unknown> {
    const sold = new Map(this.sales?.ofReturn(r)?.lines.map((l) => [l.line, l.sku]) ?? []);
    return {
      ...ticketHeader(r),
      reason: r.reason,
      refund: r.refund_amount === null ? null : { amount: r.refund_amount, kind: r.refund_kind },
      conditions: JSON.parse(r.conditions) as unknown,
      policyVersion: r.policy_version,
      reconciliation: r.reconciliation,
      exception: r.exception_code,
      override: r.override_by ? { manager: r.override_by, at: r.override_at } : null,
      lines: returns.lines(r.authorization).map((l) => ({
        line: l.line > 0 ? l.line : null,
        sku: sold.get(l.line) ?? l.asked_sku,
        requestedQty: fromMilli(l.requested_qty),
        approvedQty: fromMilli(l.approved_qty),
        completedQty: fromMilli(l.completed_qty),
        disposition: l.disposition,
        code: l.code,
      })),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }
}
