import type { SchemaDialect } from '../storage/migrations.js';

/**
 * Register days (docs/reconciliation.md), one migration on each engine (SQLite:
 * HUB_MIGRATIONS[14]; PostgreSQL: PG_MIGRATIONS[5]), written once (storage/migrations.ts).
 *
 * - register_days: one row per store, register and business day: the day close the agent
 *   forwarded last (a corrected Z report replaces the earlier one), what the hub recorded when it
 *   last compared, and the outcome — matched, discrepancy (an exception says what differs), or
 *   resending (the hub asked the agent for transactions it lacks; `resend_attempts` times so far).
 * - returns.completed_register / completed_agent_at: the register and the agent's time of the
 *   return.complete event (`completed_at` is the hub's clock): a completed return's business day
 *   is the agent's.
 */
export function reconcileSchema(d: SchemaDialect): string {
  return `
  CREATE TABLE register_days (
    store TEXT NOT NULL,
    register TEXT NOT NULL,
    business_day TEXT NOT NULL,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    currency TEXT,
    reported TEXT NOT NULL,
    receipts TEXT NOT NULL,
    authorizations TEXT NOT NULL,
    status TEXT NOT NULL,
    recorded TEXT,
    differences TEXT,
    closed_at TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    reconciled_at TEXT,
    resend_attempts ${d.integer} NOT NULL DEFAULT 0,
    resend_at TEXT,
    exception_id TEXT,
    PRIMARY KEY (store, register, business_day)
  );
  CREATE INDEX register_days_status ON register_days(status, store);
  CREATE INDEX register_days_day ON register_days(business_day, store);

  ALTER TABLE returns ADD COLUMN completed_register TEXT;
  ALTER TABLE returns ADD COLUMN completed_agent_at TEXT;
  CREATE INDEX returns_completed_agent ON returns(store, completed_agent_at);
  `;
}
