import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { entryHash, GENESIS_HASH, HUB_MIGRATIONS, PG_MIGRATIONS } from '@tillbridge/central';
import { AGENT_MIGRATIONS } from '@tillbridge/agent';
import { ROOT } from './lib/paths.js';

/**
 * Writes test/fixtures/schemas/: for each schema version that has shipped, a database migrated to
 * exactly that version holding representative rows of its tables, as a hub or agent of that
 * version left them. Run by hand when a migration ships (`npm run build && node
 * scripts/dist/schema-fixtures.js`), then commit what it wrote; test/upgrade-fixtures.test.ts opens
 * each one with the current code (docs/upgrade.md).
 *
 * Each table's rows are inserted right after the migration that created it, on the columns it had
 * then; the migrations after it carry them forward as they would carry a real database's. So vN
 * holds the rows of every table that existed at N, shaped by every migration up to N.
 *
 *   hub-sqlite/vN.sqlite   the hub's SQLite file at version N (1 … HUB_MIGRATIONS.length)
 *   agent/vN.sqlite        the agent's SQLite file at version N (1 … AGENT_MIGRATIONS.length)
 *   hub-postgres/vN.sql.gz a plain SQL dump of the hub's PostgreSQL database at version N: its
 *                          migrations, its schema table and the same rows as the SQLite file of the
 *                          matching SQLite version (PostgreSQL 1 = SQLite 10, kept in step since),
 *                          gzip-compressed (data, not code: test/support/schema-fixtures.ts reads it)
 *   manifest.json          for each fixture, the rows it holds per table
 *
 * Versions to write: all by default; `--only hub-sqlite:16` (kind:version, repeatable) writes just
 * those, so a fixture that shipped is never rewritten by a newer generator.
 */

const OUT = join(ROOT, 'test', 'fixtures', 'schemas');
const T0 = '2026-01-10T09:00:00.000Z';
const at = (min: number): string => new Date(Date.parse(T0) + min * 60_000).toISOString();

type Row = Record<string, string | number | null>;

// ---------- the hub ----------

function auditEntries(withOrigin: boolean, from: { id: number; hash: string } | undefined): Row[] {
  const specs = withOrigin
    ? [
        {
          actor: 'admin:t1',
          action: 'stores.create',
          store: 'S2',
          outcome: 'ok',
          resource: 'store:S2',
          details: '{"name":"Store Two"}',
          origin: 'cli:local',
        },
      ]
    : [
        {
          actor: 'hub',
          action: 'hub.init',
          store: null,
          outcome: 'created',
          resource: 'hub',
          details: '{"software":"tillbridge-hub/0.1.0"}',
        },
        {
          actor: 'admin:t1',
          action: 'stores.create',
          store: 'S1',
          outcome: 'ok',
          resource: 'store:S1',
          details: '{"name":"Store One"}',
        },
      ];
  const rows: Row[] = [];
  let prev = from ?? { id: 0, hash: GENESIS_HASH };
  for (const s of specs) {
    const e = {
      id: prev.id + 1,
      at: at(prev.id + 1),
      actor: s.actor,
      action: s.action,
      store: s.store,
      register: null,
      outcome: s.outcome,
      resource: s.resource,
      details: s.details,
      prev_hash: prev.hash,
      ...('origin' in s ? { origin: s.origin } : {}),
    };
    const hash = entryHash(e);
    rows.push({ ...e, hash });
    prev = { id: e.id, hash };
  }
  return rows;
}

const v1Audit = auditEntries(false, undefined);
const v1AuditSecond = v1Audit[1];
if (!v1AuditSecond) throw new Error('v1 has two audit entries, and the entries of v7 continue their chain');
const v7Audit = auditEntries(true, { id: 2, hash: v1AuditSecond.hash as string });

/**
 * Rows of each hub table, inserted when the table first exists (on the columns it has then). The
 * `after` key adds rows to a table that existed before, once the migration of that version ran.
 */
const HUB_ROWS: Record<string, Row[]> = {
  stores: [{ id: 'S1', name: 'Store One', created_at: at(0), last_seen_at: at(30) }],
  api_keys: [
    { id: 'k1', store: 'S1', hash: 'a'.repeat(64), created_at: at(0), revoked_at: null, last_used_at: at(30) },
  ],
  admin_tokens: [
    { id: 't1', hash: 'b'.repeat(64), role: 'admin', name: 'initial admin', created_at: at(0), revoked_at: null },
  ],
  agent_cursors: [{ agent_id: 'agent-1', store: 'S1', last_seq: 2, updated_at: at(20) }],
  applied_events: [
    {
      event_id: 'e-1',
      store: 'S1',
      agent_id: 'agent-1',
      seq: 1,
      kind: 'sale',
      register: 'R1',
      outcome: 'applied',
      code: null,
      agent_at: at(10),
      applied_at: at(10),
    },
    {
      event_id: 'e-2',
      store: 'S1',
      agent_id: 'agent-1',
      seq: 2,
      kind: 'return.completed',
      register: 'R1',
      outcome: 'applied',
      code: null,
      agent_at: at(20),
      applied_at: at(20),
    },
  ],
  sales: [
    {
      receipt: 'R-1001',
      store: 'S1',
      register: 'R1',
      channel: 'store',
      at: at(10),
      currency: 'EUR',
      total: 2000,
      tenders: '[{"kind":"cash","amount":2000}]',
      event_id: 'e-1',
      created_at: at(10),
    },
  ],
  sale_lines: [{ receipt: 'R-1001', line: 1, sku: 'A', qty: 2000, unit_price: 1000 }],
  returns: [
    {
      authorization: 'AUTH-1',
      store: 'S1',
      register: 'R1',
      request_id: 'm-ret-1',
      receipt: 'R-1001',
      mode: 'online',
      decision: 'approved',
      status: 'completed',
      reconciliation: null,
      exception_code: null,
      reason: null,
      refund_amount: 1000,
      refund_kind: 'cash',
      created_at: at(15),
      expires_at: at(45),
      completed_at: at(20),
      updated_at: at(20),
    },
  ],
  return_lines: [
    {
      authorization: 'AUTH-1',
      line: 1,
      requested_qty: 1000,
      approved_qty: 1000,
      completed_qty: 1000,
      disposition: 'restock',
      code: 'OK',
      reason: null,
    },
  ],
  inventory: [{ store: 'S1', sku: 'A', on_hand: 9000, updated_at: at(20) }],
  movements: [
    { id: 'mv-1', store: 'S1', sku: 'A', delta: 10000, kind: 'adjustment', ref: 'initial count', at: at(1) },
    { id: 'mv-2', store: 'S1', sku: 'A', delta: -2000, kind: 'sale', ref: 'R-1001', at: at(10) },
    { id: 'mv-3', store: 'S1', sku: 'A', delta: 1000, kind: 'return', ref: 'AUTH-1', at: at(20) },
  ],
  exceptions: [
    {
      id: 'x-1',
      store: 'S1',
      register: 'R1',
      event_id: 'e-9',
      kind: 'return.completed',
      code: 'TB_UNKNOWN_AUTHORIZATION',
      reason: 'no such authorization AUTH-404',
      authorization: 'AUTH-404',
      body: '{}',
      created_at: at(25),
      resolved_at: null,
      resolution: null,
    },
  ],
  audit: v1Audit,
  // 2
  terminals: [
    {
      store: 'S1',
      register: 'R1',
      state: 'online',
      detail: null,
      transport: 'tcp',
      connections: 1,
      reported_state: 'ready',
      reported_detail: null,
      reported_at: at(29),
      last_message_at: at(29),
      at: at(29),
      updated_at: at(29),
    },
  ],
  // 3: a store's override of the returns policy (version 1)
  policies: [
    {
      id: 1,
      scope: 'store:S1',
      body: '{"returnWindowDays":14}',
      actor: 'admin:t1',
      note: 'short window',
      created_at: at(4),
    },
  ],
  managers: [{ id: 'mgr-1', name: 'Ann', hash: 'c'.repeat(64), created_at: at(2), revoked_at: null }],
  sale_cards: [{ pan_hash: 'd'.repeat(64), receipt: 'R-1001', store: 'S1' }],
  authz_counters: [{ store: 'S1', agent_id: 'agent-1', counters: '{"online":1,"offline":0}', updated_at: at(30) }],
  // 6: a store's sync settings override (version 1)
  sync_settings: [
    {
      id: 1,
      scope: 'store:S1',
      body: '{"uploadMode":"batched","heartbeatSeconds":30}',
      actor: 'admin:t1',
      note: 'satellite link',
      created_at: at(5),
    },
  ],
  inventory_accuracy: [{ store: 'S1', skus: 1, matching: 1, at: at(30) }],
  // 13: the ERP feed: an entry and a consumer's cursor
  feed: [
    {
      position: 1,
      id: 'fe-1',
      type: 'sale.recorded',
      store: 'S1',
      business_day: '2026-01-10',
      at: at(10),
      recorded_at: at(10),
      data: '{"receipt":"R-1001","total":2000}',
    },
  ],
  feed_consumers: [{ name: 'erp', position: 1, created_at: at(11), updated_at: at(11) }],
  // 10
  agent_incarnations: [
    { agent_id: 'agent-1', incarnation: 'inc-1', store: 'S1', last_seq: 3, started_at: at(40), updated_at: at(41) },
  ],
  // 16: an enrollment code, used (only its keyed hash is kept)
  enrollment_codes: [
    {
      id: 'enr-1',
      hash: 'e'.repeat(64),
      store: 'S1',
      created_at: at(2),
      expires_at: at(62),
      created_by: 'admin:t1',
      used_at: at(3),
      used_from: '127.0.0.1',
      key_id: 'k1',
    },
  ],
  // 18: a console session of the admin token (only the SHA-256 of its cookie's value is kept)
  console_sessions: [
    { id_hash: 'c'.repeat(64), token_id: 't1', created_ms: Date.parse(at(4)), last_used_ms: Date.parse(at(5)) },
  ],
};

/** Rows added after the migration of a version to tables that existed before it. */
const HUB_ROWS_AFTER: Record<number, Record<string, Row[]>> = {
  // 7: entries with an origin
  7: { stores: [{ id: 'S2', name: 'Store Two', created_at: at(3), last_seen_at: null }], audit: v7Audit },
  // 9: receipts are each store's own: the same receipt number at a second store
  9: {
    sales: [
      {
        receipt: 'R-1001',
        store: 'S2',
        register: 'R1',
        channel: 'store',
        at: at(12),
        currency: 'EUR',
        total: 500,
        tenders: '[{"kind":"card","amount":500}]',
        event_id: 'e-s2-1',
        created_at: at(12),
      },
    ],
    sale_lines: [{ receipt: 'R-1001', store: 'S2', line: 1, sku: 'B', qty: 1000, unit_price: 500 }],
  },
};

/** The tables each version of the hub's SQLite schema had (empty at 0). */
function sqliteTables(db: Database.Database): Set<string> {
  return new Set(
    db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .pluck()
      .all() as string[],
  );
}

function sqliteColumns(db: Database.Database, table: string): Set<string> {
  return new Set(db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]);
}

function insertSqliteRows(db: Database.Database, table: string, rows: Row[]): void {
  const have = sqliteColumns(db, table);
  for (const r of rows) {
    const cols = Object.keys(r).filter((c) => have.has(c));
    db.prepare(
      `INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
    ).run(...cols.map((c) => r[c]));
  }
}

/** A SQLite database migrated to exactly `version` by `migrations`, with the rows each step brings. */
function buildSqlite(
  file: string,
  migrations: readonly string[],
  version: number,
  rows: Record<string, Row[]>,
  after: Record<number, Record<string, Row[]>>,
): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const db = new Database(file);
  db.pragma('foreign_keys = ON');
  try {
    for (const [v, migration] of migrations.slice(0, version).entries()) {
      const before = sqliteTables(db);
      db.transaction(() => {
        db.exec(migration);
        db.pragma(`user_version = ${v + 1}`);
        for (const t of sqliteTables(db)) if (!before.has(t) && rows[t]) insertSqliteRows(db, t, rows[t]);
        for (const [t, extra] of Object.entries(after[v + 1] ?? {})) insertSqliteRows(db, t, extra);
      })();
    }
    const bad = db.pragma('foreign_key_check') as unknown[];
    if (bad.length > 0) throw new Error(`${file}: foreign keys broken: ${JSON.stringify(bad)}`);
    // small pages: a fixture is mostly empty tables and indexes, one page each
    db.pragma('page_size = 512');
    db.exec('VACUUM');
  } finally {
    db.close();
  }
}

function rowCounts(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, number> = {};
    for (const t of [...sqliteTables(db)].sort()) {
      const n = db.prepare(`SELECT COUNT(*) FROM "${t}"`).pluck().get() as number;
      if (n > 0) out[t] = n;
    }
    return out;
  } finally {
    db.close();
  }
}

// ---------- PostgreSQL: a plain SQL dump made from the SQLite file of the same schema ----------

/** PostgreSQL version k has the tables and columns of SQLite version k + 9 (postgres-schema.ts). */
export const PG_TO_SQLITE_OFFSET = 9;

const literal = (v: Row[string] | undefined): string =>
  v === null || v === undefined ? 'NULL' : typeof v === 'number' ? String(v) : `'${v.replaceAll("'", "''")}'`;

function pgDump(version: number, sqliteFile: string): string {
  const out: string[] = [
    `-- A hub's PostgreSQL database at schema version ${version}, as that hub left it, with representative rows.`,
    '-- Made by scripts/schema-fixtures.ts: load into an empty database (psql -f, or one multi-statement query).',
    'BEGIN;',
    'CREATE TABLE tillbridge_schema (version BIGINT NOT NULL);',
  ];
  for (const [i, migration] of PG_MIGRATIONS.slice(0, version).entries())
    out.push(`-- migration ${i + 1}`, migration.trim());
  out.push(`INSERT INTO tillbridge_schema (version) VALUES (${version});`);
  const db = new Database(sqliteFile, { readonly: true });
  try {
    // parents before children: the order the SQLite file's rows were written in is one such order
    const order = [...Object.keys(HUB_ROWS)];
    for (const t of [...sqliteTables(db)].sort()) if (!order.includes(t)) order.push(t);
    for (const t of order) {
      if (!sqliteTables(db).has(t)) continue;
      const rows = db.prepare(`SELECT * FROM "${t}"`).all() as Row[];
      for (const r of rows) {
        const cols = Object.keys(r);
        const names = cols.map((c) => `"${c}"`).join(', ');
        out.push(`INSERT INTO "${t}" (${names}) VALUES (${cols.map((c) => literal(r[c])).join(', ')});`);
      }
    }
  } finally {
    db.close();
  }
  // identity columns continue after the rows given their values
  out.push(`DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND is_identity = 'YES' LOOP
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L), COALESCE((SELECT max(%I) FROM %I), 0) + 1, false)',
                   r.table_name, r.column_name, r.column_name, r.table_name);
  END LOOP;
END $$;`);
  out.push('COMMIT;', '');
  return out.join('\n');
}

// ---------- the agent ----------

/** A sale event's body as a register sent it (quantities in units, money in minor units). */
const saleBody = (receipt: string, qty: number): string =>
  JSON.stringify({
    requestId: `m-${receipt}`,
    receipt,
    at: at(10),
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty, unitPrice: 1000 }],
    tenders: [{ kind: 'cash', amount: qty * 1000 }],
  });

const AGENT_ROWS: Record<string, Row[]> = {
  meta: [
    { key: 'agent_id', value: 'agent-fixture-1' },
    { key: 'incarnation', value: 'inc-fixture-1' },
  ],
  outbox: [
    {
      seq: 1,
      event_id: 'ev-1',
      kind: 'sale',
      register: 'R1',
      at: at(10),
      created_ms: Date.parse(at(10)),
      body: saleBody('R-1001', 2),
    },
    {
      seq: 2,
      event_id: 'ev-2',
      kind: 'sale',
      register: 'R1',
      at: at(11),
      created_ms: Date.parse(at(11)),
      body: saleBody('R-1002', 1),
    },
  ],
  replies: [
    {
      register: 'R1',
      msg_id: 'm-R-1001',
      type: 'sale',
      reply: '{"type":"ack","id":"m-R-1001"}',
      created_ms: Date.parse(at(10)),
    },
  ],
  receipts: [
    {
      receipt: 'R-1001',
      store: 'S1',
      register: 'R1',
      at: at(10),
      currency: 'EUR',
      lines: '[{"line":1,"sku":"A","qty":2000,"unitPrice":1000}]',
      created_ms: Date.parse(at(10)),
    },
  ],
  local_returns: [
    {
      authorization: 'AUTH-1',
      receipt: 'R-1001',
      register: 'R1',
      request_id: 'm-ret-1',
      mode: 'offline',
      decision: 'approved',
      status: 'approved',
      lines: '[{"line":1,"qty":1000,"disposition":"restock"}]',
      refund: 1000,
      created_ms: Date.parse(at(15)),
    },
  ],
  inventory: [{ sku: 'A', on_hand: 8000, updated_ms: Date.parse(at(12)) }],
  // 2
  terminal_status: [{ register: 'R1', state: 'ready', detail: null, at: at(9) }],
  // 4
  journal: [
    {
      event_id: 'ev-1',
      kind: 'sale',
      register: 'R1',
      business_day: '2026-01-10',
      at: at(10),
      created_ms: Date.parse(at(10)),
      body: saleBody('R-1001', 2),
      ref: 'R-1001',
      amount: 2000,
      tenders: '{"cash":2000}',
    },
    {
      event_id: 'ev-2',
      kind: 'sale',
      register: 'R1',
      business_day: '2026-01-10',
      at: at(11),
      created_ms: Date.parse(at(11)),
      body: saleBody('R-1002', 1),
      ref: 'R-1002',
      amount: 1000,
      tenders: '{"cash":1000}',
    },
  ],
  day_closes: [
    { register: 'R1', business_day: '2026-01-09', source: 'agent', event_id: 'ev-0', created_ms: Date.parse(at(-60)) },
  ],
};

// ---------- main ----------

type Kind = 'hub-sqlite' | 'hub-postgres' | 'agent';

function main(argv: string[]): void {
  const only = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--only' && value) {
      only.add(value);
      i++;
    } else
      throw new Error(
        `unknown argument ${argv[i]}: expected --only KIND:VERSION (kinds: hub-sqlite, hub-postgres, agent)`,
      );
  }
  const wanted = (k: Kind, v: number): boolean => only.size === 0 || only.has(`${k}:${v}`);
  const manifest: Record<string, Record<string, number>> = {};
  for (const k of ['hub-sqlite', 'hub-postgres', 'agent']) mkdirSync(join(OUT, k), { recursive: true });
  const tmp = join(OUT, '.tmp');
  mkdirSync(tmp, { recursive: true });
  try {
    for (let v = 1; v <= HUB_MIGRATIONS.length; v++) {
      const file = join(OUT, 'hub-sqlite', `v${v}.sqlite`);
      if (wanted('hub-sqlite', v)) buildSqlite(file, HUB_MIGRATIONS, v, HUB_ROWS, HUB_ROWS_AFTER);
    }
    for (let k = 1; k <= PG_MIGRATIONS.length; k++) {
      if (!wanted('hub-postgres', k)) continue;
      const src = join(tmp, `pg-v${k}.sqlite`);
      buildSqlite(src, HUB_MIGRATIONS, k + PG_TO_SQLITE_OFFSET, HUB_ROWS, HUB_ROWS_AFTER);
      writeFileSync(join(OUT, 'hub-postgres', `v${k}.sql.gz`), gzipSync(pgDump(k, src), { level: 9 }));
    }
    for (let v = 1; v <= AGENT_MIGRATIONS.length; v++) {
      if (wanted('agent', v)) buildSqlite(join(OUT, 'agent', `v${v}.sqlite`), AGENT_MIGRATIONS, v, AGENT_ROWS, {});
    }
    // the manifest describes every fixture on disk (those written now and those kept)
    for (let v = 1; v <= HUB_MIGRATIONS.length; v++)
      manifest[`hub-sqlite/v${v}`] = rowCounts(join(OUT, 'hub-sqlite', `v${v}.sqlite`));
    for (let v = 1; v <= AGENT_MIGRATIONS.length; v++)
      manifest[`agent/v${v}`] = rowCounts(join(OUT, 'agent', `v${v}.sqlite`));
    for (let k = 1; k <= PG_MIGRATIONS.length; k++)
      manifest[`hub-postgres/v${k}`] = rowCounts(join(OUT, 'hub-sqlite', `v${k + PG_TO_SQLITE_OFFSET}.sqlite`));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  writeFileSync(join(OUT, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(
    `wrote ${OUT}: hub-sqlite v1–v${HUB_MIGRATIONS.length}, hub-postgres v1–v${PG_MIGRATIONS.length}, ` +
      `agent v1–v${AGENT_MIGRATIONS.length}`,
  );
}

main(process.argv.slice(2));
