import {
  evaluateReturn,
  fromMilli,
  lineRules,
  LineCodes,
  returnableLines,
  TbCodes,
  TbError,
  tenderKindsOf,
  utcDay,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type DecisionLine,
  type Evaluation,
  type EvaluationInput,
  type OverrideBody,
  type Policy,
  type ReceiptLookupBody,
  type ReceiptLookupResult,
} from '@tillbridge/shared';
import type { HubStorage } from '../storage/index.js';
import type { AuditLog } from './audit-log.js';
import { HubEvents } from './hub-events.js';
import { iso, type Clock } from './clock.js';
import type { InventoryLedger } from './inventory-ledger.js';
import type { Managers } from './managers.js';
import type { Policies } from './policies.js';
import { decidedColumns, EMPTY_TICKET, ticketLines } from './return-ticket.js';
import type { ReturnLineRow, ReturnRow, ReturnsRepo } from './returns-repo.js';
import type { SaleRow, Sales } from './sales.js';

const DAY = 86_400_000;

export interface SaleContext {
  sale: SaleRow | undefined;
  /** the receipt number was issued at several other stores and the request named none of them */
  ambiguous?: { store: string; at: string }[];
  /** sales paid with the card, newest first (returns by card) */
  candidates?: { receipt: string; store: string; at: string }[];
}

/**
 * Online return authorization (DESIGN rule 4 and the store's policy): each request is judged in
 * one write transaction against every store's and channel's returns of the sale, the policy the
 * store has now, the refunds it approved today and, for exchanges, its live stock. Every request
 * becomes a return ticket with the rules that fired; anything not denied holds its quantities
 * (and exchange stock) until completed, cancelled or expired. Idempotent by authorization id.
 */
export class ReturnsEngine {
  constructor(
    private readonly storage: HubStorage,
    private readonly sales: Sales,
    private readonly returns: ReturnsRepo,
    private readonly ledger: InventoryLedger,
    private readonly policies: Policies,
    private readonly managers: Managers,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly events: HubEvents,
  ) {}

  /**
   * `latencyMs`, when given, is read as the decision is announced (inside its transaction, just before the commit) and
   * put on the decision's feed entry: how long since the request arrived (the agent's session measures it).
   */
  authorize(store: string, body: AuthorizeRequestBody, latencyMs?: () => number): AuthorizeResult {
    return this.storage.tx(() => {
      const existing = this.returns.get(body.authorization);
      if (existing) {
        if (existing.store !== store)
          throw new TbError(TbCodes.FORBIDDEN, 'that authorization belongs to another store');
        return this.resultFor(existing);
      }
      const now = this.clock.now();
      const { version, policy } = this.policies.effective(store);
      const ctx = this.findSale(store, body, policy, now);
      const ev = this.evaluate(store, body, policy, ctx, now, body.authorization, false);
      const row: ReturnRow = {
        ...EMPTY_TICKET,
        authorization: body.authorization,
        store,
        register: body.register,
        request_id: body.requestId,
        receipt: ctx.sale?.receipt ?? body.receipt ?? '',
        sale_store: ctx.sale?.store ?? null,
        mode: 'online',
        created_at: iso(now),
        updated_at: iso(now),
        card_hash: body.cardHash ?? null,
        request: JSON.stringify(requestOf(body)),
        ...decidedColumns(ev, { reservationMs: policy.reservationMinutes * 60_000, now, policyVersion: version }),
      };
      const t = ticketLines(ev, body);
      this.returns.insert(row, t.lines, t.exchanges);
      this.audit.append({
        actor: `store:${store}`,
        action: 'return.authorize',
        outcome: ev.decision,
        store,
        register: body.register,
        resource: `return:${body.authorization}`,
        details: {
          mode: 'online',
          receipt: row.receipt,
          byCard: Boolean(body.cardHash),
          refund: ev.refundAmount,
          fees: ev.fees,
          policyVersion: version,
          rules: ev.rules.map((r) => r.code),
          conditions: ev.conditions,
        },
      });
      this.events.decided(row.authorization, ev.decision, latencyMs ? { latencyMs: tenths(latencyMs()) } : {});
      return this.resultFor(row, ctx);
    });
  }

  /** A manager's override of an `override_required` decision: re-judged as overridden when the code is right. */
  override(store: string, body: OverrideBody): AuthorizeResult {
    return this.storage.tx(() => {
      const r = this.returns.get(body.authorization);
      if (r?.store !== store)
        throw new TbError(TbCodes.NOT_FOUND, `authorization ${body.authorization} is not known at this store`);
      if (r.override_by) return this.resultFor(r); // already overridden (a retransmission)
      if (r.decision !== 'override_required' || r.status !== 'reserved') {
        throw new TbError(
          TbCodes.AUTHORIZATION_STATE,
          `authorization ${body.authorization} is ${r.decision}/${r.status}: there is nothing to override`,
        );
      }
      const ok = this.managers.check(body.manager, body.code);
      this.audit.append({
        actor: `manager:${body.manager}`,
        action: 'return.override',
        outcome: ok ? 'accepted' : 'refused',
        store,
        resource: `return:${r.authorization}`,
        details: { requestId: body.requestId, receipt: r.receipt },
      });
      if (!ok) {
        const res = this.resultFor(r);
        res.reason = `manager ${body.manager}: code not accepted`;
        return res;
      }
      const now = this.clock.now();
      const { version, policy } = this.policies.effective(store);
      const req = JSON.parse(r.request) as AuthorizeRequestBody;
      const ctx: SaleContext = { sale: this.sales.ofReturn(r) };
      const ev = this.evaluate(store, req, policy, ctx, now, r.authorization, true);
      const next: ReturnRow = {
        ...r,
        ...decidedColumns(ev, { reservationMs: policy.reservationMinutes * 60_000, now, policyVersion: version }),
        override_by: body.manager,
        override_at: iso(now),
        updated_at: iso(now),
      };
      const t = ticketLines(ev, req);
      this.returns.replace(next, t.lines, t.exchanges);
      this.events.decided(next.authorization, ev.decision);
      return this.resultFor(next, ctx);
    });
  }

  /**
   * The sale a request at `store` is about: by receipt (the one `originalStore` issued; else this
   * store's; else the only store's that issued it — several: ambiguous), or the newest sale paid
   * with the card that can take it.
   */
  findSale(
    store: string,
    body: Pick<AuthorizeRequestBody, 'receipt' | 'originalStore' | 'cardHash' | 'lines'>,
    policy: Policy,
    now: number,
  ): SaleContext {
    if (body.receipt !== undefined) {
      const r = this.sales.resolve(body.receipt, store, body.originalStore);
      return r.ambiguous ? { sale: undefined, ambiguous: r.ambiguous } : { sale: r.sale };
    }
    if (body.cardHash === undefined) return { sale: undefined };
    const candidates = this.sales.findByCard(body.cardHash, iso(now - policy.returnWindowDays * DAY));
    let chosen: SaleRow | undefined;
    for (const c of candidates) {
      const sale = this.sales.get(c.store, c.receipt);
      if (!sale) continue;
      chosen ??= sale;
      const claimed = this.returns.claimedByLine(sale, iso(now));
      const fits = body.lines.every((l) =>
        sale.lines.some(
          (x) => (l.line !== undefined ? x.line === l.line : x.sku === l.sku) && x.qty - (claimed.get(x.line) ?? 0) > 0,
        ),
      );
      if (fits) {
        chosen = sale;
        break;
      }
    }
    return { sale: chosen, candidates };
  }

  /**
   * A receipt asked about at `store` (`receipt.lookup`) and what is left to return per line, every
   * store's and channel's returns counted; by card, every sale paid with it in the return window.
   * A receipt number several other stores issued, asked without naming the store: not found,
   * `receipt_ambiguous`, with those sales in `matches`.
   */
  lookup(store: string, q: Pick<ReceiptLookupBody, 'receipt' | 'originalStore' | 'cardHash'>): ReceiptLookupResult {
    const now = this.clock.now();
    let receipt = q.receipt ?? '';
    let matches: ReceiptLookupResult['matches'];
    let sale: SaleRow | undefined;
    if (q.cardHash !== undefined) {
      const { policy } = this.policies.effective(store);
      matches = this.sales.findByCard(q.cardHash, iso(now - policy.returnWindowDays * DAY));
      receipt = matches[0]?.receipt ?? '';
      sale = matches[0] && this.sales.get(matches[0].store, matches[0].receipt);
    } else {
      const r = this.sales.resolve(receipt, store, q.originalStore);
      if (r.ambiguous)
        return {
          receipt,
          found: false,
          lines: [],
          code: LineCodes.RECEIPT_AMBIGUOUS,
          matches: r.ambiguous.map((a) => ({ receipt, store: a.store, at: a.at })),
        };
      sale = r.sale;
    }
    if (!sale) return matches ? { receipt, found: false, lines: [], matches } : { receipt, found: false, lines: [] };
    const claimed = this.returns.claimedByLine(sale, iso(now));
    return {
      receipt,
      found: true,
      store: sale.store,
      currency: sale.currency,
      at: sale.at,
      lines: returnableLines(sale.lines, claimed),
      ...(matches ? { matches } : {}),
    };
  }

  /**
   * Everything the policy evaluation needs, from the hub's authoritative state. `asOf` is when the
   * request is judged for the window and the day's refunds (an offline decision's own time; online,
   * now); what is left to return and exchange stock are always counted as they are `now`.
   */
  evaluate(
    store: string,
    body: Pick<AuthorizeRequestBody, 'receipt' | 'cardHash' | 'lines' | 'exchange'>,
    policy: Policy,
    ctx: SaleContext,
    now: number,
    exclude: string,
    overridden: boolean,
    asOf = now,
  ): Evaluation {
    const nowIso = iso(now);
    const claims = ctx.sale
      ? this.returns.claimsByLine(ctx.sale, nowIso, exclude)
      : { milli: new Map<number, number>(), amount: new Map<number, number>() };
    const input: EvaluationInput = {
      policy,
      mode: 'online',
      now: asOf,
      sale: ctx.sale
        ? {
            at: ctx.sale.at,
            channel: ctx.sale.channel,
            lines: ctx.sale.lines,
            tenderKinds: tenderKindsOf(ctx.sale.tenders as { kind?: unknown }[]),
          }
        : undefined,
      noReceipt: body.receipt === undefined && body.cardHash === undefined,
      claimed: claims.milli,
      refunded: claims.amount,
      requested: body.lines,
      approvedToday: {
        // the day's refunds at the store are summed only for a policy that limits them (a scan of the day's returns)
        store:
          policy.maxRefundPerStorePerDay === null
            ? 0
            : this.returns.approvedSince(store, `${utcDay(asOf)}T00:00:00.000Z`, iso(asOf), exclude),
        register: 0,
      },
      exchange: body.exchange?.map((e) => ({
        sku: e.sku,
        qty: e.qty,
        availableMilli:
          (this.ledger.get(store, e.sku)?.onHand ?? 0) - this.returns.exchangeReserved(store, e.sku, nowIso, exclude),
      })),
      overridden,
    };
    if (!ctx.ambiguous) return evaluateReturn(input);
    const ev = evaluateReturn({ ...input, notFoundCode: LineCodes.RECEIPT_AMBIGUOUS });
    ev.reason =
      `receipt ${body.receipt ?? ''} was issued at stores ${ctx.ambiguous.map((a) => a.store).join(', ')}: ` +
      `ask again naming the store that issued it (originalStore)`;
    return ev;
  }

  resultFor(row: ReturnRow, ctx?: SaleContext): AuthorizeResult {
    const lines = this.returns.lines(row.authorization);
    const res: AuthorizeResult = {
      authorization: row.authorization,
      decision: row.decision,
      mode: row.mode,
      lines: decisionLinesOfTicket(row, lines),
      refundAmount: row.refund_amount ?? 0,
      allowedTenders: JSON.parse(row.allowed_tenders) as string[],
      conditions: JSON.parse(row.conditions) as string[],
      policyVersion: row.policy_version,
    };
    if (row.expires_at && row.status === 'reserved') res.expiresAt = row.expires_at;
    const ex = this.returns.exchanges(row.authorization);
    if (ex.length > 0)
      res.exchange = ex.map((e) => ({
        sku: e.sku,
        qty: fromMilli(e.qty),
        approvedQty: fromMilli(e.approved_qty),
        code: e.code,
      }));
    if (row.reason) res.reason = row.reason;
    if (row.card_hash && row.receipt) res.resolvedReceipt = row.receipt;
    const sale = ctx ? ctx.sale : this.sales.ofReturn(row);
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
}

/** The lines of a ticket as a register sees them: quantity, code, refund and fee, every rule that shaped it. */
function decisionLinesOfTicket(row: ReturnRow, lines: ReturnLineRow[]): DecisionLine[] {
  const rules = JSON.parse(row.rules) as { code: string; line?: number }[];
  return lines.map((l) => {
    const out: DecisionLine =
      l.asked_sku === null
        ? { line: l.line, approvedQty: fromMilli(l.approved_qty), code: l.code }
        : { line: Math.max(0, l.line), sku: l.asked_sku, approvedQty: fromMilli(l.approved_qty), code: l.code };
    if (l.approved_qty > 0 && l.amount !== null) {
      out.refund = l.amount - (l.fee ?? 0);
      if (l.fee) out.fee = l.fee;
    }
    const codes = lineRules(rules, Math.max(0, l.line));
    if (codes.length > 0) out.rules = codes;
    return out;
  });
}

/** What is kept of the request on the ticket (never a card number: only its keyed hash was sent). */
function requestOf(body: AuthorizeRequestBody): Record<string, unknown> {
  const out: Record<string, unknown> = { lines: body.lines };
  if (body.receipt !== undefined) out.receipt = body.receipt;
  if (body.originalStore !== undefined) out.originalStore = body.originalStore;
  if (body.cardHash !== undefined) out.cardHash = body.cardHash;
  if (body.exchange !== undefined) out.exchange = body.exchange;
  return out;
}

/** Milliseconds to a tenth (a latency: what is finer is noise). */
function tenths(ms: number): number {
  return Math.round(Math.max(0, ms) * 10) / 10;
}
