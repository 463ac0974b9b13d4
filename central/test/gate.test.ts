import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Gate, LOCKED_PER_SOURCE, type GateOptions } from '../src/auth/gate.js';
import { AuditLog } from '../src/domain/audit-log.js';
import { testHub } from './helpers.js';

/** The gate's bounds, counted on a real hub database with a fixed clock: audit rows, sources, times. */
const OPTS: GateOptions = {
  tokenBurst: 10,
  tokenPeriodMs: 5 * 60_000,
  maxFailures: 10,
  windowMs: 5 * 60_000,
  blockMs: 5 * 60_000,
  maxSources: 100,
  maxStores: 500,
  auditPerMinute: 20,
};
/** One token back every this many ms. */
const REFILL_MS = OPTS.tokenPeriodMs / OPTS.tokenBurst;

let t: ReturnType<typeof testHub>;
let gate: Gate;
let baseline: number;
beforeEach(() => {
  t = testHub();
  gate = new Gate(OPTS, new AuditLog(t.hub.storage, t.clock), t.clock);
  baseline = (t.hub.storage.db.prepare(`SELECT MAX(id) AS id FROM audit`).get() as { id: number }).id;
});
afterEach(() => t.cleanup());

interface Row {
  action: string;
  actor: string;
  details: Record<string, unknown>;
}
const entries = (): Row[] =>
  (
    t.hub.storage.db.prepare(`SELECT action, actor, details FROM audit WHERE id > ? ORDER BY id`).all(baseline) as {
      action: string;
      actor: string;
      details: string;
    }[]
  ).map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
/** The failed authentications the audit accounts for: the counts of every gate entry. */
const counted = (rows: Row[]): number =>
  rows
    .filter((r) => ['auth.refused', 'auth.blocked', 'auth.summary'].includes(r.action))
    .reduce((n, r) => n + Number(r.details.count ?? 0), 0);

describe('failed logins', () => {
  it(
    'block a source after maxFailures within the window: one entry at once, the rest folded into the block, the ' +
      'counts adding up',
    () => {
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
    },
  );

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
    expect(rows[1]).toMatchObject({
      action: 'auth.refused',
      actor: 'source:10.0.0.1',
      details: { count: 4, what: { token: 2, 'admin API': 2 } },
    });
    expect(counted(rows)).toBe(5);
    expect(gate.size()).toMatchObject({ sources: 0, times: 0 }); // nothing live: forgotten
  });

  it(
    'from thousands of sources at once, writes at most auditPerMinute entries a minute and one summary, and ' +
      'remembers at most maxSources',
    () => {
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
      expect(rows.at(-1)).toMatchObject({
        action: 'auth.summary',
        actor: 'source:*',
        details: { entries: 4980, count: 4980 },
      });
      expect(counted(rows)).toBe(5000); // none lost
    },
  );

  it('a steady flood from a few sources for 30 minutes: the counts add up, in a bounded number of entries', () => {
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

/** A token request as the hub's token endpoint makes it: asked first, taken when the key works. */
function ask(source: string, store: string): number {
  const wait = gate.tokenWait(source, store);
  if (wait === 0) gate.tokenIssued(store);
  return wait;
}
const stores = (n: number): string[] => Array.from({ length: n }, (_, i) => `S${String(i + 1).padStart(3, '0')}`);

describe('token requests: per store, whatever the address', () => {
  it('100 stores behind one address all get their tokens, a reconnect storm of a burst each included', () => {
    let issued = 0;
    for (let round = 0; round < OPTS.tokenBurst; round++)
      for (const s of stores(100)) if (ask('198.51.100.7', s) === 0) issued++;
    expect(issued).toBe(100 * OPTS.tokenBurst);
    // and then each on its own pace: one every REFILL_MS, for every store alike
    expect(ask('198.51.100.7', 'S001')).toBe(REFILL_MS);
    t.clock.advance(REFILL_MS);
    expect(stores(100).filter((s) => ask('198.51.100.7', s) === 0)).toHaveLength(100);
    // a day of refreshes (one every 12 minutes) is nowhere near the limit
    let refused = 0;
    for (let minute = 0; minute < 24 * 60; minute += 12) {
      t.clock.advance(12 * 60_000);
      for (const s of stores(100)) if (ask('198.51.100.7', s) !== 0) refused++;
    }
    expect(refused).toBe(0);
    expect(gate.size()).toMatchObject({ sources: 0, times: 0 });
  });

  it(
    'a store past its allowance waits for the token it is owed; ' + 'retrying while refused does not push that back',
    () => {
      for (let i = 0; i < OPTS.tokenBurst; i++) expect(ask('10.0.0.9', 'S1')).toBe(0);
      // a client hammering every second while refused: each answer says how long is left, never more
      const waits: number[] = [];
      for (let s = 0; s < REFILL_MS / 1000; s++) {
        waits.push(ask('10.0.0.9', 'S1'));
        t.clock.advance(1000);
      }
      expect(waits[0]).toBe(REFILL_MS);
      expect(waits.every((w, i) => w === REFILL_MS - i * 1000)).toBe(true);
      expect(ask('10.0.0.9', 'S1')).toBe(0); // in, at the time the first refusal said
      expect(ask('10.0.0.9', 'S1')).toBe(REFILL_MS);
      // the other stores of the address never noticed
      expect(ask('10.0.0.9', 'S2')).toBe(0);
      // audited once a minute, not once per refusal
      expect(entries().map((r) => [r.action, r.details])).toEqual([
        ['auth.rate_limited', { burst: OPTS.tokenBurst, periodSec: OPTS.tokenPeriodMs / 1000 }],
      ]);
    },
  );

  it(
    'a source sending bad keys is blocked for its failing requests; the valid stores behind the same address carry ' +
      'on',
    () => {
      const nat = '203.0.113.5';
      for (let i = 0; i < OPTS.maxFailures; i++)
        gate.failed(nat, 'token', { reason: 'unknown store or API key' }, undefined, i % 2 ? 'S900' : 'NOPE');
      expect(gate.blockedFor(nat)).toBe(OPTS.blockMs);
      // its failing requests are answered 429 with the time left…
      expect(gate.failed(nat, 'token', {}, undefined, 'OTHER')).toBe(OPTS.blockMs);
      // …its further tries at the keys it failed at are refused unchecked (brute force per credential)…
      expect(gate.tokenWait(nat, 'S900')).toBe(OPTS.blockMs);
      expect(gate.tokenWait(nat, 'OTHER')).toBe(OPTS.blockMs);
      // …and every valid store behind it gets its tokens, as does S900 from its own address
      expect(stores(100).filter((s) => ask(nat, s) === 0)).toHaveLength(100);
      expect(gate.tokenWait('192.0.2.1', 'S900')).toBe(0);
      expect(gate.blocked('192.0.2.1')).toBe(false);
    },
  );

  it('failures while blocked do not extend the block: a source retrying all along gets in when it ends', () => {
    const src = '10.0.0.4';
    for (let i = 0; i < OPTS.maxFailures; i++) gate.failed(src, 'token', {}, undefined, 'S1');
    const answers: number[] = [];
    for (let s = 0; s < OPTS.blockMs / 1000; s += 10) {
      answers.push(gate.failed(src, 'token', {}, undefined, 'S1'));
      answers.push(gate.tokenWait(src, 'S1'));
      t.clock.advance(10_000);
    }
    expect(answers.every((w) => w > 0)).toBe(true);
    expect(gate.blocked(src)).toBe(false);
    expect(ask(src, 'S1')).toBe(0); // the right key now: checked and served
    expect(gate.failed(src, 'token', {}, undefined, 'S1')).toBe(0); // a failure starts a new window: no block
  });

  it(
    'remember at most maxStores allowances and LOCKED_PER_SOURCE stores per source, ' +
      'and forget a refilled allowance',
    () => {
      for (const s of stores(OPTS.maxStores! + 200)) ask('10.0.0.8', s);
      expect(gate.size().stores).toBe(OPTS.maxStores);
      for (let i = 0; i < OPTS.maxFailures; i++) gate.failed('10.0.0.3', 'token');
      for (let i = 0; i < 1000; i++) gate.failed('10.0.0.3', 'token', {}, undefined, `X${i}`);
      expect(gate.size()).toMatchObject({ times: OPTS.maxFailures, locked: LOCKED_PER_SOURCE });
      t.clock.advance(OPTS.tokenPeriodMs + OPTS.blockMs);
      gate.sweep();
      expect(gate.size()).toEqual({ sources: 0, times: 0, locked: 0, stores: 0 });
    },
  );

  it('keep at most maxFailures times per source however often it fails', () => {
    for (let i = 0; i < 1000; i++) gate.failed('10.0.0.3', 'token');
    expect(gate.size()).toMatchObject({ sources: 1, times: OPTS.maxFailures });
  });
});
