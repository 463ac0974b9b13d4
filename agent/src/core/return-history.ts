import type { Db } from '../db/agent-db.js';
import type { PolicyStore } from './policy-store.js';

/**
 * How long past the returns policy's window the agent keeps receipts and return decisions: more
 * than an approval holds (reservationMinutes, at most 7 days) and more than a register's clock and
 * the agent's may differ, and room for a window the hub lengthens later.
 */
export const RETURN_HISTORY_MARGIN_DAYS = 14;

const DAY_MS = 24 * 3600_000;

export interface PrunedHistory {
  receipts: number;
  returns: number;
}

/**
 * Forgets the receipts and return decisions no return can be checked against any more — older
 * than the policy's return window plus RETURN_HISTORY_MARGIN_DAYS — so `receipts` and
 * `local_returns` stop growing. What the offline decision reads stays:
 *   - a receipt, while it was recorded here or sold (its `at`, which the window is counted from)
 *     within that time; one whose sale time is unknown counts from when the agent learned it;
 *   - a decision, while it is that recent, still pending (owed to the hub), held (an approval not
 *     yet expired), or its receipt is kept (what was returned of it counts against it).
 * Nothing is pruned while the stored policy cannot be read: the window is then unknown.
 */
export function pruneReturnHistory(
  db: Db,
  policy: Pick<PolicyStore, 'policy' | 'problem'>,
  nowMs: number,
): PrunedHistory {
  if (policy.problem !== undefined) return { receipts: 0, returns: 0 };
  const cutoffMs = nowMs - (policy.policy.returnWindowDays + RETURN_HISTORY_MARGIN_DAYS) * DAY_MS;
  const cutoff = new Date(cutoffMs).toISOString();
  const now = new Date(nowMs).toISOString();
  const pruneReceipts = db.prepare(
    `DELETE FROM receipts
      WHERE created_ms < :cutoffMs
        AND (at IS NULL OR julianday(at) IS NULL OR julianday(at) < julianday(:cutoff))`,
  );
  // local_returns_created finds the old rows; the receipt's primary key whether it is kept
  const pruneReturns = db.prepare(
    `DELETE FROM local_returns
      WHERE created_ms < :cutoffMs
        AND status <> 'pending'
        AND (expires_at IS NULL OR julianday(expires_at) IS NULL OR julianday(expires_at) < julianday(:now))
        AND NOT EXISTS (SELECT 1 FROM receipts WHERE receipts.receipt = local_returns.receipt)`,
  );
  return db
    .transaction(() => ({
      receipts: pruneReceipts.run({ cutoffMs, cutoff }).changes,
      returns: pruneReturns.run({ cutoffMs, now }).changes,
    }))
    .immediate();
}
