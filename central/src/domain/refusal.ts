/**
 * A permanent refusal of an agent event: the event is acknowledged, kept as an exception with
 * this code and reason, and never retried (DESIGN rule 3). Codes are stable.
 */
export const ExceptionCodes = {
  INVALID_EVENT: 'invalid_event',
  UNKNOWN_KIND: 'unknown_kind',
  DUPLICATE_RECEIPT: 'duplicate_receipt',
  OVER_RETURN: 'over_return',
  RECEIPT_NOT_FOUND: 'receipt_not_found',
  /** an offline return of a receipt number several other stores issued, without naming the store */
  RECEIPT_AMBIGUOUS: 'receipt_ambiguous',
  UNKNOWN_AUTHORIZATION: 'unknown_authorization',
  NOT_APPROVED: 'not_approved',
  ALREADY_COMPLETED: 'already_completed',
  CANCELLED: 'cancelled',
  EXCEEDS_AUTHORIZED: 'exceeds_authorized',
  WRONG_STORE: 'wrong_store',
  INTERNAL_ERROR: 'internal_error',
  TENDER_NOT_ALLOWED: 'tender_not_allowed',
  REFUND_EXCEEDS_AUTHORIZED: 'refund_exceeds_authorized',
  LIMIT_EXCEEDED: 'limit_exceeded',
  /** a line's refunds would add up to more than was paid for it (DESIGN rule 11) */
  OVER_REFUND: 'over_refund',
} as const;
export type ExceptionCode = (typeof ExceptionCodes)[keyof typeof ExceptionCodes];

export class Refusal extends Error {
  constructor(
    readonly code: ExceptionCode,
    message: string,
    readonly authorization?: string,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}
