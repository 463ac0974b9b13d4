import {
  decisionLines,
  derivedId,
  judgeReturn,
  requestLineKey,
  fromMilli,
  lineAmount,
  TbCodes,
  TbError,
  toMilli,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type DecisionEventLine,
  type Logger,
  type RegisterMessage,
  type RegisterReply,
  type ReturnCancelMessage,
  type ReturnCompleteMessage,
  type ReturnDecisionEventBody,
  type ReturnDecisionReply,
  type ReturnRequestMessage,
  type ReceiptReply,
  type SaleMessage,
  type StatusMessage,
} from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';
import type { Outbox } from '../sync/outbox.js';
import type { HubAuthorizer } from '../sync/hub-link.js';
import type { MessageHandler } from '../gateway/types.js';
import { decideOffline, type OfflinePolicy } from './offline-policy.js';
import type { LocalReturns, LocalReturnLine } from './local-returns.js';
import type { Receipts } from './receipts.js';
import type { Replies } from './replies.js';

export interface StoreCoreDeps {
  db: Db;
  store: string;
  agentId: string;
  outbox: Outbox;
  replies: Replies;
  receipts: Receipts;
  returns: LocalReturns;
  hub: HubAuthorizer;
  deadlineMs: number;
  offline: OfflinePolicy;
  log: Logger;
  now?: () => number;
}

export interface DecisionObserver {
  (e: { register: string; mode: 'online' | 'offline'; decision: string; latencyMs: number }): void;
}

/**
 * The store core: turns canonical register messages into durable effects and answers.
 * Every answer is recorded with its effect in one SQLite transaction before it is sent, so a
 * retransmitted id gets the same answer and nothing happens twice.
 */
export class StoreCore implements MessageHandler {
  private readonly inFlight = new Map<string, Promise<RegisterReply>>();
  private readonly now: () => number;
  private observer: DecisionObserver | undefined;

  private readonly putStatus;

  constructor(private readonly d: StoreCoreDeps) {
    this.now = d.now ?? Date.now;
    this.putStatus = d.db.prepare(
      `INSERT INTO terminal_status (register, state, detail, at) VALUES (?, ?, ?, ?)
       ON CONFLICT(register) DO UPDATE SET state = excluded.state, detail = excluded.detail, at = excluded.at`,
    );
  }

  onDecision(o: DecisionObserver): void {
    this.observer = o;
  }

  handle(register: string, msg: RegisterMessage): Promise<RegisterReply> {
    const prior = this.d.replies.find(register, msg.id);
    if (prior) return Promise.resolve(prior);
    const key = `${register}\u0000${msg.id}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const p = this.dispatch(register, msg).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async dispatch(register: string, msg: RegisterMessage): Promise<RegisterReply> {
    try {
      switch (msg.type) {
        case 'sale':
          return this.sale(register, msg);
        case 'return.request':
          return await this.returnRequest(register, msg);
        case 'return.complete':
          return this.returnComplete(register, msg);
        case 'return.cancel':
          return this.returnCancel(register, msg);
        case 'status':
          return this.status(register, msg);
        case 'receipt.lookup':
          return await this.lookup(msg.id, msg.receipt);
      }
    } catch (err) {
      if (err instanceof TbError && err.code !== TbCodes.INTERNAL) {
        return { type: 'error', id: msg.id, code: err.code, message: err.message };
      }
      throw err;
    }
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction, recording its reply, unless the message was answered
   * meanwhile. `fsync: false` commits without waiting for the disk (synchronous=NORMAL): used
   * only for the agent's copy of an online decision, which the hub already holds durably and
   * which a durable pending row lets the agent recover after a power loss.
   */
  private durably(register: string, msgId: string, fn: () => RegisterReply, opts: { fsync: boolean } = { fsync: true }): RegisterReply {
    const tx = this.d.db.transaction(() => {
      const prior = this.d.replies.find(register, msgId);
      if (prior) return prior;
      const reply = fn();
      this.d.replies.record(register, msgId, reply);
      return reply;
    });
    if (opts.fsync) return tx.immediate();
    this.d.db.pragma('synchronous = NORMAL');
    try {
      return tx.immediate();
    } finally {
      this.d.db.pragma('synchronous = FULL');
    }
  }

  private status(register: string, msg: StatusMessage): RegisterReply {
    return this.durably(register, msg.id, () => {
      this.putStatus.run(register, msg.state, msg.detail ?? null, new Date(this.now()).toISOString());
      return { type: 'ack', id: msg.id };
    });
  }

  /**
   * A receipt and what is still returnable per line: from the hub when it answers in time
   * (every store and channel counted), else from what this agent knows.
   */
  async lookup(id: string, receipt: string): Promise<ReceiptReply> {
    if (this.d.hub.connected) {
      try {
        const r = await this.d.hub.lookupReceipt({ receipt, after: this.d.outbox.lastSeq() }, this.d.deadlineMs);
        const reply: ReceiptReply = { type: 'receipt', id, receipt, found: r.found, source: 'hub', lines: r.lines };
        if (r.store) reply.store = r.store;
        if (r.currency) reply.currency = r.currency;
        if (r.at) reply.at = r.at;
        return reply;
      } catch (err) {
        this.d.log.warn({ receipt, err: (err as Error).message }, 'receipt lookup: answering from the local copy');
      }
    }
    const known = this.d.receipts.find(receipt);
    if (!known) return { type: 'receipt', id, receipt, found: false, source: 'local', lines: [] };
    const claimed = this.d.returns.claimedByLine(receipt);
    const reply: ReceiptReply = {
      type: 'receipt',
      id,
      receipt,
      found: true,
      source: 'local',
      store: known.store,
      currency: known.currency,
      lines: known.lines.map((l) => ({ line: l.line, sku: l.sku, qty: fromMilli(l.qty), unitPrice: l.unitPrice, returnable: fromMilli(Math.max(0, l.qty - (claimed.get(l.line) ?? 0))) })),
    };
    if (known.at) reply.at = known.at;
    return reply;
  }

  private sale(register: string, msg: SaleMessage): RegisterReply {
    return this.durably(register, msg.id, () => {
      this.d.receipts.remember({
        receipt: msg.receipt,
        store: this.d.store,
        register,
        at: msg.at,
        currency: msg.currency,
        lines: msg.lines.map((l) => ({ line: l.line, sku: l.sku, qty: toMilli(l.qty), unitPrice: l.unitPrice })),
      });
      this.d.outbox.append('sale', register, {
        requestId: msg.id,
        receipt: msg.receipt,
        at: msg.at,
        currency: msg.currency,
        lines: msg.lines,
        tenders: msg.tenders,
      });
      return { type: 'ack', id: msg.id };
    });
  }

  private async returnRequest(register: string, msg: ReturnRequestMessage): Promise<RegisterReply> {
    const started = this.now();
    // The same register message always asks about the same authorization, even after a crash.
    const authorization = derivedId(this.d.agentId, register, msg.id);
    let asked: Promise<AuthorizeResult> | undefined;
    if (this.d.hub.connected) {
      asked = this.d.hub.authorize(
        {
          authorization,
          after: this.d.outbox.lastSeq(),
          register,
          requestId: msg.id,
          receipt: msg.receipt,
          lines: msg.lines.map(toHubLine),
        },
        this.d.deadlineMs,
      );
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
        this.d.log.warn({ register, id: msg.id, err: (err as Error).message }, 'deciding offline');
      }
    }
    const reply = online ? this.recordOnline(register, msg, online) : this.decideOfflineDurably(register, msg, authorization);
    if (reply.type === 'return.decision') {
      this.observer?.({ register, mode: reply.mode, decision: reply.decision, latencyMs: this.now() - started });
    }
    return reply;
  }

  private recordPending(register: string, msg: ReturnRequestMessage, authorization: string): void {
    this.d.db
      .transaction(() => {
        if (this.d.replies.find(register, msg.id)) return;
        this.d.returns.record({
          authorization,
          receipt: msg.receipt,
          register,
          requestId: msg.id,
          mode: 'online',
          decision: 'pending',
          status: 'pending',
          lines: this.pendingLines(msg),
          refund: 0,
        });
      })
      .immediate();
  }

  /**
   * The lines a pending request claims, resolved against the receipt as far as this agent can
   * (a line asked for by SKU counts against the line it would take; unknown: line 0, no claim).
   */
  private pendingLines(msg: ReturnRequestMessage): LocalReturnLine[] {
    const receipt = this.d.receipts.find(msg.receipt);
    const j = receipt ? judgeReturn(receipt.lines, this.d.returns.claimedByLine(msg.receipt), msg.lines) : undefined;
    return msg.lines.map((l, i) => {
      const out: LocalReturnLine = { line: l.line ?? j?.lines[i]?.line ?? 0, qty: toMilli(l.qty), disposition: l.disposition };
      if (l.sku !== undefined) out.sku = l.sku;
      return out;
    });
  }

  /**
   * Requests left pending by a crash (recorded, asked, answer not recorded): ask the hub again
   * under the same authorization id — it answers what it decided — and record the answer.
   */
  async resolvePending(): Promise<number> {
    let resolved = 0;
    for (const p of this.d.returns.pending()) {
      if (!this.d.hub.connected) break;
      const msg: ReturnRequestMessage = {
        type: 'return.request',
        id: p.requestId,
        receipt: p.receipt,
        lines: p.lines.map((l) => (l.sku !== undefined ? { sku: l.sku, qty: fromMilli(l.qty), disposition: l.disposition } : { line: l.line, qty: fromMilli(l.qty), disposition: l.disposition })),
      };
      try {
        const res = await this.d.hub.authorize(
          { authorization: p.authorization, after: this.d.outbox.lastSeq(), register: p.register, requestId: p.requestId, receipt: p.receipt, lines: msg.lines.map(toHubLine) },
          Math.max(this.d.deadlineMs, 5000),
        );
        this.recordOnline(p.register, msg, res);
        resolved++;
      } catch (err) {
        this.d.log.warn({ authorization: p.authorization, err: (err as Error).message }, 'could not resolve a pending return request yet');
      }
    }
    return resolved;
  }

  private recordOnline(register: string, msg: ReturnRequestMessage, res: AuthorizeResult): RegisterReply {
    return this.durably(register, msg.id, () => {
      if (res.receipt) {
        this.d.receipts.remember({
          receipt: res.receipt.receipt,
          store: res.receipt.store,
          register: null,
          at: null,
          currency: res.receipt.currency,
          lines: res.receipt.lines.map((l) => ({ line: l.line, sku: l.sku, qty: toMilli(l.qty), unitPrice: l.unitPrice })),
        });
      }
      const prices = new Map(res.receipt?.lines.map((l) => [l.line, l.unitPrice]) ?? []);
      const disp = new Map(msg.lines.map((l) => [requestLineKey(l), l.disposition]));
      const approved: LocalReturnLine[] = res.lines
        .filter((l) => l.approvedQty > 0)
        .map((l) => ({ line: l.line, qty: toMilli(l.approvedQty), disposition: disp.get(requestLineKey(l.sku !== undefined ? { sku: l.sku } : { line: l.line })) ?? 'restock' }));
      this.d.returns.record({
        authorization: res.authorization,
        receipt: msg.receipt,
        register,
        requestId: msg.id,
        mode: 'online',
        decision: res.decision,
        status: res.decision === 'approved' ? 'approved' : 'denied',
        lines: approved,
        refund: approved.reduce((sum, l) => sum + lineAmount(l.qty, prices.get(l.line) ?? 0), 0),
      });
      const reply: ReturnDecisionReply = {
        type: 'return.decision',
        id: msg.id,
        authorization: res.authorization,
        decision: res.decision,
        mode: 'online',
        lines: res.lines,
      };
      if (res.reason) reply.reason = res.reason;
      return reply;
    }, { fsync: false });
  }

  private decideOfflineDurably(register: string, msg: ReturnRequestMessage, authorization: string): RegisterReply {
    return this.durably(register, msg.id, () => {
      const receipt = this.d.receipts.find(msg.receipt);
      const claimed = this.d.returns.claimedByLine(msg.receipt, authorization);
      const j = decideOffline(this.d.store, receipt, claimed, msg.lines, this.d.offline);
      const eventLines: DecisionEventLine[] = j.lines.map((l, i) => {
        const req = msg.lines[i]!;
        const e: DecisionEventLine = {
          line: l.line,
          qty: fromMilli(l.requestedMilli),
          approvedQty: fromMilli(l.approvedMilli),
          code: l.code,
          disposition: req.disposition,
        };
        if (l.askedBySku !== undefined) e.sku = l.askedBySku;
        if (req.reason !== undefined) e.reason = req.reason;
        return e;
      });
      this.d.returns.record({
        authorization,
        receipt: msg.receipt,
        register,
        requestId: msg.id,
        mode: 'offline',
        decision: j.decision,
        status: j.decision === 'approved' ? 'approved' : 'denied',
        lines: j.lines
          .map((l, i) => ({ line: l.line, qty: l.approvedMilli, disposition: msg.lines[i]!.disposition }))
          .filter((l) => l.qty > 0),
        refund: j.refund,
      });
      const body: ReturnDecisionEventBody = {
        authorization,
        requestId: msg.id,
        receipt: msg.receipt,
        decision: j.decision,
        mode: 'offline',
        lines: eventLines,
        refundEstimate: j.refund,
        decidedAt: new Date(this.now()).toISOString(),
      };
      if (j.reason) body.reason = j.reason;
      this.d.outbox.append('return.decision', register, body);
      const reply: ReturnDecisionReply = {
        type: 'return.decision',
        id: msg.id,
        authorization,
        decision: j.decision,
        mode: 'offline',
        lines: decisionLines(j),
      };
      if (j.reason) reply.reason = j.reason;
      return reply;
    });
  }

  private approvedReturn(authorization: string) {
    const lr = this.d.returns.find(authorization);
    if (!lr) throw new TbError(TbCodes.UNKNOWN_AUTHORIZATION, `authorization ${authorization} was not issued by this store`);
    return lr;
  }

  private returnComplete(register: string, msg: ReturnCompleteMessage): RegisterReply {
    return this.durably(register, msg.id, () => {
      const lr = this.approvedReturn(msg.authorization);
      // `pending`: the register was answered but the agent crashed before recording the answer;
      // the hub holds the decision and checks the completion against it.
      if (lr.status !== 'approved' && lr.status !== 'pending') {
        throw new TbError(TbCodes.AUTHORIZATION_STATE, `authorization ${msg.authorization} is ${lr.status}, not approved`);
      }
      const approved = new Map(lr.lines.map((l) => [l.line, l]));
      const done: LocalReturnLine[] = [];
      for (const l of msg.lines) {
        const a = approved.get(l.line);
        if (!a) throw new TbError(TbCodes.INVALID, `lines: line ${l.line} is not approved in authorization ${msg.authorization}`);
        if (toMilli(l.qty) > a.qty) throw new TbError(TbCodes.INVALID, `lines: line ${l.line} returns ${l.qty}, more than the ${fromMilli(a.qty)} approved`);
        done.push({ line: l.line, qty: toMilli(l.qty), disposition: a.disposition });
      }
      this.d.returns.update(msg.authorization, 'completed', done);
      this.d.outbox.append('return.complete', register, {
        authorization: msg.authorization,
        requestId: msg.id,
        lines: msg.lines,
        refund: msg.refund,
      });
      return { type: 'ack', id: msg.id };
    });
  }

  private returnCancel(register: string, msg: ReturnCancelMessage): RegisterReply {
    return this.durably(register, msg.id, () => {
      const lr = this.approvedReturn(msg.authorization);
      if (lr.status === 'cancelled') return { type: 'ack', id: msg.id };
      if (lr.status !== 'approved' && lr.status !== 'pending') {
        throw new TbError(TbCodes.AUTHORIZATION_STATE, `authorization ${msg.authorization} is ${lr.status} and cannot be cancelled`);
      }
      this.d.returns.update(msg.authorization, 'cancelled', lr.lines);
      this.d.outbox.append('return.cancel', register, { authorization: msg.authorization, requestId: msg.id });
      return { type: 'ack', id: msg.id };
    });
  }
}

function toHubLine(l: ReturnRequestMessage['lines'][number]): AuthorizeRequestBody['lines'][number] {
  const out: AuthorizeRequestBody['lines'][number] = l.line !== undefined ? { line: l.line, qty: l.qty, disposition: l.disposition } : { sku: l.sku!, qty: l.qty, disposition: l.disposition };
  if (l.reason !== undefined) out.reason = l.reason;
  return out;
}
