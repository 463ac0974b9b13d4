import { migrationsOnBothEngines, POSTGRES_DIALECT, versionedSettingsTable } from './migrations.js';
import { webhookSchema } from './webhook-schema.js';

/**
 * The hub's schema on PostgreSQL, versioned like SQLite's (schema.ts) and kept in step with it, so
 * that `storage migrate --to` copies like to like (a test checks both engines end with the same
 * tables, columns and indexes). Since PostgreSQL's version 2 (SQLite's 11) each migration is
 * written once for both engines (migrations.ts: `migrationsOnBothEngines`).
 *
 * Version 1 is the SQLite schema as of its version 10, written for PostgreSQL: BIGINT for SQLite's
 * 64-bit INTEGER, identity columns for its auto-numbered ids, and `"authorization"` quoted (a
 * reserved word in PostgreSQL). Timestamps stay ISO-8601 text and booleans integers, as on SQLite,
 * so the repositories read the same values from either engine. It is the end state of SQLite's ten
 * migrations (columns they added later folded into each table), not those migrations replayed: a
 * replay would rename rebuilt tables (sales_by_store → sales) and so leave PostgreSQL constraint
 * names other than those of the databases already made from this text. The tables that no later
 * SQLite migration changed are declared once for both (webhookSchema, versionedSettingsTable).
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE stores (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      created_at TEXT NOT NULL,
      last_seen_at TEXT
    );
  CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      store TEXT NOT NULL REFERENCES stores(id),
      hash TEXT NOT NULL,
      created_at TEXT NOT NULL,
      revoked_at TEXT,
      last_used_at TEXT
    , expires_at TEXT, secret_enc TEXT, delivered_at TEXT, confirmed_at TEXT);
  CREATE INDEX api_keys_store ON api_keys(store);
  CREATE TABLE admin_tokens (
      id TEXT PRIMARY KEY,
      hash TEXT NOT NULL,
      role TEXT NOT NULL,
      name TEXT NOT NULL,
      created_at TEXT NOT NULL,
      revoked_at TEXT
    );
  CREATE TABLE agent_cursors (
      agent_id TEXT PRIMARY KEY,
      store TEXT NOT NULL REFERENCES stores(id),
      last_seq BIGINT NOT NULL,
      updated_at TEXT NOT NULL
    , incarnation TEXT NOT NULL DEFAULT '', duplicate_exception TEXT);
  CREATE TABLE applied_events (
      event_id TEXT PRIMARY KEY,
      store TEXT NOT NULL,
      agent_id TEXT NOT NULL,
      seq BIGINT NOT NULL,
      kind TEXT NOT NULL,
      register TEXT NOT NULL,
      outcome TEXT NOT NULL,
      code TEXT,
      agent_at TEXT NOT NULL,
      applied_at TEXT NOT NULL
    , incarnation TEXT);
  CREATE TABLE returns (
      "authorization" TEXT PRIMARY KEY,
      store TEXT NOT NULL,
      register TEXT NOT NULL,
      request_id TEXT NOT NULL,
      receipt TEXT NOT NULL,
      mode TEXT NOT NULL,
      decision TEXT NOT NULL,
      status TEXT NOT NULL,
      reconciliation TEXT,
      exception_code TEXT,
      reason TEXT,
      refund_amount BIGINT,
      refund_kind TEXT,
      created_at TEXT NOT NULL,
      expires_at TEXT,
      completed_at TEXT,
      updated_at TEXT NOT NULL
    , rules TEXT NOT NULL DEFAULT '[]', allowed_tenders TEXT NOT NULL DEFAULT '[]', conditions TEXT NOT NULL DEFAULT '[]', gross_refund BIGINT, fees BIGINT NOT NULL DEFAULT 0, policy_version BIGINT NOT NULL DEFAULT 0, kind TEXT, override_by TEXT, override_at TEXT, late_online BIGINT NOT NULL DEFAULT 0, card_hash TEXT, request TEXT NOT NULL DEFAULT '{}', resolution TEXT, resolved_at TEXT, resolved_by TEXT, resolution_note TEXT, sale_store TEXT);
  CREATE INDEX returns_store ON returns(store, created_at);
  CREATE INDEX returns_reserved ON returns(status, expires_at);
  CREATE TABLE return_lines (
      "authorization" TEXT NOT NULL REFERENCES returns("authorization"),
      line BIGINT NOT NULL,
      requested_qty BIGINT NOT NULL,
      approved_qty BIGINT NOT NULL,
      completed_qty BIGINT NOT NULL DEFAULT 0,
      disposition TEXT NOT NULL,
      code TEXT NOT NULL,
      reason TEXT, asked_sku TEXT, amount BIGINT, fee BIGINT, completed_amount BIGINT,
      PRIMARY KEY ("authorization", line)
    );
  CREATE TABLE inventory (
      store TEXT NOT NULL REFERENCES stores(id),
      sku TEXT NOT NULL,
      on_hand BIGINT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (store, sku)
    );
  CREATE TABLE movements (
      id TEXT PRIMARY KEY,
      store TEXT NOT NULL,
      sku TEXT NOT NULL,
      delta BIGINT NOT NULL,
      kind TEXT NOT NULL,
      ref TEXT NOT NULL,
      at TEXT NOT NULL
    );
  CREATE INDEX movements_store_sku ON movements(store, sku);
  CREATE TABLE exceptions (
      id TEXT PRIMARY KEY,
      store TEXT NOT NULL,
      register TEXT,
      event_id TEXT,
      kind TEXT NOT NULL,
      code TEXT NOT NULL,
      reason TEXT NOT NULL,
      "authorization" TEXT,
      body TEXT,
      created_at TEXT NOT NULL,
      resolved_at TEXT,
      resolution TEXT
    );
  CREATE INDEX exceptions_store ON exceptions(store, created_at);
  CREATE TABLE audit (
      id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      at TEXT NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      store TEXT,
      register TEXT,
      outcome TEXT NOT NULL,
      resource TEXT,
      details TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    , origin TEXT);
  CREATE TABLE terminals (
      store TEXT NOT NULL REFERENCES stores(id),
      register TEXT NOT NULL,
      state TEXT NOT NULL,
      detail TEXT,
      transport TEXT NOT NULL,
      connections BIGINT NOT NULL,
      reported_state TEXT,
      reported_detail TEXT,
      reported_at TEXT,
      last_message_at TEXT,
      at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (store, register)
    );
  ${versionedSettingsTable('policies', POSTGRES_DIALECT)}
  CREATE TABLE managers (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      hash TEXT NOT NULL,
      created_at TEXT NOT NULL,
      revoked_at TEXT
    );
  CREATE INDEX returns_store_day ON returns(store, created_at, status);
  CREATE TABLE return_exchanges (
      "authorization" TEXT NOT NULL REFERENCES returns("authorization"),
      sku TEXT NOT NULL,
      qty BIGINT NOT NULL,
      approved_qty BIGINT NOT NULL,
      code TEXT NOT NULL,
      PRIMARY KEY ("authorization", sku)
    );
  CREATE TABLE authz_counters (
      store TEXT NOT NULL,
      agent_id TEXT NOT NULL,
      counters TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (store, agent_id)
    );
  CREATE TABLE key_schedules (
      store TEXT PRIMARY KEY REFERENCES stores(id),
      every_ms BIGINT NOT NULL,
      grace_ms BIGINT NOT NULL,
      next_at TEXT NOT NULL,
      actor TEXT NOT NULL
    );
  ${webhookSchema(POSTGRES_DIALECT)}
  ${versionedSettingsTable('sync_settings', POSTGRES_DIALECT)}
  CREATE TABLE inventory_accuracy (
      store TEXT PRIMARY KEY REFERENCES stores(id),
      skus BIGINT NOT NULL,
      matching BIGINT NOT NULL,
      at TEXT NOT NULL
    );
  CREATE INDEX audit_at ON audit(at);
  CREATE INDEX audit_store ON audit(store, id);
  CREATE TABLE audit_checkpoints (
      seq BIGINT PRIMARY KEY,
      entry_id BIGINT NOT NULL UNIQUE,
      entry_hash TEXT NOT NULL,
      entries BIGINT NOT NULL,
      at TEXT NOT NULL,
      payload TEXT NOT NULL,
      signature TEXT NOT NULL,
      public_key TEXT NOT NULL,
      fingerprint TEXT NOT NULL
    );
  CREATE TABLE sales (
      store TEXT NOT NULL,
      receipt TEXT NOT NULL,
      register TEXT,
      channel TEXT NOT NULL,
      at TEXT NOT NULL,
      currency TEXT NOT NULL,
      total BIGINT NOT NULL,
      tenders TEXT NOT NULL,
      event_id TEXT,
      created_at TEXT NOT NULL,
      PRIMARY KEY (store, receipt)
    );
  CREATE TABLE sale_lines (
      store TEXT NOT NULL,
      receipt TEXT NOT NULL,
      line BIGINT NOT NULL,
      sku TEXT NOT NULL,
      qty BIGINT NOT NULL,
      unit_price BIGINT NOT NULL,
      PRIMARY KEY (store, receipt, line),
      FOREIGN KEY (store, receipt) REFERENCES sales(store, receipt)
    );
  CREATE TABLE sale_cards (
      pan_hash TEXT NOT NULL,
      store TEXT NOT NULL,
      receipt TEXT NOT NULL,
      PRIMARY KEY (pan_hash, store, receipt),
      FOREIGN KEY (store, receipt) REFERENCES sales(store, receipt)
    );
  CREATE INDEX sales_store ON sales(store, at);
  CREATE INDEX sales_receipt ON sales(receipt);
  CREATE INDEX returns_sale ON returns(sale_store, receipt);
  CREATE TABLE agent_incarnations (
      agent_id TEXT NOT NULL,
      incarnation TEXT NOT NULL,
      store TEXT NOT NULL REFERENCES stores(id),
      last_seq BIGINT NOT NULL,
      started_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (agent_id, incarnation)
    );
`,
  // 2 on (SQLite 11 on): written once for both engines
  ...migrationsOnBothEngines(POSTGRES_DIALECT),
];
