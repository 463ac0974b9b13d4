import type { HubStorage, Statement } from '../storage/index.js';
import { TbCodes, TbError } from '@tillbridge/shared';
import { hashCredential, sameHash } from '../auth/secrets.js';
import { iso, type Clock } from './clock.js';

export interface ManagerRow {
  id: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

/** The managers who may override a decision; their codes are kept as keyed hashes only. */
export class Managers {
  private readonly insert: Statement;
  private readonly get: Statement;
  private readonly all: Statement;
  private readonly revoke: Statement;

  constructor(
    s: HubStorage,
    private readonly key: Buffer,
    private readonly clock: Clock,
  ) {
    this.insert = s.db.prepare(
      `INSERT INTO managers (id, name, hash, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash, revoked_at = NULL`,
    );
    this.get = s.db.prepare(`SELECT * FROM managers WHERE id = ?`);
    this.all = s.db.prepare(`SELECT id, name, created_at, revoked_at FROM managers ORDER BY id`);
    this.revoke = s.db.prepare(`UPDATE managers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`);
  }

  private hash(id: string, code: string): string {
    return hashCredential(this.key, `manager:${id}:${code}`);
  }

  /** Adds a manager, or sets a new code for one. */
  set(id: string, name: string, code: string): void {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id))
      throw new TbError(TbCodes.INVALID, 'id: expected 1-64 letters, digits, ".", "_" or "-"');
    if (code.length < 4 || code.length > 64) throw new TbError(TbCodes.INVALID, 'code: expected 4 to 64 characters');
    this.insert.run(id, name, this.hash(id, code), iso(this.clock.now()));
  }

  remove(id: string): boolean {
    return this.revoke.run(iso(this.clock.now()), id).changes > 0;
  }

  list(): ManagerRow[] {
    return this.all.all() as ManagerRow[];
  }

  /** Whether `code` is the current code of manager `id` (constant-time comparison). */
  check(id: string, code: string): boolean {
    const row = this.get.get(id) as { hash: string; revoked_at: string | null } | undefined;
    const expected = row?.hash ?? '0'.repeat(64);
    const ok = sameHash(expected, this.hash(id, code));
    return ok && row?.revoked_at === null;
  }
}
