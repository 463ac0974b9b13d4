/**
 * What the console's API sends (central/src/console/server.ts) and its page reads (central/console-ui/src/api.ts):
 * plain types only, no imports, so the page's build can take them.
 */

/** A store as the fleet table shows it, from what the hub holds in memory (presence) and the store's row. */
export interface LiveStoreRow {
  store: string;
  name: string;
  connected: boolean;
  /** connected since (ISO), null when not connected */
  since: string | null;
  /** when its agent was last heard of (ISO), null when never */
  lastSeen: string | null;
  /** when its agent's last heartbeat came (ISO; this process's connections only), null when none */
  lastHeartbeat: string | null;
  /** the agent's version, from its hello (e.g. 0.1.0), null when not connected or not said */
  agentVersion: string | null;
  /** events waiting in the agent's outbox, and the age of the oldest, as its last heartbeat said */
  outboxDepth: number | null;
  outboxAgeMs: number | null;
  /** the registers the agent reported, and how many of them are connected */
  registers: { total: number; connected: number } | null;
  /** the policy version the agent holds, the sync settings version it runs (from its heartbeat) */
  policyHeld: number | null;
  settingsRun: number | null;
}

/** A fleet row with what is read from the database: the versions in effect, the inventory accuracy. */
export interface StoreRowDetail extends LiveStoreRow {
  policyVersion: number;
  settingsVersion: number;
  /** the share of SKUs whose counted stock matched (0–1), null when never counted */
  inventoryAccuracy: number | null;
}

/** A return decision as the live list shows it. */
export interface DecisionRow {
  /** its place on the hub's feed (newer is larger) */
  position: number;
  at: string;
  authorization: string;
  store: string | null;
  register: string | null;
  decision: string;
  /** online (decided by the hub at the register's request) or offline (decided by the agent, sent later) */
  mode: string | null;
  status: string | null;
  /** an online decision's latency at the hub (ms, request arrival to decision); null when not measured (offline) */
  latencyMs: number | null;
}

/** A register (or a HID barcode scanner) as its store's agent last reported it. */
export interface TerminalRow {
  /** the register's id (a scanner's own id) */
  register: string;
  /** register or scanner (register when an older agent did not say) */
  kind: string;
  /** the codec a register's endpoint speaks (a scanner's: hid-pos, hid-keyboard); null when its agent did not say */
  codec: string | null;
  /** the register a scanner feeds */
  feeds: string | null;
  /** up: a register is connected to it; down: none is (the link's state says why) */
  up: boolean;
  /** the link's state as the agent said it: listening, connecting, connected, disconnected, error */
  state: string;
  /** why, when not connected (the link's last error) */
  detail: string | null;
  /** how the agent reaches it, e.g. tcp 0.0.0.0:9100 */
  transport: string;
  connections: number;
  /** what the register itself last said of its state, null when it never did */
  reported: { state: string; detail: string | null; at: string | null } | null;
  lastMessageAt: string | null;
  /** when the agent reported this */
  at: string;
}

/** A sale recorded at the hub, as the store's page lists it. */
export interface SaleRow {
  position: number;
  at: string;
  receipt: string | null;
  register: string | null;
  currency: string | null;
  /** minor units */
  total: number | null;
  lines: number;
}

/** An exception (an event refused for good, a return flagged on reconciliation) waiting for an operator. */
export interface ExceptionView {
  id: string;
  store: string;
  register: string | null;
  kind: string;
  code: string;
  reason: string;
  authorization: string | null;
  eventId: string | null;
  createdAt: string;
  resolvedAt: string | null;
}

/** GET /console/api/stores/:id */
export interface StorePage {
  store: StoreRowDetail;
  terminals: TerminalRow[];
  sales: SaleRow[];
  decisions: DecisionRow[];
  exceptions: ExceptionView[];
}

/** An open exception with what the hub recorded of it, and the return it concerns (GET /console/api/exceptions). */
export interface ExceptionDetail extends ExceptionView {
  /** what the hub recorded with it (e.g. the policy versions, the day's differences), null when nothing */
  detail: unknown;
  /** the return it concerns, when it concerns one */
  ticket: {
    decision: string;
    status: string;
    mode: string;
    receipt: string;
    refundAmount: number | null;
    createdAt: string;
  } | null;
}

/** An entry of the audit log, newest first in the tail. */
export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  store: string | null;
  register: string | null;
  resource: string | null;
  /** its details (JSON), cut at 500 characters */
  details: string;
  origin: string | null;
}

/** GET /console/api/audit: the log's tail, the chain verified now (as `audit verify`), the last signed checkpoint. */
export interface AuditView {
  tail: AuditRow[];
  verify:
    | { ok: true; entries: number; head: string; from: number; to: number; checkpoints: number }
    | { ok: false; entries: number; firstBad: number; problem: string };
  checkpoint: { seq: number; id: number; hash: string; at: string; entries: number; fingerprint: string } | null;
}

/**
 * The fleet's activity over the last 30 minutes, one value per minute (GET /console/api/timeline, and the live
 * stream's `timeline` event): the same on every hub process of one database. A null is a minute with nothing to say
 * (no decision, no event applied, no sample).
 */
export interface Timeline {
  /** when it was computed (ISO) */
  at: string;
  /** each minute's start, in seconds since the epoch, oldest first (the last one is the current minute) */
  minutes: number[];
  /** return decisions per minute, online (by the hub) and offline (by an agent, sent later) */
  online: number[];
  offline: number[];
  /** of each minute's decisions, the share that authorized the return (approved or conditional), 0–1 */
  successRate: (number | null)[];
  /** the hub's latency of each minute's online decisions (ms): median and 99th percentile */
  decisionP50: (number | null)[];
  decisionP99: (number | null)[];
  /** sync latency of the agents' events applied each minute (ms, agent commit to hub commit): median, 99th pct */
  syncP50: (number | null)[];
  syncP99: (number | null)[];
  /** events waiting in the connected stores' outboxes (their last heartbeats), as sampled in each minute: the total,
   * and the deepest store's */
  outboxTotal: (number | null)[];
  outboxDeepest: (number | null)[];
  /** webhook deliveries whose latest attempt, that minute, succeeded, failed (a retry is due) or was the last */
  delivered: number[];
  failed: number[];
  abandoned: number[];
}
