import type { DeliveryRow, DeliveryState, EndpointRow } from './repo.js';

/** An endpoint as the admin API shows it: never its secret. */
export interface EndpointView {
  id: string;
  url: string;
  events: string[];
  /** null: every store. */
  store: string | null;
  state: 'enabled' | 'disabled';
  disabledAt: string | null;
  disabledReason: string | null;
  createdAt: string;
  createdBy: string;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** The first failure since the last success; null while the endpoint is healthy. */
  failingSince: string | null;
  /** Deliveries still to be attempted (pending or failed, waiting for their retry). */
  openDeliveries: number;
  /** While a rotation overlaps: until when the previous secret signs too. */
  previousSecretExpiresAt: string | null;
}

export interface DeliveryView {
  id: string;
  webhook: string;
  type: string;
  /** The webhook-id header: the same for every attempt and redelivery of this event. */
  messageId: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
}

export interface DisabledEndpoint {
  id: string;
  url: string;
  store: string | null;
  disabledAt: string;
  reason: string;
}

export function endpointView(r: EndpointRow, open: number, now: string): EndpointView {
  return {
    id: r.id,
    url: r.url,
    events: JSON.parse(r.events) as string[],
    store: r.store,
    state: r.disabled_at ? 'disabled' : 'enabled',
    disabledAt: r.disabled_at,
    disabledReason: r.disabled_reason,
    createdAt: r.created_at,
    createdBy: r.created_by,
    lastSuccessAt: r.last_success_at,
    lastFailureAt: r.last_failure_at,
    failingSince: r.failing_since,
    openDeliveries: open,
    previousSecretExpiresAt:
      r.prev_secret_expires_at && r.prev_secret_expires_at > now ? r.prev_secret_expires_at : null,
  };
}

export function deliveryView(r: DeliveryRow): DeliveryView {
  return {
    id: r.id,
    webhook: r.webhook,
    type: r.type,
    messageId: r.message,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastAttemptAt: r.last_attempt_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    createdAt: r.created_at,
  };
}
