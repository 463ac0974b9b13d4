import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, PolicySchema, type Policy } from '@tillbridge/shared';
import { openAgentDb, type Db } from '../src/db/agent-db.js';
import { Receipts } from '../src/core/receipts.js';
import {
  CLAIMS_ON_RECEIPT_SQL,
  LocalReturns,
  OFFLINE_APPROVED_SINCE_SQL,
  type LocalReturn,
} from '../src/core/local-returns.js';
import { pruneReturnHistory, RETURN_HISTORY_MARGIN_DAYS } from '../src/core/return-history.js';

/**
 * Receipts and return decisions are pruned by the policy's return window (plus a margin), on a
 * real SQLite file and a fixed clock; what the offline decision can still read is kept.
 */

const DAY = 24 * 3600_000;
const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const WINDOW_DAYS = 30;
/** the oldest time kept: 30 + 14 days before NOW */
const CUTOFF = NOW - (WINDOW_DAYS + RETURN_HISTORY_MARGIN_DAYS) * DAY;
const policyOf = (returnWindowDays: number): { policy: Policy; problem: undefined } => ({
  policy: PolicySchema.parse({ ...DEFAULT_POLICY, returnWindowDays }),
  problem: undefined,
});

let dir: string;
let db: Db;
let clockMs: number;
let receipts: Receipts;
let returns: LocalReturns;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-return-history-'));
  db = openAgentDb(dir, { synchronous: 'NORMAL' });
  clockMs = NOW;
  receipts = new Receipts(db, () => clockMs);
  returns = new LocalReturns(db, () => clockMs);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A sale of `at` (null: the hub described it, no time), recorded by the agent at `recordedMs`. */
function sale(receipt: string, at: number | null, recordedMs: number, register: string | null = 'R1'): void {
  clockMs = recordedMs;
  receipts.remember({
    receipt,
    store: 'S1',
    register,
    at: at === null ? null : new Date(at).toISOString(),
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty: 3000, unitPrice: 1000 }],
    tenderKinds: ['cash'],
  });
}

function decision(
  authorization: string,
  receipt: string,
  decidedMs: number,
  status: LocalReturn['status'],
  expiresAt: number | null = null,
): void {
  clockMs = decidedMs;
  returns.record({
    authorization,
    receipt,
    register: 'R1',
    requestId: `m-${authorization}`,
    mode: 'offline',
    decision: status === 'pending' ? 'pending' : 'approved',
    status,
    lines: [{ line: 1, qty: 1000, disposition: 'restock', refund: 1000 }],
    refund: 1000,
    allowedTenders: ['cash'],
    expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
  });
}

const receiptsLeft = (): string[] =>
  db.prepare('SELECT receipt FROM receipts ORDER BY receipt').pluck().all() as string[];
const returnsLeft = (): string[] =>
  db.prepare('SELECT authorization FROM local_returns ORDER BY authorization').pluck().all() as string[];

describe('pruning receipts and return decisions by the return window', () => {
  beforeEach(() => {
    sale('R-old', NOW - 60 * DAY, NOW - 60 * DAY);
    sale('R-just-kept', CUTOFF + 3600_000, CUTOFF + 3600_000);
    sale('R-just-gone', CUTOFF - 3600_000, CUTOFF - 3600_000);
    // sent by the register long after the sale: recorded recently, so kept
    sale('R-late', NOW - 60 * DAY, NOW - 10 * DAY);
    // a register whose clock ran ahead: the sale's own time is within the window, so kept
    sale('R-clock-ahead', NOW - 5 * DAY, NOW - 60 * DAY);
    // described by the hub (no sale time): counted from when the agent learned it
    sale('R-hub-old', null, NOW - 60 * DAY, null);
    sale('R-hub-recent', null, NOW - 10 * DAY, null);

    decision('A-old-completed', 'R-old', NOW - 59 * DAY, 'completed');
    decision('A-old-pending', 'R-old', NOW - 59 * DAY, 'pending');
    decision('A-recent', 'R-old', NOW - 10 * DAY, 'completed');
    decision('A-on-kept-receipt', 'R-clock-ahead', NOW - 59 * DAY, 'completed');
    decision('A-no-receipt', '', NOW - 50 * DAY, 'denied');
    decision('A-still-held', '', NOW - 50 * DAY, 'approved', NOW + 3600_000);
    decision('A-expired', 'R-hub-old', NOW - 50 * DAY, 'approved', NOW - 49 * DAY);
  });

  it('drops what is older than the window and the margin, and keeps what a return can still be checked against', () => {
    expect(pruneReturnHistory(db, policyOf(WINDOW_DAYS), NOW)).toEqual({ receipts: 3, returns: 3 });
    expect(receiptsLeft()).toEqual(['R-clock-ahead', 'R-hub-recent', 'R-just-kept', 'R-late']);
    expect(returnsLeft()).toEqual(['A-old-pending', 'A-on-kept-receipt', 'A-recent', 'A-still-held']);
    // what the offline decision reads of a kept receipt: the returns that claimed its lines
    expect(returns.claimedByLine('R-clock-ahead')).toEqual(new Map([[1, 1000]]));
    expect(receipts.find('R-just-kept')).toBeDefined();
    // and a second run finds nothing more
    expect(pruneReturnHistory(db, policyOf(WINDOW_DAYS), NOW)).toEqual({ receipts: 0, returns: 0 });
  });

  it('follows the policy the agent holds: a longer window keeps more', () => {
    expect(pruneReturnHistory(db, policyOf(90), NOW)).toEqual({ receipts: 0, returns: 0 });
    // no window at all: only the margin (14 days) keeps
    expect(pruneReturnHistory(db, policyOf(0), NOW).receipts).toBe(4);
    expect(receiptsLeft()).toEqual(['R-clock-ahead', 'R-hub-recent', 'R-late']);
  });

  it('prunes nothing while the stored policy cannot be read (the window is unknown)', () => {
    const unreadable = { policy: DEFAULT_POLICY, problem: 'policy: not JSON' };
    expect(pruneReturnHistory(db, unreadable, NOW)).toEqual({ receipts: 0, returns: 0 });
    expect(receiptsLeft()).toHaveLength(7);
    expect(returnsLeft()).toHaveLength(7);
  });
});

describe('the offline decision reads local_returns through indexes', () => {
  const plan = (sql: string, ...params: unknown[]): string =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');

  it('the offline daily limit (one register since a time)', () => {
    expect(plan(OFFLINE_APPROVED_SINCE_SQL, 'R1', NOW - DAY)).toMatch(
      /SEARCH local_returns USING INDEX local_returns_offline \(register=\? AND mode=\? AND created_ms>\?\)/,
    );
  });

  it("what earlier returns claimed of a receipt's lines", () => {
    expect(plan(CLAIMS_ON_RECEIPT_SQL, 'R-1', '')).toMatch(
      /SEARCH local_returns USING INDEX local_returns_receipt \(receipt=\?\)/,
    );
  });
});
