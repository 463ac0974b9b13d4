/**
 * Enrollment codes (docs/install.md "Enrolling a store"), one migration on each engine (SQLite:
 * HUB_MIGRATIONS[15], version 16; PostgreSQL: PG_MIGRATIONS[6], version 7).
 *
 * - enrollment_codes: a short-lived one-time code an operator made for a store. Only a keyed hash
 *   of the code is kept (`hash`, HMAC under the hub.secret's credential key); `id` is a public
 *   handle shown in listings and the audit. `used_at` is set once, by the request that used it
 *   (with the address it came from and the id of the API key it was answered with).
 */
export function enrollmentSchema(): string {
  return `
  CREATE TABLE enrollment_codes (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    store TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    used_at TEXT,
    used_from TEXT,
    key_id TEXT
  );
  CREATE INDEX enrollment_codes_store ON enrollment_codes(store, created_at);
  `;
}
