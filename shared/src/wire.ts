import { createHash } from 'node:crypto';
import * as z from 'zod';
import { Currency, MinorUnits } from './money.js';
import { Quantity, QuantityOrZero } from './quantity.js';
import {
  AuthorizationId,
  Decision,
  DecisionLine,
  DecisionMode,
  Disposition,
  LineNo,
  MessageId,
  Receipt,
  Refund,
  SaleLine,
  Sku,
  StoreId,
  Tender,
  Timestamp,
  uniqueRequestLines,
} from './register-protocol.js';

/**
 * The protocol between a store agent and the hub: JSON text frames on one WebSocket per store
 * (path `/v1/agent`, bearer access token). See docs/architecture.md#wire-protocol.
 *
 *   agent → hub: hello, events, req, heartbeat, token, terminal, key.ack, inventory.digest
 *   hub → agent: welcome, policy, config, key, ack, nack, res, inventory, resend
 *
 * Events are the durable part: each has a globally unique `id` and the agent's `seq`.
 * The hub applies each exactly once, by id, and acks each batch it has committed.
 */

/**
 * Protocol versions (docs/upgrade.md "Agent and hub versions"). The agent's hello says the range it
 * speaks (`min`..`v`); the hub picks the highest version both speak and says it in `welcome.v`.
 *
 *   2: `hello` carries the database's incarnation and newest seq; `ack.upTo` is the batch's, not the cursor (DESIGN
 * rule 9).
 *   3: `hello` says the range (`min`), the agent's OS and when it started; `welcome.v` is the version chosen.
 *      A hub of protocol 2 knows no range and takes a hello of exactly v 2: an agent it refused for
 *      protocol (4400) says its v 2 hello next time.
 *   4: after the welcome the agent may send a frame as a binary message, deflated with protocol 4's dictionary
 *      (wire-compression.ts); the hub sends text as before.
 *   5: `terminal` reports may say what each terminal is (`kind`: a register or a HID barcode scanner), the codec a
 *      register's endpoint speaks and the register a scanner feeds; the agent reports its scanners too. On an older
 *      protocol it sends registers only, without those fields (a hub of protocol 4 refuses fields it does not know).
 */
export const WIRE_VERSION = 5;
/** The oldest protocol version this build speaks (as agent or hub). */
export const WIRE_VERSION_MIN = 2;

/**
 * The first tillbridge-agent release that speaks each protocol version: what a hub tells an agent too old for it to
 * install.
 */
export const AGENT_RELEASE_FOR_PROTOCOL: Readonly<Record<number, string>> = {
  2: '0.1.0',
  3: '0.1.0',
  4: '0.1.0',
  5: '0.1.0',
};

/**
 * The protocol version a hub speaking `hub` and an agent speaking `agent` use: the highest both
 * speak; or why there is none (`agentTooOld`: the agent must be upgraded; else the hub).
 */
export function negotiateProtocol(
  hub: { min: number; max: number },
  agent: { min: number; max: number },
): { version: number } | { agentTooOld: boolean } {
  const version = Math.min(hub.max, agent.max);
  if (version >= Math.max(hub.min, agent.min) && agent.min <= agent.max) return { version };
  return { agentTooOld: agent.max < hub.min };
}

/**
 * What a hub says in its close reason to an agent too old for it (a WebSocket close reason holds at most 123 bytes).
 */
export function agentTooOldReason(hubMin: number): string {
  const release = AGENT_RELEASE_FOR_PROTOCOL[hubMin] ?? `a release of protocol ${hubMin}`;
  return `this hub needs tillbridge-agent >= ${release} (protocol >= ${hubMin}); install it (docs/upgrade.md)`.slice(
    0,
    123,
  );
}
export const AGENT_WS_PATH = '/v1/agent';
export const TOKEN_PATH = '/v1/token';
/** Where an agent trades a one-time enrollment code for its store's API key (`tillbridge-agent enroll`). */
export const ENROLL_PATH = '/v1/enroll';

/**
 * What `POST /v1/enroll` answers: the store, its new API key and the key's id, the hub's WebSocket URL as the caller
 * reached it (null: the request named no host), and the fingerprint of the hub's certificate (null: no TLS).
 */
export const EnrollAnswer = z.object({
  store: z.string(),
  apiKey: z.string(),
  keyId: z.string(),
  hubUrl: z.string().nullable(),
  fingerprint: z.string().nullable(),
});
export type EnrollAnswer = z.infer<typeof EnrollAnswer>;

/** WebSocket close codes the hub uses (4000–4999 are for applications). */
export const CloseCodes = {
  /** The access token expired: refresh it and reconnect. */
  TOKEN_EXPIRED: 4001,
  /** Authentication failed for good (revoked key, wrong store): do not hammer. */
  UNAUTHORIZED: 4003,
  /**
   * A newer connection from the same store replaced this one: another agent of the store (a new
   * install), or a later attempt of this same run of the agent (this connection was given up).
   */
  REPLACED: 4009,
  /**
   * Another copy of this agent's database (same agent id) is connected and answers: this one is
   * refused (two PCs from one disk image, or the agent started twice on one database).
   */
  DUPLICATE_AGENT: 4010,
  /**
   * This database departs from what the hub applied for its incarnation (restored from a backup,
   * a VM snapshot reverted, a disk copied): start a new incarnation and send the outbox again.
   */
  NEW_INCARNATION: 4011,
  /** The agent broke the protocol. */
  PROTOCOL: 4400,
  /**
   * The hub and the agent share no protocol version (the reason says which to upgrade, e.g. "this
   * hub needs tillbridge-agent >= 0.2.0 (protocol >= 3); install it"): retried slowly.
   */
  PROTOCOL_VERSION: 4426,
  /** The hub is shutting down. */
  GOING_AWAY: 1001,
} as const;

// ---------- event bodies ----------

export const SaleEventBody = z.strictObject({
  requestId: MessageId,
  receipt: Receipt,
  at: Timestamp,
  currency: Currency,
  lines: z.array(SaleLine).min(1),
  tenders: z.array(Tender),
});
export type SaleEventBody = z.infer<typeof SaleEventBody>;

export const DecisionEventLine = z.strictObject({
  /** the receipt's line, 0 when a line asked for by SKU matched none */
  line: z.number().int().nonnegative(),
  sku: Sku.optional(),
  qty: Quantity,
  approvedQty: QuantityOrZero,
  code: z.string(),
  disposition: Disposition,
  reason: z.string().max(200).optional(),
  /** what the approved quantity refunds after its restocking fee, and the fee (minor units) */
  refund: MinorUnits.refine((n) => n >= 0, 'zero or more').optional(),
  fee: MinorUnits.refine((n) => n >= 0, 'zero or more').optional(),
});
export type DecisionEventLine = z.infer<typeof DecisionEventLine>;

/** An offline decision, synced so the hub can reconcile it against the authoritative state. */
export const ReturnDecisionEventBody = z.strictObject({
  authorization: AuthorizationId,
  requestId: MessageId,
  /** absent: a return without a receipt */
  receipt: Receipt.optional(),
  /** the store that issued the receipt, when the register named it */
  originalStore: StoreId.optional(),
  decision: Decision,
  mode: DecisionMode,
  lines: z.array(DecisionEventLine).min(1),
  /** the refund after fees */
  refundEstimate: MinorUnits,
  allowedTenders: z.array(z.string().max(32)).max(10).default([]),
  conditions: z.array(z.string().max(64)).max(20).default([]),
  rules: z
    .array(z.strictObject({ code: z.string().max(64), detail: z.string().max(300), line: z.number().int().optional() }))
    .max(100)
    .default([]),
  policyVersion: z.number().int().nonnegative().default(0),
  reason: z.string().max(500).optional(),
  decidedAt: Timestamp,
});
export type ReturnDecisionEventBody = z.infer<typeof ReturnDecisionEventBody>;

export const ReturnCompleteEventBody = z.strictObject({
  authorization: AuthorizationId,
  requestId: MessageId,
  lines: z.array(z.strictObject({ line: LineNo.optional(), sku: Sku.optional(), qty: Quantity })).min(1),
  refund: Refund,
});
export type ReturnCompleteEventBody = z.infer<typeof ReturnCompleteEventBody>;

export const ReturnCancelEventBody = z.strictObject({
  authorization: AuthorizationId,
  requestId: MessageId,
});
export type ReturnCancelEventBody = z.infer<typeof ReturnCancelEventBody>;

/**
 * A register's business day as the store saw it, for the hub to reconcile against what it
 * recorded (docs/reconciliation.md). source `register`: the register's own day close (Z report),
 * its totals as the register sent them; source `agent`: the register sent none by the store's
 * cut-off, and the totals are the agent's own count of what it forwarded. Either way `receipts`
 * and `authorizations` list what the agent forwarded for that register and day, so the hub can
 * name what it lacks and ask for it again (`resend`).
 */
export const DayCloseEventBody = z.strictObject({
  requestId: MessageId,
  businessDay: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  source: z.enum(['register', 'agent']),
  closedAt: Timestamp,
  currency: Currency.optional(),
  sales: z.strictObject({ count: z.number().int().nonnegative(), amount: MinorUnits }),
  returns: z.strictObject({ count: z.number().int().nonnegative(), amount: MinorUnits }),
  tenders: z.array(z.strictObject({ kind: z.string().min(1).max(32), amount: MinorUnits })).max(50),
  /** the sale receipts the agent forwarded for this register and day */
  receipts: z.array(Receipt).max(100_000),
  /** the returns (authorizations) the agent forwarded as completed for this register and day */
  authorizations: z.array(AuthorizationId).max(100_000),
});
export type DayCloseEventBody = z.infer<typeof DayCloseEventBody>;

export const EVENT_KINDS = ['sale', 'return.decision', 'return.complete', 'return.cancel', 'day.close'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export const EventBodies = {
  sale: SaleEventBody,
  'return.decision': ReturnDecisionEventBody,
  'return.complete': ReturnCompleteEventBody,
  'return.cancel': ReturnCancelEventBody,
  'day.close': DayCloseEventBody,
} as const;

export const WireEvent = z.strictObject({
  seq: z.number().int().positive(),
  id: z.string().min(1).max(64),
  kind: z.string().min(1).max(64),
  register: z.string().min(1).max(64),
  /** When the agent committed the event (ISO 8601): sync latency is measured from here. */
  at: Timestamp,
  body: z.unknown(),
});
export type WireEvent = z.infer<typeof WireEvent>;

// ---------- agent → hub ----------

export const HelloFrame = z.strictObject({
  t: z.literal('hello'),
  /** the newest protocol version the agent speaks */
  v: z.number().int(),
  /** the oldest one it speaks (protocol 3 on; absent: only `v`) */
  min: z.number().int().optional(),
  /** the agent's id: made with its database, the same in every copy of it */
  agent: z.string().min(1).max(64),
  /** the database's incarnation: new when it is created, and whenever the hub finds it behind or forked */
  incarnation: z.string().min(1).max(64),
  /** the highest seq this database ever gave an event (0: none yet) */
  newest: z.number().int().nonnegative(),
  software: z.string().max(64).optional(),
  /** the agent's OS (protocol 3 on): what `tillbridge-hub status` shows of it */
  os: z
    .strictObject({ platform: z.string().max(32), release: z.string().max(64), arch: z.string().max(32) })
    .optional(),
  /** when this run of the agent started (protocol 3 on): its uptime at the hub */
  startedAt: z.string().max(40).optional(),
  /**
   * This run of the agent (random, made when it starts) and the connection's number in it (1, 2, …):
   * of two connections of one run, the higher attempt is the one the agent uses — an older one
   * that says hello late never displaces it. Optional: a hello without them is ordered by a probe.
   */
  run: z.string().min(1).max(64).optional(),
  attempt: z.number().int().positive().optional(),
});
export type HelloFrame = z.infer<typeof HelloFrame>;

export const EventsFrame = z.strictObject({
  t: z.literal('events'),
  items: z.array(WireEvent).min(1).max(1000),
});

export const AuthorizeRequestBody = z.strictObject({
  authorization: AuthorizationId,
  /** The hub answers only once it has applied this agent's events up to this seq (the sale may be among them). */
  after: z.number().int().nonnegative().default(0),
  register: z.string().min(1).max(64),
  requestId: MessageId,
  /** the receipt; or `cardHash` to find the sale by card; or neither (no receipt) */
  receipt: Receipt.optional(),
  /** the store that issued `receipt`; absent: this store's receipt, else the only store that issued it */
  originalStore: StoreId.optional(),
  cardHash: z.string().max(64).optional(),
  exchange: z
    .array(z.strictObject({ sku: Sku, qty: Quantity }))
    .max(50)
    .optional(),
  lines: z
    .array(
      z
        .strictObject({
          line: LineNo.optional(),
          sku: Sku.optional(),
          qty: Quantity,
          unitPrice: MinorUnits.optional(),
          disposition: Disposition,
          reason: z.string().max(200).optional(),
        })
        .refine((l) => (l.line === undefined) !== (l.sku === undefined), 'either "line" or "sku"'),
    )
    .min(1)
    // as the register protocol says; a line number twice would otherwise reach the ticket's lines as two rows
    .refine(uniqueRequestLines, 'each line number or SKU at most once'),
});
export type AuthorizeRequestBody = z.infer<typeof AuthorizeRequestBody>;

export const ReqFrame = z.strictObject({
  t: z.literal('req'),
  rid: z.number().int().nonnegative(),
  op: z.enum(['authorize', 'receipt.lookup', 'override']),
  body: z.unknown(),
});

export const ReceiptLookupBody = z
  .strictObject({
    receipt: Receipt.optional(),
    originalStore: StoreId.optional(),
    cardHash: z.string().max(64).optional(),
    after: z.number().int().nonnegative().default(0),
  })
  .refine((b) => (b.receipt === undefined) !== (b.cardHash === undefined), 'either "receipt" or "cardHash"');

/** A manager's override; the code is checked against the operator's list (stored hashed). */
export const OverrideBody = z.strictObject({
  authorization: AuthorizationId,
  requestId: MessageId,
  manager: z.string().min(1).max(64),
  code: z.string().min(1).max(64),
});
export type OverrideBody = z.infer<typeof OverrideBody>;
export type ReceiptLookupBody = z.infer<typeof ReceiptLookupBody>;

export const ReceiptLookupResult = z.strictObject({
  receipt: Receipt,
  found: z.boolean(),
  store: z.string().optional(),
  currency: Currency.optional(),
  at: z.string().optional(),
  lines: z.array(
    z.strictObject({ line: LineNo, sku: Sku, qty: Quantity, unitPrice: MinorUnits, returnable: QuantityOrZero }),
  ),
  matches: z.array(z.strictObject({ receipt: Receipt, store: z.string(), at: z.string() })).optional(),
  /** `receipt_ambiguous`: issued at several other stores (listed in `matches`); name the store */
  code: z.string().max(64).optional(),
});
export type ReceiptLookupResult = z.infer<typeof ReceiptLookupResult>;

/** The protocol version from which `terminal` reports carry `kind`, `codec` and `feeds`, and scanners are reported. */
export const TERMINAL_KINDS_FROM = 5;

/**
 * A terminal's state as the agent sees it, sent to the hub whenever it changes: a register (its endpoint), or from
 * protocol 5 a HID barcode scanner (`register` is then the scanner's id, `lastMessageAt` its last scan).
 */
export const TerminalStatus = z.strictObject({
  register: z.string().min(1).max(64),
  /** protocol 5: what it is; absent: a register */
  kind: z.enum(['register', 'scanner']).optional(),
  /** protocol 5: the codec a register's endpoint speaks (jsonl, fixed:acme, poslog…; a scanner's: hid-pos…) */
  codec: z.string().min(1).max(64).optional(),
  /** protocol 5: the register a scanner sends what it scans to */
  feeds: z.string().min(1).max(64).optional(),
  state: z.enum(['listening', 'connecting', 'connected', 'disconnected', 'error']),
  detail: z.string().max(300).optional(),
  transport: z.string().max(200),
  connections: z.number().int().nonnegative(),
  reported: z
    .strictObject({ state: z.string().max(32), detail: z.string().max(200).optional(), at: z.string() })
    .optional(),
  lastMessageAt: z.string().optional(),
  at: z.string(),
});
export type TerminalStatus = z.infer<typeof TerminalStatus>;

export const TerminalFrame = z.strictObject({
  t: z.literal('terminal'),
  items: z.array(TerminalStatus).min(1).max(1000),
});

/** What the agent answered return requests with since it started (for the success rate). */
export const AuthzCounters = z.strictObject({
  since: z.string(),
  online: z.record(z.string(), z.number().int().nonnegative()),
  offline: z.record(z.string(), z.number().int().nonnegative()),
  /** the hub answered, but after the deadline (the agent had decided offline) */
  lateOnline: z.number().int().nonnegative(),
  /** no decision could be given (the agent failed to record one) */
  failed: z.number().int().nonnegative(),
});
export type AuthzCounters = z.infer<typeof AuthzCounters>;

export const HeartbeatFrame = z.strictObject({
  t: z.literal('heartbeat'),
  outboxDepth: z.number().int().nonnegative(),
  oldestAgeMs: z.number().nonnegative(),
  registers: z.array(z.strictObject({ id: z.string(), connected: z.number().int().nonnegative() })).max(1000),
  policyVersion: z.number().int().nonnegative().optional(),
  configVersion: z.number().int().nonnegative().optional(),
  authz: AuthzCounters.optional(),
});
export type HeartbeatFrame = z.infer<typeof HeartbeatFrame>;

/** A fresh access token for the open connection (sent at about 80 % of the old one's life). */
export const TokenFrame = z.strictObject({
  t: z.literal('token'),
  token: z.string().min(1).max(4096),
});

/** The agent stored a rotated-in API key (atomically): the hub may forget its text. */
export const KeyAckFrame = z.strictObject({
  t: z.literal('key.ack'),
  id: z.string().min(1).max(64),
});

/**
 * A digest of the agent's inventory copy: per SKU, the first 8 hex characters of
 * SHA-256("sku:onHand"). The hub counts the SKUs that match (inventory data accuracy) and
 * re-sends those that differ.
 */
export const InventoryDigestFrame = z.strictObject({
  t: z.literal('inventory.digest'),
  items: z.array(z.strictObject({ sku: z.string().min(1).max(64), h: z.string().length(8) })).max(1_000_000),
  /**
   * The last inventory frame `n` the agent applied before computing it: SKUs in later frames are in flight, not wrong.
   */
  upTo: z.number().int().min(0).optional(),
});

export const AgentFrame = z.discriminatedUnion('t', [
  HelloFrame,
  EventsFrame,
  ReqFrame,
  HeartbeatFrame,
  TokenFrame,
  TerminalFrame,
  KeyAckFrame,
  InventoryDigestFrame,
]);

/** What the digest of one inventory row is (agent and hub compute it the same way). */
export function inventoryDigest(sku: string, onHand: number): string {
  return createHash('sha256').update(`${sku}:${onHand}`).digest('hex').slice(0, 8);
}
export type AgentFrame = z.infer<typeof AgentFrame>;

// ---------- hub → agent ----------

export interface WelcomeFrame {
  t: 'welcome';
  /** the protocol version this connection uses: the highest both speak */
  v: number;
  store: string;
  /**
   * The highest seq the hub has applied for this agent's incarnation. Informative only: the agent
   * deletes nothing on it (a copy of its database may hold other events under the same seqs); it
   * sends its whole outbox again and deletes what each `ack` confirms.
   */
  lastSeq: number;
  serverTime: string;
  /** Key of the keyed hash the gateway keeps of card numbers (base64url); held by the hub. */
  cardKey: string;
}

/** A new API key for this store (a rotation): store it, use it, and confirm with key.ack. */
export interface KeyFrame {
  t: 'key';
  id: string;
  apiKey: string;
}

/** The store's returns policy, on connect and whenever it changes. */
export interface PolicyFrame {
  t: 'policy';
  version: number;
  policy: unknown;
}

export interface EventResult {
  seq: number;
  outcome: 'applied' | 'duplicate' | 'exception';
  code?: string;
}

export interface AckFrame {
  t: 'ack';
  /** The highest seq of the batch: every event of the batch is committed at the hub (by its id). */
  upTo: number;
  results: EventResult[];
}

export interface NackFrame {
  t: 'nack';
  /** The first seq that was not applied; nothing after upTo in the batch was applied either. */
  seq: number;
  code: string;
  retryAfterMs: number;
}

export const AuthorizeResult = z.strictObject({
  authorization: AuthorizationId,
  decision: Decision,
  mode: DecisionMode,
  lines: z.array(DecisionLine),
  refundAmount: MinorUnits,
  allowedTenders: z.array(z.string()),
  conditions: z.array(z.string()),
  expiresAt: z.string().optional(),
  exchange: z
    .array(z.strictObject({ sku: Sku, qty: Quantity, approvedQty: QuantityOrZero, code: z.string() }))
    .optional(),
  policyVersion: z.number().int().nonnegative(),
  /** the receipt a card found */
  resolvedReceipt: Receipt.optional(),
  reason: z.string().optional(),
  /** What the receipt lines sold for, so the agent can keep its local view of the receipt. */
  receipt: z
    .strictObject({
      receipt: Receipt,
      store: z.string(),
      currency: Currency,
      lines: z.array(z.strictObject({ line: LineNo, sku: Sku, qty: Quantity, unitPrice: MinorUnits })),
    })
    .optional(),
});
export type AuthorizeResult = z.infer<typeof AuthorizeResult>;

export interface ResFrameOk {
  t: 'res';
  rid: number;
  ok: true;
  body: AuthorizeResult | ReceiptLookupResult;
}

export interface ResFrameErr {
  t: 'res';
  rid: number;
  ok: false;
  code: string;
  message: string;
}

export interface InventoryFrame {
  t: 'inventory';
  /** true: this is the store's whole inventory, replace the local copy. */
  full: boolean;
  items: { sku: string; onHand: number }[];
  /** SKUs the hub does not hold for this store: drop them from the copy. */
  removed?: string[];
  /** This connection's inventory frame number (1, 2, …): the agent echoes the last it applied in its digest. */
  n?: number;
}

/** The store's sync settings, on connect and whenever they change; applied without a restart. */
export interface ConfigFrame {
  t: 'config';
  version: number;
  settings: unknown;
}

/**
 * The hub lacks transactions of a register's business day (reconciliation found them missing):
 * send again every event the agent forwarded for that register and day (from its journal, with
 * their original ids: the hub applies what it lacks and skips what it has).
 */
export interface ResendFrame {
  t: 'resend';
  register: string;
  businessDay: string;
  /** why, for the agent's log: the receipts / authorizations the hub found missing */
  missing: { receipts: string[]; authorizations: string[] };
}

export type HubFrame =
  | WelcomeFrame
  | PolicyFrame
  | ConfigFrame
  | KeyFrame
  | AckFrame
  | NackFrame
  | ResFrameOk
  | ResFrameErr
  | InventoryFrame
  | ResendFrame;

const HubFrameSchemas = {
  welcome: z.object({
    t: z.literal('welcome'),
    v: z.number(),
    store: z.string(),
    lastSeq: z.number().int().nonnegative(),
    serverTime: z.string(),
    cardKey: z.string(),
  }),
  policy: z.object({ t: z.literal('policy'), version: z.number().int().nonnegative(), policy: z.unknown() }),
  key: z.object({ t: z.literal('key'), id: z.string(), apiKey: z.string() }),
  config: z.object({ t: z.literal('config'), version: z.number().int().nonnegative(), settings: z.unknown() }),
  ack: z.object({
    t: z.literal('ack'),
    upTo: z.number().int().nonnegative(),
    results: z.array(
      z.object({
        seq: z.number(),
        outcome: z.enum(['applied', 'duplicate', 'exception']),
        code: z.string().optional(),
      }),
    ),
  }),
  nack: z.object({
    t: z.literal('nack'),
    seq: z.number().int(),
    code: z.string(),
    retryAfterMs: z.number().nonnegative(),
  }),
  res: z.union([
    z.object({
      t: z.literal('res'),
      rid: z.number().int(),
      ok: z.literal(true),
      body: z.union([AuthorizeResult, ReceiptLookupResult]),
    }),
    z.object({
      t: z.literal('res'),
      rid: z.number().int(),
      ok: z.literal(false),
      code: z.string(),
      message: z.string(),
    }),
  ]),
  inventory: z.object({
    t: z.literal('inventory'),
    full: z.boolean(),
    items: z.array(z.object({ sku: z.string(), onHand: z.number() })),
    removed: z.array(z.string()).optional(),
    n: z.number().int().min(1).optional(),
  }),
  resend: z.object({
    t: z.literal('resend'),
    register: z.string().min(1).max(64),
    businessDay: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    missing: z.object({ receipts: z.array(z.string()), authorizations: z.array(z.string()) }),
  }),
} as const;

/** Validates a frame from the hub, choosing the schema by its `t` (one schema tried, not all). */
export function parseHubFrame(raw: unknown): HubFrame {
  const t = (raw as { t?: unknown } | null)?.t;
  const schema = typeof t === 'string' ? (HubFrameSchemas as Record<string, z.ZodType>)[t] : undefined;
  if (!schema) throw new Error(`unknown hub frame type ${JSON.stringify(t)}`);
  return schema.parse(raw) as HubFrame;
}
