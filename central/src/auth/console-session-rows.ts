import type { HubStorage, Statement } from '../storage/index.js';

/** A console session as every hub process on the database sees it (the cookie's value is never stored). */
export interface ConsoleSessionRow {
  /** the admin or operator token signed in with (admin_tokens.id): checked again on each request */
  tokenId: string;
  createdMs: number;
  lastUsedMs: number;
}

/**
 * The operator console's sessions, kept in the hub's database so that every hub process on it knows them: behind a
 * load balancer a viewer's requests may reach any process (docs/console.md "Signing in"). Rows are keyed by the
 * SHA-256 of the cookie's value — whoever reads the database cannot sign in with what is there.
 */
export class ConsoleSessionRows {
  private readonly insertRow: Statement;
  private readonly getRow: Statement;
  private readonly touchRow: Statement;
  private readonly deleteRow: Statement;
  private readonly deleteExpired: Statement;
  private readonly countRows: Statement;

  constructor(s: HubStorage) {
    const db = s.db;
    this.insertRow = db.prepare(
      `INSERT INTO console_sessions (id_hash, token_id, created_ms, last_used_ms) VALUES (?, ?, ?, ?)`,
    );
    this.getRow = db.prepare(`SELECT token_id, created_ms, last_used_ms FROM console_sessions WHERE id_hash = ?`);
    this.touchRow = db.prepare(`UPDATE console_sessions SET last_used_ms = ? WHERE id_hash = ? AND last_used_ms < ?`);
    this.deleteRow = db.prepare(`DELETE FROM console_sessions WHERE id_hash = ?`);
    this.deleteExpired = db.prepare(`DELETE FROM console_sessions WHERE created_ms <= ? OR last_used_ms <= ?`);
    this.countRows = db.prepare(`SELECT COUNT(*) AS n FROM console_sessions`);
  }

  insert(idHash: string, tokenId: string, nowMs: number): void {
    this.insertRow.run(idHash, tokenId, nowMs, nowMs);
  }

  get(idHash: string): ConsoleSessionRow | undefined {
    const r = this.getRow.get(idHash) as { token_id: string; created_ms: number; last_used_ms: number } | undefined;
    return r && { tokenId: r.token_id, createdMs: r.created_ms, lastUsedMs: r.last_used_ms };
  }

  /** Notes a use at `nowMs` (never moves it back: two processes may touch the same session). */
  touch(idHash: string, nowMs: number): void {
    this.touchRow.run(nowMs, idHash, nowMs);
  }

  delete(idHash: string): void {
    this.deleteRow.run(idHash);
  }

  /** Deletes the sessions made at or before `createdBefore` or last used at or before `usedBefore`; how many. */
  deleteOlder(createdBefore: number, usedBefore: number): number {
    return this.deleteExpired.run(createdBefore, usedBefore).changes;
  }

  count(): number {
    return Number((this.countRows.get() as { n: number | string }).n);
  }
}

/**
 * The console's sessions, one migration on each engine (SQLite's version 18, PostgreSQL's 9; migrations.ts).
 * Times are epoch milliseconds of the hub's clock.
 */
export function consoleSessionsSchema(d: { integer: string }): string {
  return `
  CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    created_ms ${d.integer} NOT NULL,
    last_used_ms ${d.integer} NOT NULL
  );
  CREATE INDEX console_sessions_used ON console_sessions(last_used_ms);
  `;
}
