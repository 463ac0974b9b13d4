import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Gate, type GateOptions } from '../src/auth/gate.js';
import { AuditLog } from '../src/domain/audit-log.js';
import { testHub } from './helpers.js';

/** The gate's bounds, counted on a real hub database with a fixed clock: audit rows, sources, times. */
const OPTS: GateOptions = { tokenPerMinute: 30, maxFailures: 10, windowMs: 5 * 60_000, blockMs: 5 * 60_000, maxSources: 100, auditPerMinute: 20 };

let t: ReturnType<typeof testHub>;
let gate: Gate;
let baseline: number;
beforeEach(() => {
  t = testHub();
  gate = new Gate(OPTS, new AuditLog(t.hub.storage, t.clock), t.clock);
  baseline = (t.hub.storage.db.prepare(`SELECT MAX(id) AS id FROM audit`).get() as { id: number }).id;
});
afterEach(() => t.cleanup());

type Row = { action: string; actor: string; details: Record<string, unknown> };
const entries = (): Row[] =>
  (t.hub.storage.db.prepare(`SELECT action, actor, details FROM audit WHERE id > ? ORDER BY id`).all(baseline) as { action: string; actor: string; details: string }[]).map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
/** The failed authentications the audit accounts for: the counts of every gate entry. */
const counted = (rows: Row[]): number => rows.filter((r) => ['auth.refused', 'auth.blocked', 'auth.summary'].includes(r.action)).reduce((n, r) => n + Number(r.details.count ?? 0), 0);

describe('failed logins', () => {
  it('block a source after maxFailures within the window: one entry at once, the rest folded into the block, the counts adding up', () => {
    for (let i = 0; i < 10; i++) gate.failed('10.0.0.1', 'token', { reason: 'unknown store or API key' });
    expect(gate.blocked('10.0.0.1')).toBe(true);
    expect(gate.blocked('10.0.0.2')).toBe(false);
    const rows = entries();
    expect(rows.map((r) => r.action)).toEqual(['auth.refused', 'auth.blocked']);
    expect(rows[0]!.details).toMatchObject({ reason: 'unknown store or API key', count: 1 });
    expect(rows[1]!.details).toMatchObject({ failures: 10, count: 9 });
    expect(counted(rows)).toBe(10);
    t.clock.advance(OPTS.blockMs);
    expect(gate.blocked('10.0.0.1')).toBe(false);
  });

  it('below the limit, a source writes one entry at once and one with the count when its window has passed', () => {
    for (let i = 0; i < 5; i++) {
      gate.failed('10.0.0.1', i % 2 ? 'admin API' : 'token');
      t.clock.advance(1000);
    }
    expect(entries()).toHaveLength(1);
    t.clock.advance(OPTS.windowMs);
    gate.sweep();
    const rows = entries();
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ action: 'auth.refused', actor: 'source:10.0.0.1', details: { count: 4, what: { token: 2, 'admin API': 2 } } });
    expect(counted(rows)).toBe(5);
    expect(gate.size()).toEqual({ sources: 0, times: 0 }); // nothing live: forgotten
  });

  it('from thousands of sources at once, writes at most auditPerMinute entries a minute and one summary, and remembers at most maxSources', () => {
    let most = 0;
    for (let i = 0; i < 5000; i++) {
      gate.failed(`2001:db8::${i.toString(16)}`, 'admin API');
      most = Math.max(most, gate.size().sources);
    }
    expect(most).toBeLessThanOrEqual(OPTS.maxSources!);
    expect(entries()).toHaveLength(OPTS.auditPerMinute!);
    t.clock.advance(60_000);
    gate.sweep();
    const rows = entries();
    expect(rows).toHaveLength(OPTS.auditPerMinute! + 1);
    expect(rows.at(-1)).toMatchObject({ action: 'auth.summary', actor: 'source:*', details: { entries: 4980, count: 4980 } });
    expect(counted(rows)).toBe(5000); // none lost
  });

  it('keeps the counts adding up over many minutes of a steady flood from a few sources, with a bounded number of entries', () => {
    let failures = 0;
    for (let minute = 0; minute < 30; minute++) {
      for (let i = 0; i < 200; i++) {
        const source = `10.0.1.${i % 7}`;
        if (!gate.blocked(source)) {
          gate.failed(source, 'token');
          failures++;
        }
        t.clock.advance(300);
      }
    }
    t.clock.advance(OPTS.windowMs + OPTS.blockMs);
    gate.sweep();
    gate.flush();
    const rows = entries();
    expect(counted(rows)).toBe(failures);
    expect(rows.length).toBeLessThanOrEqual(31 * (OPTS.auditPerMinute! + 1));
    expect(gate.size().sources).toBe(0);
  });
});

describe('token requests', () => {
  it('allow tokenPerMinute a minute per source, audit the excess once a minute, and keep at most tokenPerMinute + 1 times', () => {
    const allowed = Array.from({ length: 1000 }, () => gate.allowTokenRequest('10.0.0.9')).filter(Boolean).length;
    expect(allowed).toBe(OPTS.tokenPerMinute);
    expect(gate.size().times).toBeLessThanOrEqual(OPTS.tokenPerMinute + 1);
    expect(entries().map((r) => r.action)).toEqual(['auth.rate_limited']);
    t.clock.advance(60_000);
    expect(gate.allowTokenRequest('10.0.0.9')).toBe(true);
  });

  it('keep at most maxFailures times per source however often it fails', () => {
    for (let i = 0; i < 1000; i++) gate.failed('10.0.0.3', 'token');
    expect(gate.size()).toEqual({ sources: 1, times: OPTS.maxFailures });
  });
});
