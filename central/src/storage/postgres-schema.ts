import { migrationsOnBothEngines, POSTGRES_DIALECT } from './migrations.js';
import { firstTables, hubTables, saleTables } from './hub-tables.js';
import { webhookSchema } from './webhook-schema.js';

const tables = hubTables(POSTGRES_DIALECT);
const sale = saleTables(POSTGRES_DIALECT, '');

/**
 * Version 1's tables that later SQLite migrations altered (hub-tables.ts: `firstTables`), as those
 * migrations left them: the columns they added, in the place SQLite's ALTER TABLE … ADD COLUMN puts
 * them in the table's text (after the last column, before the table's constraints).
 */
const first = withAddedColumns(firstTables(POSTGRES_DIALECT), {
  api_keys: 'expires_at TEXT, secret_enc TEXT, delivered_at TEXT, confirmed_at TEXT',
  agent_cursors: "incarnation TEXT NOT NULL DEFAULT '', duplicate_exception TEXT",
  applied_events: 'incarnation TEXT',
  returns: [
    "rules TEXT NOT NULL DEFAULT '[]', allowed_tenders TEXT NOT NULL DEFAULT '[]',",
    "conditions TEXT NOT NULL DEFAULT '[]', gross_refund BIGINT, fees BIGINT NOT NULL DEFAULT 0,",
    'policy_version BIGINT NOT NULL DEFAULT 0, kind TEXT, override_by TEXT, override_at TEXT,',
    "late_online BIGINT NOT NULL DEFAULT 0, card_hash TEXT, request TEXT NOT NULL DEFAULT '{}',",
    'resolution TEXT, resolved_at TEXT, resolved_by TEXT, resolution_note TEXT, sale_store TEXT',
  ].join('\n      '),
  return_lines: 'asked_sku TEXT, amount BIGINT, fee BIGINT, completed_amount BIGINT',
  audit: 'origin TEXT',
});

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
 * names other than those of the databases already made from this text. Its tables are declared
 * once for both engines (hub-tables.ts, webhookSchema): those no later SQLite migration changed,
 * the sale tables as SQLite's 9 rebuilt them, and those a later migration altered as SQLite's 1
 * made them, with the columns added since folded in (`first` below).
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  ${tables.meta}
  ${tables.stores}
  ${first.api_keys}
  CREATE INDEX api_keys_store ON api_keys(store);
  ${tables.admin_tokens}
  ${first.agent_cursors}
  ${first.applied_events}
  ${first.returns}
  CREATE INDEX returns_store ON returns(store, created_at);
  CREATE INDEX returns_reserved ON returns(status, expires_at);
  ${first.return_lines}
  ${tables.inventory}
  ${tables.movements}
  CREATE INDEX movements_store_sku ON movements(store, sku);
  ${tables.exceptions}
  CREATE INDEX exceptions_store ON exceptions(store, created_at);
  ${first.audit}
  ${tables.terminals}
  ${tables.policies}
  ${tables.managers}
  CREATE INDEX returns_store_day ON returns(store, created_at, status);
  ${tables.return_exchanges}
  ${tables.authz_counters}
  ${tables.key_schedules}
  ${webhookSchema(POSTGRES_DIALECT)}
  ${tables.sync_settings}
  ${tables.inventory_accuracy}
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
  ${sale.sales}
  ${sale.lines}
  ${sale.cards}
  CREATE INDEX sales_store ON sales(store, at);
  CREATE INDEX sales_receipt ON sales(receipt);
  CREATE INDEX returns_sale ON returns(sale_store, receipt);
  ${tables.agent_incarnations}
`,
  // 2 on (SQLite 11 on): written once for both engines
  ...migrationsOnBothEngines(POSTGRES_DIALECT),
];

/**
 * Each table's text with `added` columns as SQLite's ALTER TABLE … ADD COLUMN writes them into it
 * (", column" after the last column, before the first table constraint or the closing parenthesis),
 * indented two spaces more, as version 1's text here was written.
 */
function withAddedColumns<K extends string>(tables: Record<K, string>, added: Record<K, string>): Record<K, string> {
  const out = {} as Record<K, string>;
  for (const name of Object.keys(tables) as K[]) {
    const text = tables[name].replace(/\n/g, '\n  ');
    const constraint = text.search(/,\s*(PRIMARY KEY|UNIQUE|CHECK|FOREIGN KEY)\b/);
    const at = constraint >= 0 ? constraint : text.lastIndexOf(')');
    out[name] = `${text.slice(0, at)}, ${added[name]}${text.slice(at)}`;
  }
  return out;
}
