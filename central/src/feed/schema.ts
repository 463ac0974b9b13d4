import type { SchemaDialect } from '../storage/migrations.js';

/**
 * The ERP feed's tables (docs/erp-feed.md), one migration on each engine (SQLite's
 * version 13, PostgreSQL's 4), written once (storage/migrations.ts). `position` is an auto-numbered
 * key: SQLite's AUTOINCREMENT never hands out a number again, and on
 * PostgreSQL writers are serialized by the hub's write lock, so positions are handed out in commit
 * order — a reader that saw position N never later finds a smaller one appear.
 *
 * - feed: one row per event, written in the same transaction as the change it reports. `id` is
 *   the event's id for ever (the consumer's dedupe key; also the webhook-id and AMQP message-id).
 * - feed_consumers: named cursors kept at the hub (`feed ack`): where each consumer (an ERP job,
 *   the broker relay) has confirmed it is up to.
 */
export function feedSchema(d: SchemaDialect): string {
  return `
  CREATE TABLE feed (
    position ${d.autoIncrementId},
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    store TEXT,
    business_day TEXT,
    at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX feed_store ON feed(store, position);
  CREATE INDEX feed_day ON feed(business_day, store);

  CREATE TABLE feed_consumers (
    name TEXT PRIMARY KEY,
    position ${d.integer} NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `;
}
