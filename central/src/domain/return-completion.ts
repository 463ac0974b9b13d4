import {
  fromMilli,
  lineAmount,
  refundKindAllowed,
  returnAmount,
  shareOf,
  toMilli,
  type ReturnCancelEventBody,
  type ReturnCompleteEventBody,
} from '@tillbridge/shared';
import type { HubStorage } from '../storage/index.js';
import type { AuditLog } from './audit-log.js';
import { HubEvents } from './hub-events.js';
import { iso, type Clock } from './clock.js';
import type { Exceptions } from './exceptions.js';
import type { InventoryLedger } from './inventory-ledger.js';
import { type ExceptionCode, ExceptionCodes, Refusal } from './refusal.js';
import type { ReturnLineRow, ReturnRow, ReturnsRepo } from './returns-repo.js';
import type { SaleRow, Sales } from './sales.js';

export interface EventOutcome {
  exception?: string;
}

/** What a completion may refund, and what each completed line is refunded at the sold price. */
interface Authorized {
  /** the most the completion may refund: its lines' share of the authorization, after fees */
  cap: number;
  /** per ticket line, what its completed quantity refunds at the sold price before fees (null: unknown) */
  amounts: Map<ReturnLineRow, number | null>;
  /** lines whose share a lapsed reservation could no longer keep: what is left of the line is worth less */
  shrunk: string[];
}

/** Something a completion gets wrong: an exception code and why. */
interface Problem {
  code: string;
  why: string;
}

type CompletedLine = ReturnCompleteEventBody['lines'][number];

/** The ticket line a completed line names: by line number, else by the SKU asked for. */
function findLine(lines: ReturnLineRow[], l: CompletedLine): ReturnLineRow | undefined {
  return l.line !== undefined ? lines.find((x) => x.line === l.line) : lines.find((x) => x.asked_sku === l.sku);
}

/**
 * What happens after a decision: completion (the reservation becomes a return; restocked lines
 * and exchanged items move in one ledger transaction; the return is `full` or `partial`),
 * cancellation, and expiry of reservations nobody completed.
 */
export class ReturnCompletion {
  private listener: ((r: ReturnRow) => void) | undefined;

  constructor(
    private readonly storage: HubStorage,
    private readonly sales: Sales,
    private readonly returns: ReturnsRepo,
    private readonly ledger: InventoryLedger,
    private readonly audit: AuditLog,
    private readonly exceptions: Exceptions,
    private readonly clock: Clock,
    private readonly events: HubEvents,
  ) {}

  /** Hears each return as it completes, expires or is cancelled (inside the transaction). */
  onChange(listener: (r: ReturnRow) => void): void {
    this.listener = listener;
  }

  complete(store: string, register: string, body: ReturnCompleteEventBody): EventOutcome {
    const now = this.clock.now();
    const r = this.completable(store, body.authorization);

    const lines = this.returns.lines(body.authorization);
    const sale = this.sales.ofReturn(r);
    const skus = new Map(sale?.lines.map((l) => [l.line, l.sku]) ?? []);
    const lapsed = r.status === 'expired' || (r.expires_at !== null && r.expires_at <= iso(now));
    // What this completion finds wrong; the first is its exception (a ticket flagged before keeps its code).
    // a line asked for by SKU may be named by its number and by that SKU: what came back of it is both together
    const done = new Map<ReturnLineRow, number>();
    for (const l of body.lines) {
      const row = findLine(lines, l);
      if (row) done.set(row, (done.get(row) ?? 0) + toMilli(l.qty));
    }
    const problems = this.goodsProblems(r, body, lines, done, lapsed ? sale : undefined, now);
    // Money never grows: never more than the authorization for what came back. An agent refuses
    // such a completion; one that arrives anyway (an older agent) keeps the authorized amount on
    // the ticket and is flagged with what the register said it refunded.
    const money = this.authorized(r, lines, done, sale, lapsed, now);
    if (body.refund.amount > money.cap) {
      const code = money.shrunk.length > 0 ? ExceptionCodes.OVER_REFUND : ExceptionCodes.REFUND_EXCEEDS_AUTHORIZED;
      const left =
        money.shrunk.length > 0 ? ` (reservation expired; ${money.shrunk.join(', ')} is worth less now)` : '';
      problems.push({
        code,
        why: `refunded ${body.refund.amount}, authorized ${money.cap} for what was returned${left}`,
      });
    }
    const problem = problems[0];
    const exception = r.exception_code ?? problem?.code;
    const why = problems.map((p) => p.why).join('; ');
    for (const l of lines)
      this.returns.setLine(
        r.authorization,
        l.line,
        done.get(l) ?? 0,
        l.approved_qty,
        money.amounts.get(l) ?? (done.has(l) ? null : 0),
      );
    const { moved, exchanged } = this.moveGoods(r, done, skus);
    const completed: ReturnRow = {
      ...r,
      status: 'completed',
      exception_code: exception ?? null,
      reconciliation: r.reconciliation ?? (exception ? 'exception' : null),
      reason: problem ? (r.exception_code && r.reason ? `${r.reason}; ${why}` : why) : r.reason,
      refund_amount: Math.min(body.refund.amount, money.cap),
      refund_kind: body.refund.kind,
      completed_at: iso(now),
      updated_at: iso(now),
    };
    this.returns.update(completed);
    // full: with this one and the earlier ones, every line of the receipt is returned
    completed.kind = sale ? this.kindOf(sale) : 'partial';
    this.returns.update(completed);
    this.audit.append({
      actor: `store:${store}`,
      action: 'return.complete',
      outcome: exception ? 'exception' : 'completed',
      store,
      register,
      resource: `return:${r.authorization}`,
      details: {
        receipt: r.receipt,
        kind: completed.kind,
        refund: { kind: body.refund.kind, amount: body.refund.amount },
        authorized: money.cap,
        restocked: moved,
        exchanged,
      },
    });
    this.events.returnChanged('return.completed', r.authorization, { restocked: moved, exchanged });
    if (problem) this.flagCompletion(store, register, r.authorization, body, money.cap, { code: problem.code, why });
    this.listener?.(completed);
    const code = problem?.code ?? exception;
    return code ? { exception: code } : {};
  }

  /**
   * What a completion gets wrong in what came back: more than approved, a tender not allowed, and (`lapsedSale`: the
   * reservation lapsed) quantities another return may have taken meanwhile.
   */
  private goodsProblems(
    r: ReturnRow,
    body: ReturnCompleteEventBody,
    lines: ReturnLineRow[],
    done: ReadonlyMap<ReturnLineRow, number>,
    lapsedSale: SaleRow | undefined,
    now: number,
  ): Problem[] {
    const problems: Problem[] = [];
    const namesOf = (row: ReturnLineRow): string => {
      const names = body.lines.filter((l) => findLine(lines, l) === row).map((l) => l.line ?? l.sku);
      return names.length > 1 ? `${row.line} (${names.join(' and ')})` : String(names[0] ?? row.line);
    };
    const over = [
      ...body.lines
        .filter((l) => !findLine(lines, l) && toMilli(l.qty) > 0)
        .map((l) => `line ${l.line ?? l.sku}: completed ${l.qty}, approved 0`),
      ...[...done]
        .filter(([row, qty]) => qty > row.approved_qty)
        .map(
          ([row, qty]) => `line ${namesOf(row)}: completed ${fromMilli(qty)}, approved ${fromMilli(row.approved_qty)}`,
        ),
    ];
    if (over.length > 0) problems.push({ code: ExceptionCodes.EXCEEDS_AUTHORIZED, why: over.join('; ') });
    const allowed = JSON.parse(r.allowed_tenders) as string[];
    if (!refundKindAllowed(allowed, body.refund.kind)) {
      const why = `refunded to ${body.refund.kind}; allowed: ${allowed.join(', ')}`;
      problems.push({ code: ExceptionCodes.TENDER_NOT_ALLOWED, why });
    }
    if (lapsedSale) {
      // The reservation lapsed: the quantity may have gone to another return meanwhile.
      const claimed = this.returns.claimedByLine(lapsedSale, iso(now), r.authorization);
      const sold = new Map(lapsedSale.lines.map((l) => [l.line, l.qty]));
      const late = [...done].filter(
        ([row, qty]) => row.line > 0 && qty > (sold.get(row.line) ?? 0) - (claimed.get(row.line) ?? 0),
      );
      if (late.length > 0)
        problems.push({
          code: ExceptionCodes.OVER_RETURN,
          why:
            `reservation expired and ${late.map(([row]) => `line ${namesOf(row)}`).join(', ')} ` +
            `no longer fits what is returnable`,
        });
    }
    return problems;
  }

  /** A completion's problem, recorded as an exception and audited, with what the register reported. */
  private flagCompletion(
    store: string,
    register: string,
    authorization: string,
    body: ReturnCompleteEventBody,
    authorized: number,
    problem: Problem,
  ): void {
    const reported = { refund: { kind: body.refund.kind, amount: body.refund.amount }, authorized, lines: body.lines };
    this.exceptions.record({
      store,
      register,
      kind: 'return.complete',
      code: problem.code,
      reason: problem.why,
      authorization,
      body: reported,
    });
    this.audit.append({
      actor: 'hub',
      action: 'return.exception',
      outcome: problem.code,
      store,
      register,
      resource: `return:${authorization}`,
      details: { reason: problem.why, ...reported },
    });
  }

  /** The ticket `authorization` names, if this store may complete it; else the refusal. */
  private completable(store: string, authorization: string): ReturnRow {
    const r = this.returns.get(authorization);
    const refuse = (code: ExceptionCode, why: string): Refusal => new Refusal(code, why, authorization);
    if (!r)
      throw refuse(ExceptionCodes.UNKNOWN_AUTHORIZATION, `authorization ${authorization} is not known at the hub`);
    if (r.store !== store) throw refuse(ExceptionCodes.WRONG_STORE, 'that authorization belongs to another store');
    if (r.status === 'denied' || r.decision === 'denied' || r.decision === 'override_required') {
      throw refuse(ExceptionCodes.NOT_APPROVED, `authorization ${authorization} is ${r.decision}`);
    }
    if (r.status === 'completed' || r.status === 'reversed') {
      throw refuse(ExceptionCodes.ALREADY_COMPLETED, `authorization ${authorization} was already completed`);
    }
    if (r.status === 'cancelled')
      throw refuse(ExceptionCodes.CANCELLED, `authorization ${authorization} was cancelled`);
    return r;
  }

  /**
   * The goods are back in the store whatever the paperwork says: the ledger follows the shelf
   * (lines to restock, by what came back), and the exchange items leave it.
   */
  private moveGoods(r: ReturnRow, done: ReadonlyMap<ReturnLineRow, number>, skus: ReadonlyMap<number, string>) {
    const moved: { line: number; sku: string; qty: number }[] = [];
    for (const [row, qty] of done) {
      const sku = skus.get(row.line) ?? row.asked_sku ?? undefined;
      if (sku && row.disposition === 'restock' && qty > 0) {
        this.ledger.move(r.store, sku, qty, 'return', r.authorization);
        moved.push({ line: row.line, sku, qty: fromMilli(qty) });
      }
    }
    const exchanged: { sku: string; qty: number }[] = [];
    for (const e of this.returns.exchanges(r.authorization)) {
      if (e.approved_qty > 0) {
        this.ledger.move(r.store, e.sku, -e.approved_qty, 'exchange', r.authorization);
        exchanged.push({ sku: e.sku, qty: fromMilli(e.approved_qty) });
      }
    }
    return { moved, exchanged };
  }

  /**
   * What a completion may refund: for each line, its share of what the line was authorized to
   * refund (all of it when the whole approved quantity comes back; less, rounded down, for less).
   * A lapsed reservation held nothing meanwhile: its lines are priced again against the returns
   * that count now, and never above what they were authorized. A ticket decided before per-line
   * amounts were kept is capped by its whole authorized refund.
   */
  private authorized(
    r: ReturnRow,
    lines: ReturnLineRow[],
    done: Map<ReturnLineRow, number>,
    sale: SaleRow | undefined,
    lapsed: boolean,
    now: number,
  ): Authorized {
    const lapsedSale = lapsed ? sale : undefined;
    const amounts = new Map<ReturnLineRow, number | null>();
    const shrunk: string[] = [];
    let cap = 0;
    let unknown = false;
    const claims = lapsedSale ? this.returns.claimsByLine(lapsedSale, iso(now), r.authorization) : undefined;
    const prices = new Map(sale?.lines.map((l) => [l.line, l.unitPrice]) ?? []);
    for (const [row, qty] of done) {
      const part = Math.min(qty, row.approved_qty);
      if (row.amount === null) {
        unknown = true;
        amounts.set(row, null);
        continue;
      }
      let gross = shareOf(row.amount, part, row.approved_qty);
      let net = shareOf(row.amount - (row.fee ?? 0), part, row.approved_qty);
      const price = prices.get(row.line);
      if (claims && price !== undefined) {
        const fresh = returnAmount(
          price,
          { milli: claims.milli.get(row.line) ?? 0, amount: claims.amount.get(row.line) ?? 0 },
          part,
        );
        if (fresh < gross) {
          net = Math.max(0, net - (gross - fresh));
          gross = fresh;
          shrunk.push(`line ${row.line}`);
        }
      }
      // more came back than approved (flagged exceeds_authorized): the line's returns count the excess at the sold
      // price too, so a later return of the line is not paid for those units again
      const excess = qty - part;
      amounts.set(row, gross + (excess > 0 && price !== undefined ? lineAmount(excess, price) : 0));
      cap += net;
    }
    return { cap: unknown ? (r.refund_amount ?? 0) : cap, amounts, shrunk };
  }

  /** `full` when, with earlier returns, every line of the receipt is fully returned. */
  private kindOf(sale: SaleRow): 'full' | 'partial' {
    const sold = sale.lines;
    const returned = new Map<number, number>();
    for (const r of this.returns.forSale(sale)) {
      if (r.status !== 'completed' || r.exception_code) continue;
      for (const l of this.returns.lines(r.authorization))
        if (l.line > 0) returned.set(l.line, (returned.get(l.line) ?? 0) + l.completed_qty);
    }
    return sold.every((l) => (returned.get(l.line) ?? 0) >= l.qty) ? 'full' : 'partial';
  }

  cancel(store: string, register: string, body: ReturnCancelEventBody): EventOutcome {
    const now = this.clock.now();
    const r = this.returns.get(body.authorization);
    if (!r)
      throw new Refusal(
        ExceptionCodes.UNKNOWN_AUTHORIZATION,
        `authorization ${body.authorization} is not known at the hub`,
        body.authorization,
      );
    if (r.store !== store)
      throw new Refusal(ExceptionCodes.WRONG_STORE, 'that authorization belongs to another store', body.authorization);
    if (r.status === 'completed' || r.status === 'reversed')
      throw new Refusal(
        ExceptionCodes.ALREADY_COMPLETED,
        `authorization ${body.authorization} was already completed`,
        body.authorization,
      );
    if (r.status === 'cancelled' || r.status === 'denied') return {};
    const next: ReturnRow = { ...r, status: 'cancelled', updated_at: iso(now) };
    this.returns.update(next);
    this.audit.append({
      actor: `store:${store}`,
      action: 'return.cancel',
      outcome: 'cancelled',
      store,
      register,
      resource: `return:${r.authorization}`,
      details: { receipt: r.receipt },
    });
    this.events.returnChanged('return.cancelled', r.authorization, { cause: 'register' });
    this.listener?.(next);
    return {};
  }

  /** Lapses reservations past their expiry; returns how many. */
  expireDue(): number {
    return this.storage.tx(() => {
      const nowIso = iso(this.clock.now());
      const due = this.returns.reservedDue(nowIso);
      for (const r of due) {
        const next: ReturnRow = { ...r, status: 'expired', updated_at: nowIso };
        this.returns.update(next);
        this.audit.append({
          actor: 'hub',
          action: 'return.expire',
          outcome: 'expired',
          store: r.store,
          register: r.register,
          resource: `return:${r.authorization}`,
          details: { receipt: r.receipt, expiresAt: r.expires_at },
        });
        this.events.returnChanged('return.cancelled', r.authorization, { cause: 'expired' });
        this.listener?.(next);
      }
      return due.length;
    });
  }
}
