import type { SchemaDialect } from './migrations.js';

/**
 * The webhooks' tables (SQLite's migration 5, part of PostgreSQL's version 1): endpoints, the
 * events sent to them (one `webhook-id` per event), and the durable delivery queue, one row per
 * (event, endpoint), written in the same transaction as the change the event reports.
 */
export function webhookSchema(d: SchemaDialect): string {
  return `
  -- Endpoints. Secrets are sealed (AES-256-GCM); during a rotation's overlap the previous secret
  -- signs too. failing_since: the first failure since the last success (null while healthy).
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    store TEXT,
    secret_enc TEXT NOT NULL,
    prev_secret_enc TEXT,
    prev_secret_expires_at TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    disabled_at TEXT,
    disabled_reason TEXT,
    last_success_at TEXT,
    last_failure_at TEXT,
    failing_since TEXT
  );

  -- One row per event: the id sent as webhook-id and the exact body that is signed and sent.
  CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    store TEXT,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
  );

  -- The queue. state: pending (not tried yet, or redelivered) | failed (last attempt failed, retry
  -- at next_attempt_at) | succeeded | abandoned (no more attempts; last_error says why).
  -- retry_step counts failed attempts since the delivery was (re)queued: it picks the next delay.
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    message TEXT NOT NULL REFERENCES webhook_messages(id),
    state TEXT NOT NULL,
    attempts ${d.integer} NOT NULL DEFAULT 0,
    retry_step ${d.integer} NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    created_at TEXT NOT NULL,
    last_attempt_at TEXT,
    last_status ${d.integer},
    last_error TEXT
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook, state, next_attempt_at);
  CREATE INDEX webhook_deliveries_list ON webhook_deliveries(created_at, id);
  CREATE INDEX webhook_deliveries_message ON webhook_deliveries(message);
`;
}
