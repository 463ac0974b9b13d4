import type { Statement } from 'better-sqlite3';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { HubStorage } from '../storage/sqlite.js';
import { iso, type Clock } from '../domain/clock.js';
import { credentialId, hashCredential, newCredential, sameHash, type HubSecrets } from './secrets.js';

export type AdminRole = 'admin' | 'operator';

export interface AdminIdentity {
  id: string;
  role: AdminRole;
  name: string;
}

/** Store API keys and admin tokens: created, shown once, stored as keyed hashes, checked in constant time. */
export class Credentials {
  private readonly insertKey: Statement;
  private readonly getKey: Statement;
  private readonly touchKey: Statement;
  private readonly insertAdmin: Statement;
  private readonly getAdmin: Statement;

  constructor(s: HubStorage, private readonly secrets: HubSecrets, private readonly clock: Clock) {
    this.insertKey = s.db.prepare(`INSERT INTO api_keys (id, store, hash, created_at) VALUES (?, ?, ?, ?)`);
    this.getKey = s.db.prepare(`SELECT id, store, hash, revoked_at FROM api_keys WHERE id = ?`);
    this.touchKey = s.db.prepare(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`);
    this.insertAdmin = s.db.prepare(`INSERT INTO admin_tokens (id, hash, role, name, created_at) VALUES (?, ?, ?, ?, ?)`);
    this.getAdmin = s.db.prepare(`SELECT id, hash, role, name, revoked_at FROM admin_tokens WHERE id = ?`);
  }

  createApiKey(store: string): string {
    const c = newCredential('tbk');
    this.insertKey.run(c.id, store, hashCredential(this.secrets.credentialKey, c.secret), iso(this.clock.now()));
    return c.secret;
  }

  /** The store an API key belongs to; throws TB_UNAUTHORIZED otherwise (without saying why). */
  checkApiKey(store: string, secret: string): string {
    const id = credentialId(secret, 'tbk');
    const row = id ? (this.getKey.get(id) as { id: string; store: string; hash: string; revoked_at: string | null } | undefined) : undefined;
    const ok = row !== undefined && row.revoked_at === null && row.store === store && sameHash(row.hash, hashCredential(this.secrets.credentialKey, secret));
    if (!ok) throw new TbError(TbCodes.UNAUTHORIZED, 'unknown store or API key');
    this.touchKey.run(iso(this.clock.now()), row.id);
    return row.store;
  }

  createAdminToken(role: AdminRole, name: string): string {
    const c = newCredential('tba');
    this.insertAdmin.run(c.id, hashCredential(this.secrets.credentialKey, c.secret), role, name, iso(this.clock.now()));
    return c.secret;
  }

  checkAdminToken(secret: string): AdminIdentity {
    const id = credentialId(secret, 'tba');
    const row = id ? (this.getAdmin.get(id) as { id: string; hash: string; role: AdminRole; name: string; revoked_at: string | null } | undefined) : undefined;
    if (!row || row.revoked_at !== null || !sameHash(row.hash, hashCredential(this.secrets.credentialKey, secret))) {
      throw new TbError(TbCodes.UNAUTHORIZED, 'unknown or revoked admin token');
    }
    return { id: row.id, role: row.role, name: row.name };
  }
}
