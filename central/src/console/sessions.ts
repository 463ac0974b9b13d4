import { createHash, randomBytes } from 'node:crypto';
import type { AdminIdentity } from '../auth/credentials.js';
import type { ConsoleSessionRows } from '../auth/console-session-rows.js';

/** How long a console session lasts at most, and how long it may sit unused. */
export interface SessionLimits {
  /** from sign-in, whatever happens (default 8 h) */
  lifetimeMs: number;
  /** since its last request (default 30 min) */
  idleMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { lifetimeMs: 8 * 3600_000, idleMs: 30 * 60_000 };

/** A use is written at most this often per session (a tenth of the idle time, at most a minute): not every request. */
const MAX_TOUCH_INTERVAL_MS = 60_000;

export interface ConsoleSession {
  /** the cookie's value: only this process's answer to sign-in holds it; the database keeps its hash */
  id: string;
  /** who signed in, as their token is now (looked up again on each request) */
  who: AdminIdentity;
  createdMs: number;
  lastUsedMs: number;
}

export interface SessionDeps {
  rows: Pick<ConsoleSessionRows, 'insert' | 'get' | 'touch' | 'delete' | 'deleteOlder' | 'count'>;
  /** the token of this id, unless revoked: a revoked token ends its sessions at their next request */
  tokens: { activeAdminToken(id: string): AdminIdentity | undefined };
  /** the hub's clock (epoch ms) */
  now: () => number;
}

const hashOf = (id: string): string => createHash('sha256').update(id).digest('hex');

/**
 * The console's sessions: each behind an opaque random id (the cookie's value, 256 bits), kept in the hub's database
 * by its hash (ConsoleSessionRows) so that every hub process on the database knows it; ended at sign-out, after
 * `lifetimeMs`, after `idleMs` unused, or when the token signed in with is revoked, as `now` (the hub's clock) tells.
 */
export class ConsoleSessions {
  private readonly touchEveryMs: number;

  constructor(
    private readonly deps: SessionDeps,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    this.touchEveryMs = Math.min(MAX_TOUCH_INTERVAL_MS, Math.floor(limits.idleMs / 10));
  }

  create(who: AdminIdentity): ConsoleSession {
    this.sweep();
    const now = this.deps.now();
    const id = randomBytes(32).toString('base64url');
    this.deps.rows.insert(hashOf(id), who.id, now);
    return { id, who, createdMs: now, lastUsedMs: now };
  }

  /** The live session of this id (its use noted), or undefined (unknown, ended, expired or its token revoked). */
  use(id: string | undefined): ConsoleSession | undefined {
    if (id === undefined || id === '') return undefined;
    const key = hashOf(id);
    const row = this.deps.rows.get(key);
    if (!row) return undefined;
    const now = this.deps.now();
    const who = this.expired(row.createdMs, row.lastUsedMs, now)
      ? undefined
      : this.deps.tokens.activeAdminToken(row.tokenId);
    if (!who) {
      this.deps.rows.delete(key);
      return undefined;
    }
    if (now - row.lastUsedMs >= this.touchEveryMs) this.deps.rows.touch(key, now);
    return { id, who, createdMs: row.createdMs, lastUsedMs: now };
  }

  end(id: string | undefined): void {
    if (id !== undefined && id !== '') this.deps.rows.delete(hashOf(id));
  }

  /** Seconds the cookie is kept by the browser: the session's lifetime. */
  get maxAgeSec(): number {
    return Math.floor(this.limits.lifetimeMs / 1000);
  }

  /** Sessions held by the database, every process's (tests, and the sweep). */
  size(): number {
    return this.deps.rows.count();
  }

  /** Forgets every expired session. */
  sweep(): void {
    const now = this.deps.now();
    this.deps.rows.deleteOlder(now - this.limits.lifetimeMs, now - this.limits.idleMs);
  }

  private expired(createdMs: number, lastUsedMs: number, now: number): boolean {
    return now - createdMs >= this.limits.lifetimeMs || now - lastUsedMs >= this.limits.idleMs;
  }
}
