import type { HubStorage, Statement } from '../storage/index.js';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { Credentials } from '../auth/credentials.js';
import type { AuditLog } from './audit-log.js';
import { iso, type Clock } from './clock.js';

export interface KeyDelivery {
  /** Sends the store's pending key to its connected agent, if it is connected. */
  deliver(store: string): void;
  /** Closes the connections authenticated with a key that no longer works. */
  dropKey(store: string, keyId: string): void;
}

export interface KeySchedule {
  store: string;
  everyMs: number;
  graceMs: number;
  nextAt: string;
  actor: string;
}

const DAY = 86_400_000;
/** The longest grace: an old key ends within a year (and the date stays one of four digits). */
export const MAX_GRACE_MS = 365 * DAY;
/** The longest interval between scheduled rotations. */
export const MAX_EVERY_MS = 10 * 365 * DAY;

function checkGrace(graceMs: number): void {
  if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > MAX_GRACE_MS)
    throw new TbError(TbCodes.INVALID, '--grace: expected from 0 to 365d');
}

/**
 * API key rotation without a dropped transaction: the new key works at once and reaches the
 * store's agent over its authenticated connection (now, or when it next connects); the old one
 * keeps working until the grace period ends; revocation ends a key and its connections at once.
 * Scheduled rotations run from the hub's sweeper.
 */
export class KeyRotation {
  private delivery: KeyDelivery | undefined;
  private readonly put: Statement;
  private readonly del: Statement;
  private readonly get: Statement;
  private readonly due: Statement;

  constructor(
    private readonly storage: HubStorage,
    private readonly credentials: Credentials,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {
    this.put = storage.db.prepare(
      `INSERT INTO key_schedules (store, every_ms, grace_ms, next_at, actor) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (store) DO UPDATE SET every_ms = excluded.every_ms, grace_ms = excluded.grace_ms,
         next_at = excluded.next_at, actor = excluded.actor`,
    );
    this.del = storage.db.prepare(`DELETE FROM key_schedules WHERE store = ?`);
    this.get = storage.db.prepare(`SELECT * FROM key_schedules WHERE store = ?`);
    this.due = storage.db.prepare(`SELECT * FROM key_schedules WHERE next_at <= ?`);
  }

  setDelivery(d: KeyDelivery): void {
    this.delivery = d;
  }

  /** The new key's secret is answered once, here: it is also kept sealed until the store's agent confirms it. */
  rotate(store: string, graceMs: number, actor: string): { id: string; secret: string; oldExpireAt: string } {
    checkGrace(graceMs);
    const r = this.storage.tx(() => {
      const out = this.credentials.rotate(store, graceMs);
      this.audit.append({
        actor,
        action: 'key.rotate',
        outcome: 'rotated',
        store,
        resource: `api-key:${out.id}`,
        details: { graceMs, oldExpireAt: out.oldExpireAt },
      });
      return out;
    });
    this.delivery?.deliver(store);
    return { id: r.id, secret: r.secret, oldExpireAt: r.oldExpireAt };
  }

  revoke(store: string, keyId: string, actor: string): void {
    this.storage.tx(() => {
      this.credentials.revoke(store, keyId);
      this.audit.append({ actor, action: 'key.revoke', outcome: 'revoked', store, resource: `api-key:${keyId}` });
    });
    this.delivery?.dropKey(store, keyId);
  }

  /** Closes the connections authenticated with keys that were ended otherwise (an enrollment). */
  dropped(store: string, keyIds: string[]): void {
    for (const id of keyIds) this.delivery?.dropKey(store, id);
  }

  schedule(store: string, everyMs: number, graceMs: number, actor: string): KeySchedule {
    if (!Number.isInteger(everyMs) || everyMs < 60_000 || everyMs > MAX_EVERY_MS)
      throw new TbError(TbCodes.INVALID, '--every: expected from 1m to 3650d');
    checkGrace(graceMs);
    if (graceMs >= everyMs)
      throw new TbError(
        TbCodes.INVALID,
        '--grace: expected less than --every (a rotation must end before the next one)',
      );
    const nextAt = iso(this.clock.now() + everyMs);
    this.storage.tx(() => {
      this.put.run(store, everyMs, graceMs, nextAt, actor);
      this.audit.append({
        actor,
        action: 'key.schedule',
        outcome: 'scheduled',
        store,
        resource: `api-keys:${store}`,
        details: { everyMs, graceMs, nextAt },
      });
    });
    return { store, everyMs, graceMs, nextAt, actor };
  }

  unschedule(store: string, actor: string): boolean {
    return this.storage.tx(() => {
      const had = this.del.run(store).changes > 0;
      if (had)
        this.audit.append({ actor, action: 'key.schedule', outcome: 'removed', store, resource: `api-keys:${store}` });
      return had;
    });
  }

  scheduleOf(store: string): KeySchedule | undefined {
    const r = this.get.get(store) as
      { store: string; every_ms: number; grace_ms: number; next_at: string; actor: string } | undefined;
    return r
      ? { store: r.store, everyMs: r.every_ms, graceMs: r.grace_ms, nextAt: r.next_at, actor: r.actor }
      : undefined;
  }

  /** Runs the scheduled rotations that are due; returns how many ran. */
  runDue(): number {
    const now = this.clock.now();
    let n = 0;
    for (const r of this.due.all(iso(now)) as { store: string; every_ms: number; grace_ms: number }[]) {
      try {
        this.rotate(r.store, r.grace_ms, 'hub:schedule');
        n++;
      } catch (err) {
        this.audit.append({
          actor: 'hub:schedule',
          action: 'key.rotate',
          outcome: 'failed',
          store: r.store,
          resource: `api-keys:${r.store}`,
          details: { reason: (err as Error).message },
        });
      }
      this.put.run(r.store, r.every_ms, r.grace_ms, iso(now + r.every_ms), 'hub:schedule');
    }
    return n;
  }
}
