import { TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import type { HubStorage } from '../storage/index.js';
import { Dispatcher, type AttemptOutcome, type AttemptReport } from './dispatcher.js';
import { WebhookEndpoints, type NewEndpoint } from './endpoints.js';
import { isWebhookEventType, type WebhookEvent, type WebhookEventType } from './events.js';
import { httpSender, type WebhookSender } from './http-sender.js';
import { enqueue } from './messages.js';
import { shortId, WebhookRepo } from './repo.js';
import { SecretBox } from './secret-box.js';
import type { DeliveryView, DisabledEndpoint, EndpointView } from './views.js';

export type { WebhookEventType, WebhookEvent } from './events.js';
export type { AttemptOutcome, AttemptReport } from './dispatcher.js';
export type { DeliveryView, DisabledEndpoint, EndpointView } from './views.js';
export type { NewEndpoint } from './endpoints.js';

export interface WebhooksOptions {
  storage: HubStorage;
  audit: AuditLog;
  clock: Clock;
  log: Logger;
  /** 32 bytes; endpoint secrets are sealed at rest (AES-256-GCM) under a key derived from it. */
  sealKey: Buffer;
  /** Per-request timeout (default 15 000 ms). */
  timeoutMs?: number;
  /** How often the loop looks for due deliveries (default 1000 ms). */
  pollMs?: number;
  /** How long `stop()` waits for attempts in flight before cutting them short (default 3000 ms). */
  drainMs?: number;
  /** Sends one request (default: got). */
  send?: WebhookSender;
  /** For the retry jitter (default Math.random). */
  random?: () => number;
  /** The user-agent header (default "tillbridge-hub"). */
  userAgent?: string;
  /** How long a delivery stays leased to the process attempting it (default: the timeout + 60 s). */
  leaseMs?: number;
}

/**
 * Webhooks on the hub's events, following Standard Webhooks 1.0: signed with each endpoint's
 * `whsec_` secret, queued durably by `emit` inside the caller's transaction, delivered by a loop
 * that retries on a schedule, honours Retry-After, and disables endpoints that are gone (410) or
 * have been failing for 5 days.
 */
export class Webhooks {
  private readonly repo: WebhookRepo;
  private readonly endpoints: WebhookEndpoints;
  private readonly dispatcher: Dispatcher;
  private readonly clock: Clock;
  private readonly storage: HubStorage;
  private subscribed: { tx: number; byStore: Map<string | null, { id: string; events: string[] }[]> } | undefined;

  constructor(opts: WebhooksOptions) {
    this.clock = opts.clock;
    this.storage = opts.storage;
    this.repo = new WebhookRepo(opts.storage);
    const box = new SecretBox(opts.sealKey);
    const log = opts.log.child({ part: 'webhooks' });
    this.endpoints = new WebhookEndpoints(this.repo, box, opts.audit, opts.clock, log, () =>
      this.storage.afterCommit(() => this.dispatcher.wake()),
    ); // after the commit of the caller's unit of work
    this.dispatcher = new Dispatcher(
      { repo: this.repo, box, endpoints: this.endpoints, clock: opts.clock, log },
      {
        send: opts.send ?? httpSender,
        timeoutMs: opts.timeoutMs ?? 15_000,
        pollMs: opts.pollMs ?? 1000,
        drainMs: opts.drainMs ?? 3000,
        random: opts.random ?? Math.random,
        userAgent: opts.userAgent ?? 'tillbridge-hub',
        leaseMs: opts.leaseMs ?? (opts.timeoutMs ?? 15_000) + 60_000,
        owner: shortId('hp', 12),
      },
    );
  }

  /**
   * Call INSIDE the caller's transaction: one durable delivery per enabled endpoint subscribed to
   * `type` (and to this store, or to every store), all with one webhook-id. No endpoint, no row.
   */
  emit(e: WebhookEvent): void {
    if (!isWebhookEventType(e.type)) throw new TbError(TbCodes.INVALID, `unknown webhook event type ${String(e.type)}`);
    const targets = this.subscribers(e.store)
      .filter((s) => s.events.includes(e.type))
      .map((s) => s.id);
    if (targets.length === 0) return;
    enqueue(this.repo, iso(this.clock.now()), e.type, e.store, e.data, targets, e.id);
    this.storage.afterCommit(() => this.dispatcher.wake()); // what it would send is there once committed
  }

  /** Whether an enabled endpoint would receive `type` for `store` (so the caller can skip building the event). */
  wants(type: WebhookEventType, store: string | null): boolean {
    return this.subscribers(store).some((s) => s.events.includes(type));
  }

  /**
   * The enabled endpoints for `store`: read once per transaction and store (a group commit asks
   * for every sale and every movement, each a round trip on PostgreSQL), afresh in the next one.
   * A change of the endpoints through this object forgets what was read.
   */
  private subscribers(store: string | null): { id: string; events: string[] }[] {
    const tx = this.storage.transactionId();
    const read = () =>
      this.repo.subscribers(store).map((s) => ({ id: s.id, events: JSON.parse(s.events) as string[] }));
    if (tx === undefined) return read();
    if (this.subscribed?.tx !== tx) this.subscribed = { tx, byStore: new Map() };
    let subs = this.subscribed.byStore.get(store);
    if (!subs) this.subscribed.byStore.set(store, (subs = read()));
    return subs;
  }

  /** Runs the delivery loop until `stop()`. */
  start(): void {
    this.dispatcher.start();
  }

  stop(): Promise<void> {
    return this.dispatcher.stop();
  }

  /** One pass over what is due now; resolves with the number of attempts once they finished. */
  runDue(): Promise<number> {
    return this.dispatcher.runDue();
  }

  /** Attempts since the hub started, by outcome, and the deliveries still open now (for metrics). */
  outcomes(): Record<AttemptOutcome | 'pending', number> {
    return { ...this.dispatcher.attemptCounts(), pending: this.repo.openTotal() };
  }

  /** Hears every attempt (e.g. a prom-client counter by outcome, a histogram of durationMs). */
  onAttempt(listener: (a: AttemptReport) => void): void {
    this.dispatcher.onAttempt(listener);
  }

  /** Endpoints no longer delivered to, and why (for `tillbridge-hub status`). */
  disabledEndpoints(): DisabledEndpoint[] {
    return this.endpoints.disabledEndpoints();
  }

  // ---- operators (admin API / CLI); `actor` is who did it, for the audit log

  add(input: { url: unknown; events: unknown; store?: unknown }, actor: string): NewEndpoint {
    this.subscribed = undefined;
    return this.endpoints.add(input, actor);
  }
  remove(id: string, actor: string): void {
    this.subscribed = undefined;
    this.endpoints.remove(id, actor);
  }
  list(): EndpointView[] {
    return this.endpoints.list();
  }
  get(id: string): EndpointView {
    return this.endpoints.get(id);
  }
  rotateSecret(
    id: string,
    overlapMs: number,
    actor: string,
  ): { id: string; secret: string; previousSecretExpiresAt: string | null } {
    this.subscribed = undefined;
    return this.endpoints.rotateSecret(id, overlapMs, actor);
  }
  enable(id: string, actor: string): boolean {
    this.subscribed = undefined;
    return this.endpoints.enable(id, actor);
  }
  disable(id: string, reason: string, actor: string): boolean {
    this.subscribed = undefined;
    return this.endpoints.disable(id, reason, actor);
  }
  test(id: string, actor: string): { delivery: string; messageId: string } {
    return this.endpoints.test(id, actor);
  }
  deliveries(filter: { webhook?: string | null; failed?: boolean; limit?: number }): DeliveryView[] {
    return this.endpoints.deliveries(filter);
  }
  delivery(id: string): DeliveryView {
    return this.endpoints.delivery(id);
  }
  redeliver(id: string, actor: string): DeliveryView {
    return this.endpoints.redeliver(id, actor);
  }
}
