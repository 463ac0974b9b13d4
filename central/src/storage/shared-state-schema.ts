import type { SchemaDialect } from './migrations.js';

/**
 * What several hub processes on one database must share (Tillbridge issue 10), one migration on
 * each engine (SQLite's version 11, PostgreSQL's 2), written once (migrations.ts).
 *
 * - Webhook delivery leases: the process attempting a delivery holds it until `lease_until` (ISO
 *   text, like `next_attempt_at`); a lease that runs out (the process died) makes it due again.
 * - The gate's shared limits (auth/gate.ts), times in epoch milliseconds: each store's token
 *   allowance as a GCRA "theoretical arrival time" (`tat`: the allowance is full when it is at or
 *   before now), and each source's failed authentications, block and locked stores.
 * - Unexpected failures per agent event (domain/event-applier.ts): counted across processes, so an
 *   event is set aside after MAX_ATTEMPTS whichever processes its batches reached.
 */
export function sharedStateSchema(d: SchemaDialect): string {
  return `
  ALTER TABLE webhook_deliveries ADD COLUMN leased_by TEXT;
  ALTER TABLE webhook_deliveries ADD COLUMN lease_until TEXT;

  CREATE TABLE gate_allowances (
    store TEXT PRIMARY KEY,
    tat ${d.real} NOT NULL,
    limited_until ${d.integer} NOT NULL DEFAULT 0
  );
  CREATE INDEX gate_allowances_tat ON gate_allowances(tat, store);

  -- failures: JSON [[at, store tried or null], …], the latest within the window, at most maxFailures;
  -- locked: JSON [store, …], the stores a blocked source failed at (refused unchecked until blocked_until)
  CREATE TABLE gate_sources (
    source TEXT PRIMARY KEY,
    failures TEXT NOT NULL,
    blocked_until ${d.integer} NOT NULL,
    locked TEXT NOT NULL,
    last_at ${d.integer} NOT NULL
  );
  CREATE INDEX gate_sources_last ON gate_sources(last_at, source);

  CREATE TABLE event_attempts (
    event_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    attempts ${d.integer} NOT NULL,
    last_error TEXT,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX event_attempts_updated ON event_attempts(updated_at);
`;
}

/**
 * Many hub processes (Tillbridge issue 10), the same text on each engine (SQLite's version 12,
 * PostgreSQL's 3): each serving process and its heartbeat, and the connections it holds.
 */
export const HUB_PROCESSES_SCHEMA = `
  -- Many hub processes on one database (docs/architecture.md "Many hub processes"): each serving
  -- process and its heartbeat, and the agent connections each one holds. Written by the deferred
  -- path (presence is owed nobody); a process whose heartbeat is older than the timeout (killed)
  -- no longer counts, nor do its connections.
  CREATE TABLE hub_processes (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    info TEXT NOT NULL
  );
  CREATE TABLE live_sessions (
    store TEXT NOT NULL,
    process TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    connected_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    figures TEXT NOT NULL,
    PRIMARY KEY (store, process)
  );
  CREATE INDEX live_sessions_process ON live_sessions(process);
  `;
