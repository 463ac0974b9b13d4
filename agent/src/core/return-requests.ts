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
  constructor(private readonly c: CoreContext) {}

  async request(register: string, msg: ReturnRequestMessage): Promise<RegisterReply> {
    const d = this.c.d;
    // The same register message always asks about the same authorization, even after a crash.
    const authorization = derivedId(d.agentId, register, msg.id);
    let asked: Promise<AuthorizeResult> | undefined;
    if (d.hub.connected) {
      asked = d.hub.authorize(this.hubBody(authorization, register, msg), this.c.deadline());
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
        d.log.warn({ register, id: msg.id, err }, 'deciding offline');
      }
    }
    const reply = online ? this.recordOnline(register, msg, online) : this.decideOffline(register, msg, authorization);
    if (reply.type === 'return.decision') d.counters.decided(reply.mode, reply.decision);
    return reply;
  }

  private hubBody(authorization: string, register: string, msg: ReturnRequestMessage): AuthorizeRequestBody {
    const body: AuthorizeRequestBody = { authorization, after: this.c.d.outbox.lastSeq(), register, requestId: msg.id, lines: msg.lines.map(toHubLine) };
    if (msg.receipt !== undefined) body.receipt = msg.receipt;
    if (msg.originalStore !== undefined) body.originalStore = msg.originalStore;
    if (msg.cardHash !== undefined) body.cardHash = msg.cardHash;
    if (msg.exchange !== undefined) body.exchange = msg.exchange;
    return body;
  }

  private recordPending(register: string, msg: ReturnRequestMessage, authorization: string): void {
    const d = this.c.d;
    const tx = d.db.transaction(() => {
      if (d.replies.find(register, msg.id)) return;
      d.returns.record({
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
    this.c.commit(() => tx.immediate());
  }

  /**
   * The lines a pending request claims, resolved against the receipt as far as this agent can
   * (a line asked for by SKU counts against the line it would take; unknown: line 0, no claim).
   */
  private pendingLines(msg: ReturnRequestMessage): LocalReturnLine[] {
    const receipt = this.knownReceipt(msg);
    const j = receipt ? judgeReturn(receipt.lines, this.c.d.returns.claimedByLine(receipt.receipt), msg.lines) : undefined;
    return msg.lines.map((l, i) => {
      const out: LocalReturnLine = { line: l.line ?? j?.lines[i]?.line ?? 0, qty: toMilli(l.qty), disposition: l.disposition };
      if (l.sku !== undefined) out.sku = l.sku;
      return out;
    });
  }

  /** The hub's decision: recorded (its copy here without an fsync: the hub holds it durably) and answered. */
  private recordOnline(register: string, msg: { id: string; receipt?: string | undefined; lines: ReturnRequestMessage['lines'] }, res: AuthorizeResult): RegisterReply {
    const d = this.c.d;
    return this.c.durably(
      register,
      msg.id,
      () => {
        if (res.receipt) {
          d.receipts.remember({
            receipt: res.receipt.receipt,
            store: res.receipt.store,
            register: null,
            at: null,
            currency: res.receipt.currency,
            lines: res.receipt.lines.map((l) => ({ line: l.line, sku: l.sku, qty: toMilli(l.qty), unitPrice: l.unitPrice })),
            tenderKinds: [],
          });
        }
        const disp = new Map(msg.lines.map((l) => [requestLineKey(l), l.disposition]));
        const approved: LocalReturnLine[] = res.lines
          .filter((l) => l.approvedQty > 0)
          .map((l) => {
            const out: LocalReturnLine = { line: l.line, qty: toMilli(l.approvedQty), disposition: disp.get(requestLineKey(l.sku !== undefined ? { sku: l.sku } : { line: l.line })) ?? 'restock' };
            if (l.sku !== undefined) out.sku = l.sku;
            // what the hub authorized the line to refund: the most a completion of it may refund
            if (l.refund !== undefined) out.refund = l.refund;
            if (l.fee !== undefined && l.fee > 0) out.fee = l.fee;
            return out;
          });
        d.returns.record({
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
    const d = this.c.d;
    return this.c.durably(register, msg.id, () => {
      const now = this.c.now();
      const policy = d.policy.policy;
      const receipt = this.knownReceipt(msg);
      const soldHere = receipt && receipt.store === d.store ? receipt : undefined;
      // what earlier returns of each line took and refunded, as far as this agent knows
      const claims = msg.receipt
        ? d.returns.claimsByLine(msg.receipt, authorization, (line) => receipt?.lines.find((x) => x.line === line)?.unitPrice ?? 0)
        : { milli: new Map<number, number>(), amount: new Map<number, number>() };
      const ev = evaluateReturn({
        policy,
        mode: 'offline',
        now,
        sale: soldHere ? { at: soldHere.at ?? new Date(now).toISOString(), channel: 'store', lines: soldHere.lines, tenderKinds: soldHere.tenderKinds } : undefined,
        noReceipt: msg.receipt === undefined && msg.cardHash === undefined,
        notFoundCode: LineCodes.RECEIPT_UNKNOWN_OFFLINE,
        claimed: claims.milli,
        refunded: claims.amount,
        requested: msg.lines,
        approvedToday: { store: 0, register: d.returns.offlineApprovedSince(register, Date.parse(`${utcDay(now)}T00:00:00.000Z`)) },
        exchange: msg.exchange,
        offlineDisabled: !this.c.offlineApprovals(),
      });
      const expiresAt = ev.decision === 'denied' ? null : new Date(now + policy.reservationMinutes * 60_000).toISOString();
      const eventLines: DecisionEventLine[] = ev.lines.map((l, i) => {
        const req = msg.lines[i]!;
        const e: DecisionEventLine = { line: l.line, qty: fromMilli(l.requestedMilli), approvedQty: fromMilli(l.approvedMilli), code: l.code, disposition: req.disposition };
        if (l.askedBySku !== undefined) e.sku = l.askedBySku;
        if (req.reason !== undefined) e.reason = req.reason;
        if (l.approvedMilli > 0) {
          e.refund = l.amount - l.fee;
          if (l.fee > 0) e.fee = l.fee;
        }
        return e;
      });
      d.returns.record({
        authorization,
        receipt: msg.receipt ?? '',
        register,
        requestId: msg.id,
        mode: 'offline',
        decision: ev.decision,
        status: statusOf(ev.decision),
        lines: ev.lines
          .map((l, i) => {
            const out: LocalReturnLine = { line: l.line, qty: l.approvedMilli, disposition: msg.lines[i]!.disposition, refund: l.amount - l.fee };
            if (l.fee > 0) out.fee = l.fee;
            if (l.askedBySku !== undefined) out.sku = l.askedBySku;
            return out;
          })
          .filter((l) => l.qty > 0),
        refund: ev.refundAmount,
        allowedTenders: ev.allowedTenders,
        expiresAt,
      });
      const body: ReturnDecisionEventBody = {
        authorization,
        requestId: msg.id,
        decision: ev.decision,
        mode: 'offline',
        lines: eventLines,
        refundEstimate: ev.refundAmount,
        allowedTenders: ev.allowedTenders,
        conditions: ev.conditions,
        rules: ev.rules.map((r) => ({ ...r, detail: r.detail.slice(0, 300) })),
        policyVersion: d.policy.version,
        decidedAt: new Date(now).toISOString(),
      };
      if (msg.receipt !== undefined) body.receipt = msg.receipt;
      if (msg.originalStore !== undefined) body.originalStore = msg.originalStore;
      if (ev.reason) body.reason = ev.reason.slice(0, 500);
      d.outbox.append('return.decision', register, body);
      const reply: ReturnDecisionReply = {
        type: 'return.decision',
        id: msg.id,
        authorization,
        decision: ev.decision,
        mode: 'offline',
        lines: decisionLinesOf(ev),
        refundAmount: ev.refundAmount,
        allowedTenders: ev.allowedTenders,
        conditions: ev.conditions,
      };
      if (expiresAt) reply.expiresAt = expiresAt;
      if (msg.exchange) reply.exchange = ev.exchange;
      if (ev.reason) reply.reason = ev.reason;
      return reply;
    });
  }

  /** The receipt the request names, as this agent knows it: not when it is another store's than the one named. */
  private knownReceipt(msg: ReturnRequestMessage): KnownReceipt | undefined {
    const r = msg.receipt ? this.c.d.receipts.find(msg.receipt) : undefined;
    return r && (msg.originalStore === undefined || r.store === msg.originalStore) ? r : undefined;
  }

  /**
   * Requests left pending by a crash (recorded, asked, answer not recorded): ask the hub again
   * under the same authorization id — it answers what it decided — and record the answer.
   */
  async resolvePending(): Promise<number> {
    const d = this.c.d;
    let resolved = 0;
    for (const p of d.returns.pending()) {
      if (!d.hub.connected) break;
      try {
        await this.resolve(p);
        resolved++;
      } catch (err) {
        d.log.warn({ authorization: p.authorization, err }, 'could not resolve a pending return request yet');
      }
    }
    return resolved;
  }

  /** Asks the hub what it decided for one pending request (the same id, the same answer) and records it. */
  async resolve(p: LocalReturn, deadlineMs = Math.max(this.c.deadline(), 5000)): Promise<void> {
    const d = this.c.d;
    const lines = p.lines.map((l) => (l.sku !== undefined ? { sku: l.sku, qty: fromMilli(l.qty), disposition: l.disposition } : { line: l.line, qty: fromMilli(l.qty), disposition: l.disposition }));
    const body: AuthorizeRequestBody = { authorization: p.authorization, after: d.outbox.lastSeq(), register: p.register, requestId: p.requestId, lines };
    if (p.receipt) body.receipt = p.receipt;
    const res = await d.hub.authorize(body, deadlineMs);
    this.recordOnline(p.register, { id: p.requestId, receipt: p.receipt || undefined, lines }, res);
  }

  /** A manager's override: only the hub can check the code and record it. */
  async override(register: string, msg: ReturnOverrideMessage): Promise<RegisterReply> {
    const d = this.c.d;
    const lr = d.returns.find(msg.authorization);
    if (!lr) throw new TbError(TbCodes.UNKNOWN_AUTHORIZATION, `authorization ${msg.authorization} was not issued by this store`);
    if (lr.status !== 'override_required') throw new TbError(TbCodes.AUTHORIZATION_STATE, `authorization ${msg.authorization} is ${lr.status}: there is nothing to override`);
    if (!d.hub.connected) throw new TbError(TbCodes.HUB_UNAVAILABLE, 'a manager override needs the hub, which cannot be reached now; try again shortly');
    let res: AuthorizeResult;
    try {
      res = await d.hub.override({ authorization: msg.authorization, requestId: msg.id, manager: msg.manager, code: msg.code }, Math.max(this.c.deadline(), 3000));
    } catch (err) {
      if (isTbError(err) && err.code !== TbCodes.HUB_UNAVAILABLE) throw err;
      throw new TbError(TbCodes.HUB_UNAVAILABLE, 'the hub did not answer the override in time; try again');
    }
    if (res.decision === 'override_required') return decisionReply(msg.id, res); // wrong code: nothing changes, nothing to record
    const lines = lr.lines.length > 0 ? lr.lines : [];
    return this.recordOnline(register, { id: msg.id, receipt: lr.receipt || undefined, lines: lines.map((l) => (l.sku !== undefined ? { sku: l.sku, qty: fromMilli(l.qty), disposition: l.disposition } : { line: l.line, qty: fromMilli(l.qty), disposition: l.disposition })) }, res);
  }
}

function toHubLine(l: ReturnRequestMessage['lines'][number]): AuthorizeRequestBody['lines'][number] {
  const out: AuthorizeRequestBody['lines'][number] = l.line !== undefined ? { line: l.line, qty: l.qty, disposition: l.disposition } : { sku: l.sku!, qty: l.qty, disposition: l.disposition };
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
