import type { AuthorizeRequestBody, AuthorizeResult } from '@tillbridge/shared';

/**
 * A hub's online approval of a return request: every line approved as asked, 1000 refunded, no tenders
 * named, no conditions, policy version 0; `over` sets what a test's hub answers otherwise.
 */
export function approvalOf(b: AuthorizeRequestBody, over: Partial<AuthorizeResult> = {}): AuthorizeResult {
  return {
    authorization: b.authorization,
    decision: 'approved',
    mode: 'online',
    lines: b.lines.map((l) => ({ line: l.line ?? 0, approvedQty: l.qty, code: 'ok' })),
    refundAmount: 1000,
    allowedTenders: [],
    conditions: [],
    policyVersion: 0,
    ...over,
  };
}
