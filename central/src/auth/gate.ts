import type { IncomingMessage } from 'node:http';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';

export interface GateOptions {
  /** Token requests per source per minute. */
  tokenPerMinute: number;
  /** Failed authentications per source within `windowMs` before the source is blocked. */
  maxFailures: number;
  windowMs: number;
  /** How long a blocked source is refused. */
  blockMs: number;
  /** Most sources remembered at once; past it the one seen longest ago is forgotten. */
  maxSources?: number;
  /** Most gate audit entries written per minute; the rest are counted into one `auth.summary` entry a minute. */
  auditPerMinute?: number;
}

export const DEFAULT_GATE: GateOptions = { tokenPerMinute: 30, maxFailures: 10, windowMs: 5 * 60_000, blockMs: 5 * 60_000, maxSources: 10_000, auditPerMinute: 100 };

const MINUTE = 60_000;

export function sourceOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
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
  /** The latest token requests within a minute, at most tokenPerMinute + 1. */
  tokens: number[];
  /** The latest failures within the window, at most maxFailures. */
  failures: number[];
  blockedUntil: number;
  /** Until then, this source's failures are counted into `pending` rather than written one by one. */
  quietUntil: number;
  pending: Pending | undefined;
  /** Until then, its token requests over the rate are not audited again. */
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
 * Rate limits per source: token requests per minute, and failed authentications (bad API key,
 * bad admin or access token, refused client certificate) — past the limit the source is blocked
 * for a while.
 *
 * Bounded, whatever the traffic: a source's first failure in a window is audited at once and the
 * rest of that window are written as one entry with their `count` (or folded into the
 * `auth.blocked` entry); at most `auditPerMinute` entries are written a minute, the rest counted
 * into one `auth.summary` entry a minute — so the counts in the audit add up to every failure. At
 * most `maxSources` sources are remembered, each with at most `maxFailures` + `tokenPerMinute` + 1
 * times, and a source with nothing live is forgotten by `sweep()` (run by the hub's timer, and
 * lazily on calls).
 */
export class Gate {
  private readonly sources = new Map<string, SourceState>();
  private readonly maxSources: number;
  private readonly auditPerMinute: number;
  private budgetFrom = 0;
  private written = 0;
  private overflow: { entries: number; count: number; byAction: Record<string, number>; from: number; to: number } | undefined;
  private nextSweep = 0;

  constructor(private readonly opts: GateOptions, private readonly audit: AuditLog, private readonly clock: Clock) {
    this.maxSources = opts.maxSources ?? DEFAULT_GATE.maxSources!;
    this.auditPerMinute = opts.auditPerMinute ?? DEFAULT_GATE.auditPerMinute!;
  }

  blocked(source: string): boolean {
    const st = this.sources.get(source);
    return st !== undefined && st.blockedUntil > this.clock.now();
  }

  /** Counts a token request; false when the source is over its rate. */
  allowTokenRequest(source: string): boolean {
    const now = this.clock.now();
    const st = this.touch(source, now);
    st.tokens = st.tokens.filter((t) => t > now - MINUTE);
    st.tokens.push(now);
    if (st.tokens.length > this.opts.tokenPerMinute + 1) st.tokens.shift();
    if (st.tokens.length <= this.opts.tokenPerMinute) return true;
    if (now >= st.rateLimitedUntil) {
      st.rateLimitedUntil = now + MINUTE;
      this.write({ source, action: 'auth.rate_limited', what: 'token requests', details: { perMinute: this.opts.tokenPerMinute }, count: 0 });
    }
    return false;
  }

  /** A failed authentication from `source`, audited (see the class); blocks the source past the limit. */
  failed(source: string, what: string, details: Record<string, unknown> = {}, store?: string): void {
    const now = this.clock.now();
    const st = this.touch(source, now);
    st.failures = st.failures.filter((t) => t > now - this.opts.windowMs);
    st.failures.push(now);
    if (st.failures.length > this.opts.maxFailures) st.failures.shift();
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
    if (st.failures.length >= this.opts.maxFailures && st.blockedUntil <= now) {
      st.blockedUntil = now + this.opts.blockMs;
      const folded = st.pending?.count ?? 0;
      st.pending = undefined;
      this.write({ source, action: 'auth.blocked', what: 'too many failed authentications', details: { failures: st.failures.length, until: iso(st.blockedUntil), count: folded }, count: folded });
    }
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
      const live =
        st.pending !== undefined ||
        st.blockedUntil > now ||
        st.quietUntil > now ||
        st.rateLimitedUntil > now ||
        st.failures.some((t) => t > now - this.opts.windowMs) ||
        st.tokens.some((t) => t > now - MINUTE);
      if (!live) this.sources.delete(source);
    }
    this.flushOverflow(now);
  }

  /** Writes everything counted and not yet written (at shutdown). */
  flush(): void {
    for (const [source, st] of this.sources) this.flushPending(source, st);
    this.flushOverflow(this.clock.now(), true);
  }

  /** How much the gate holds, for tests and metrics. */
  size(): { sources: number; times: number } {
    let times = 0;
    for (const st of this.sources.values()) times += st.tokens.length + st.failures.length;
    return { sources: this.sources.size, times };
  }

  /** The source's state, most recently seen last (the Map's order), making room when full. */
  private touch(source: string, now: number): SourceState {
    if (now >= this.nextSweep) this.sweep();
    let st = this.sources.get(source);
    if (st) {
      this.sources.delete(source);
    } else {
      st = { tokens: [], failures: [], blockedUntil: 0, quietUntil: 0, pending: undefined, rateLimitedUntil: 0 };
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
