import { fromMilli, lineAmount, toMilli, type SaleEventBody } from '@tillbridge/shared';
import type { AuditInput, AuditLog } from './audit-log.js';
import { iso, type Clock } from './clock.js';
import type { HubEvents } from './hub-events.js';
import type { InventoryLedger, Movement } from './inventory-ledger.js';
import { ExceptionCodes, Refusal } from './refusal.js';
import { saleKey, type NewSale, type SaleKey, type Sales } from './sales.js';

/** Records a sale from any channel: the sale, its ledger movements and its audit entry. */
export class SaleService {
  constructor(
    private readonly sales: Sales,
    private readonly ledger: InventoryLedger,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly events?: Pick<HubEvents, 'emit' | 'together'>,
  ) {}

  /**
   * Call inside a transaction. Receipt numbers are each store's own: another store's sale under the
   * same number is a different sale. Throws Refusal for a receipt number this store already used
   * (the same event resent is skipped before this, by its id).
   */
  record(store: string, register: string | null, channel: string, body: SaleEventBody, eventId: string | null): void {
    const prior = this.sales.get(store, body.receipt);
    if (prior) throw duplicateReceipt(store, body.receipt, prior.at);
    const sale = this.build(store, register, channel, body, eventId);
    this.sales.insert(sale);
    this.announce(sale);
    for (const l of sale.lines) this.ledger.move(store, l.sku, -l.qty, 'sale', body.receipt);
    this.audit.append(this.auditOf(sale, body));
  }

  /**
   * A batch of sales checked now and written together (`SaleBatch`): what `record` does for each,
   * in a few multi-row statements. `keys`: the sales the batch may hold, whose receipts are looked
   * up at once. Call inside a transaction.
   */
  batch(keys: readonly SaleKey[]): SaleBatch {
    return new SaleBatch(this, this.sales.existing(keys));
  }

  /** @internal the sale `record` stores */
  build(store: string, register: string | null, channel: string, body: SaleEventBody, eventId: string | null): NewSale {
    return {
      receipt: body.receipt,
      store,
      register,
      channel,
      // stored in UTC, so that times from registers in any zone compare as they sort
      at: new Date(body.at).toISOString(),
      currency: body.currency,
      tenders: body.tenders,
      lines: body.lines.map((l) => ({ line: l.line, sku: l.sku, qty: toMilli(l.qty), unitPrice: l.unitPrice })),
      eventId,
      createdAt: iso(this.clock.now()),
    };
  }

  /** @internal the audit entry of a recorded sale */
  auditOf(sale: NewSale, body: SaleEventBody): AuditInput {
    return {
      actor: sale.register ? `store:${sale.store}` : `channel:${sale.channel}`,
      action: 'sale.record',
      outcome: 'recorded',
      store: sale.store,
      register: sale.register,
      resource: `sale:${body.receipt}`,
      details: {
        channel: sale.channel,
        at: body.at,
        currency: body.currency,
        lines: body.lines.length,
        tenders: body.tenders.map((t) => t.kind),
      },
    };
  }

  /**
   * sale.recorded, for the ERP feed and webhooks: the sale as recorded, its tenders as stored
   * (card numbers masked; the keyed card hash is the hub's own and stays here).
   */
  private announce(sale: NewSale): void {
    this.events?.emit('sale.recorded', sale.store, () => ({
      store: sale.store,
      receipt: sale.receipt,
      register: sale.register,
      channel: sale.channel,
      at: sale.at,
      currency: sale.currency,
      total: sale.lines.reduce((t, l) => t + lineAmount(l.qty, l.unitPrice), 0),
      lines: sale.lines.map((l) => ({ line: l.line, sku: l.sku, qty: fromMilli(l.qty), unitPrice: l.unitPrice })),
      tenders: (sale.tenders as { kind: string; amount: number; pan?: string }[]).map((t) => ({
        kind: t.kind,
        amount: t.amount,
        ...(t.pan ? { pan: t.pan } : {}),
      })),
      sourceEventId: sale.eventId,
    }));
  }

  /** @internal writes what a SaleBatch holds: the sales, then their movements, then their audit entries (in order) */
  writeMany(sales: readonly NewSale[], audits: readonly AuditInput[]): void {
    // the sales' feed entries written together too (no savepoint rolls back in here)
    if (this.events) this.events.together(() => this.writeManyNow(sales, audits));
    else this.writeManyNow(sales, audits);
  }

  private writeManyNow(sales: readonly NewSale[], audits: readonly AuditInput[]): void {
    this.sales.insertMany(sales);
    const moves: Movement[] = [];
    const saleOf = new Map<Movement, number>();
    sales.forEach((s, i) => {
      for (const l of s.lines) {
        const m: Movement = { store: s.store, sku: l.sku, delta: -l.qty, kind: 'sale', ref: s.receipt };
        moves.push(m);
        saleOf.set(m, i);
      }
    });
    // each sale announced before its movements, as `record` does, so the feed reads the same either way
    let announced = 0;
    const announceUpTo = (i: number): void => {
      for (const sale of sales.slice(announced, i + 1)) this.announce(sale);
      announced = Math.max(announced, i + 1);
    };
    this.ledger.moveMany(moves, (m) => announceUpTo(saleOf.get(m) ?? -1));
    announceUpTo(sales.length - 1);
    this.audit.appendMany(audits);
  }
}

function duplicateReceipt(store: string, receipt: string, at: string): Refusal {
  return new Refusal(
    ExceptionCodes.DUPLICATE_RECEIPT,
    `receipt ${receipt} was already recorded at store ${store} (${at})`,
  );
}

/**
 * Sales checked as they are added and written together by `write` — the group commit's path: what
 * `SaleService.record` does for each (the sale and its lines, a ledger movement per line, an audit
 * entry), in a few multi-row statements rather than a round trip per row. A receipt the store
 * already used — stored before, or added earlier to this batch — is refused at `add`, with nothing
 * added. Whoever writes anything else between two `add`s (an audit entry, a movement) calls
 * `write` first, so that everything lands in the order it happened.
 */
export class SaleBatch {
  private sales: NewSale[] = [];
  private audits: AuditInput[] = [];

  constructor(
    private readonly service: SaleService,
    /** receipts used, keyed `saleKey`: those stored, then those added */
    private readonly taken: Map<string, string>,
  ) {}

  /** Sales added and not written yet. */
  get pending(): number {
    return this.sales.length;
  }

  /** Checks and adds one sale; throws Refusal (duplicate receipt) with nothing added. `origin`: its audit entry's. */
  add(
    store: string,
    register: string | null,
    channel: string,
    body: SaleEventBody,
    eventId: string | null,
    origin: string | null,
  ): void {
    const k = saleKey(store, body.receipt);
    const prior = this.taken.get(k);
    if (prior !== undefined) throw duplicateReceipt(store, body.receipt, prior);
    const sale = this.service.build(store, register, channel, body, eventId);
    this.taken.set(k, sale.at);
    this.sales.push(sale);
    this.audits.push({ ...this.service.auditOf(sale, body), origin });
  }

  /** Writes the sales added since the last write. Call inside the transaction they belong to. */
  write(): void {
    if (this.sales.length === 0) return;
    const sales = this.sales;
    const audits = this.audits;
    this.sales = [];
    this.audits = [];
    this.service.writeMany(sales, audits);
  }
}
