import { sortableId, type WebhookRepo } from './repo.js';
import type { WebhookEventType } from './events.js';

export interface Enqueued {
  messageId: string;
  deliveries: { id: string; webhook: string }[];
}

/**
 * Writes one event (its webhook-id and the exact body every attempt sends) and one delivery per
 * endpoint, due at once. Runs in the caller's transaction (part of it when nested).
 */
export function enqueue(
  repo: WebhookRepo,
  at: string,
  type: WebhookEventType,
  store: string | null,
  data: Record<string, unknown>,
  webhooks: string[],
  id?: string,
): Enqueued {
  const messageId = id ?? sortableId('msg');
  if (webhooks.length === 0) return { messageId, deliveries: [] };
  const body = JSON.stringify({ type, timestamp: at, data });
  return repo.tx(() => {
    repo.insertMessage(messageId, type, store, body, at);
    const deliveries = webhooks.map((webhook) => {
      const id = sortableId('dlv');
      repo.insertDelivery(id, webhook, messageId, at);
      return { id, webhook };
    });
    return { messageId, deliveries };
  });
}
