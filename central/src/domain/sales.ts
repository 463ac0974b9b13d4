import type { HubStorage, Statement } from '../storage/index.js';
import { lineAmount, TbCodes, TbError, type SoldLine } from '@tillbridge/shared';
import { MultiKeySelect, MultiRowInsert } from './multi-row.js';

export interface SaleRow {
  receipt: string;
  store: string;
  register: string | null;
  channel: string;
  at: string;
  currency: string;
  total: number;
  tenders: unknown[];
  lines: SoldLine[];
}

/** The key `Sales.existing` answers with. */
export function saleKey(store: string, receipt: string): string {
  return `${store}\u0000${receipt}`;
}

function saleTotal(sale: { lines: readonly SoldLine[] }): number {
  return sale.lines.reduce((t, l) => t + lineAmount(l.qty, l.unitPrice), 0);
}

/** The keyed hashes of the cards a sale was paid with (never a PAN: DESIGN rule 6). */
function panHashes(sale: { tenders: unknown[] }): string[] {
  const out: string[] = [];
  for (const t of sale.tenders as { panHash?: unknown }[])
    if (typeof t.panHash === 'string' && t.panHash) out.push(t.panHash);
  return out;
}

/** Which sale: receipt numbers are each store's own, so a sale is its store and its receipt. */
export interface SaleKey {
  store: string;
  receipt: string;
}

/** Where a receipt number leads, asked at `store` (see Sales.resolve). */
export interface SaleResolution {
  sale?: SaleRow;
  /** the receipt was issued at more than one other store and none was named: which ones */
  ambiguous?: { store: string; at: string }[];
}

/** A sale to store (`Sales.insert`, `Sales.insertMany`). */
export type NewSale = Omit<SaleRow, 'total'> & { eventId: string | null; createdAt: string };

/** Sales from every channel, keyed by store and receipt. */
export class Sales {
  private readonly getSale: Statement;
  private readonly getLines: Statement;
  private readonly byReceipt: Statement;
  private readonly insertSale: Statement;
  private readonly insertLine: Statement;
  private readonly insertCard: Statement;
  private readonly byCard: Statement;
  private readonly receiptsAmong: MultiKeySelect;
  private readonly insertSales: MultiRowInsert;
  private readonly insertLines: MultiRowInsert;
  private readonly insertCards: MultiRowInsert;

  constructor(private readonly storage: HubStorage) {
    this.insertCard = storage.db.prepare(
      `INSERT INTO sale_cards (pan_hash, store, receipt) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    this.byCard = storage.db.prepare(
      `SELECT s.receipt AS receipt, s.store AS store, s.at AS at FROM sale_cards c
       JOIN sales s ON s.store = c.store AND s.receipt = c.receipt
        WHERE c.pan_hash = ? AND s.at >= ? ORDER BY s.at DESC LIMIT 50`,
    );
    this.getSale = storage.db.prepare(`SELECT * FROM sales WHERE store = ? AND receipt = ?`);
    this.getLines = storage.db.prepare(
      `SELECT line, sku, qty, unit_price AS unitPrice FROM sale_lines WHERE store = ? AND receipt = ? ORDER BY line`,
    );
    this.byReceipt = storage.db.prepare(`SELECT store, at FROM sales WHERE receipt = ? ORDER BY store LIMIT 50`);
    this.insertSale = storage.db.prepare(
      `INSERT INTO sales (store, receipt, register, channel, at, currency, total, tenders, event_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertLine = storage.db.prepare(
      `INSERT INTO sale_lines (store, receipt, line, sku, qty, unit_price) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    // by store and receipt: a receipt number alone may be every store's (registers number from 1)
    this.receiptsAmong = new MultiKeySelect(
      storage.db,
      `SELECT store, receipt, at FROM sales WHERE (store, receipt) IN (?*)`,
      2,
    );
    this.insertSales = new MultiRowInsert(
      storage.db,
      `INSERT INTO sales (store, receipt, register, channel, at, currency, total, tenders, event_id, created_at)`,
      ['text', 'text', 'text', 'text', 'text', 'text', 'int', 'text', 'text', 'text'],
    );
    this.insertLines = new MultiRowInsert(
      storage.db,
      `INSERT INTO sale_lines (store, receipt, line, sku, qty, unit_price)`,
      ['text', 'text', 'int', 'text', 'int', 'int'],
    );
    this.insertCards = new MultiRowInsert(
      storage.db,
      `INSERT INTO sale_cards (pan_hash, store, receipt)`,
      ['text', 'text', 'text'],
      `ON CONFLICT DO NOTHING`,
    );
  }

  get(store: string, receipt: string): SaleRow | undefined {
    const r = this.getSale.get(store, receipt) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      receipt: r.receipt as string,
      store: r.store as string,
      register: r.register as string | null,
      channel: r.channel as string,
      at: r.at as string,
      currency: r.currency as string,
      total: r.total as number,
      tenders: JSON.parse(r.tenders as string) as unknown[],
      lines: this.getLines.all(store, receipt) as SoldLine[],
    };
  }

  /** The sale a return ticket is about (none for a return without a receipt, or a receipt the hub did not find). */
  ofReturn(r: { receipt: string; sale_store: string | null }): SaleRow | undefined {
    return r.receipt && r.sale_store ? this.get(r.sale_store, r.receipt) : undefined;
  }

  /** Every store that issued `receipt`, by store. */
  storesOf(receipt: string): { store: string; at: string }[] {
    return this.byReceipt.all(receipt) as { store: string; at: string }[];
  }

  /**
   * The sale a receipt number names, asked at store `at`: the one issued at `originalStore` when
   * the register named it; else the receipt of the asking store itself; else the only store that
   * issued it. Issued at several other stores: ambiguous (the register must name the store).
   */
  resolve(receipt: string, at: string, originalStore?: string): SaleResolution {
    if (originalStore !== undefined) return this.found(this.get(originalStore, receipt));
    const own = this.get(at, receipt);
    if (own) return { sale: own };
    const others = this.storesOf(receipt);
    if (others.length > 1) return { ambiguous: others };
    const [only] = others;
    return only ? this.found(this.get(only.store, receipt)) : {};
  }

  /**
   * The sale an operator names: `store`'s receipt, or with no store the only sale under that
   * receipt number (several stores issued it: TB_RECEIPT_AMBIGUOUS, naming them).
   */
  named(receipt: string, store?: string): SaleRow | undefined {
    if (store !== undefined) return this.get(store, receipt);
    const all = this.storesOf(receipt);
    if (all.length > 1) {
      throw new TbError(
        TbCodes.RECEIPT_AMBIGUOUS,
        `receipt ${receipt} was issued at stores ${all.map((a) => a.store).join(', ')}: name the store`,
        { details: { stores: all.map((a) => a.store) } },
      );
    }
    return all[0] && this.get(all[0].store, receipt);
  }

  private found(sale: SaleRow | undefined): SaleResolution {
    return sale ? { sale } : {};
  }

  insert(sale: NewSale): void {
    const total = saleTotal(sale);
    this.storage.tx(() => {
      this.insertSale.run(
        sale.store,
        sale.receipt,
        sale.register,
        sale.channel,
        sale.at,
        sale.currency,
        total,
        JSON.stringify(sale.tenders),
        sale.eventId,
        sale.createdAt,
      );
      for (const l of sale.lines) this.insertLine.run(sale.store, sale.receipt, l.line, l.sku, l.qty, l.unitPrice);
      for (const h of panHashes(sale)) this.insertCard.run(h, sale.store, sale.receipt);
    });
  }

  /**
   * `insert` for many sales, in a few multi-row statements (sales, then their lines, then their
   * cards): what the group commit of the agents' events writes. Call inside a transaction.
   */
  insertMany(sales: readonly NewSale[]): void {
    if (sales.length === 0) return;
    this.storage.tx(() => {
      this.insertSales.run(
        sales.map((s) => [
          s.store,
          s.receipt,
          s.register,
          s.channel,
          s.at,
          s.currency,
          saleTotal(s),
          JSON.stringify(s.tenders),
          s.eventId,
          s.createdAt,
        ]),
      );
      this.insertLines.run(
        sales.flatMap((s) => s.lines.map((l) => [s.store, s.receipt, l.line, l.sku, l.qty, l.unitPrice])),
      );
      this.insertCards.run(sales.flatMap((s) => [...new Set(panHashes(s))].map((h) => [h, s.store, s.receipt])));
    });
  }

  /** Which of these sales exist, keyed `store + '\0' + receipt`, with when each was made: `get` for many. */
  existing(keys: readonly SaleKey[]): Map<string, string> {
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    for (const r of this.receiptsAmong.all(keys.map((k) => [k.store, k.receipt])) as {
      store: string;
      receipt: string;
      at: string;
    }[]) {
      out.set(saleKey(r.store, r.receipt), r.at);
    }
    return out;
  }

  /** Sales paid with the card whose keyed hash is `panHash`, made at or after `sinceIso`, newest first. */
  findByCard(panHash: string, sinceIso: string): { receipt: string; store: string; at: string }[] {
    return this.byCard.all(panHash, sinceIso) as { receipt: string; store: string; at: string }[];
  }
}
