import type { RegisterReply, ReturnDecisionReply } from '@tillbridge/shared';

/** A register's sale `id` on `receipt` at `at`: `qty` of item A at `unitPrice` (EUR minor units), paid in cash. */
export function cashSale(id: string, receipt: string, at: string, qty: number, unitPrice: number) {
  return {
    type: 'sale' as const,
    id,
    receipt,
    at,
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty, unitPrice }],
    tenders: [{ kind: 'cash', amount: qty * unitPrice }],
  };
}

/**
 * The hub's answer to a register's receipt lookup `id` of `receipt`, found: line 1, two TEE-BLUE-M at 19.99 with
 * one still returnable, and line 3, 0.42 of the weighed item `weighedSku` at 3.49, all of it returnable.
 */
export function foundReceipt(id: string, receipt: string, weighedSku: string): RegisterReply {
  return {
    type: 'receipt',
    id,
    receipt,
    found: true,
    source: 'hub',
    lines: [
      { line: 1, sku: 'TEE-BLUE-M', qty: 2, unitPrice: 1999, returnable: 1 },
      { line: 3, sku: weighedSku, qty: 0.42, unitPrice: 349, returnable: 0.42 },
    ],
  };
}

/** A return.decision reply `id` under `authorization`: `decision`, made `mode`, on these lines (and why, if given). */
export function decisionReply(
  id: string,
  authorization: string,
  decision: ReturnDecisionReply['decision'],
  mode: ReturnDecisionReply['mode'],
  lines: ReturnDecisionReply['lines'],
  reason?: string,
): ReturnDecisionReply {
  return {
    type: 'return.decision',
    id,
    authorization,
    decision,
    mode,
    ...(reason !== undefined ? { reason } : {}),
    lines,
  };
}
