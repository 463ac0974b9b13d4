import { randomBytes } from 'node:crypto';
import type { AdminIdentity } from '../auth/credentials.js';

/** How long a console session lasts at most, and how long it may sit unused. */
export interface SessionLimits {
  /** from sign-in, whatever happens (default 8 h) */
  lifetimeMs: number;
  /** since its last request (default 30 min) */
  idleMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { lifetimeMs: 8 * 3600_000, idleMs: 30 * 60_000 };

export interface ConsoleSession {
  id: string;
  who: AdminIdentity;
  /**
   * The token signed in with, kept in this process's memory only (never sent back): each request checks it again, so
   * a token revoked ends its sessions.
   */
  token: string;
  createdMs: number;
  lastUsedMs: number;
}

/**
 * The console's sessions: in this process's memory, each behind an opaque random id (the cookie's value, 256 bits),
 * ended at sign-out, after `lifetimeMs`, or after `idleMs` unused, as `now` (the hub's clock) tells.
 */
export class ConsoleSessions {
  private readonly byId = new Map<string, ConsoleSession>();

  constructor(
    private readonly now: () => number,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {}

  create(who: AdminIdentity, token: string): ConsoleSession {
    this.sweep();
    const now = this.now();
    const s: ConsoleSession = {
      id: randomBytes(32).toString('base64url'),
      who,
      token,
      createdMs: now,
      lastUsedMs: now,
    };
    this.byId.set(s.id, s);
    return s;
  }

  /** The live session of this id (its use noted), or undefined (unknown, ended or expired: then forgotten). */
  use(id: string | undefined): ConsoleSession | undefined {
    if (id === undefined) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    const now = this.now();
    if (now - s.createdMs >= this.limits.lifetimeMs || now - s.lastUsedMs >= this.limits.idleMs) {
      this.byId.delete(id);
      return undefined;
    }
    s.lastUsedMs = now;
    return s;
  }

  end(id: string | undefined): void {
    if (id !== undefined) this.byId.delete(id);
  }

  /** Seconds the cookie is kept by the browser: the session's lifetime. */
  get maxAgeSec(): number {
    return Math.floor(this.limits.lifetimeMs / 1000);
  }

  /** Sessions held (tests, and the sweep). */
  size(): number {
    return this.byId.size;
  }

  /** Forgets every expired session. */
  sweep(): void {
    const now = this.now();
    for (const [id, s] of this.byId)
      if (now - s.createdMs >= this.limits.lifetimeMs || now - s.lastUsedMs >= this.limits.idleMs) this.byId.delete(id);
  }
}
