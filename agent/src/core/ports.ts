import type {
  AuthorizeRequestBody,
  AuthorizeResult,
  OverrideBody,
  ReceiptLookupBody,
  ReceiptLookupResult,
  RegisterMessage,
  RegisterReply,
} from '@tillbridge/shared';

/**
 * What the store core needs from the layers around it, declared here so that they depend on the
 * core and not the other way round (docs/architecture.md, "The agent's layers"): the gateway hands
 * messages to a MessageHandler and reports registers' states; sync implements the hub authorizer
 * and the outbox. Only the composition root (agent.ts) knows them all.
 */

/** What the gateway hands canonical messages to: the store core. */
export interface MessageHandler {
  handle(register: string, message: RegisterMessage): Promise<RegisterReply>;
}

/** What the store core needs from the hub: requests with a deadline, and whether one can be made now. */
export interface HubAuthorizer {
  readonly connected: boolean;
  authorize(body: AuthorizeRequestBody, deadlineMs: number): Promise<AuthorizeResult>;
  lookupReceipt(body: ReceiptLookupBody, deadlineMs: number): Promise<ReceiptLookupResult>;
  override(body: OverrideBody, deadlineMs: number): Promise<AuthorizeResult>;
}

/** How long forwarded events are kept in the journal after they were written (default 14 days). */
export const JOURNAL_RETENTION_MS = 14 * 24 * 3600 * 1000;

/** A register's business day as counted from the journal (the agent's own day close). */
export interface DayCount {
  sales: { count: number; amount: number };
  returns: { count: number; amount: number };
  /** per tender kind (lower-cased): taken in sales minus paid out in refunds; sorted by kind */
  tenders: { kind: string; amount: number }[];
  /** the sale receipts forwarded, in the order they were */
  receipts: string[];
  /** the returns forwarded as completed (return.complete), in the order they were */
  authorizations: string[];
  /** the currency of the day's sales, when they all had one */
  currency?: string;
}

/** What the core reads of the journal of forwarded events (sync's Journal). */
export interface ForwardedJournal {
  count(register: string, businessDay: string): DayCount;
  /** Drops what was written more than `ageMs` before `nowMs`. */
  pruneOlderThan(nowMs: number, ageMs: number): number;
}

/**
 * The durable queue of events owed to the hub, as the core writes it (sync's Outbox). `append`
 * runs inside the caller's transaction, with whatever else makes the register's message durable.
 */
export interface EventOutbox {
  readonly journal: ForwardedJournal;
  append(kind: string, register: string, body: unknown): { seq: number; eventId: string };
  /** The newest seq still queued (0 when the outbox is empty). */
  lastSeq(): number;
  /** The newest seq still queued of a receipt's sale, of some returns' events, and if asked of any non-sale. */
  lastSeqOf(q: { receipt: string | undefined; authorizations: readonly string[]; everyNotSale: boolean }): number;
  /** Puts a register's journalled day back in the queue under its original ids. */
  resend(register: string, businessDay: string): { requeued: number; waiting: number };
}

/** What a register's link is doing, as its transport says (status and the hub's terminal view). */
export type LinkState = 'listening' | 'connecting' | 'connected' | 'disconnected' | 'error';

/**
 * A register's state as the gateway reports it: shown in status, sent to the hub as a terminal report. A HID barcode
 * scanner reports the same way (`kind: 'scanner'`, the register it feeds, its last scan as `lastMessageAt`).
 */
export interface RegisterStatus {
  id: string;
  /** absent: a register */
  kind?: 'scanner';
  /** a scanner's register */
  feeds?: string;
  transport: string;
  codec: string;
  connected: number;
  /** connected when a connection is open; otherwise what the transport says. */
  state: LinkState;
  /** Why the transport is disconnected or in error, when it said. */
  detail?: string;
  /** What the register itself last reported with a `status` message. */
  reported?: { state: string; detail?: string; at: string };
  lastMessageAt?: string;
}

/** Where terminal reports come from: a register endpoint's current state and its changes. */
export interface RegisterStatusSource {
  status(): RegisterStatus;
  onStatus(listener: (status: RegisterStatus) => void): void;
}
