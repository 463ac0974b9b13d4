/**
 * Migration 7 (the audit trail tooling): signed checkpoints of the chain head, the indexes that
 * export and retention page over, and the `origin` column (where an entry came from). Applied by
 * storage/schema.ts as HUB_MIGRATIONS[6].
 */
export const AUDIT_TRAIL_SCHEMA = `
  -- Where an entry came from (e.g. "ip:10.0.0.5", "agent:<id>", "cli:local", "hub"); NULL for the
  -- entries written before it existed. Hashed into the entry only when not NULL, so every older
  -- entry keeps its hash.
  ALTER TABLE audit ADD COLUMN origin TEXT;
  CREATE INDEX audit_at ON audit(at);
  CREATE INDEX audit_store ON audit(store, id);

  -- Signed checkpoints of the audit chain's head (Ed25519): payload is the exact signed text.
  CREATE TABLE audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL UNIQUE,
    entry_hash TEXT NOT NULL,
    entries INTEGER NOT NULL,
    at TEXT NOT NULL,
    payload TEXT NOT NULL,
    signature TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL
  );
`;
