import type { HubStorage, Statement } from '../storage/index.js';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { DeferredKind } from '../storage/deferred-writes.js';
import { iso, type Clock } from '../domain/clock.js';
import { credentialId, hashCredential, newCredential, sameHash, seal, unseal, type HubSecrets } from './secrets.js';

export type AdminRole = 'admin' | 'operator';

/** Checks a new admin token's role and name (the admin API and the local command alike). */
export function adminTokenInput(role: unknown, name: unknown): { role: AdminRole; name: string } {
  if (role !== 'admin' && role !== 'operator')
    throw new TbError(TbCodes.INVALID, 'role: expected "admin" or "operator" (read-only)');
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100)
    throw new TbError(TbCodes.INVALID, 'name: expected who or what the token is for');
  return { role, name };
}

export interface AdminIdentity {
  id: string;
  role: AdminRole;
  name: string;
}

export type KeyState = 'active' | 'pending' | 'expiring' | 'expired' | 'revoked';

export interface ApiKeyInfo {
  id: string;
  store: string;
  state: KeyState;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  deliveredAt: string | null;
  confirmedAt: string | null;
  revokedAt: string | null;
}

interface KeyRow {
  id: string;
  store: string;
  hash: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  expires_at: string | null;
  secret_enc: string | null;
  delivered_at: string | null;
  confirmed_at: string | null;
}

/** At most this many keys of a store work at once (the current one and, during a rotation, the next). */
export const MAX_ACTIVE_KEYS = 2;

/**
 * Store API keys and admin tokens: created, shown once, stored as keyed hashes, checked in
 * constant time. A rotated-in key waits encrypted until the store's agent confirms it has it.
 */
export class Credentials {
  private readonly insertKey: Statement;
  private readonly getKey: Statement;
  private readonly keysOf: Statement;
  /** when each key was last used, not yet written (a deferred write: nobody is owed it) */
  private readonly lastUsed: DeferredKind<{ id: string; at: string }>;
  private readonly updKey: Statement;
  private readonly insertAdmin: Statement;
  private readonly getAdmin: Statement;
  private readonly admins: Statement;
  private readonly revokeAdmin: Statement;
  private readonly activeAdmins: Statement;

  constructor(
    private readonly storage: HubStorage,
    private readonly secrets: HubSecrets,
    private readonly clock: Clock,
  ) {
    const db = storage.db;
    this.insertKey = db.prepare(
      `INSERT INTO api_keys (id, store, hash, created_at, secret_enc) VALUES (?, ?, ?, ?, ?)`,
    );
    this.getKey = db.prepare(`SELECT * FROM api_keys WHERE id = ?`);
    this.keysOf = db.prepare(`SELECT * FROM api_keys WHERE store = ? ORDER BY created_at, id`);
    const touchKey = db.prepare(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`);
    this.lastUsed = storage.deferred.kind('api_keys.last_used_at', (v) => void touchKey.run(v.at, v.id));
    this.updKey = db.prepare(
      `UPDATE api_keys SET expires_at = @expires_at, revoked_at = @revoked_at, secret_enc = @secret_enc,
       delivered_at = @delivered_at, confirmed_at = @confirmed_at WHERE id = @id`,
    );
    this.insertAdmin = db.prepare(`INSERT INTO admin_tokens (id, hash, role, name, created_at) VALUES (?, ?, ?, ?, ?)`);
    this.getAdmin = db.prepare(`SELECT id, hash, role, name, revoked_at FROM admin_tokens WHERE id = ?`);
    this.activeAdmins = db.prepare(
      `SELECT COUNT(*) AS n FROM admin_tokens WHERE role = 'admin' AND revoked_at IS NULL`,
    );
    this.admins = db.prepare(`SELECT id, role, name, created_at, revoked_at FROM admin_tokens ORDER BY created_at`);
    this.revokeAdmin = db.prepare(`UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`);
  }

  private stateOf(k: KeyRow, now: string): KeyState {
    if (k.revoked_at) return 'revoked';
    if (k.expires_at && k.expires_at <= now) return 'expired';
    if (k.expires_at) return 'expiring';
    if (k.secret_enc) return 'pending';
    return 'active';
  }

  private working(k: KeyRow, now: string): boolean {
    const st = this.stateOf(k, now);
    return st === 'active' || st === 'pending' || st === 'expiring';
  }

  /** The store's first key (stores add). */
  createApiKey(store: string): string {
    const c = newCredential('tbk');
    this.insertKey.run(c.id, store, hashCredential(this.secrets.credentialKey, c.secret), iso(this.clock.now()), null);
    return c.secret;
  }

  /**
   * The key an enrollment code is answered with (tillbridge-agent enroll): a new key that works at
   * once (delivered in the answer, so not kept sealed), and every key of the store that worked so
   * far ended now — the store's previous agent (a replaced PC) is cut off. Returns the new key and
   * the ids of the keys ended (their connections are to be closed).
   */
  enrollKey(store: string): { id: string; secret: string; ended: string[] } {
    return this.storage.tx(() => {
      const nowIso = iso(this.clock.now());
      const ended: string[] = [];
      for (const k of this.keysOf.all(store) as KeyRow[]) {
        if (!this.working(k, nowIso)) continue;
        // revoked, not expired: ended on purpose, and `keys list` says so
        this.updKey.run({ ...k, revoked_at: nowIso, secret_enc: null });
        ended.push(k.id);
      }
      const c = newCredential('tbk');
      this.insertKey.run(c.id, store, hashCredential(this.secrets.credentialKey, c.secret), nowIso, null);
      return { id: c.id, secret: c.secret, ended };
    });
  }

  /**
   * A new key for a store: it works at once, waits (encrypted) to be delivered to the store's agent,
   * and the keys that worked so far stop working `graceMs` from now (one already ending keeps its end if that is
   * sooner). Refused during another rotation's grace while its new key works, and when that would make more than two
   * keys work at once. A rotation whose new key was revoked (leaked before the agent had it) may be followed by
   * another at once: only the ending key still works, and the store must not wait out its grace with no new key.
   * `oldExpireAt`: when the last of the old keys stops working.
   */
  rotate(store: string, graceMs: number): { id: string; secret: string; oldExpireAt: string } {
    return this.storage.tx(() => {
      const now = this.clock.now();
      const nowIso = iso(now);
      const keys = (this.keysOf.all(store) as KeyRow[]).filter((k) => this.working(k, nowIso));
      if (keys.some((k) => k.expires_at) && keys.some((k) => !k.expires_at)) {
        throw new TbError(
          TbCodes.CONFLICT,
          `a rotation of store ${store} is still in its grace period: ` +
            `wait for it to end, or revoke the old key (tillbridge-hub keys revoke)`,
        );
      }
      if (keys.length >= MAX_ACTIVE_KEYS) {
        throw new TbError(
          TbCodes.CONFLICT,
          `store ${store} already has ${keys.length} working keys: revoke one first (tillbridge-hub keys revoke)`,
        );
      }
      const graceEnd = iso(now + graceMs);
      // no key working (all revoked): the grace's end, as when there is one
      let oldExpireAt = keys.length === 0 ? graceEnd : nowIso;
      for (const k of keys) {
        const end = k.expires_at !== null && k.expires_at < graceEnd ? k.expires_at : graceEnd;
        if (end > oldExpireAt) oldExpireAt = end;
        // a key still waiting for its agent is superseded: the new one is delivered instead, the old text forgotten
        this.updKey.run({ ...k, expires_at: end, secret_enc: null });
      }
      const c = newCredential('tbk');
      this.insertKey.run(
        c.id,
        store,
        hashCredential(this.secrets.credentialKey, c.secret),
        nowIso,
        seal(this.secrets.sealKey, c.secret),
      );
      return { id: c.id, secret: c.secret, oldExpireAt };
    });
  }

  /** The key waiting to be delivered to the store's agent (the newest, should there be several). */
  pendingKey(store: string): { id: string; secret: string } | undefined {
    const nowIso = iso(this.clock.now());
    const k = (this.keysOf.all(store) as KeyRow[]).filter((x) => x.secret_enc && this.working(x, nowIso)).at(-1);
    return k?.secret_enc ? { id: k.id, secret: unseal(this.secrets.sealKey, k.secret_enc) } : undefined;
  }

  /** The key is being sent to the store's agent (owed: committed synced before it is sent). */
  markDelivered(id: string): void {
    this.storage.tx(() => {
      const k = this.getKey.get(id) as KeyRow | undefined;
      if (k && !k.delivered_at) this.updKey.run({ ...k, delivered_at: iso(this.clock.now()) });
    });
  }

  /**
   * The agent says it stored the key: the hub forgets the key's text. Returns whether it was
   * pending; then `also` (the audit entry) runs in the same transaction.
   */
  confirm(store: string, id: string, also?: () => void): boolean {
    return this.storage.tx(() => {
      const k = this.getKey.get(id) as KeyRow | undefined;
      if (k?.store !== store || !k.secret_enc || !this.working(k, iso(this.clock.now()))) return false;
      this.updKey.run({ ...k, secret_enc: null, confirmed_at: iso(this.clock.now()) });
      also?.();
      return true;
    });
  }

  /** Ends a key at once. */
  revoke(store: string, id: string): void {
    const k = this.getKey.get(id) as KeyRow | undefined;
    if (k?.store !== store) throw new TbError(TbCodes.NOT_FOUND, `store ${store} has no key ${id}`);
    if (k.revoked_at) throw new TbError(TbCodes.CONFLICT, `key ${id} was already revoked`);
    this.updKey.run({ ...k, revoked_at: iso(this.clock.now()), secret_enc: null });
  }

  listKeys(store: string): ApiKeyInfo[] {
    const nowIso = iso(this.clock.now());
    return (this.keysOf.all(store) as KeyRow[]).map((k) => ({
      id: k.id,
      store: k.store,
      state: this.stateOf(k, nowIso),
      createdAt: k.created_at,
      expiresAt: k.expires_at,
      lastUsedAt: this.lastUsed.get(k.store, k.id)?.at ?? k.last_used_at,
      deliveredAt: k.delivered_at,
      confirmedAt: k.confirmed_at,
      revokedAt: k.revoked_at,
    }));
  }

  /** Whether key `id` of `store` still works (tokens issued with a key die with it). */
  keyWorks(store: string, id: string): boolean {
    const k = this.getKey.get(id) as KeyRow | undefined;
    return k?.store === store && this.working(k, iso(this.clock.now()));
  }

  /** The store and key id an API key belongs to; throws TB_UNAUTHORIZED otherwise (without saying why). */
  checkApiKey(store: string, secret: string): { store: string; keyId: string } {
    const id = credentialId(secret, 'tbk');
    const row = id ? (this.getKey.get(id) as KeyRow | undefined) : undefined;
    const expected = row?.hash ?? '0'.repeat(64);
    const match = sameHash(expected, hashCredential(this.secrets.credentialKey, secret));
    if (!row || !match || row.store !== store || !this.working(row, iso(this.clock.now())))
      throw new TbError(TbCodes.UNAUTHORIZED, 'unknown store or API key');
    this.lastUsed.put(row.store, row.id, { id: row.id, at: iso(this.clock.now()) });
    return { store: row.store, keyId: row.id };
  }

  createAdminToken(role: AdminRole, name: string): { id: string; secret: string } {
    const c = newCredential('tba');
    this.insertAdmin.run(c.id, hashCredential(this.secrets.credentialKey, c.secret), role, name, iso(this.clock.now()));
    return { id: c.id, secret: c.secret };
  }

  listAdminTokens(): { id: string; role: AdminRole; name: string; createdAt: string; revokedAt: string | null }[] {
    return (
      this.admins.all() as {
        id: string;
        role: AdminRole;
        name: string;
        created_at: string;
        revoked_at: string | null;
      }[]
    ).map((t) => ({ id: t.id, role: t.role, name: t.name, createdAt: t.created_at, revokedAt: t.revoked_at }));
  }

  /**
   * Ends an admin token at once. The last active admin-role token is refused (TB_LAST_ADMIN): with
   * it gone nobody could change anything, nor make another admin token through the API.
   */
  revokeAdminToken(id: string): void {
    this.storage.tx(() => {
      const row = this.getAdmin.get(id) as { role: AdminRole; revoked_at: string | null } | undefined;
      if (row?.revoked_at !== null) throw new TbError(TbCodes.NOT_FOUND, `no active admin token ${id}`);
      if (row.role === 'admin' && (this.activeAdmins.get() as { n: number }).n <= 1) {
        throw new TbError(
          TbCodes.LAST_ADMIN,
          `${id} is the last active admin token: revoking it would lock every operator out. ` +
            `Create another admin token first (tillbridge-hub tokens create --role admin --name …), ` +
            `then revoke this one`,
        );
      }
      this.revokeAdmin.run(iso(this.clock.now()), id);
    });
  }

  /** The admin or operator token of this id, unless it is revoked (or was never made). */
  activeAdminToken(id: string): AdminIdentity | undefined {
    const row = this.getAdmin.get(id) as
      { id: string; role: AdminRole; name: string; revoked_at: string | null } | undefined;
    return row?.revoked_at === null ? { id: row.id, role: row.role, name: row.name } : undefined;
  }

  checkAdminToken(secret: string): AdminIdentity {
    const id = credentialId(secret, 'tba');
    const row = id
      ? (this.getAdmin.get(id) as
          { id: string; hash: string; role: AdminRole; name: string; revoked_at: string | null } | undefined)
      : undefined;
    const match = sameHash(row?.hash ?? '0'.repeat(64), hashCredential(this.secrets.credentialKey, secret));
    if (!row || !match || row.revoked_at !== null) {
      throw new TbError(TbCodes.UNAUTHORIZED, 'unknown or revoked admin token');
    }
    return { id: row.id, role: row.role, name: row.name };
  }
}
