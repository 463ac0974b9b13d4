import { z } from 'zod';
import { describeZodError, panHmac, safePan, SaleMessage, TbCodes, TbError, type SaleEventBody } from '@tillbridge/shared';
import type { Hub } from '../../hub-services.js';
import { Refusal } from '../../domain/refusal.js';

/** A sale from another channel: the register's sale shape, plus where it belongs. */
export const ImportedSale = SaleMessage.omit({ type: true, id: true }).extend({
  store: z.string().min(1).max(64),
  channel: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a channel name such as web, app, marketplace').default('web'),
});

export interface ImportResult {
  imported: number;
  skipped: { line: number; receipt: string; reason: string }[];
  stores: string[];
}

/**
 * Imports sales (JSON lines, or one JSON object) in one transaction: every line validated first,
 * naming the first bad line and key, nothing applied on error. A receipt already recorded is
 * skipped and reported (re-importing a file is harmless). Card numbers are masked and only their
 * keyed hash is kept, as the gateway does for registers.
 */
export function importSales(hub: Hub, text: string, actor: string): ImportResult {
  const rows: { line: number; sale: z.infer<typeof ImportedSale> }[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new TbError(TbCodes.INVALID, `line ${i + 1}: not valid JSON`);
    }
    const parsed = ImportedSale.safeParse(value, { reportInput: true });
    if (!parsed.success) throw new TbError(TbCodes.INVALID, `line ${i + 1}: ${describeZodError(parsed.error).join('; ')}`);
    if (!hub.stores.get(parsed.data.store)) throw new TbError(TbCodes.INVALID, `line ${i + 1}: store: no store "${parsed.data.store}" (add it with: tillbridge-hub stores add ${parsed.data.store})`);
    rows.push({ line: i + 1, sale: parsed.data });
  });
  if (rows.length === 0) throw new TbError(TbCodes.INVALID, 'no sales: expected JSON lines of {"store","channel","receipt","at","currency","lines","tenders"}');
  const result = hub.storage.tx(() => {
    const skipped: ImportResult['skipped'] = [];
    let imported = 0;
    for (const { line, sale } of rows) {
      const tenders = sale.tenders.map((t) => {
        const out: SaleEventBody['tenders'][number] = { kind: t.kind, amount: t.amount };
        if (t.pan !== undefined) {
          const digits = t.pan.replace(/[\s-]/g, '');
          out.pan = safePan(t.pan);
          if (/^\d{13,19}$/.test(digits)) out.panHash = panHmac(hub.cardKey, digits);
        }
        return out;
      });
      const body: SaleEventBody = { requestId: `import:${sale.receipt}`, receipt: sale.receipt, at: sale.at, currency: sale.currency, lines: sale.lines, tenders };
      try {
        hub.storage.savepoint(() => hub.saleService.record(sale.store, null, sale.channel, body, null)); // a skipped sale leaves nothing behind
        imported++;
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        skipped.push({ line, receipt: sale.receipt, reason: err.message });
      }
    }
    const stores = [...new Set(rows.map((r) => r.sale.store))];
    hub.audit.append({ actor, action: 'sales.import', outcome: 'imported', resource: 'sales', details: { imported, skipped: skipped.length, stores, channels: [...new Set(rows.map((r) => r.sale.channel))] } });
    return { imported, skipped, stores };
  });
  hub.feed.publish();
  return result;
}
