import {
  fromMilli,
  refundKindAllowed,
  shareOf,
  TbCodes,
  TbError,
  tenderKindsOf,
  toMilli,
  type RegisterMessage,
  type RegisterReply,
  type DayCloseMessage,
  type ReceiptLookupMessage,
  type ReturnCancelMessage,
  type ReturnCompleteMessage,
  type SaleMessage,
  type StatusMessage,
} from '@tillbridge/shared';
import type { Statement } from 'better-sqlite3';
import type { MessageHandler } from './ports.js';
import { CoreContext, type StoreCoreDeps } from './core-context.js';
import { DayCloses, type DaySettings } from './day-close.js';
import type { LocalReturn, LocalReturnLine } from './local-returns.js';
import { ReceiptLookup } from './receipt-lookup.js';
import { ReturnRequests } from './return-requests.js';

export type { StoreCoreDeps } from './core-context.js';

/** A receipt asked for by its number (and the store that issued it), or the sales paid with a card. */
type LookupQuery = { receipt: string; originalStore?: string } | { cardHash: string };

function lookupQuery(msg: ReceiptLookupMessage): LookupQuery {
  if (msg.cardHash !== undefined) return { cardHash: msg.cardHash };
  return {
    receipt: msg.receipt ?? '',
    ...(msg.originalStore !== undefined ? { originalStore: msg.originalStore } : {}),
  };
}

/**
 * The store core: turns canonical register messages into durable effects and answers.
 * Every answer is recorded with its effect in one SQLite transaction before it is sent, so a
 * retransmitted id gets the same answer and nothing happens twice. Messages that only write
 * locally share that transaction with the others that arrived meanwhile (group commit,
 * core/group-commit.ts): one fsync for all of them, each answered once it committed.
 */
export class StoreCore implements MessageHandler {
  private readonly inFlight = new Map<string, Promise<RegisterReply>>();
  private readonly context: CoreContext;
  private readonly requests: ReturnRequests;
  private readonly lookups: ReceiptLookup;
  private readonly putStatus: Statement;
  /** Registers' business days: their day closes, the agent's at the cut-off, the hub's resends. */
  readonly days: DayCloses;

  constructor(deps: StoreCoreDeps) {
    this.context = new CoreContext(deps);
    const daySettings = (): DaySettings => ({
      timeZone: deps.live?.settings.timeZone ?? 'UTC',
      dayCutoff: deps.live?.settings.dayCutoff ?? '03:00',
    });
    this.days = new DayCloses(deps.db, deps.outbox, this.context.now, daySettings, deps.log);
    this.requests = new ReturnRequests(this.context);
    this.lookups = new ReceiptLookup(this.context);
    this.putStatus = deps.db.prepare(
      `INSERT INTO terminal_status (register, state, detail, at) VALUES (?, ?, ?, ?)
       ON CONFLICT(register) DO UPDATE SET state = excluded.state, detail = excluded.detail, at = excluded.at`,
    );
  }

  handle(register: string, msg: RegisterMessage): Promise<RegisterReply> {
    const prior = this.context.deps.replies.find(register, msg.id);
    if (prior) return Promise.resolve(prior);
    const key = `${register}\u0000${msg.id}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const handling = this.dispatch(register, msg).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, handling);
    return handling;
  }

  /** A receipt and what is still returnable (a register's lookup, or a scanned receipt). */
  lookup(id: string, query: LookupQuery): ReturnType<ReceiptLookup['lookup']> {
    return this.lookups.lookup(id, query);
  }

  resolvePending(): Promise<number> {
    return this.requests.resolvePending();
  }

  private async dispatch(register: string, msg: RegisterMessage): Promise<RegisterReply> {
    try {
      switch (msg.type) {
        case 'sale':
          return await this.sale(register, msg);
        case 'return.request':
          return await this.requests.request(register, msg);
        case 'return.override':
          return await this.requests.override(register, msg);
        case 'return.complete':
          return await this.returnComplete(register, msg);
        case 'return.cancel':
          return await this.returnCancel(register, msg);
        case 'status':
          return await this.status(register, msg);
        case 'receipt.lookup':
          return await this.lookups.lookup(msg.id, lookupQuery(msg));
        case 'day.close':
          return await this.dayClose(register, msg);
      }
    } catch (err) {
      if (err instanceof TbError && err.code !== TbCodes.INTERNAL) {
        return { type: 'error', id: msg.id, code: err.code, message: err.message };
      }
      if (msg.type === 'return.request') this.context.deps.counters.failed();
      throw err;
    }
  }

  private status(register: string, msg: StatusMessage): Promise<RegisterReply> {
    return this.context.grouped(register, msg.id, () => {
      this.putStatus.run(register, msg.state, msg.detail ?? null, new Date(this.context.now()).toISOString());
      return { type: 'ack', id: msg.id };
    });
  }

  /**
   * A register's day close (Z report): enqueued as a `day.close` event with what the agent
   * forwarded that day, then acked.
   */
  private dayClose(register: string, msg: DayCloseMessage): Promise<RegisterReply> {
    return this.context.grouped(register, msg.id, () => {
      this.days.fromRegister(register, msg);
      return { type: 'ack', id: msg.id };
    });
  }

  private sale(register: string, msg: SaleMessage): Promise<RegisterReply> {
    const { outbox, receipts, store } = this.context.deps;
    return this.context.grouped(register, msg.id, () => {
      receipts.remember({
        receipt: msg.receipt,
        store: store,
        register,
        at: msg.at,
        currency: msg.currency,
        lines: msg.lines.map((l) => ({ line: l.line, sku: l.sku, qty: toMilli(l.qty), unitPrice: l.unitPrice })),
        tenderKinds: tenderKindsOf(msg.tenders),
      });
      outbox.append('sale', register, {
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

  private known(authorization: string) {
    const localReturn = this.context.deps.returns.find(authorization);
    if (!localReturn) {
      throw new TbError(TbCodes.UNKNOWN_AUTHORIZATION, `authorization ${authorization} was not issued by this store`);
    }
    return localReturn;
  }

  /**
   * A completion is held to its authorization (DESIGN rule 11): at most the approved quantity of
   * each line, and a refund of at most what the authorization gives for what comes back — all of
   * it for the whole approved quantity, each line's share (rounded down) for less. Anything more is
   * refused (TB_EXCEEDS_AUTHORIZATION) with nothing recorded.
   */
  private async returnComplete(register: string, msg: ReturnCompleteMessage): Promise<RegisterReply> {
    const { hub, log, outbox, replies, returns } = this.context.deps;
    const held = returns.find(msg.authorization);
    // A request left pending by a crash (the register got its answer, this agent did not record
    // it): ask the hub what it decided, so the completion is held to it.
    if (held?.status === 'pending' && hub.connected && !replies.find(register, msg.id)) {
      try {
        await this.requests.resolve(held, this.context.deadline());
      } catch (err) {
        const what = 'could not ask the hub what it decided; the hub will check the completion';
        log.warn({ authorization: msg.authorization, err }, what);
      }
    }
    return this.context.grouped(register, msg.id, () => {
      const localReturn = this.known(msg.authorization);
      // Still `pending` (the hub cannot be reached): the hub holds the decision and checks the
      // completion against it, keeping what it authorized.
      if (localReturn.status !== 'approved' && localReturn.status !== 'pending') {
        throw new TbError(
          TbCodes.AUTHORIZATION_STATE,
          `authorization ${msg.authorization} is ${localReturn.status}, not approved`,
        );
      }
      if (!refundKindAllowed(localReturn.allowedTenders, msg.refund.kind)) {
        throw new TbError(
          TbCodes.INVALID,
          `refund.kind: expected one of ${localReturn.allowedTenders.join(', ')} for this return`,
        );
      }
      const done: LocalReturnLine[] = [];
      let share = 0;
      let everyShareKnown = true;
      for (const { approved, names, qty } of this.completedLines(msg, localReturn)) {
        if (qty > approved.qty) {
          const returned = names.length > 1 ? `${fromMilli(qty)} in all (${names.join(' and ')})` : fromMilli(qty);
          throw new TbError(
            TbCodes.EXCEEDS_AUTHORIZATION,
            `lines: ${names[0] ?? ''} returns ${returned}, more than the ${fromMilli(approved.qty)} approved`,
          );
        }
        const line: LocalReturnLine = { line: approved.line, qty, disposition: approved.disposition };
        if (approved.sku !== undefined) line.sku = approved.sku;
        if (approved.refund !== undefined) {
          // what this part of the line refunds, and at the sold price (the line's "already refunded")
          line.refund = shareOf(approved.refund, qty, approved.qty);
          const fee = shareOf(approved.refund + (approved.fee ?? 0), qty, approved.qty) - line.refund;
          if (fee > 0) line.fee = fee;
          share += line.refund;
        } else everyShareKnown = false;
        done.push(line);
      }
      const authorized = everyShareKnown ? share : localReturn.refund;
      if (localReturn.status === 'approved' && msg.refund.amount > authorized) {
        throw new TbError(
          TbCodes.EXCEEDS_AUTHORIZATION,
          `refund.amount: ${msg.refund.amount} is more than the ${authorized} authorized for what is returned`,
        );
      }
      returns.update(msg.authorization, 'completed', done);
      outbox.append('return.complete', register, {
        authorization: msg.authorization,
        requestId: msg.id,
        lines: msg.lines,
        refund: msg.refund,
      });
      return { type: 'ack', id: msg.id };
    });
  }

  /**
   * The approved lines a completion returns, each once with the quantity of every name that resolves to it: a line
   * asked for by SKU may be named by its number and by its SKU in one completion (two keys to the protocol), and
   * both count against the one approval. A name that resolves to no approved line is refused.
   */
  private completedLines(
    msg: ReturnCompleteMessage,
    localReturn: LocalReturn,
  ): { approved: LocalReturnLine; names: string[]; qty: number }[] {
    const byApproved = new Map<LocalReturnLine, { approved: LocalReturnLine; names: string[]; qty: number }>();
    for (const l of msg.lines) {
      const approved = localReturn.lines.find((x) => (l.line !== undefined ? x.line === l.line : x.sku === l.sku));
      const name = l.line !== undefined ? `line ${l.line}` : `sku ${l.sku}`;
      if (!approved)
        throw new TbError(
          TbCodes.EXCEEDS_AUTHORIZATION,
          `lines: ${name} is not approved in authorization ${msg.authorization}`,
        );
      const entry = byApproved.get(approved) ?? { approved, names: [], qty: 0 };
      entry.names.push(name);
      entry.qty += toMilli(l.qty);
      byApproved.set(approved, entry);
    }
    return [...byApproved.values()];
  }

  private returnCancel(register: string, msg: ReturnCancelMessage): Promise<RegisterReply> {
    const { outbox, returns } = this.context.deps;
    return this.context.grouped(register, msg.id, () => {
      const localReturn = this.known(msg.authorization);
      if (localReturn.status === 'cancelled') return { type: 'ack', id: msg.id };
      if (
        localReturn.status !== 'approved' &&
        localReturn.status !== 'pending' &&
        localReturn.status !== 'override_required'
      ) {
        throw new TbError(
          TbCodes.AUTHORIZATION_STATE,
          `authorization ${msg.authorization} is ${localReturn.status} and cannot be cancelled`,
        );
      }
      returns.update(msg.authorization, 'cancelled', localReturn.lines);
      outbox.append('return.cancel', register, { authorization: msg.authorization, requestId: msg.id });
      return { type: 'ack', id: msg.id };
    });
  }
}
