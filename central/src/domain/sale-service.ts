import { toMilli, type SaleEventBody } from '@tillbridge/shared';
import type { AuditLog } from './audit-log.js';
import { iso, type Clock } from './clock.js';
import type { InventoryLedger } from './inventory-ledger.js';
import { ExceptionCodes, Refusal } from './refusal.js';
import type { Sales } from './sales.js';

/** Records a sale from any channel: the sale, its ledger movements and its audit entry. */
export class SaleService {
  constructor(
    private readonly sales: Sales,
    private readonly ledger: InventoryLedger,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  /**
   * Call inside a transaction. Receipt numbers are each store's own: another store's sale under the
   * same number is a different sale. Throws Refusal for a receipt number this store already used
   * (the same event resent is skipped before this, by its id).
   */
  record(store: string, register: string | null, channel: string, body: SaleEventBody, eventId: string | null): void {
    const prior = this.sales.get(store, body.receipt);
    if (prior) {
      throw new Refusal(ExceptionCodes.DUPLICATE_RECEIPT, `receipt ${body.receipt} was already recorded at store ${store} (${prior.at})`);
    }
    const lines = body.lines.map((l) => ({ line: l.line, sku: l.sku, qty: toMilli(l.qty), unitPrice: l.unitPrice }));
    this.sales.insert({
      receipt: body.receipt,
      store,
      register,
      channel,
      // stored in UTC, so that times from registers in any zone compare as they sort
      at: new Date(body.at).toISOString(),
      currency: body.currency,
      tenders: body.tenders,
      lines,
      eventId,
      createdAt: iso(this.clock.now()),
    });
    for (const l of lines) this.ledger.move(store, l.sku, -l.qty, 'sale', body.receipt);
    this.audit.append({
      actor: register ? `store:${store}` : `channel:${channel}`,
      action: 'sale.record',
      outcome: 'recorded',
      store,
      register,
      resource: `sale:${body.receipt}`,
      details: { channel, at: body.at, currency: body.currency, lines: body.lines.length, tenders: body.tenders.map((t) => t.kind) },
    });
  }
}
