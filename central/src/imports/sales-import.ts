import type { Readable } from 'node:stream';
import * as z from 'zod';
import {
  describeZodError,
  findForbiddenCardData,
  maskCardNumbersIn,
  protectTenderPan,
  SaleMessage,
  sweepCardNumbers,
  type SaleEventBody,
} from '@tillbridge/shared';
import { Refusal } from '../domain/refusal.js';
import type { SaleService } from '../domain/sale-service.js';
import type { Stores } from '../domain/stores.js';
import type { HubStorage } from '../storage/index.js';
import { readLines } from './line-reader.js';
import type { CheckedRow, ImportKind, RowBatch } from './types.js';

/** What checking a sale line needs: the stores, and the key of the card numbers' keyed hash. */
export interface SaleLineDeps {
  stores: Pick<Stores, 'get'>;
  cardKey: Buffer;
}

/** What a sales import reads and writes: each sale in a savepoint of the chunk's transaction. */
export interface SalesImportDeps extends SaleLineDeps {
  storage: Pick<HubStorage, 'savepoint'>;
  saleService: Pick<SaleService, 'record'>;
}

/** A sale from another channel: the register's sale shape, plus where it belongs. */
export const ImportedSale = SaleMessage.omit({ type: true, id: true }).extend({
  store: z.string().min(1).max(64),
  channel: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a channel name such as web, app, marketplace')
    .default('web'),
});

/** A checked line, card numbers already masked (nothing but the masked number and its keyed hash is ever staged). */
export interface ImportSaleRow {
  store: string;
  channel: string;
  body: SaleEventBody;
}

export interface SkippedSale {
  line: number;
  receipt: string;
  reason: string;
}

interface Chunk {
  imported: number;
  skipped: SkippedSale[];
  stores: string[];
  channels: string[];
}

interface Totals {
  imported: number;
  skippedCount: number;
  skipped: SkippedSale[];
  stores: string[];
  channels: string[];
}

/** The longest line accepted: a sale of many lines with long descriptions still fits. */
const MAX_LINE_BYTES = 1024 * 1024;
/** skipped sales listed in the answer; the rest are counted */
const LISTED_SKIPS = 1000;
/** channels named in the answer and the audit */
const LISTED_CHANNELS = 50;

/** Checks one line of the file (blank lines are skipped). */
export function checkSaleLine(d: SaleLineDeps, line: number, text: string): CheckedRow<ImportSaleRow> | undefined {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, error: `line ${line}: not valid JSON` };
  }
  // card data as at the register gateway (docs/security.md): track data, CVV and PIN refused wherever they stand
  const forbidden = findForbiddenCardData(value);
  if (forbidden)
    return { line, error: `line ${line}: ${forbidden} refused: track data, CVV and PIN data are never accepted` };
  const parsed = ImportedSale.safeParse(value, { reportInput: true });
  if (!parsed.success)
    return { line, error: maskCardNumbersIn(`line ${line}: ${describeZodError(parsed.error).join('; ')}`) };
  const sale = parsed.data;
  if (!d.stores.get(sale.store))
    return {
      line,
      error: maskCardNumbersIn(
        `line ${line}: store: no store "${sale.store}" (add it with: tillbridge-hub stores add ${sale.store})`,
      ),
    };
  const tenders = sale.tenders.map((t) => {
    const out: SaleEventBody['tenders'][number] = { kind: t.kind, amount: t.amount };
    return t.pan === undefined ? out : { ...out, ...protectTenderPan(t.pan, d.cardKey) };
  });
  // a card number typed where it does not belong: masked in free text (a tender's kind), refused in an identifier
  const stray = sweepCardNumbers({ ...sale, tenders });
  if (stray) return { line, error: `line ${line}: ${stray}: looks like a card number; card numbers go only in "pan"` };
  const body: SaleEventBody = {
    requestId: `import:${sale.receipt}`,
    receipt: sale.receipt,
    at: sale.at,
    currency: sale.currency,
    lines: sale.lines,
    tenders,
  };
  return { line, row: { store: sale.store, channel: sale.channel, body } };
}

const union = (a: string[], b: string[], max: number): string[] => [...new Set([...a, ...b])].slice(0, max);

/**
 * Sales from other channels: JSON lines of the sale shape plus `store` and `channel`. A receipt
 * already recorded is skipped and reported (re-importing a file is harmless). Card numbers are
 * masked and only their keyed hash is kept, as the gateway does for registers.
 */
export function salesImport(d: SalesImportDeps): ImportKind<ImportSaleRow, Chunk, Totals> {
  return {
    kind: 'sales',
    action: 'sales.import',
    emptyMessage: 'no sales: expected JSON lines of {"store","channel","receipt","at","currency","lines","tenders"}',
    async *read(body: Readable, batch: number): AsyncGenerator<RowBatch<ImportSaleRow>> {
      for await (const b of readLines(body, MAX_LINE_BYTES)) {
        const items: CheckedRow<ImportSaleRow>[] = [];
        for (const l of b.lines) {
          const c = checkSaleLine(d, l.line, l.text);
          if (c) items.push(c);
        }
        for (let i = 0; i < items.length; i += batch) yield { items: items.slice(i, i + batch), bytes: b.bytes };
      }
    },
    apply(rows) {
      let imported = 0;
      const skipped: SkippedSale[] = [];
      const stores = new Set<string>();
      const channels = new Set<string>();
      for (const { line, row } of rows) {
        stores.add(row.store);
        channels.add(row.channel);
        try {
          // a skipped sale leaves nothing behind
          d.storage.savepoint(() => d.saleService.record(row.store, null, row.channel, row.body, null));
          imported++;
        } catch (err) {
          if (!(err instanceof Refusal)) throw err;
          skipped.push({ line, receipt: row.body.receipt, reason: err.message });
        }
      }
      return { imported, skipped, stores: [...stores], channels: [...channels].slice(0, LISTED_CHANNELS) };
    },
    chunkDetails: (c) => ({ imported: c.imported, skipped: c.skipped.length, stores: c.stores, channels: c.channels }),
    add: (t, c) => ({
      imported: (t?.imported ?? 0) + c.imported,
      skippedCount: (t?.skippedCount ?? 0) + c.skipped.length,
      skipped: [...(t?.skipped ?? []), ...c.skipped.slice(0, Math.max(0, LISTED_SKIPS - (t?.skipped.length ?? 0)))],
      stores: union(t?.stores ?? [], c.stores, Number.MAX_SAFE_INTEGER),
      channels: union(t?.channels ?? [], c.channels, LISTED_CHANNELS),
    }),
    summary: (t) => ({ imported: t.imported, skipped: t.skippedCount, stores: t.stores, channels: t.channels }),
    result: (t) => ({
      imported: t?.imported ?? 0,
      skippedCount: t?.skippedCount ?? 0,
      skipped: t?.skipped ?? [],
      stores: t?.stores ?? [],
      channels: t?.channels ?? [],
    }),
  };
}
