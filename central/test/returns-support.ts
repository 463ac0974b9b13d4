import type {
  AuthorizeRequestBody,
  ReturnCompleteEventBody,
  ReturnDecisionEventBody,
  DecisionEventLine,
} from '@tillbridge/shared';
import type { Hub } from '../src/hub-services.js';

/**
 * Returns as a register asks for and completes them, for the hub's returns tests: each names
 * register R1 and one receipt line, and derives its request id from the authorization.
 */

/** A return of `qty` of line 1 of `receipt`, restocked, asked for online (request id q-AUTHORIZATION). */
export function askReturn(
  hub: Hub,
  store: string,
  authorization: string,
  receipt: string,
  qty: number,
  over: Partial<AuthorizeRequestBody> = {},
): ReturnType<Hub['engine']['authorize']> {
  return hub.engine.authorize(store, askBody(authorization, receipt, qty, over));
}

/** A request to return `qty` (default 1) of line 1 of `receipt` at register R1, restocked (request q-AUTHORIZATION). */
export function askBody(
  authorization: string,
  receipt: string,
  qty = 1,
  over: Partial<AuthorizeRequestBody> = {},
): AuthorizeRequestBody {
  return {
    authorization,
    after: 0,
    register: 'R1',
    requestId: `q-${authorization}`,
    receipt,
    lines: [{ line: 1, qty, disposition: 'restock' }],
    ...over,
  };
}

/** Completes `authorization`: `qty` of line 1 (or these lines), refunded as `refund` (request id c-AUTHORIZATION). */
export function completeReturn(
  hub: Hub,
  store: string,
  authorization: string,
  qty: number | ReturnCompleteEventBody['lines'],
  refund: ReturnCompleteEventBody['refund'],
  register = 'R1',
): ReturnType<Hub['completion']['complete']> {
  return hub.storage.tx(() =>
    hub.completion.complete(store, register, {
      authorization,
      requestId: `c-${authorization}`,
      lines: typeof qty === 'number' ? [{ line: 1, qty }] : qty,
      refund,
    } satisfies ReturnCompleteEventBody),
  );
}

/**
 * An approval the agent made offline of `qty` of line 1 of `receipt`, restocked, at 10.00 EUR a
 * unit, under policy version 0 at 2026-11-27T10:00Z; `extra` and `line` override the body and its line.
 */
export function offlineApproval(
  authorization: string,
  receipt: string,
  qty = 1,
  extra: Partial<ReturnDecisionEventBody> = {},
  line: Partial<DecisionEventLine> = {},
): ReturnDecisionEventBody {
  return {
    authorization,
    requestId: `q-${authorization}`,
    receipt,
    decision: 'approved',
    mode: 'offline',
    lines: [{ line: 1, qty, approvedQty: qty, code: 'ok', disposition: 'restock', ...line }],
    refundEstimate: 1000 * qty,
    allowedTenders: ['cash', 'store_credit'],
    conditions: [],
    rules: [],
    policyVersion: 0,
    decidedAt: '2026-11-27T10:00:00.000Z',
    ...extra,
  };
}
