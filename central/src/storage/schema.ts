import { webhookSchema } from './webhook-schema.js';
import { AUDIT_TRAIL_SCHEMA } from '../audit/schema.js';
import { migrationsOnBothEngines, SQLITE_DIALECT } from './migrations.js';
import { firstTables, hubTables, saleTables } from './hub-tables.js';

const byStore = saleTables(SQLITE_DIALECT, '_by_store');

/**
 * Receipt numbers are each store's own: a sale is keyed by its store and receipt, and so are its
 * lines and card hashes (tables rebuilt, every row kept); a return names the store of the sale it
 * is about (`sale_store`, filled from the sale its receipt named until now).
 */
export const SALES_BY_STORE = `
  ${byStore.sales}
  INSERT INTO sales_by_store (store, receipt, register, channel, at, currency, total, tenders, event_id, created_at)
    SELECT store, receipt, register, channel, at, currency, total, tenders, event_id, created_at FROM sales;

  ${byStore.lines}
  INSERT INTO sale_lines_by_store (store, receipt, line, sku, qty, unit_price)
    SELECT s.store, l.receipt, l.line, l.sku, l.qty, l.unit_price
      FROM sale_lines l JOIN sales s ON s.receipt = l.receipt;

  ${byStore.cards}
  INSERT INTO sale_cards_by_store (pan_hash, store, receipt)
    SELECT c.pan_hash, s.store, c.receipt FROM sale_cards c JOIN sales s ON s.receipt = c.receipt;

  ALTER TABLE returns ADD COLUMN sale_store TEXT;
  UPDATE returns SET sale_store = (SELECT s.store FROM sales s WHERE s.receipt = returns.receipt) WHERE receipt <> '';

  DROP TABLE sale_cards;
  DROP TABLE sale_lines;
  DROP TABLE sales;
  ALTER TABLE sales_by_store RENAME TO sales;
  ALTER TABLE sale_lines_by_store RENAME TO sale_lines;
  ALTER TABLE sale_cards_by_store RENAME TO sale_cards;
  CREATE INDEX sales_store ON sales(store, at);
  CREATE INDEX sales_receipt ON sales(receipt);
  DROP INDEX returns_receipt;
  CREATE INDEX returns_sale ON returns(sale_store, receipt);
`;

const tables = hubTables(SQLITE_DIALECT);
const first = firstTables(SQLITE_DIALECT);

/**
 * The hub's schema, as numbered migrations. Quantities are integer milli-units, money integer
 * minor units, times ISO 8601 UTC text (they sort as they compare).
 */
export const HUB_MIGRATIONS: string[] = [
  `
  ${tables.meta}

  ${tables.stores}

  ${first.api_keys}
  CREATE INDEX api_keys_store ON api_keys(store);

  ${tables.admin_tokens}

  -- Last applied seq per agent, written in the same transaction as the events' effects.
  ${first.agent_cursors}

  -- Every event ever applied, by its globally unique id: a resent event is never applied twice.
  ${first.applied_events}

  CREATE TABLE sales (
    receipt TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    register TEXT,
    channel TEXT NOT NULL,
    at TEXT NOT NULL,
    currency TEXT NOT NULL,
    total INTEGER NOT NULL,
    tenders TEXT NOT NULL,
    event_id TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX sales_store ON sales(store, at);

  CREATE TABLE sale_lines (
    receipt TEXT NOT NULL REFERENCES sales(receipt),
    line INTEGER NOT NULL,
    sku TEXT NOT NULL,
    qty INTEGER NOT NULL,
    unit_price INTEGER NOT NULL,
    PRIMARY KEY (receipt, line)
  );

  -- One row per return request ("return ticket"), whatever its outcome.
  ${first.returns}
  CREATE INDEX returns_receipt ON returns(receipt);
  CREATE INDEX returns_store ON returns(store, created_at);
  CREATE INDEX returns_reserved ON returns(status, expires_at);

  ${first.return_lines}

  -- Inventory is a ledger: on_hand is kept equal to the sum of the store/sku's movements.
  ${tables.inventory}

  ${tables.movements}
  CREATE INDEX movements_store_sku ON movements(store, sku);

  -- Events the hub refused for good: acknowledged, kept, visible, never retried.
  ${tables.exceptions}
  CREATE INDEX exceptions_store ON exceptions(store, created_at);

  -- Hash-chained audit log: hash = SHA-256 over the entry and the previous entry's hash.
  ${first.audit}
  `,
  `
  -- A return line asked for by SKU (the hub resolved it to a receipt line, or to none: then
  -- line is negative, -1 for the request's first line, -2 for the second…).
  ALTER TABLE return_lines ADD COLUMN asked_sku TEXT;

  -- Each register's state as its agent last reported it.
  ${tables.terminals}
  `,
  `
  -- Returns policies: the default and per-store overrides; every change a new version (the id).
  ${tables.policies}

  -- Managers who may override a decision; their codes are stored as keyed hashes.
  ${tables.managers}

  -- The return ticket grows: rules fired, tenders, conditions, money, policy, override, resolution.
  ALTER TABLE returns ADD COLUMN rules TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE returns ADD COLUMN allowed_tenders TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE returns ADD COLUMN conditions TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE returns ADD COLUMN gross_refund INTEGER;
  ALTER TABLE returns ADD COLUMN fees INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE returns ADD COLUMN policy_version INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE returns ADD COLUMN kind TEXT;
  ALTER TABLE returns ADD COLUMN override_by TEXT;
  ALTER TABLE returns ADD COLUMN override_at TEXT;
  ALTER TABLE returns ADD COLUMN late_online INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE returns ADD COLUMN card_hash TEXT;
  ALTER TABLE returns ADD COLUMN request TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE returns ADD COLUMN resolution TEXT;
  ALTER TABLE returns ADD COLUMN resolved_at TEXT;
  ALTER TABLE returns ADD COLUMN resolved_by TEXT;
  ALTER TABLE returns ADD COLUMN resolution_note TEXT;
  CREATE INDEX returns_store_day ON returns(store, created_at, status);

  -- Items a customer takes in exchange: reserved with the return, moved when it completes.
  ${tables.return_exchanges}

  -- Keyed hashes of the cards a sale was paid with (never the number): returns by card.
  CREATE TABLE sale_cards (
    pan_hash TEXT NOT NULL,
    receipt TEXT NOT NULL REFERENCES sales(receipt),
    PRIMARY KEY (pan_hash, receipt)
  );

  -- What each agent last reported about the return requests it answered (success rate).
  ${tables.authz_counters}
  `,
  `
  -- Key rotation: a key may expire (the old key at the end of a grace period); a new key waits,
  -- encrypted, until the store's agent has it, and is confirmed when the agent says it stored it.
  ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
  ALTER TABLE api_keys ADD COLUMN secret_enc TEXT;
  ALTER TABLE api_keys ADD COLUMN delivered_at TEXT;
  ALTER TABLE api_keys ADD COLUMN confirmed_at TEXT;

  ${tables.key_schedules}
  `,
  webhookSchema(SQLITE_DIALECT),
  `
  -- Sync settings set centrally: the default and per-store overrides; each change a new version.
  ${tables.sync_settings}

  -- What each store's agent last said about its inventory copy (inventory data accuracy).
  ${tables.inventory_accuracy}
  `,
  // 7: audit origin column, checkpoints, time and store indexes
  AUDIT_TRAIL_SCHEMA,
  `
  -- Money per return line (DESIGN rule 11): what the approved quantity refunds at the sold price
  -- before fees (amount) and its restocking fee, as authorized; and what the completed quantity
  -- was refunded at the sold price (completed_amount). NULL: decided before these were kept.
  ALTER TABLE return_lines ADD COLUMN amount INTEGER;
  ALTER TABLE return_lines ADD COLUMN fee INTEGER;
  ALTER TABLE return_lines ADD COLUMN completed_amount INTEGER;
  `,
  SALES_BY_STORE,
  `
  -- DESIGN rule 9: an agent's database has incarnations — a new one when it is created, and when
  -- the hub finds it behind or forked from what it applied (restored, reverted, copied). The
  -- cursor is per (agent, incarnation); agent_cursors keeps the agent's store, its latest
  -- incarnation and that one's cursor. Cursors from before incarnations become incarnation ''.
  ${tables.agent_incarnations}
  INSERT INTO agent_incarnations (agent_id, incarnation, store, last_seq, started_at, updated_at)
    SELECT agent_id, '', store, last_seq, updated_at, updated_at FROM agent_cursors;
  ALTER TABLE agent_cursors ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
  -- the exception raised when a second live copy of the agent was refused (one while it is open)
  ALTER TABLE agent_cursors ADD COLUMN duplicate_exception TEXT;
  ALTER TABLE applied_events ADD COLUMN incarnation TEXT;
  `,
  // 11 on: written once for both engines
  ...migrationsOnBothEngines(SQLITE_DIALECT),
];
