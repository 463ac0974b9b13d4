/**
 * Stable error codes. Code branches on `code`, never on message text.
 * Codes are part of the register protocol and the hub API: never rename one.
 */
export const TbCodes = {
  /** A frame or line that is not valid JSON / not decodable. */
  MALFORMED: 'TB_MALFORMED',
  /** Decodable, but fails the message schema. */
  INVALID: 'TB_INVALID',
  /** A message type the agent does not know. */
  UNKNOWN_TYPE: 'TB_UNKNOWN_TYPE',
  /** A frame larger than the framing allows. */
  FRAME_TOO_LARGE: 'TB_FRAME_TOO_LARGE',
  /** Card data that must not be accepted (track data, CVV, unmaskable PAN). */
  CARD_DATA: 'TB_CARD_DATA',
  /** A return.complete / return.cancel naming an authorization this agent never issued. */
  UNKNOWN_AUTHORIZATION: 'TB_UNKNOWN_AUTHORIZATION',
  /** An authorization that cannot be completed or cancelled in its current state. */
  AUTHORIZATION_STATE: 'TB_AUTHORIZATION_STATE',
  /** A return.complete refunding more, or returning more, than its authorization approved. */
  EXCEEDS_AUTHORIZATION: 'TB_EXCEEDS_AUTHORIZATION',
  /** Something failed inside the agent; nothing was acknowledged. */
  INTERNAL: 'TB_INTERNAL',
  /** Configuration did not validate. */
  CONFIG: 'TB_CONFIG',
  /** The hub could not be reached or did not answer in time. */
  HUB_UNAVAILABLE: 'TB_HUB_UNAVAILABLE',
  /** Authentication failed (API key, token, admin token). */
  UNAUTHORIZED: 'TB_UNAUTHORIZED',
  /** Authenticated, but not allowed (another store's data, wrong role). */
  FORBIDDEN: 'TB_FORBIDDEN',
  /** A resource that does not exist. */
  NOT_FOUND: 'TB_NOT_FOUND',
  /** A resource that already exists. */
  CONFLICT: 'TB_CONFLICT',
  /** Storage failed in a way worth retrying. */
  STORAGE_BUSY: 'TB_STORAGE_BUSY',
  /** The disk (or the database's size limit) is full: nothing was recorded; retry once space is freed. */
  STORAGE_FULL: 'TB_STORAGE_FULL',
  /** The audit chain does not verify. */
  AUDIT_BROKEN: 'TB_AUDIT_BROKEN',
  /** Too many requests, or too many failed authentications, from one source. */
  RATE_LIMITED: 'TB_RATE_LIMITED',
  /** A receipt number several stores issued, asked for without naming the store. */
  RECEIPT_AMBIGUOUS: 'TB_RECEIPT_AMBIGUOUS',
  /** Refused: it would leave the hub without an active admin-role token, locking every operator out. */
  LAST_ADMIN: 'TB_LAST_ADMIN',
  /** A peer's TLS certificate was refused: not trusted, expired, or issued for another name. */
  TLS: 'TB_TLS',
  /** The hub refused this agent: another copy of its database is connected (DESIGN rule 9). */
  DUPLICATE_AGENT: 'TB_DUPLICATE_AGENT',
  /** The hub and the agent share no protocol version: the older one must be upgraded (docs/upgrade.md). */
  PROTOCOL_VERSION: 'TB_PROTOCOL_VERSION',
  /** An import that stopped part-way: the details say exactly what was applied; running it again finishes it. */
  IMPORT_INCOMPLETE: 'TB_IMPORT_INCOMPLETE',
} as const;

export type TbCode = (typeof TbCodes)[keyof typeof TbCodes];

export class TbError extends Error {
  readonly code: TbCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: TbCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TbError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isTbError(err: unknown, code?: TbCode): err is TbError {
  return err instanceof TbError && (code === undefined || err.code === code);
}
