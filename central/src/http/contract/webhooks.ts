import * as z from 'zod/mini';
import { admin } from './route.js';

const nullableString = z.nullable(z.string());

/** An endpoint as the admin API shows it: never its secret. */
export const endpointView = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  /** null: every store */
  store: nullableString,
  state: z.enum(['enabled', 'disabled']),
  disabledAt: nullableString,
  disabledReason: nullableString,
  createdAt: z.string(),
  createdBy: z.string(),
  lastSuccessAt: nullableString,
  lastFailureAt: nullableString,
  /** the first failure since the last success; null while the endpoint is healthy */
  failingSince: nullableString,
  /** deliveries still to be attempted */
  openDeliveries: z.number(),
  /** while a rotation overlaps: until when the previous secret signs too */
  previousSecretExpiresAt: nullableString,
});

export const deliveryView = z.object({
  id: z.string(),
  webhook: z.string(),
  type: z.string(),
  /** the webhook-id header: the same for every attempt and redelivery of this event */
  messageId: z.string(),
  state: z.enum(['pending', 'failed', 'succeeded', 'abandoned']),
  attempts: z.number(),
  nextAttemptAt: nullableString,
  lastAttemptAt: nullableString,
  lastStatus: z.nullable(z.number()),
  lastError: nullableString,
  createdAt: z.string(),
});

const stateChange = (state: 'enabled' | 'disabled') =>
  z.object({ id: z.string(), changed: z.boolean(), state: z.literal(state) });

export const listWebhooks = admin.get('/webhooks', z.array(endpointView));

/** `{url, events, store}`: the answer holds the signing secret, shown once. */
export const addWebhook = admin.post(
  '/webhooks',
  z.object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    store: nullableString,
    secret: z.string(),
    warnings: z.array(z.string()),
  }),
);

export const listDeliveries = admin.get(
  '/webhooks/deliveries',
  z.array(deliveryView),
  z.object({ webhook: z.optional(z.string()), failed: z.optional(z.string()), limit: z.optional(z.coerce.number()) }),
);

export const showDelivery = admin.get('/webhooks/deliveries/:id', deliveryView);

export const redeliver = admin.post('/webhooks/deliveries/:id/redeliver', deliveryView);

export const showWebhook = admin.get('/webhooks/:id', endpointView);

export const removeWebhook = admin.delete('/webhooks/:id', z.object({ id: z.string(), removed: z.boolean() }));

export const testWebhook = admin.post(
  '/webhooks/:id/test',
  z.object({ id: z.string(), delivery: z.string(), messageId: z.string() }),
);

export const rotateWebhookSecret = admin.post(
  '/webhooks/:id/rotate-secret',
  z.object({ id: z.string(), secret: z.string(), previousSecretExpiresAt: nullableString }),
);

export const enableWebhook = admin.post('/webhooks/:id/enable', stateChange('enabled'));

/** `{reason?}` */
export const disableWebhook = admin.post('/webhooks/:id/disable', stateChange('disabled'));
