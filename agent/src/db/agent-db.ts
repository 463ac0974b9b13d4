import Database from 'better-sqlite3';
import { join } from 'node:path';
import {
  applySqliteMigrations,
  ensurePrivateDir,
  newId,
  openMigratedSqlite,
  preparePrivateSqlite,
  type Logger,
} from '@tillbridge/shared';

export type Db = Database.Database;

/**
 * The agent's SQLite file: WAL, synchronous=FULL (data in it is owed to a register or the hub).
 * Schema changes are numbered migrations applied in order inside one transaction each.
 */
export const AGENT_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

  -- Durable events owed to the hub, in order. A row leaves only after the hub acked its seq.
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    register TEXT NOT NULL,
    at TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL
  );

  -- The answer given to each register message, so a retransmitted id gets the same answer.
  CREATE TABLE replies (
    register TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    type TEXT NOT NULL,
    reply TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (register, msg_id)
  ) WITHOUT ROWID;
  CREATE INDEX replies_created ON replies(created_ms);

  -- Receipts this agent knows: sold here, or learned from the hub's answers.
  CREATE TABLE receipts (
    receipt TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    register TEXT,
    at TEXT,
    currency TEXT NOT NULL,
    lines TEXT NOT NULL,
    created_ms INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Every return decision this agent gave, online or offline, and what became of it.
  CREATE TABLE local_returns (
    authorization TEXT PRIMARY KEY,
    receipt TEXT NOT NULL,
    register TEXT NOT NULL,
    request_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    decision TEXT NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    refund INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX local_returns_receipt ON local_returns(receipt);

  -- The store's inventory as last pushed by the hub (milli-units).
  CREATE TABLE inventory (
    sku TEXT PRIMARY KEY,
    on_hand INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- The last state each register reported about itself ({"type":"status"}).
  CREATE TABLE terminal_status (
    register TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    detail TEXT,
    at TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- How each known sale was paid (card, cash…): the refund tender rules need it offline.
  ALTER TABLE receipts ADD COLUMN tender_kinds TEXT NOT NULL DEFAULT '[]';
  -- What each decision allows, and until when it holds.
  ALTER TABLE local_returns ADD COLUMN allowed_tenders TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE local_returns ADD COLUMN expires_at TEXT;
  `,
  `
  -- Every event this agent forwarded (written with its outbox row, in one transaction), kept for
  -- a retention period after the hub acked it: what the day close counts and what a resend sends
  -- again, with the original ids. business_day: a date in the store's zone; ref: the sale's
  -- receipt or the completed return's authorization; amount: the sale's line totals or the
  -- refund (minor units); tenders: {"kind": amount} taken (sales) or paid out (refunds, negative).
  CREATE TABLE journal (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    register TEXT NOT NULL,
    business_day TEXT NOT NULL,
    at TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    ref TEXT,
    amount INTEGER,
    tenders TEXT
  ) WITHOUT ROWID;
  CREATE INDEX journal_day ON journal(register, business_day);
  CREATE INDEX journal_created ON journal(created_ms);

  -- The day closes sent for each register and business day: the register's own, or the agent's
  -- at the cut-off (once per register and day).
  CREATE TABLE day_closes (
    register TEXT NOT NULL,
    business_day TEXT NOT NULL,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (register, business_day, source, event_id)
  ) WITHOUT ROWID;
  `,
  `
  -- The offline daily limit: what one register approved offline since the start of the day.
  CREATE INDEX local_returns_offline ON local_returns(register, mode, created_ms);
  -- Receipts and decisions are kept for the returns policy's window and a margin, then pruned by age
  -- (core/return-history.ts).
  CREATE INDEX receipts_created ON receipts(created_ms);
  CREATE INDEX local_returns_created ON local_returns(created_ms);
  `,
  `
  -- What an online return request or receipt look-up waits for at the hub (core's CoreContext.queuedSeqFor): the
  -- queued sale of the receipt asked about, its returns' events, the newest event that is not a sale — not the
  -- whole backlog of sales.
  CREATE INDEX outbox_not_sales ON outbox(seq) WHERE kind <> 'sale';
  CREATE INDEX journal_ref ON journal(ref) WHERE ref IS NOT NULL;
  `,
];

export interface OpenOptions {
  /** Defaults to FULL: a commit survives power loss. */
  synchronous?: 'FULL' | 'NORMAL';
  /** where the pre-migration copy is reported */
  log?: Logger;
}

/** The schema version the running agent writes (SQLite's `user_version`); restore refuses a backup from a newer one. */
export const AGENT_SCHEMA_VERSION = AGENT_MIGRATIONS.length;

export function agentDbPath(dataDir: string): string {
  return join(dataDir, 'agent.sqlite');
}

export function openAgentDb(dataDir: string, opts: OpenOptions = {}): Db {
  ensurePrivateDir(dataDir);
  const file = agentDbPath(dataDir);
  // agent.sqlite and its -wal/-shm are 0600 whatever the directory or umask
  preparePrivateSqlite(file, true);
  const db = openMigratedSqlite(() => new Database(file), {
    file,
    migrations: AGENT_MIGRATIONS,
    program: 'tillbridge-agent',
    newerAdvice: 'a newer agent wrote it; install that version again',
    synchronous: opts.synchronous,
    log: opts.log,
  });
  try {
    // A group commit writes each message in a savepoint of its own, and SQLite journals the pages a savepoint
    // changes in a sub-journal that spills to a temporary file past 64 KiB: a write syscall per page for every sale
    // of a busy group. The agent has no temporary tables, so its temporary storage (the sub-journal of at most one
    // group) is memory.
    db.pragma('temp_store = MEMORY');
    const row = db.prepare(`SELECT value FROM meta WHERE key = 'agent_id'`).get() as { value: string } | undefined;
    if (!row) db.prepare(`INSERT INTO meta (key, value) VALUES ('agent_id', ?)`).run(newId());
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Opens an agent's database file as it is, read-only, nothing migrated (it must exist): `status` and backups look. */
export function openAgentDbReadonly(file: string): Db {
  return new Database(file, { readonly: true, fileMustExist: true });
}

/**
 * better-sqlite3's constructor, for SQLite's online backup API (shared's backup procedure opens the file it copies, and
 * the file it restores over, with it): the agent's one driver, handed out by the layer that owns it.
 */
export const SQLITE_DRIVER: typeof Database = Database;

/**
 * Runs `write` with its commit not waiting for the disk (synchronous=NORMAL: in WAL mode the commit stays atomic, and a
 * power loss may undo it), then puts the connection's setting back, whatever `write` did. Only for what the agent gets
 * back after a power loss without anyone having relied on it: its copy of what the hub holds durably (a decision, the
 * inventory pushed again in full at every connection) and the deletion of outbox rows the hub confirmed (sent again,
 * they are answered `duplicate`).
 */
export function withoutFsync<T>(db: Db, write: () => T): T {
  const sync = syncPragmas(db);
  const before = sync.read.get() as number;
  if (before <= SYNCHRONOUS_NORMAL) return write();
  sync.normal.run();
  try {
    return write();
  } finally {
    sync.set(before);
  }
}

/** SQLite's number for synchronous=NORMAL (OFF is 0, FULL 2, EXTRA 3). */
const SYNCHRONOUS_NORMAL = 1;

interface SyncPragmas {
  read: Database.Statement;
  normal: Database.Statement;
  set(level: number): void;
}

/** Each connection's synchronous pragmas, prepared once: `db.pragma()` prepares its statement on every call. */
const syncPragmasOf = new WeakMap<Db, SyncPragmas>();

function syncPragmas(db: Db): SyncPragmas {
  let p = syncPragmasOf.get(db);
  if (!p) {
    const levels = new Map<number, Database.Statement>();
    p = {
      read: db.prepare('PRAGMA synchronous').pluck(),
      normal: db.prepare(`PRAGMA synchronous = ${SYNCHRONOUS_NORMAL}`),
      set(level) {
        let st = levels.get(level);
        if (!st) levels.set(level, (st = db.prepare(`PRAGMA synchronous = ${level}`)));
        st.run();
      },
    };
    syncPragmasOf.set(db, p);
  }
  return p;
}

/** Applies the agent's migrations up to `target` (the generator of test fixtures stops short of the newest). */
export function migrateTo(db: Db, target: number): void {
  applySqliteMigrations(db, AGENT_MIGRATIONS, target);
}

export function agentId(db: Db): string {
  return (db.prepare(`SELECT value FROM meta WHERE key = 'agent_id'`).get() as { value: string }).value;
}

export function getMeta(db: Db, key: string): string | undefined {
  return (db.prepare(`SELECT value FROM meta WHERE key = ?`).get(key) as { value: string } | undefined)?.value;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(
    key,
    value,
  );
}
