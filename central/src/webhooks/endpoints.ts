import { TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import { STORE_ID } from '../domain/stores.js';
import { checkEndpointUrl, checkEventList } from './endpoint-input.js';
import { enqueue } from './messages.js';
import { shortId, type EndpointRow, type WebhookRepo } from './repo.js';
import type { SecretBox } from './secret-box.js';
import { newWebhookSecret } from './signing.js';
import { deliveryView, endpointView, type DeliveryView, type DisabledEndpoint, type EndpointView } from './views.js';

const DAY = 86_400_000;
export const MAX_OVERLAP_MS = 30 * DAY;

export interface NewEndpoint {
  id: string;
  url: string;
  events: string[];
  store: string | null;
  /** `whsec_…`: shown once, kept sealed. */
  secret: string;
  warnings: string[];
}

/** The operators' side of webhooks: endpoints, their secrets and state, deliveries. Every change audited. */
export class WebhookEndpoints {
  constructor(
    private readonly repo: WebhookRepo,
    private readonly box: SecretBox,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly wake: () => void,
  ) {}

  add(input: { url: unknown; events: unknown; store?: unknown }, actor: string): NewEndpoint {
    const { url, warnings } = checkEndpointUrl(input.url);
    const events = checkEventList(input.events);
    const store = input.store ?? null;
    if (store !== null && (typeof store !== 'string' || !STORE_ID.test(store)))
      throw new TbError(TbCodes.INVALID, 'store: expected a store id, or nothing for every store');
    const secret = newWebhookSecret();
    const id = shortId('wh', 10);
    this.repo.tx(() => {
      this.repo.insertEndpoint({
        id,
        url,
        events: JSON.stringify(events),
        store,
        secret_enc: this.box.seal(secret),
        created_at: this.now(),
        created_by: actor,
      });
      this.audited(actor, 'webhook.add', 'created', { id, store }, { url, events });
    });
    return { id, url, events, store, secret, warnings };
  }

  remove(id: string, actor: string): void {
    this.repo.tx(() => {
      const ep = this.need(id);
      this.repo.deleteEndpoint(id);
      this.audited(actor, 'webhook.remove', 'removed', ep, { url: ep.url });
    });
  }

  list(): EndpointView[] {
    const open = this.repo.openCounts();
    const now = this.now();
    return this.repo.endpoints().map((r) => endpointView(r, open.get(r.id) ?? 0, now));
  }

  get(id: string): EndpointView {
    return endpointView(this.need(id), this.repo.openCounts().get(id) ?? 0, this.now());
  }

  /** A new secret; for `overlapMs` the previous one signs too (both signatures in webhook-signature). */
  rotateSecret(
    id: string,
    overlapMs: number,
    actor: string,
  ): { id: string; secret: string; previousSecretExpiresAt: string | null } {
    if (!Number.isInteger(overlapMs) || overlapMs < 0 || overlapMs > MAX_OVERLAP_MS)
      throw new TbError(TbCodes.INVALID, 'overlap: expected 0 to 30 days');
    const secret = newWebhookSecret();
    const until = overlapMs > 0 ? iso(this.clock.now() + overlapMs) : null;
    this.repo.tx(() => {
      const ep = this.need(id);
      this.repo.setSecrets(id, this.box.seal(secret), until ? ep.secret_enc : null, until);
      this.audited(actor, 'webhook.rotate_secret', 'rotated', ep, { overlapMs, previousSecretExpiresAt: until });
    });
    return { id, secret, previousSecretExpiresAt: until };
  }

  /** Stops deliveries to the endpoint: the ones still open are abandoned (redeliver them after `enable`). */
  disable(id: string, reason: string, actor: string): boolean {
    return this.repo.tx(() => {
      const ep = this.need(id);
      if (!this.repo.disable(id, this.now(), reason)) return false;
      const abandoned = this.repo.abandonOpen(id, `endpoint disabled: ${reason}`);
      this.audited(actor, 'webhook.disable', 'disabled', ep, { url: ep.url, reason, abandoned });
      this.log.warn({ webhook: id, url: ep.url, reason, abandoned }, 'webhook endpoint disabled');
      return true;
    });
  }

  enable(id: string, actor: string): boolean {
    return this.repo.tx(() => {
      const ep = this.need(id);
      if (!this.repo.enable(id)) return false;
      this.audited(actor, 'webhook.enable', 'enabled', ep, { url: ep.url, wasDisabledFor: ep.disabled_reason });
      return true;
    });
  }

  /** Audits a change to endpoint `ep`: resource `webhook:<id>`, of its store (null: every store). */
  private audited(
    actor: string,
    action: string,
    outcome: string,
    ep: Pick<EndpointRow, 'id' | 'store'>,
    details: Record<string, unknown>,
  ): void {
    this.audit.append({ actor, action, outcome, store: ep.store, resource: `webhook:${ep.id}`, details });
  }

  disabledEndpoints(): DisabledEndpoint[] {
    return this.repo.disabled().map((r) => ({
      id: r.id,
      url: r.url,
      store: r.store,
      disabledAt: r.disabled_at ?? '', // the query reads only disabled ones
      reason: r.disabled_reason ?? '',
    }));
  }

  /** A `webhook.test` event to this endpoint only, whatever it subscribes to. */
  test(id: string, actor: string): { delivery: string; messageId: string } {
    const r = this.repo.tx(() => {
      const ep = this.enabled(id);
      const at = this.now();
      const q = enqueue(
        this.repo,
        at,
        'webhook.test',
        ep.store,
        { webhook: id, requestedBy: actor, message: 'A test event from tillbridge-hub.' },
        [id],
      );
      this.audited(actor, 'webhook.test', 'queued', ep, { messageId: q.messageId });
      const delivery = q.deliveries[0];
      if (!delivery) throw new TbError(TbCodes.INTERNAL, `the test event to ${id} was queued for no endpoint`);
      return { delivery: delivery.id, messageId: q.messageId };
    });
    this.wake();
    return r;
  }

  deliveries(filter: { webhook?: string | null; failed?: boolean; limit?: number }): DeliveryView[] {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw new TbError(TbCodes.INVALID, 'limit: expected 1 to 10000');
    if (filter.webhook) this.need(filter.webhook);
    return this.repo.deliveries(filter.webhook ?? null, Boolean(filter.failed), limit).map(deliveryView);
  }

  delivery(id: string): DeliveryView {
    const d = this.repo.delivery(id);
    if (!d) throw new TbError(TbCodes.NOT_FOUND, `delivery ${id} not found`);
    return deliveryView(d);
  }

  /** A new attempt now, with the same webhook-id; the retry schedule starts over. */
  redeliver(id: string, actor: string): DeliveryView {
    const view = this.repo.tx(() => {
      const d = this.delivery(id);
      const ep = this.enabled(d.webhook);
      this.repo.requeue(id, this.now());
      this.audit.append({
        actor,
        action: 'webhook.redeliver',
        outcome: 'queued',
        store: ep.store,
        resource: `webhook-delivery:${id}`,
        details: { webhook: d.webhook, messageId: d.messageId, previousState: d.state },
      });
      return this.delivery(id);
    });
    this.wake();
    return view;
  }

  private need(id: string): EndpointRow {
    const ep = this.repo.endpoint(id);
    if (!ep) throw new TbError(TbCodes.NOT_FOUND, `webhook ${id} not found`);
    return ep;
  }

  private enabled(id: string): EndpointRow {
    const ep = this.need(id);
    if (ep.disabled_at)
      throw new TbError(
        TbCodes.CONFLICT,
        `webhook ${id} is disabled (${ep.disabled_reason}); enable it first: tillbridge-hub webhooks enable ${id}`,
      );
    return ep;
  }

  private now(): string {
    return iso(this.clock.now());
  }
}
