import { randomBytes } from 'node:crypto';
import type { HubStorage, Statement } from '../storage/index.js';
import { crockfordBase32, newId } from '@tillbridge/shared';

export interface EndpointRow {
  id: string;
  url: string;
  events: string;
  store: string | null;
  secret_enc: string;
  prev_secret_enc: string | null;
  prev_secret_expires_at: string | null;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  disabled_reason: string | null;
  last_success_at: string | null;
  last_failure_at: string | null;
  failing_since: string | null;
}

export type DeliveryState = 'pending' | 'failed' | 'succeeded' | 'abandoned';

export interface DeliveryRow {
  id: string;
  webhook: string;
  message: string;
  type: string;
  state: DeliveryState;
  attempts: number;
  retry_step: number;
  next_attempt_at: string | null;
  created_at: string;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
}

/** A due delivery with what is needed to send it. */
export interface DueRow {
  id: string;
  webhook: string;
  message: string;
  type: string;
  body: string;
  attempts: number;
  retry_step: number;
}

export interface AttemptUpdate {
  id: string;
  /** The attempts count read before sending: the update applies only if nobody recorded an attempt since. */
  attemptsBefore: number;
  state: DeliveryState;
  retryStep: number;
  nextAttemptAt: string | null;
  at: string;
  status: number | null;
  error: string | null;
}

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** `prefix_` + n random Crockford base32 characters (5 bits each). */
export function shortId(prefix: string, n: number): string {
  return `${prefix}_${[...randomBytes(n)].map((b) => ALPHABET[b & 31]).join('')}`;
}

/** `prefix_` + a UUID v7 in Crockford base32 (26 characters): unique, and sorts in creation order. */
export function sortableId(prefix: string): string {
  return `${prefix}_${crockfordBase32(Buffer.from(newId().replaceAll('-', ''), 'hex'))}`;
}

const OPEN = `('pending', 'failed')`;
/** A delivery an attempt may still be in flight for: open, or abandoned during its attempt (its endpoint disabled). */
const MAY_BE_IN_FLIGHT = `('pending', 'failed', 'abandoned')`;
const DELIVERY_COLS = `d.id, d.webhook, d.message, m.type, d.state, d.attempts, d.retry_step, d.next_attempt_at,
  d.created_at, d.last_attempt_at, d.last_status, d.last_error`;

function prepare(s: HubStorage) {
  const p = (sql: string): Statement => s.db.prepare(sql);
  return {
    insertEndpoint: p(
      `INSERT INTO webhooks (id, url, events, store, secret_enc, created_at, created_by)
       VALUES (@id, @url, @events, @store, @secret_enc, @created_at, @created_by)`,
    ),
    endpoint: p(`SELECT * FROM webhooks WHERE id = ?`),
    endpoints: p(`SELECT * FROM webhooks ORDER BY created_at, id`),
    openCounts: p(`SELECT webhook, COUNT(*) AS n FROM webhook_deliveries WHERE state IN ${OPEN} GROUP BY webhook`),
    deleteDeliveries: p(`DELETE FROM webhook_deliveries WHERE webhook = ?`),
    deleteEndpoint: p(`DELETE FROM webhooks WHERE id = ?`),
    subscribers: p(
      `SELECT id, events FROM webhooks WHERE disabled_at IS NULL AND (store IS NULL OR store = ?) ORDER BY id`,
    ),
    setSecrets: p(`UPDATE webhooks SET secret_enc = ?, prev_secret_enc = ?, prev_secret_expires_at = ? WHERE id = ?`),
    disable: p(`UPDATE webhooks SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL`),
    enable: p(
      `UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL
       WHERE id = ? AND disabled_at IS NOT NULL`,
    ),
    success: p(`UPDATE webhooks SET last_success_at = ?, failing_since = NULL WHERE id = ?`),
    failure: p(`UPDATE webhooks SET last_failure_at = ?, failing_since = COALESCE(failing_since, ?) WHERE id = ?`),
    disabledList: p(`SELECT * FROM webhooks WHERE disabled_at IS NOT NULL ORDER BY disabled_at, id`),
    insertMessage: p(`INSERT INTO webhook_messages (id, type, store, body, created_at) VALUES (?, ?, ?, ?, ?)`),
    insertDelivery: p(
      `INSERT INTO webhook_deliveries (id, webhook, message, state, next_attempt_at, created_at)
       VALUES (?, ?, ?, 'pending', ?, ?)`,
    ),
    dueWebhooks: p(
      `SELECT DISTINCT d.webhook FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook
       WHERE d.state IN ${OPEN} AND d.next_attempt_at <= @now AND (d.lease_until IS NULL OR d.lease_until <= @now)
         AND w.disabled_at IS NULL`,
    ),
    // an endpoint with a delivery leased by another process is that process's for now (one attempt in flight per
    // endpoint) — also when the delivery was abandoned during its attempt (the endpoint disabled, then enabled): the
    // attempt is still in flight. A finished attempt clears its lease, so succeeded deliveries need no look.
    leasedElsewhere: p(
      `SELECT 1 AS x FROM webhook_deliveries WHERE webhook = @webhook AND lease_until > @now AND leased_by <> @owner
       AND state IN ${MAY_BE_IN_FLIGHT} LIMIT 1`,
    ),
    nextDue: p(
      `SELECT d.id, d.webhook, d.message, m.type, m.body, d.attempts, d.retry_step
       FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message
       WHERE d.webhook = @webhook AND d.state IN ${OPEN} AND d.next_attempt_at <= @now
         AND (d.lease_until IS NULL OR d.lease_until <= @now)
       ORDER BY d.next_attempt_at, d.id LIMIT 1`,
    ),
    lease: p(`UPDATE webhook_deliveries SET leased_by = @owner, lease_until = @until WHERE id = @id`),
    release: p(
      `UPDATE webhook_deliveries SET leased_by = NULL, lease_until = NULL WHERE id = @id AND leased_by = @owner`,
    ),
    finish: p(
      `UPDATE webhook_deliveries SET state = @state, attempts = attempts + 1, retry_step = @retryStep,
         next_attempt_at = @nextAttemptAt,
         last_attempt_at = @at, last_status = @status, last_error = @error, leased_by = NULL, lease_until = NULL
       WHERE id = @id AND attempts = @attemptsBefore AND state IN ${OPEN} AND leased_by = @owner`,
    ),
    abandonOpen: p(
      `UPDATE webhook_deliveries SET state = 'abandoned', next_attempt_at = NULL, last_error = ?
       WHERE webhook = ? AND state IN ${OPEN}`,
    ),
    requeue: p(`UPDATE webhook_deliveries SET state = 'pending', retry_step = 0, next_attempt_at = ? WHERE id = ?`),
    delivery: p(
      `SELECT ${DELIVERY_COLS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message WHERE d.id = ?`,
    ),
    deliveries: p(
      `SELECT ${DELIVERY_COLS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message
       WHERE (CAST(@webhook AS TEXT) IS NULL OR d.webhook = @webhook)
         AND (@failed = 0 OR d.state IN ('failed', 'abandoned'))
       ORDER BY d.created_at DESC, d.id DESC LIMIT @limit`,
    ),
    openTotal: p(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state IN ${OPEN}`),
  };
}

/** The webhooks' SQL, prepared once. Every write runs inside the caller's `storage.tx`. */
export class WebhookRepo {
  private readonly st: ReturnType<typeof prepare>;

  constructor(private readonly storage: HubStorage) {
    this.st = prepare(storage);
  }

  tx<T>(fn: () => T): T {
    return this.storage.tx(fn);
  }

  insertEndpoint(
    r: Pick<EndpointRow, 'id' | 'url' | 'events' | 'store' | 'secret_enc' | 'created_at' | 'created_by'>,
  ): void {
    this.st.insertEndpoint.run(r);
  }
  endpoint(id: string): EndpointRow | undefined {
    return this.st.endpoint.get(id) as EndpointRow | undefined;
  }
  endpoints(): EndpointRow[] {
    return this.st.endpoints.all() as EndpointRow[];
  }
  /** Deliveries still to be attempted, per endpoint. */
  openCounts(): Map<string, number> {
    return new Map((this.st.openCounts.all() as { webhook: string; n: number }[]).map((r) => [r.webhook, r.n]));
  }
  openTotal(): number {
    return (this.st.openTotal.get() as { n: number }).n;
  }
  deleteEndpoint(id: string): boolean {
    this.st.deleteDeliveries.run(id);
    return this.st.deleteEndpoint.run(id).changes > 0;
  }
  subscribers(store: string | null): { id: string; events: string }[] {
    return this.st.subscribers.all(store) as { id: string; events: string }[];
  }
  setSecrets(id: string, secretEnc: string, prevEnc: string | null, prevExpiresAt: string | null): void {
    this.st.setSecrets.run(secretEnc, prevEnc, prevExpiresAt, id);
  }
  disable(id: string, at: string, reason: string): boolean {
    return this.st.disable.run(at, reason, id).changes > 0;
  }
  enable(id: string): boolean {
    return this.st.enable.run(id).changes > 0;
  }
  recordSuccess(id: string, at: string): void {
    this.st.success.run(at, id);
  }
  recordFailure(id: string, at: string): void {
    this.st.failure.run(at, at, id);
  }
  disabled(): EndpointRow[] {
    return this.st.disabledList.all() as EndpointRow[];
  }
  insertMessage(id: string, type: string, store: string | null, body: string, at: string): void {
    this.st.insertMessage.run(id, type, store, body, at);
  }
  insertDelivery(id: string, webhook: string, message: string, at: string): void {
    this.st.insertDelivery.run(id, webhook, message, at, at);
  }
  dueWebhooks(now: string): string[] {
    return (this.st.dueWebhooks.all({ now }) as { webhook: string }[]).map((r) => r.webhook);
  }
  /**
   * Leases the endpoint's next due delivery to `owner` until `until`, in one write transaction (on
   * PostgreSQL every write transaction holds the hub's write lock, so two processes never lease the
   * same delivery): none when nothing is due, or when another process holds a live lease on one of
   * the endpoint's deliveries (one attempt in flight per endpoint, across processes too).
   */
  claimNext(webhook: string, owner: string, now: string, until: string): DueRow | undefined {
    // not synced: a lease a crash forgets leaves the delivery due, which is what a lease running out does
    return this.relaxed(() => {
      if (this.st.leasedElsewhere.get({ webhook, now, owner })) return undefined;
      const d = this.st.nextDue.get({ webhook, now }) as DueRow | undefined;
      if (d) this.st.lease.run({ owner, until, id: d.id });
      return d;
    });
  }
  /** Gives a lease back unattempted (the attempt was cut short): due again at once, for any process. */
  release(id: string, owner: string): void {
    this.relaxed(() => this.st.release.run({ id, owner }));
  }
  private relaxed<T>(fn: () => T): T {
    return this.storage.inTransaction() ? fn() : this.storage.relaxed(fn);
  }
  /**
   * Records an attempt and clears its lease; false when the delivery changed meanwhile (removed,
   * abandoned, recorded) or the lease is no longer `owner`'s (it ran out and another process took it).
   */
  finish(u: AttemptUpdate & { owner: string }): boolean {
    return this.st.finish.run(u).changes > 0;
  }
  abandonOpen(webhook: string, reason: string): number {
    return this.st.abandonOpen.run(reason, webhook).changes;
  }
  requeue(id: string, at: string): void {
    this.st.requeue.run(at, id);
  }
  delivery(id: string): DeliveryRow | undefined {
    return this.st.delivery.get(id) as DeliveryRow | undefined;
  }
  deliveries(webhook: string | null, failedOnly: boolean, limit: number): DeliveryRow[] {
    return this.st.deliveries.all({ webhook, failed: failedOnly ? 1 : 0, limit }) as DeliveryRow[];
  }
}
