import type { SchemaDialect } from './migrations.js';

/**
 * The hub's versioned settings (returns policies, sync settings): the default (`scope` 'default')
 * and per-store overrides (`store:ID`), every change a new row, its id the version.
 */
function versionedSettingsTable(name: string, d: SchemaDialect): string {
  return `CREATE TABLE ${name} (
    id ${d.rowId},
    scope TEXT NOT NULL,
    body TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX ${name}_scope ON ${name}(scope, id);`;
}

/**
 * The hub's tables that no migration changed after the one that made them, declared once for both
 * engines: SQLite's migrations (schema.ts) and PostgreSQL's version 1 (postgres-schema.ts) use
 * them. SQLite keeps each statement's text as written, so for a migration that shipped these must
 * stay as they are, to the byte (test/upgrade-fixtures.test.ts compares the schemas).
 */
const TABLES = {
  policies: (d: SchemaDialect): string => versionedSettingsTable('policies', d),
  sync_settings: (d: SchemaDialect): string => versionedSettingsTable('sync_settings', d),
  meta: (): string => `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  stores: (): string => `CREATE TABLE stores (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT
  );`,
  admin_tokens: (): string => `CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );`,
  inventory: (d: SchemaDialect): string => `CREATE TABLE inventory (
    store TEXT NOT NULL REFERENCES stores(id),
    sku TEXT NOT NULL,
    on_hand ${d.integer} NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (store, sku)
  );`,
  movements: (d: SchemaDialect): string => `CREATE TABLE movements (
    id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    sku TEXT NOT NULL,
    delta ${d.integer} NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    at TEXT NOT NULL
  );`,
  exceptions: (d: SchemaDialect): string => `CREATE TABLE exceptions (
    id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    register TEXT,
    event_id TEXT,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    ${d.authorization} TEXT,
    body TEXT,
    created_at TEXT NOT NULL,
    resolved_at TEXT,
    resolution TEXT
  );`,
  terminals: (d: SchemaDialect): string => `CREATE TABLE terminals (
    store TEXT NOT NULL REFERENCES stores(id),
    register TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT,
    transport TEXT NOT NULL,
    connections ${d.integer} NOT NULL,
    reported_state TEXT,
    reported_detail TEXT,
    reported_at TEXT,
    last_message_at TEXT,
    at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (store, register)
  );`,
  managers: (): string => `CREATE TABLE managers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );`,
  return_exchanges: (d: SchemaDialect): string => `CREATE TABLE return_exchanges (
    ${d.authorization} TEXT NOT NULL REFERENCES returns(${d.authorization}),
    sku TEXT NOT NULL,
    qty ${d.integer} NOT NULL,
    approved_qty ${d.integer} NOT NULL,
    code TEXT NOT NULL,
    PRIMARY KEY (${d.authorization}, sku)
  );`,
  authz_counters: (): string => `CREATE TABLE authz_counters (
    store TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    counters TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (store, agent_id)
  );`,
  key_schedules: (d: SchemaDialect): string => `CREATE TABLE key_schedules (
    store TEXT PRIMARY KEY REFERENCES stores(id),
    every_ms ${d.integer} NOT NULL,
    grace_ms ${d.integer} NOT NULL,
    next_at TEXT NOT NULL,
    actor TEXT NOT NULL
  );`,
  inventory_accuracy: (d: SchemaDialect): string => `CREATE TABLE inventory_accuracy (
    store TEXT PRIMARY KEY REFERENCES stores(id),
    skus ${d.integer} NOT NULL,
    matching ${d.integer} NOT NULL,
    at TEXT NOT NULL
  );`,
  agent_incarnations: (d: SchemaDialect): string => `CREATE TABLE agent_incarnations (
    agent_id TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    store TEXT NOT NULL REFERENCES stores(id),
    last_seq ${d.integer} NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (agent_id, incarnation)
  );`,
};

/** Tables declared for either engine, each written for the engine of `d`. */
function forEngine<T extends Record<string, (d: SchemaDialect) => string>>(
  tables: T,
  d: SchemaDialect,
): Record<keyof T, string> {
  const out = {} as Record<keyof T, string>;
  for (const [name, table] of Object.entries(tables)) out[name as keyof T] = table(d);
  return out;
}

/** The tables of `TABLES`, each for the engine of `d`. */
export function hubTables(d: SchemaDialect): Record<keyof typeof TABLES, string> {
  return forEngine(TABLES, d);
}

/**
 * The tables of version 1 that later migrations altered, declared once as version 1 made them: SQLite's first
 * migration (schema.ts) is these as they are, and PostgreSQL's version 1 (postgres-schema.ts) these with the
 * columns later migrations added folded in. The same rule as TABLES holds: SQLite's text must stay to the byte
 * (central/test/schema-v1-text.test.ts compares both engines' version 1 with the text that shipped).
 */
const ALTERED_LATER = {
  api_keys: (): string => `CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    store TEXT NOT NULL REFERENCES stores(id),
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
  );`,
  agent_cursors: (d: SchemaDialect): string => `CREATE TABLE agent_cursors (
    agent_id TEXT PRIMARY KEY,
    store TEXT NOT NULL REFERENCES stores(id),
    last_seq ${d.integer} NOT NULL,
    updated_at TEXT NOT NULL
  );`,
  applied_events: (d: SchemaDialect): string => `CREATE TABLE applied_events (
    event_id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    seq ${d.integer} NOT NULL,
    kind TEXT NOT NULL,
    register TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT,
    agent_at TEXT NOT NULL,
    applied_at TEXT NOT NULL
  );`,
  returns: (d: SchemaDialect): string => `CREATE TABLE returns (
    ${d.authorization} TEXT PRIMARY KEY,
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
    refund_amount ${d.integer},
    refund_kind TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    completed_at TEXT,
    updated_at TEXT NOT NULL
  );`,
  return_lines: (d: SchemaDialect): string => `CREATE TABLE return_lines (
    ${d.authorization} TEXT NOT NULL REFERENCES returns(${d.authorization}),
    line ${d.integer} NOT NULL,
    requested_qty ${d.integer} NOT NULL,
    approved_qty ${d.integer} NOT NULL,
    completed_qty ${d.integer} NOT NULL DEFAULT 0,
    disposition TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (${d.authorization}, line)
  );`,
  audit: (d: SchemaDialect): string => `CREATE TABLE audit (
    id ${d.rowId},
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
  );`,
};

/** The tables of `ALTERED_LATER` as version 1 made them, each for the engine of `d`. */
export function firstTables(d: SchemaDialect): Record<keyof typeof ALTERED_LATER, string> {
  return forEngine(ALTERED_LATER, d);
}

/**
 * The sale tables keyed by store and receipt: SQLite's migration 9 makes them named with `suffix`
 * ('_by_store', beside the tables they replace, then renamed), PostgreSQL's version 1 as they are
 * named now (no suffix). Each sale line and card hash names its sale by (store, receipt).
 */
export function saleTables(d: SchemaDialect, suffix: string): { sales: string; lines: string; cards: string } {
  return {
    sales: `CREATE TABLE sales${suffix} (
    store TEXT NOT NULL,
    receipt TEXT NOT NULL,
    register TEXT,
    channel TEXT NOT NULL,
    at TEXT NOT NULL,
    currency TEXT NOT NULL,
    total ${d.integer} NOT NULL,
    tenders TEXT NOT NULL,
    event_id TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (store, receipt)
  );`,
    lines: `CREATE TABLE sale_lines${suffix} (
    store TEXT NOT NULL,
    receipt TEXT NOT NULL,
    line ${d.integer} NOT NULL,
    sku TEXT NOT NULL,
    qty ${d.integer} NOT NULL,
    unit_price ${d.integer} NOT NULL,
    PRIMARY KEY (store, receipt, line),
    FOREIGN KEY (store, receipt) REFERENCES sales${suffix}(store, receipt)
  );`,
    cards: `CREATE TABLE sale_cards${suffix} (
    pan_hash TEXT NOT NULL,
    store TEXT NOT NULL,
    receipt TEXT NOT NULL,
    PRIMARY KEY (pan_hash, store, receipt),
    FOREIGN KEY (store, receipt) REFERENCES sales${suffix}(store, receipt)
  );`,
  };
}
