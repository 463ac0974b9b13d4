import { randomBytes } from 'node:crypto';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { Credentials } from '../auth/credentials.js';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import type { HubStorage, Statement } from '../storage/index.js';
import { hashCode, newEnrollmentCode, normalizeCode } from './code.js';

export const MINUTE = 60_000;
/** How long a code works unless the operator says otherwise (`stores enroll --ttl`). */
export const DEFAULT_ENROLLMENT_TTL_MS = 60 * MINUTE;
export const MIN_ENROLLMENT_TTL_MS = MINUTE;
export const MAX_ENROLLMENT_TTL_MS = 7 * 24 * 60 * MINUTE;

/** The one answer to a code that does not work, whatever the reason (no oracle). */
export const CODE_REFUSED = 'unknown, expired or already used enrollment code';

export interface EnrollmentView {
  id: string;
  store: string;
  createdAt: string;
  expiresAt: string;
  createdBy: string;
  state: 'pending' | 'used' | 'expired';
  usedAt: string | null;
  usedFrom: string | null;
}

interface Row {
  id: string;
  hash: string;
  store: string;
  created_at: string;
  expires_at: string;
  created_by: string;
  used_at: string | null;
  used_from: string | null;
  key_id: string | null;
}

/**
 * One-time enrollment codes: an operator makes one for a store (`stores enroll`); the store's
 * agent trades it once, before it expires, for a new API key (`tillbridge-agent enroll`). Only a
 * keyed hash of a code is stored. Using one is a single conditional UPDATE (used_at still null,
 * not expired), in the same transaction as the new key and the audit entry: two requests with the
 * same code — on one hub process or several on PostgreSQL — cannot both get a key.
 */
export class Enrollments {
  private readonly insert: Statement;
  private readonly take: Statement;
  private readonly byHash: Statement;
  private readonly setKey: Statement;
  private readonly list: Statement;
  private readonly listStore: Statement;

  constructor(
    private readonly storage: HubStorage,
    private readonly key: Buffer,
    private readonly credentials: Pick<Credentials, 'enrollKey'>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {
    const db = storage.db;
    this.insert = db.prepare(
      `INSERT INTO enrollment_codes (id, hash, store, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.take = db.prepare(
      `UPDATE enrollment_codes SET used_at = @now, used_from = @source
       WHERE hash = @hash AND used_at IS NULL AND expires_at > @now RETURNING id, store`,
    );
    this.byHash = db.prepare(`SELECT * FROM enrollment_codes WHERE hash = ?`);
    this.setKey = db.prepare(`UPDATE enrollment_codes SET key_id = ? WHERE id = ?`);
    this.list = db.prepare(
      `SELECT * FROM enrollment_codes WHERE used_at IS NULL AND expires_at > ? ORDER BY created_at, id`,
    );
    this.listStore = db.prepare(`SELECT * FROM enrollment_codes WHERE store = ? ORDER BY created_at, id`);
  }

  /** A new code for `store`, working `ttlMs` from now. The code itself is only in the answer. */
  create(store: string, ttlMs: number, actor: string): { id: string; code: string; store: string; expiresAt: string } {
    if (!Number.isInteger(ttlMs) || ttlMs < MIN_ENROLLMENT_TTL_MS || ttlMs > MAX_ENROLLMENT_TTL_MS) {
      throw new TbError(TbCodes.INVALID, 'ttlMs: expected from 1 minute to 7 days in milliseconds');
    }
    const now = this.clock.now();
    const code = newEnrollmentCode();
    const id = `enr_${randomBytes(5).toString('hex')}`;
    const expiresAt = iso(now + ttlMs);
    const typed = normalizeCode(code);
    if (typed === undefined) throw new TbError(TbCodes.INTERNAL, 'a new enrollment code does not read back');
    this.storage.tx(() => {
      this.insert.run(id, hashCode(this.key, typed), store, iso(now), expiresAt, actor);
      this.audit.append({
        actor,
        action: 'enrollment.create',
        outcome: 'created',
        store,
        resource: `enrollment:${id}`,
        details: { expiresAt, ttlMs },
      });
    });
    return { id, code, store, expiresAt };
  }

  /**
   * Uses a code: marks it used, ends the store's keys and makes a new one, audits
   * `enrollment.use` — one transaction. A code that does not work is audited as
   * `enrollment.refused` (with why: for the operator, never for the caller) and throws
   * TB_UNAUTHORIZED with the one message for every reason.
   */
  use(typed: string, source: string): { id: string; store: string; apiKey: string; keyId: string; ended: string[] } {
    const canonical = normalizeCode(typed);
    const hash = canonical === undefined ? undefined : hashCode(this.key, canonical);
    const now = iso(this.clock.now());
    const out =
      hash === undefined
        ? undefined
        : this.storage.tx(() => {
            const r = this.take.get({ now, source, hash }) as { id: string; store: string } | undefined;
            if (!r) return undefined;
            const k = this.credentials.enrollKey(r.store);
            this.setKey.run(k.id, r.id);
            this.audit.append({
              actor: `source:${source}`,
              action: 'enrollment.use',
              outcome: 'used',
              store: r.store,
              resource: `enrollment:${r.id}`,
              details: { keyId: k.id, endedKeys: k.ended },
            });
            return { id: r.id, store: r.store, apiKey: k.secret, keyId: k.id, ended: k.ended };
          });
    if (out) return out;
    const row = hash === undefined ? undefined : (this.byHash.get(hash) as Row | undefined);
    const reason =
      hash === undefined ? 'malformed' : !row ? 'unknown' : row.used_at !== null ? 'already used' : 'expired';
    this.audit.append({
      actor: `source:${source}`,
      action: 'enrollment.refused',
      outcome: 'refused',
      store: row?.store ?? null,
      resource: row ? `enrollment:${row.id}` : 'enrollment',
      details: { reason },
    });
    throw new TbError(TbCodes.UNAUTHORIZED, CODE_REFUSED);
  }

  /** The codes not yet used nor expired (every store's), or every code of `store`. */
  codes(store?: string): EnrollmentView[] {
    const now = iso(this.clock.now());
    const rows = (store === undefined ? this.list.all(now) : this.listStore.all(store)) as Row[];
    return rows.map((r) => ({
      id: r.id,
      store: r.store,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      createdBy: r.created_by,
      state: r.used_at !== null ? 'used' : r.expires_at <= now ? 'expired' : 'pending',
      usedAt: r.used_at,
      usedFrom: r.used_from,
    }));
  }
}
