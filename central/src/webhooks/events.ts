/** What the hub sends webhooks about. `webhook.test` is sent only by `webhooks test ID`. */
export const WEBHOOK_EVENT_TYPES = [
  'sale.recorded',
  'return.authorized',
  'return.denied',
  'return.completed',
  'return.cancelled',
  'return.exception',
  'return.resolved',
  'terminal.status',
  'inventory.adjusted',
  'day.reconciled',
  'day.discrepancy',
  'webhook.test',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The types an endpoint may subscribe to (every type but `webhook.test`). */
export const SUBSCRIBABLE_EVENT_TYPES: readonly WebhookEventType[] = WEBHOOK_EVENT_TYPES.filter(
  (t) => t !== 'webhook.test',
);

export function isWebhookEventType(v: unknown): v is WebhookEventType {
  return typeof v === 'string' && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(v);
}

/** An event as the rest of the hub emits it. `store: null` reaches only endpoints for all stores. */
export interface WebhookEvent {
  /**
   * The event's id for ever: the webhook-id of its deliveries, the feed entry's id, the AMQP message-id. Absent: a new
   * one.
   */
  id?: string;
  type: WebhookEventType;
  store: string | null;
  data: Record<string, unknown>;
}
