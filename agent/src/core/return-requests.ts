import {
  decisionLinesOf,
  derivedId,
  evaluateReturn,
  fromMilli,
  isTbError,
  judgeReturn,
  LineCodes,
  requestLineKey,
  TbCodes,
  TbError,
  toMilli,
  utcDay,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type DecisionEventLine,
  type RegisterReply,
  type ReturnDecisionEventBody,
  type ReturnDecisionReply,
  type ReturnOverrideMessage,
  type ReturnRequestMessage,
} from '@tillbridge/shared';
import type { CoreContext } from './core-context.js';
import { statusOf, type LocalReturn, type LocalReturnLine } from './local-returns.js';
import type { KnownReceipt } from './receipts.js';

/**
 * Return requests: asked of the hub with a deadline (the request made durable here meanwhile),
 * else decided offline by the policy version this agent holds; a manager's override goes to the
 * hub. Every answer is recorded before it is sent.
 */
export class ReturnRequests {
  constructor(private readonly context: CoreContext) {}

  async request(register: string, msg: ReturnRequestMessage): Promise<RegisterReply> {
    const { agentId, counters, hub, log } = this.context.deps;
    // The same register message always asks about the same authorization, even after a crash.
    const authorization = derivedId(agentId, register, msg.id);
    let asked: Promise<AuthorizeResult> | undefined;
    if (hub.connected) {
      asked = hub.authorize(this.hubBody(authorization, register, msg), this.context.deadline());
      asked.catch(() => undefined);
    }
    // While the hub works, make the request itself durable here: if the agent dies after the
    // register got its answer, this row says which authorization it holds.
    this.recordPending(register, msg, authorization);
    let online: AuthorizeResult | undefined;
    if (asked) {
      try {
        online = await asked;
      } catch (err) {
        log.warn({ register, id: msg.id, err }, 'deciding offline');
      }
    }
    const reply = online ? this.recordOnline(register, msg, online) : this.decideOffline(register, msg, authorization);
    if (reply.type === 'return.decision') counters.decided(reply.mode, reply.decision);
    return reply;
  }

  private hubBody(authorization: string, register: string, msg: ReturnRequestMessage): AuthorizeRequestBody {
    // a card's sales and exchange stock are what any sale changes
    const after = this.context.queuedSeqFor(msg.receipt, msg.cardHash !== undefined || msg.exchange !== undefined);
    const lines = msg.lines.map(toHubLine);
    const body: AuthorizeRequestBody = { authorization, after, register, requestId: msg.id, lines };
    if (msg.receipt !== undefined) body.receipt = msg.receipt;
    if (msg.originalStore !== undefined) body.originalStore = msg.originalStore;
    if (msg.cardHash !== undefined) body.cardHash = msg.cardHash;
    if (msg.exchange !== undefined) body.exchange = msg.exchange;
    return body;
  }

  private recordPending(register: string, msg: ReturnRequestMessage, authorization: string): void {
    const { db, replies, returns } = this.context.deps;
    const tx = db.transaction(() => {
      if (replies.find(register, msg.id)) return;
      returns.record({
        authorization,
        receipt: msg.receipt ?? '',
        register,
        requestId: msg.id,
        mode: 'online',
        decision: 'pending',
        status: 'pending',
        lines: this.pendingLines(msg),
        refund: 0,
        allowedTenders: [],
        expiresAt: null,
      });
    });
    this.context.commit(() => tx.immediate());
  }

  /**
   * The lines a pending request claims, resolved against the receipt as far as this agent can
   * (a line asked for by SKU counts against the line it would take; unknown: line 0, no claim).
   */
  private pendingLines(msg: ReturnRequestMessage): LocalReturnLine[] {
    const receipt = this.knownReceipt(msg);
    const claimed = receipt ? this.context.deps.returns.claimedByLine(receipt.receipt) : undefined;
    const judged = receipt && claimed ? judgeReturn(receipt.lines, claimed, msg.lines) : undefined;
    return msg.lines.map((l, i) => {
      const line = l.line ?? judged?.lines[i]?.line ?? 0;
      const out: LocalReturnLine = { line, qty: toMilli(l.qty), disposition: l.disposition };
      if (l.sku !== undefined) out.sku = l.sku;
      return out;
    });
  }

  /** The hub's decision: recorded (its copy here without an fsync: the hub holds it durably) and answered. */
  private recordOnline(register: string, msg: AskedRequest, res: AuthorizeResult): RegisterReply {
    const { receipts, returns } = this.context.deps;
    return this.context.durably(
      register,
      msg.id,
      () => {
        if (res.receipt) {
          receipts.remember({
            receipt: res.receipt.receipt,
            store: res.receipt.store,
            register: null,
            at: null,
            currency: res.receipt.currency,
            lines: res.receipt.lines.map(({ line, sku, qty, unitPrice }) => ({
              line,
              sku,
              qty: toMilli(qty),
              unitPrice,
            })),
            tenderKinds: [],
          });
        }
        const dispositions = new Map(msg.lines.map((l) => [requestLineKey(l), l.disposition]));
        const approved: LocalReturnLine[] = res.lines
          .filter((l) => l.approvedQty > 0)
          .map((l) => {
            const key = requestLineKey(l.sku !== undefined ? { sku: l.sku } : { line: l.line });
            const disposition = dispositions.get(key) ?? 'restock';
            const out: LocalReturnLine = { line: l.line, qty: toMilli(l.approvedQty), disposition };
            if (l.sku !== undefined) out.sku = l.sku;
            // what the hub authorized the line to refund: the most a completion of it may refund
            if (l.refund !== undefined) out.refund = l.refund;
            if (l.fee !== undefined && l.fee > 0) out.fee = l.fee;
            return out;
          });
        returns.record({
          authorization: res.authorization,
          receipt: res.resolvedReceipt ?? msg.receipt ?? '',
          register,
          requestId: msg.id,
          mode: 'online',
          decision: res.decision,
          status: statusOf(res.decision),
          lines: approved,
          refund: res.refundAmount,
          allowedTenders: res.allowedTenders,
          expiresAt: res.expiresAt ?? null,
        });
        return decisionReply(msg.id, res);
      },
      { fsync: false },
    );
  }

  /** Decides by the policy this agent holds and what it knows; the decision is synced for reconciliation. */
  private decideOffline(register: string, msg: ReturnRequestMessage, authorization: string): RegisterReply {
    const { outbox, policy: policyStore, returns } = this.context.deps;
    return this.context.durably(register, msg.id, () => {
      const now = this.context.now();
      const evaluation = this.evaluateOffline(register, msg, authorization, now);
      const reservationMs = policyStore.policy.reservationMinutes * 60_000;
      const expiresAt = evaluation.decision === 'denied' ? null : new Date(now + reservationMs).toISOString();
      returns.record({
        authorization,
        receipt: msg.receipt ?? '',
        register,
        requestId: msg.id,
        mode: 'offline',
        decision: evaluation.decision,
        status: statusOf(evaluation.decision),
        lines: approvedLines(evaluation, msg),
        refund: evaluation.refundAmount,
        allowedTenders: evaluation.allowedTenders,
        expiresAt,
      });
      const decided = { authorization, policyVersion: policyStore.version, decidedAt: new Date(now).toISOString() };
      outbox.append('return.decision', register, offlineDecisionEvent(evaluation, msg, decided));
      return offlineReply(evaluation, msg, authorization, expiresAt);
    });
  }

  /** The policy's verdict on a request, from what this agent knows of the receipt and earlier returns. */
  private evaluateOffline(register: string, msg: ReturnRequestMessage, authorization: string, now: number): Evaluation {
    const { policy: policyStore, returns, store } = this.context.deps;
    const receipt = this.knownReceipt(msg);
    const soldHere = receipt?.store === store ? receipt : undefined;
    const unitPrice = (line: number): number => receipt?.lines.find((x) => x.line === line)?.unitPrice ?? 0;
    // what earlier returns of each line took and refunded, as far as this agent knows
    const claims = msg.receipt
      ? returns.claimsByLine(msg.receipt, authorization, unitPrice)
      : { milli: new Map<number, number>(), amount: new Map<number, number>() };
    const sale = soldHere && {
      at: soldHere.at ?? new Date(now).toISOString(),
      channel: 'store',
      lines: soldHere.lines,
      tenderKinds: soldHere.tenderKinds,
    };
    const startOfDay = Date.parse(`${utcDay(now)}T00:00:00.000Z`);
    return evaluateReturn({
      policy: policyStore.policy,
      mode: 'offline',
      now,
      sale,
      noReceipt: msg.receipt === undefined && msg.cardHash === undefined,
      notFoundCode: LineCodes.RECEIPT_UNKNOWN_OFFLINE,
      claimed: claims.milli,
      refunded: claims.amount,
      requested: msg.lines,
      approvedToday: { store: 0, register: returns.offlineApprovedSince(register, startOfDay) },
      exchange: msg.exchange,
      offlineDisabled: !this.context.offlineApprovals(),
    });
  }

  /** The receipt the request names, as this agent knows it: not when it is another store's than the one named. */
  private knownReceipt(msg: ReturnRequestMessage): KnownReceipt | undefined {
    const known = msg.receipt ? this.context.deps.receipts.find(msg.receipt) : undefined;
    return known && (msg.originalStore === undefined || known.store === msg.originalStore) ? known : undefined;
  }

  /**
   * Requests left pending by a crash (recorded, asked, answer not recorded): ask the hub again
   * under the same authorization id — it answers what it decided — and record the answer.
   */
  async resolvePending(): Promise<number> {
    const { hub, log, returns } = this.context.deps;
    let resolved = 0;
    for (const pending of returns.pending()) {
      if (!hub.connected) break;
      try {
        await this.resolve(pending);
        resolved++;
      } catch (err) {
        log.warn({ authorization: pending.authorization, err }, 'could not resolve a pending return request yet');
      }
    }
    return resolved;
  }

  /** Asks the hub what it decided for one pending request (the same id, the same answer) and records it. */
  async resolve(pending: LocalReturn, deadlineMs = Math.max(this.context.deadline(), 5000)): Promise<void> {
    const { hub, outbox } = this.context.deps;
    const lines = pending.lines.map(toRequestLine);
    const { authorization, register, requestId } = pending;
    const body: AuthorizeRequestBody = { authorization, after: outbox.lastSeq(), register, requestId, lines };
    if (pending.receipt) body.receipt = pending.receipt;
    const res = await hub.authorize(body, deadlineMs);
    this.recordOnline(pending.register, { id: pending.requestId, receipt: pending.receipt || undefined, lines }, res);
  }

  /** A manager's override: only the hub can check the code and record it. */
  async override(register: string, msg: ReturnOverrideMessage): Promise<RegisterReply> {
    const { hub, returns } = this.context.deps;
    const held = returns.find(msg.authorization);
    if (!held) {
      const why = `authorization ${msg.authorization} was not issued by this store`;
      throw new TbError(TbCodes.UNKNOWN_AUTHORIZATION, why);
    }
    if (held.status !== 'override_required') {
      const why = `authorization ${msg.authorization} is ${held.status}: there is nothing to override`;
      throw new TbError(TbCodes.AUTHORIZATION_STATE, why);
    }
    if (!hub.connected) {
      const why = 'a manager override needs the hub, which cannot be reached now; try again shortly';
      throw new TbError(TbCodes.HUB_UNAVAILABLE, why);
    }
    let res: AuthorizeResult;
    try {
      const override = { authorization: msg.authorization, requestId: msg.id, manager: msg.manager, code: msg.code };
      res = await hub.override(override, Math.max(this.context.deadline(), 3000));
    } catch (err) {
      if (isTbError(err) && err.code !== TbCodes.HUB_UNAVAILABLE) throw err;
      throw new TbError(TbCodes.HUB_UNAVAILABLE, 'the hub did not answer the override in time; try again');
    }
    // a wrong code: nothing changes, nothing to record
    if (res.decision === 'override_required') return decisionReply(msg.id, res);
    const lines = held.lines.length > 0 ? held.lines : [];
    const asked = { id: msg.id, receipt: held.receipt || undefined, lines: lines.map(toRequestLine) };
    return this.recordOnline(register, asked, res);
  }
}

type Evaluation = ReturnType<typeof evaluateReturn>;

/** A request as asked of the hub: the register's message, or one rebuilt from a pending row. */
interface AskedRequest {
  id: string;
  receipt?: string | undefined;
  lines: ReturnRequestMessage['lines'];
}

/** A line this agent holds, as a request line (by SKU when it was asked by SKU). */
function toRequestLine(l: LocalReturnLine): ReturnRequestMessage['lines'][number] {
  const qty = fromMilli(l.qty);
  const { disposition } = l;
  return l.sku !== undefined ? { sku: l.sku, qty, disposition } : { line: l.line, qty, disposition };
}

/** The request line an evaluated line answers (an evaluation keeps the request's lines, in order). */
function requestedLine(msg: ReturnRequestMessage, index: number): ReturnRequestMessage['lines'][number] {
  const line = msg.lines[index];
  if (!line) throw new Error(`the evaluation has a line ${index + 1} the return request does not`);
  return line;
}

/** The lines an offline decision approved, as this agent keeps them (what a completion is held to). */
function approvedLines(evaluation: Evaluation, msg: ReturnRequestMessage): LocalReturnLine[] {
  return evaluation.lines
    .map((l, i) => {
      const { disposition } = requestedLine(msg, i);
      const out: LocalReturnLine = { line: l.line, qty: l.approvedMilli, disposition, refund: l.amount - l.fee };
      if (l.fee > 0) out.fee = l.fee;
      if (l.askedBySku !== undefined) out.sku = l.askedBySku;
      return out;
    })
    .filter((l) => l.qty > 0);
}

/** The `return.decision` event an offline decision sends the hub, for reconciliation. */
function offlineDecisionEvent(
  evaluation: Evaluation,
  msg: ReturnRequestMessage,
  decided: { authorization: string; policyVersion: number; decidedAt: string },
): ReturnDecisionEventBody {
  const lines: DecisionEventLine[] = evaluation.lines.map((l, i) => {
    const requested = requestedLine(msg, i);
    const qty = fromMilli(l.requestedMilli);
    const approvedQty = fromMilli(l.approvedMilli);
    const { disposition } = requested;
    const line: DecisionEventLine = { line: l.line, qty, approvedQty, code: l.code, disposition };
    if (l.askedBySku !== undefined) line.sku = l.askedBySku;
    if (requested.reason !== undefined) line.reason = requested.reason;
    if (l.approvedMilli > 0) {
      line.refund = l.amount - l.fee;
      if (l.fee > 0) line.fee = l.fee;
    }
    return line;
  });
  const body: ReturnDecisionEventBody = {
    authorization: decided.authorization,
    requestId: msg.id,
    decision: evaluation.decision,
    mode: 'offline',
    lines,
    refundEstimate: evaluation.refundAmount,
    allowedTenders: evaluation.allowedTenders,
    conditions: evaluation.conditions,
    rules: evaluation.rules.map((r) => ({ ...r, detail: r.detail.slice(0, 300) })),
    policyVersion: decided.policyVersion,
    decidedAt: decided.decidedAt,
  };
  if (msg.receipt !== undefined) body.receipt = msg.receipt;
  if (msg.originalStore !== undefined) body.originalStore = msg.originalStore;
  if (evaluation.reason) body.reason = evaluation.reason.slice(0, 500);
  return body;
}

/** What the register hears of an offline decision. */
function offlineReply(
  evaluation: Evaluation,
  msg: ReturnRequestMessage,
  authorization: string,
  expiresAt: string | null,
): ReturnDecisionReply {
  const reply: ReturnDecisionReply = {
    type: 'return.decision',
    id: msg.id,
    authorization,
    decision: evaluation.decision,
    mode: 'offline',
    lines: decisionLinesOf(evaluation),
    refundAmount: evaluation.refundAmount,
    allowedTenders: evaluation.allowedTenders,
    conditions: evaluation.conditions,
  };
  if (expiresAt) reply.expiresAt = expiresAt;
  if (msg.exchange) reply.exchange = evaluation.exchange;
  if (evaluation.reason) reply.reason = evaluation.reason;
  return reply;
}

function toHubLine(l: ReturnRequestMessage['lines'][number]): AuthorizeRequestBody['lines'][number] {
  const { qty, disposition } = l;
  type HubLine = AuthorizeRequestBody['lines'][number];
  const out: HubLine =
    l.line !== undefined ? { line: l.line, qty, disposition } : { sku: l.sku ?? '', qty, disposition };
  if (l.unitPrice !== undefined) out.unitPrice = l.unitPrice;
  if (l.reason !== undefined) out.reason = l.reason;
  return out;
}

export function decisionReply(id: string, res: AuthorizeResult): ReturnDecisionReply {
  const reply: ReturnDecisionReply = {
    type: 'return.decision',
    id,
    authorization: res.authorization,
    decision: res.decision,
    mode: 'online',
    lines: res.lines,
    refundAmount: res.refundAmount,
    allowedTenders: res.allowedTenders,
    conditions: res.conditions,
  };
  if (res.expiresAt) reply.expiresAt = res.expiresAt;
  if (res.exchange) reply.exchange = res.exchange;
  if (res.resolvedReceipt) reply.receipt = res.resolvedReceipt;
  if (res.reason) reply.reason = res.reason;
  return reply;
}
