import {
  fromMilli,
  judgeReturn,
  TbCodes,
  TbError,
  toMilli,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type ReturnCancelEventBody,
  type ReturnCompleteEventBody,
  type ReturnDecisionEventBody,
} from '@tillbridge/shared';
import type { HubStorage } from '../storage/sqlite.js';
import type { AuditLog } from './audit-log.js';
import { iso, type Clock } from './clock.js';
import type { Exceptions } from './exceptions.js';
import type { InventoryLedger } from './inventory-ledger.js';
import { ExceptionCodes, Refusal, type ExceptionCode } from './refusal.js';
import type { ReturnRow, ReturnsRepo } from './returns-repo.js';
import type { SaleRow, Sales } from './sales.js';

export interface ReturnsEngineOptions {
  /** How long an approval reserves its quantity (default 15 minutes). */
  reservationTtlMs: number;
}

export interface EventOutcome {
  exception?: ExceptionCode;
}

/**
 * The hub's returns rules (DESIGN rule 4): for every sale line, completed + reserved returned
 * quantity never exceeds the sold quantity, across every store and channel. Each method runs in
 * one transaction (or inside the event applier's), so two requests racing for the last unit are
 * serialised and exactly one wins.
 */
export class ReturnsEngine {
  constructor(
    private readonly s: HubStorage,
    private readonly sales: Sales,
    private readonly returns: ReturnsRepo,
    private readonly ledger: InventoryLedger,
    private readonly audit: AuditLog,
    private readonly exceptions: Exceptions,
    private readonly clock: Clock,
    private readonly opts: ReturnsEngineOptions,
  ) {}

  /** Online authorization. Idempotent by authorization id: asking again returns what was decided. */
  authorize(store: string, body: AuthorizeRequestBody): AuthorizeResult {
    return this.s.tx(() => {
      const existing = this.returns.get(body.authorization);
      if (existing) {
        if (existing.store !== store) throw new TbError(TbCodes.FORBIDDEN, 'that authorization belongs to another store');
        return this.resultFor(existing);
      }
      const now = this.clock.now();
      const sale = this.sales.get(body.receipt);
      const claimed = sale ? this.returns.claimedByLine(body.receipt, iso(now)) : new Map<number, number>();
      const j = judgeReturn(sale?.lines, claimed, body.lines);
      const approved = j.decision === 'approved';
      const row: ReturnRow = {
        authorization: body.authorization,
        store,
        register: body.register,
        request_id: body.requestId,
        receipt: body.receipt,
        mode: 'online',
        decision: j.decision,
        status: approved ? 'reserved' : 'denied',
        reconciliation: null,
        exception_code: null,
        reason: j.reason ?? null,
        refund_amount: j.refund,
        refund_kind: null,
        created_at: iso(now),
        expires_at: approved ? iso(now + this.opts.reservationTtlMs) : null,
        completed_at: null,
        updated_at: iso(now),
      };
      this.returns.insert(
        row,
        j.lines.map((l, i) => ({
          line: storedLine(l.line, i),
          asked_sku: l.askedBySku ?? null,
          requested_qty: l.requestedMilli,
          approved_qty: l.approvedMilli,
          completed_qty: 0,
          disposition: body.lines[i]!.disposition,
          code: l.code,
          reason: body.lines[i]!.reason ?? null,
        })),
      );
      this.audit.append({
        actor: `store:${store}`,
        action: 'return.authorize',
        outcome: j.decision,
        store,
        register: body.register,
        resource: `return:${body.authorization}`,
        details: { mode: 'online', receipt: body.receipt, refund: j.refund, lines: j.lines.map((l) => ({ line: l.line, requested: fromMilli(l.requestedMilli), approved: fromMilli(l.approvedMilli), code: l.code })) },
      });
      return this.resultFor(row, sale ?? null);
    });
  }

  resultFor(row: ReturnRow, knownSale?: SaleRow | null): AuthorizeResult {
    const lines = this.returns.lines(row.authorization);
    const res: AuthorizeResult = {
      authorization: row.authorization,
      decision: row.decision,
      mode: row.mode,
      lines: lines.map((l) => (l.asked_sku === null ? { line: l.line, approvedQty: fromMilli(l.approved_qty), code: l.code } : { line: Math.max(0, l.line), sku: l.asked_sku, approvedQty: fromMilli(l.approved_qty), code: l.code })),
    };
    if (row.reason) res.reason = row.reason;
    const sale = knownSale === undefined ? this.sales.get(row.receipt) : knownSale;
    if (sale) {
      res.receipt = {
        receipt: sale.receipt,
        store: sale.store,
        currency: sale.currency,
        lines: sale.lines.map((l) => ({ line: l.line, sku: l.sku, qty: fromMilli(l.qty), unitPrice: l.unitPrice })),
      };
    }
    return res;
  }

  /**
   * An agent's offline decision, reconciled against the authoritative state. A denial is
   * recorded as such; an approval is `confirmed` when it fits what is still returnable, and is
   * otherwise kept and flagged as an exception — never dropped.
   */
  applyOfflineDecision(store: string, register: string, body: ReturnDecisionEventBody): EventOutcome {
    const now = this.clock.now();
    const existing = this.returns.get(body.authorization);
    if (existing && existing.store !== store) throw new Refusal(ExceptionCodes.WRONG_STORE, 'that authorization belongs to another store', body.authorization);
    if (existing && existing.mode === 'offline') return {}; // already reconciled (the same decision, resent under a new id)

    const sale = this.sales.get(body.receipt);
    let exception: ExceptionCode | undefined;
    let problem = '';
    if (body.decision === 'approved') {
      if (!sale) {
        exception = ExceptionCodes.RECEIPT_NOT_FOUND;
        problem = `receipt ${body.receipt} is not known at the hub`;
      } else {
        const claimed = this.returns.claimedByLine(body.receipt, iso(now), body.authorization);
        const sold = new Map(sale.lines.map((l) => [l.line, l.qty]));
        for (const l of body.lines) {
          const want = toMilli(l.approvedQty);
          if (want === 0 || l.line < 1) continue;
          const left = (sold.get(l.line) ?? 0) - (claimed.get(l.line) ?? 0);
          if (want > left) {
            exception = ExceptionCodes.OVER_RETURN;
            problem += `${problem ? '; ' : ''}line ${l.line}: approved offline ${l.approvedQty}, only ${fromMilli(Math.max(0, left))} left`;
          }
        }
      }
    }
    const approved = body.decision === 'approved';
    const row: ReturnRow = {
      authorization: body.authorization,
      store,
      register,
      request_id: body.requestId,
      receipt: body.receipt,
      mode: 'offline',
      decision: body.decision,
      status: approved ? 'reserved' : 'denied',
      reconciliation: approved ? (exception ? 'exception' : 'confirmed') : null,
      exception_code: exception ?? null,
      reason: exception ? problem : (body.reason ?? null),
      refund_amount: body.refundEstimate,
      refund_kind: null,
      created_at: existing?.created_at ?? body.decidedAt,
      expires_at: approved ? iso(now + this.opts.reservationTtlMs) : null,
      completed_at: null,
      updated_at: iso(now),
    };
    const lines = body.lines.map((l, i) => ({
      line: storedLine(l.line, i),
      asked_sku: l.sku ?? null,
      requested_qty: toMilli(l.qty),
      approved_qty: toMilli(l.approvedQty),
      completed_qty: 0,
      disposition: l.disposition,
      code: l.code,
      reason: l.reason ?? null,
    }));
    if (existing) {
      // The hub's online answer came too late: the register acted on the offline decision, which replaces it.
      this.returns.replace(row, lines);
    } else {
      this.returns.insert(row, lines);
    }
    this.audit.append({
      actor: `store:${store}`,
      action: 'return.authorize',
      outcome: body.decision,
      store,
      register,
      resource: `return:${body.authorization}`,
      details: { mode: 'offline', receipt: body.receipt, refund: body.refundEstimate, decidedAt: body.decidedAt, replacedOnline: Boolean(existing), reconciliation: row.reconciliation, lines: body.lines.map((l) => ({ line: l.line, requested: l.qty, approved: l.approvedQty, code: l.code })) },
    });
    if (exception) {
      this.flag(store, register, body.authorization, exception, problem, 'return.decision');
      return { exception };
    }
    return {};
  }

  /** A completed return: the reservation becomes a return, restocked lines go back on hand. */
  complete(store: string, register: string, body: ReturnCompleteEventBody): EventOutcome {
    const now = this.clock.now();
    const r = this.returns.get(body.authorization);
    if (!r) throw new Refusal(ExceptionCodes.UNKNOWN_AUTHORIZATION, `authorization ${body.authorization} is not known at the hub`, body.authorization);
    if (r.store !== store) throw new Refusal(ExceptionCodes.WRONG_STORE, 'that authorization belongs to another store', body.authorization);
    if (r.status === 'denied') throw new Refusal(ExceptionCodes.NOT_APPROVED, `authorization ${body.authorization} was denied`, body.authorization);
    if (r.status === 'completed') throw new Refusal(ExceptionCodes.ALREADY_COMPLETED, `authorization ${body.authorization} was already completed`, body.authorization);
    if (r.status === 'cancelled') throw new Refusal(ExceptionCodes.CANCELLED, `authorization ${body.authorization} was cancelled`, body.authorization);

    const lines = new Map(this.returns.lines(body.authorization).map((l) => [l.line, l]));
    const sale = this.sales.get(r.receipt);
    const skus = new Map(sale?.lines.map((l) => [l.line, l.sku]) ?? []);
    let exception = (r.exception_code as ExceptionCode | null) ?? undefined;
    let problem = r.reason ?? '';
    if (!exception) {
      const over = body.lines.filter((l) => toMilli(l.qty) > (lines.get(l.line)?.approved_qty ?? 0));
      if (over.length > 0) {
        exception = ExceptionCodes.EXCEEDS_AUTHORIZED;
        problem = over.map((l) => `line ${l.line}: completed ${l.qty}, approved ${fromMilli(lines.get(l.line)?.approved_qty ?? 0)}`).join('; ');
      } else if (r.status === 'expired' || (r.expires_at !== null && r.expires_at <= iso(now))) {
        // The reservation lapsed: the quantity may have gone to another return meanwhile.
        const claimed = this.returns.claimedByLine(r.receipt, iso(now), r.authorization);
        const sold = new Map(sale?.lines.map((l) => [l.line, l.qty]) ?? []);
        const over2 = body.lines.filter((l) => toMilli(l.qty) > (sold.get(l.line) ?? 0) - (claimed.get(l.line) ?? 0));
        if (over2.length > 0) {
          exception = ExceptionCodes.OVER_RETURN;
          problem = `reservation expired and ${over2.map((l) => `line ${l.line}`).join(', ')} no longer fits what is returnable`;
        }
      }
    }
    const completedNow = new Map(body.lines.map((l) => [l.line, toMilli(l.qty)]));
    for (const l of lines.values()) this.returns.setLine(r.authorization, l.line, completedNow.get(l.line) ?? 0, l.approved_qty);
    this.returns.update({
      ...r,
      status: 'completed',
      exception_code: exception ?? null,
      reconciliation: r.reconciliation ?? (exception ? 'exception' : null),
      reason: exception ? problem : r.reason,
      refund_amount: body.refund.amount,
      refund_kind: body.refund.kind,
      completed_at: iso(now),
      updated_at: iso(now),
    });
    // The goods are back in the store whatever the paperwork says: the ledger follows the shelf.
    const moved: { line: number; sku: string; qty: number }[] = [];
    for (const l of body.lines) {
      const sku = skus.get(l.line);
      const disposition = lines.get(l.line)?.disposition ?? 'restock';
      if (sku && disposition === 'restock') {
        this.ledger.move(r.store, sku, toMilli(l.qty), 'return', r.authorization);
        moved.push({ line: l.line, sku, qty: l.qty });
      }
    }
    this.audit.append({
      actor: `store:${store}`,
      action: 'return.complete',
      outcome: exception ? 'exception' : 'completed',
      store,
      register,
      resource: `return:${r.authorization}`,
      details: { receipt: r.receipt, refund: { kind: body.refund.kind, amount: body.refund.amount }, restocked: moved, lines: body.lines },
    });
    if (exception && !r.exception_code) {
      this.flag(store, register, r.authorization, exception, problem, 'return.complete');
      return { exception };
    }
    return r.exception_code ? { exception: r.exception_code as ExceptionCode } : {};
  }

  cancel(store: string, register: string, body: ReturnCancelEventBody): EventOutcome {
    const now = this.clock.now();
    const r = this.returns.get(body.authorization);
    if (!r) throw new Refusal(ExceptionCodes.UNKNOWN_AUTHORIZATION, `authorization ${body.authorization} is not known at the hub`, body.authorization);
    if (r.store !== store) throw new Refusal(ExceptionCodes.WRONG_STORE, 'that authorization belongs to another store', body.authorization);
    if (r.status === 'completed') throw new Refusal(ExceptionCodes.ALREADY_COMPLETED, `authorization ${body.authorization} was already completed`, body.authorization);
    if (r.status === 'cancelled' || r.status === 'denied') return {};
    this.returns.update({ ...r, status: 'cancelled', updated_at: iso(now) });
    this.audit.append({ actor: `store:${store}`, action: 'return.cancel', outcome: 'cancelled', store, register, resource: `return:${r.authorization}`, details: { receipt: r.receipt } });
    return {};
  }

  /** Lapses reservations past their expiry; returns how many. */
  expireDue(): number {
    return this.s.tx(() => {
      const nowIso = iso(this.clock.now());
      const due = this.returns.reservedDue(nowIso);
      for (const r of due) {
        this.returns.update({ ...r, status: 'expired', updated_at: nowIso });
        this.audit.append({ actor: 'hub', action: 'return.expire', outcome: 'expired', store: r.store, register: r.register, resource: `return:${r.authorization}`, details: { receipt: r.receipt, expiresAt: r.expires_at } });
      }
      return due.length;
    });
  }

  private flag(store: string, register: string, authorization: string, code: ExceptionCode, reason: string, kind: string): void {
    this.exceptions.record({ store, register, kind, code, reason, authorization });
    this.audit.append({ actor: 'hub', action: 'return.exception', outcome: code, store, register, resource: `return:${authorization}`, details: { reason } });
  }
}

/** Lines asked for by SKU that matched no receipt line are stored as -1, -2… (the request's position). */
function storedLine(line: number, index: number): number {
  return line > 0 ? line : -(index + 1);
}
