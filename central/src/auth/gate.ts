import type { IncomingMessage } from 'node:http';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';

export interface GateOptions {
  /**
   * Access tokens per store (requests with a working API key, whatever their address): up to
   * `tokenBurst` at once, the allowance refilling evenly, `tokenBurst` per `tokenPeriodMs`.
   */
  tokenBurst: number;
  tokenPeriodMs: number;
  /** Failed authentications per source within `windowMs` before the source is blocked. */
  maxFailures: number;
  windowMs: number;
  /** How long a blocked source's failing requests are refused. */
  blockMs: number;
  /** Most sources remembered at once; past it the one seen longest ago is forgotten. */
  maxSources?: number;
  /** Most stores whose token allowance is remembered; past it the one seen longest ago is forgotten (its allowance full again). */
  maxStores?: number;
  /** Most gate audit entries written per minute; the rest are counted into one `auth.summary` entry a minute. */
  auditPerMinute?: number;
}

export const DEFAULT_GATE: GateOptions = {
  tokenBurst: 10,
  tokenPeriodMs: 5 * 60_000,
  maxFailures: 10,
  windowMs: 5 * 60_000,
  blockMs: 5 * 60_000,
  maxSources: 10_000,
  maxStores: 100_000,
  auditPerMinute: 100,
};

const MINUTE = 60_000;
/** Most stores a blocked source's failures named that are remembered (their keys refused unchecked from it). */
export const LOCKED_PER_SOURCE = 100;

export function sourceOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** Whole seconds for a `Retry-After` header: at least 1, never less than `ms`. */
export function retryAfterSec(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The error every 429 answers with: `TB_RATE_LIMITED`, and how long to wait (`details.retryAfterSec`, the `Retry-After` header). */
export function rateLimited(message: string, retryAfterMs: number): TbError {
  return new TbError(TbCodes.RATE_LIMITED, message, { details: { retryAfterSec: retryAfterSec(retryAfterMs) } });
}

/** Failed authentications of one source not yet written, to be written as one entry with their count. */
interface Pending {
  count: number;
  from: number;
  to: number;
  what: Record<string, number>;
  store: string | null;
}

interface SourceState {
  /** The latest failures within the window, at most maxFailures, with the store whose key each tried. */
  failures: { at: number; tried: string | undefined }[];
  blockedUntil: number;
  /** While blocked: the stores whose keys it failed at — its further tries at them are refused unchecked. */
  locked: Set<string>;
  /** Until then, this source's failures are counted into `pending` rather than written one by one. */
  quietUntil: number;
  pending: Pending | undefined;
}

/** A store's token allowance (a token bucket). */
interface Allowance {
  /** Tokens left (a fraction while refilling), as of `at`. */
  left: number;
  at: number;
  /** Until then, its refused requests are not audited again. */
  rateLimitedUntil: number;
}

interface Entry {
  source: string;
  action: string;
  what: string;
  details: Record<string, unknown>;
  store?: string | null;
  /** The failed authentications this entry stands for. */
  count: number;
}

/**
 * Who may ask, and how often.
 *
 * - **Per store (credential)**: a request with a working API key takes a token from its store's
 *   allowance (`tokenBurst` at once, refilled evenly over `tokenPeriodMs`), whatever address it
 *   comes from — a whole chain behind one NAT shares nothing. A request refused for it takes
 *   nothing, so a client retrying while refused is not kept out longer: it gets in once the
 *   allowance has refilled (the `Retry-After` it was told).
 * - **Per source (address)**: requests that fail authentication (bad API key, admin token, access
 *   token or client certificate, malformed token requests). `maxFailures` within `windowMs` block
 *   the source for `blockMs`: its failing requests are answered 429, and not counted into the
 *   window again (a refusal never extends the block). Its requests that authenticate are still
 *   served — but not its tries at the keys of the stores it failed at (brute force per credential):
 *   those are refused unchecked until the block ends.
 *
 * Bounded, whatever the traffic: a source's first failure in a window is audited at once and the
 * rest of that window are written as one entry with their `count` (or folded into the
 * `auth.blocked` entry); at most `auditPerMinute` entries are written a minute, the rest counted
 * into one `auth.summary` entry a minute — so the counts in the audit add up to every failure. At
 * most `maxSources` sources are remembered, each with at most `maxFailures` times and
 * `LOCKED_PER_SOURCE` stores, and at most `maxStores` allowances (only stores that got a token);
 * a source or allowance with nothing live is forgotten by `sweep()` (run by the hub's timer, and
 * lazily on calls).
 */
export class Gate {
  private readonly sources = new Map<string, SourceState>();
  private readonly stores = new Map<string, Allowance>();
  private readonly maxSources: number;
  private readonly maxStores: number;
  private readonly auditPerMinute: number;
  /** Tokens an allowance regains per ms. */
  private readonly refill: number;
  private budgetFrom = 0;
  private written = 0;
  private overflow: { entries: number; count: number; byAction: Record<string, number>; from: number; to: number } | undefined;
  private nextSweep = 0;

  constructor(private readonly opts: GateOptions, private readonly audit: AuditLog, private readonly clock: Clock) {
    this.maxSources = opts.maxSources ?? DEFAULT_GATE.maxSources!;
    this.maxStores = opts.maxStores ?? DEFAULT_GATE.maxStores!;
    this.auditPerMinute = opts.auditPerMinute ?? DEFAULT_GATE.auditPerMinute!;
    this.refill = opts.tokenBurst / opts.tokenPeriodMs;
  }

  /** How much longer `source` is blocked (ms), else 0. */
  blockedFor(source: string): number {
    const st = this.sources.get(source);
    return st === undefined ? 0 : Math.max(0, st.blockedUntil - this.clock.now());
  }

  blocked(source: string): boolean {
    return this.blockedFor(source) > 0;
  }

  /**
   * Before the API key of a token request for `store` is checked: 0 when it may go ahead, else how
   * long to wait (ms) — the store has used its allowance, or `source` is blocked and failed at this
   * store's key. Takes nothing: only `tokenIssued` does.
   */
  tokenWait(source: string, store: string): number {
    const now = this.clock.now();
    const src = this.sources.get(source);
    if (src && src.blockedUntil > now && src.locked.has(store)) return src.blockedUntil - now;
    const a = this.stores.get(store);
    if (!a) return 0;
    const left = this.refilled(a, now);
    if (left >= 1) return 0;
    if (now >= a.rateLimitedUntil) {
      a.rateLimitedUntil = now + MINUTE;
      this.write({ source, action: 'auth.rate_limited', what: 'token requests', details: { burst: this.opts.tokenBurst, periodSec: this.opts.tokenPeriodMs / 1000 }, store, count: 0 });
    }
    return Math.ceil((1 - left) / this.refill);
  }

  /** A token was issued to `store`: one taken from its allowance. */
  tokenIssued(store: string): void {
    const now = this.clock.now();
    if (now >= this.nextSweep) this.sweep();
    let a = this.stores.get(store);
    if (a) this.stores.delete(store);
    else {
      a = { left: this.opts.tokenBurst, at: now, rateLimitedUntil: 0 };
      while (this.stores.size >= this.maxStores) this.stores.delete(this.stores.keys().next().value as string);
    }
    a.left = Math.max(0, this.refilled(a, now) - 1);
    a.at = now;
    this.stores.set(store, a);
  }

  /**
   * A failed authentication from `source` (`tried`: the store whose API key it tried, if any),
   * audited (see the class); blocks the source past the limit. Returns how long the source is
   * blocked (ms): above 0, answer this request 429 with that wait.
   */
  failed(source: string, what: string, details: Record<string, unknown> = {}, store?: string, tried?: string): number {
    const now = this.clock.now();
    const st = this.touch(source, now);
    const wasBlocked = st.blockedUntil > now;
    if (!wasBlocked) {
      st.locked.clear(); // what a past block locked
      st.failures = st.failures.filter((f) => f.at > now - this.opts.windowMs);
      st.failures.push({ at: now, tried });
      if (st.failures.length > this.opts.maxFailures) st.failures.shift();
    } else if (tried !== undefined && st.locked.size < LOCKED_PER_SOURCE) {
      st.locked.add(tried);
    }
    if (now >= st.quietUntil) {
      this.flushPending(source, st);
      st.quietUntil = now + this.opts.windowMs;
      this.write({ source, action: 'auth.refused', what, details: { ...details, count: 1 }, store: store ?? null, count: 1 });
    } else {
      const p = (st.pending ??= { count: 0, from: now, to: now, what: {}, store: store ?? null });
      p.count++;
      p.to = now;
      p.what[what] = (p.what[what] ?? 0) + 1;
      if (p.store !== (store ?? null)) p.store = null;
    }
    if (!wasBlocked && st.failures.length >= this.opts.maxFailures) {
      st.blockedUntil = now + this.opts.blockMs;
      st.locked = new Set(st.failures.flatMap((f) => (f.tried === undefined ? [] : [f.tried])));
      const folded = st.pending?.count ?? 0;
      st.pending = undefined;
      this.write({ source, action: 'auth.blocked', what: 'too many failed authentications', details: { failures: st.failures.length, until: iso(st.blockedUntil), count: folded }, count: folded });
    }
    return Math.max(0, st.blockedUntil - now);
  }

  /** Audits a refusal that is not an authentication failure (a certificate for another store…). */
  refused(source: string, action: string, what: string, details: Record<string, unknown> = {}, store?: string): void {
    this.write({ source, action, what, details, store: store ?? null, count: 0 });
  }

  /**
   * Writes what is due (each source's counted failures once its window has passed, the minute's
   * summary) and forgets the sources with nothing live. The hub's timer runs it; calls run it too,
   * at most once per minute.
   */
  sweep(): void {
    const now = this.clock.now();
    this.nextSweep = now + MINUTE;
    for (const [source, st] of this.sources) {
      if (st.pending && now >= st.quietUntil) this.flushPending(source, st);
      const live = st.pending !== undefined || st.blockedUntil > now || st.quietUntil > now || st.failures.some((f) => f.at > now - this.opts.windowMs);
      if (!live) this.sources.delete(source);
    }
    // an allowance that has refilled is the same as none
    for (const [store, a] of this.stores) {
      if (a.rateLimitedUntil <= now && this.refilled(a, now) >= this.opts.tokenBurst) this.stores.delete(store);
    }
    this.flushOverflow(now);
  }

  /** Writes everything counted and not yet written (at shutdown). */
  flush(): void {
    for (const [source, st] of this.sources) this.flushPending(source, st);
    this.flushOverflow(this.clock.now(), true);
  }

  /** How much the gate holds, for tests and metrics: sources, their failure times and locked stores, store allowances. */
  size(): { sources: number; times: number; locked: number; stores: number } {
    let times = 0;
    let locked = 0;
    for (const st of this.sources.values()) {
      times += st.failures.length;
      locked += st.locked.size;
    }
    return { sources: this.sources.size, times, locked, stores: this.stores.size };
  }

  /** An allowance's tokens as of `now`. */
  private refilled(a: Allowance, now: number): number {
    return Math.min(this.opts.tokenBurst, a.left + Math.max(0, now - a.at) * this.refill);
  }

  /** The source's state, most recently seen last (the Map's order), making room when full. */
  private touch(source: string, now: number): SourceState {
    if (now >= this.nextSweep) this.sweep();
    let st = this.sources.get(source);
    if (st) {
      this.sources.delete(source);
    } else {
      st = { failures: [], blockedUntil: 0, locked: new Set(), quietUntil: 0, pending: undefined };
      while (this.sources.size >= this.maxSources) {
        const [oldest, old] = this.sources.entries().next().value as [string, SourceState];
        this.flushPending(oldest, old);
        this.sources.delete(oldest);
      }
    }
    this.sources.set(source, st);
    return st;
  }

  private flushPending(source: string, st: SourceState): void {
    const p = st.pending;
    if (!p) return;
    st.pending = undefined;
    this.write({ source, action: 'auth.refused', what: Object.keys(p.what).join(', '), details: { count: p.count, from: iso(p.from), to: iso(p.to), what: p.what }, store: p.store, count: p.count });
  }

  /** Audits an entry within the minute's budget; past it, counts it into the minute's summary. */
  private write(e: Entry): void {
    const now = this.clock.now();
    this.flushOverflow(now);
    if (this.written < this.auditPerMinute) {
      this.written++;
      this.audit.append({ actor: `source:${e.source}`, action: e.action, outcome: 'refused', store: e.store ?? null, resource: e.what, details: e.details });
      return;
    }
    const o = (this.overflow ??= { entries: 0, count: 0, byAction: {}, from: now, to: now });
    o.entries++;
    o.count += e.count;
    o.to = now;
    o.byAction[e.action] = (o.byAction[e.action] ?? 0) + 1;
  }

  /** A new minute: the previous one's summary (if entries were held back), and a fresh budget. */
  private flushOverflow(now: number, force = false): void {
    if (now - this.budgetFrom < MINUTE && !force) return;
    if (now - this.budgetFrom >= MINUTE) {
      this.budgetFrom = now;
      this.written = 0;
    }
    const o = this.overflow;
    if (!o) return;
    this.overflow = undefined;
    this.audit.append({
      actor: 'source:*',
      action: 'auth.summary',
      outcome: 'refused',
      resource: 'gate',
      details: { entries: o.entries, count: o.count, byAction: o.byAction, from: iso(o.from), to: iso(o.to), note: `over ${this.auditPerMinute} gate entries a minute: counted here, not written one by one` },
    });
  }
}
