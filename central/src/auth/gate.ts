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
}

export const DEFAULT_GATE: GateOptions = { tokenPerMinute: 30, maxFailures: 10, windowMs: 5 * 60_000, blockMs: 5 * 60_000 };

export function sourceOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/**
 * Rate limits per source: token requests per minute, and failed authentications (bad API key,
 * bad admin or access token, refused client certificate) — past the limit the source is blocked
 * for a while. Every refusal is audited (a blocked source once per block, so a flood cannot fill
 * the log).
 */
export class Gate {
  private readonly tokens = new Map<string, number[]>();
  private readonly failures = new Map<string, number[]>();
  private readonly blockedUntil = new Map<string, number>();

  constructor(private readonly opts: GateOptions, private readonly audit: AuditLog, private readonly clock: Clock) {}

  blocked(source: string): boolean {
    const until = this.blockedUntil.get(source);
    if (until === undefined) return false;
    if (until > this.clock.now()) return true;
    this.blockedUntil.delete(source);
    return false;
  }

  /** Counts a token request; false when the source is over its rate. */
  allowTokenRequest(source: string): boolean {
    const now = this.clock.now();
    const recent = (this.tokens.get(source) ?? []).filter((t) => t > now - 60_000);
    recent.push(now);
    this.tokens.set(source, recent);
    if (recent.length <= this.opts.tokenPerMinute) return true;
    if (recent.length === this.opts.tokenPerMinute + 1) this.refused(source, 'auth.rate_limited', 'token requests', { perMinute: this.opts.tokenPerMinute });
    return false;
  }

  /** A failed authentication from `source`, audited; blocks the source past the limit. */
  failed(source: string, what: string, details: Record<string, unknown> = {}, store?: string): void {
    this.refused(source, 'auth.refused', what, details, store);
    const now = this.clock.now();
    const recent = (this.failures.get(source) ?? []).filter((t) => t > now - this.opts.windowMs);
    recent.push(now);
    this.failures.set(source, recent);
    if (recent.length >= this.opts.maxFailures && !this.blocked(source)) {
      this.blockedUntil.set(source, now + this.opts.blockMs);
      this.refused(source, 'auth.blocked', 'too many failed authentications', { failures: recent.length, until: iso(now + this.opts.blockMs) });
    }
  }

  /** Audits a refusal that is not an authentication failure (a certificate for another store…). */
  refused(source: string, action: string, what: string, details: Record<string, unknown> = {}, store?: string): void {
    this.audit.append({ actor: `source:${source}`, action, outcome: 'refused', store: store ?? null, resource: what, details });
  }
}
