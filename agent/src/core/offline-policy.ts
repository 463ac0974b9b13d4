import { judgeReturn, LineCodes, refuseAll, type Judgement, type RequestedLine } from '@tillbridge/shared';
import type { KnownReceipt } from './receipts.js';

export interface OfflinePolicy {
  /** Largest refund (minor units) approved without the hub. */
  maxRefund: number;
}

/**
 * How the agent decides a return while the hub cannot be reached: only receipts sold at this
 * store, only what is still returnable by what this agent knows, only under the offline limit.
 */
export function decideOffline(
  store: string,
  receipt: KnownReceipt | undefined,
  claimedMilli: ReadonlyMap<number, number>,
  requested: RequestedLine[],
  policy: OfflinePolicy,
): Judgement {
  const soldHere = receipt && receipt.store === store ? receipt.lines : undefined;
  const j = judgeReturn(soldHere, claimedMilli, requested, LineCodes.RECEIPT_UNKNOWN_OFFLINE);
  if (j.decision === 'approved' && j.refund > policy.maxRefund) {
    return refuseAll(j, LineCodes.OFFLINE_LIMIT, `refund ${j.refund} is over the offline limit of ${policy.maxRefund}`);
  }
  return j;
}
