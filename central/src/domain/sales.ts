import type { Statement } from 'better-sqlite3';
import { lineAmount } from '@tillbridge/shared';
import type { HubStorage } from '../storage/sqlite.js';

export interface SaleLineRow {
  line: number;
  sku: string;
  /** milli-units */
  qty: number;
  unitPrice: number;
}

/** The kinds of tender a sale was paid with (card, cash…), for the refund tender rules. */
export function tenderKinds(sale: SaleRow): string[] {
  return [...new Set((sale.tenders as { kind?: unknown }[]).map((t) => String(t.kind ?? '').toLowerCase()).filter(Boolean))];
}

export interface SaleRow {
  receipt: string;
  store: string;
  register: string | null;
  channel: string;
  at: string;
  currency: string;
  total: number;
  tenders: unknown[];
  lines: SaleLineRow[];
}

/** Sales from every channel, keyed by receipt (receipt numbers are unique across the chain). */
export class Sales {
  private readonly getSale: Statement;
  private readonly getLines: Statement;
  private readonly insertSale: Statement;
  private readonly insertLine: Statement;
  private readonly insertCard: Statement;
  private readonly byCard: Statement;

  constructor(private readonly s: HubStorage) {
    this.insertCard = s.db.prepare(`INSERT INTO sale_cards (pan_hash, receipt) VALUES (?, ?) ON CONFLICT DO NOTHING`);
    this.byCard = s.db.prepare(
      `SELECT s.receipt AS receipt, s.store AS store, s.at AS at FROM sale_cards c JOIN sales s ON s.receipt = c.receipt
        WHERE c.pan_hash = ? AND s.at >= ? ORDER BY s.at DESC LIMIT 50`,
    );
    this.getSale = s.db.prepare(`SELECT * FROM sales WHERE receipt = ?`);
    this.getLines = s.db.prepare(`SELECT line, sku, qty, unit_price AS unitPrice FROM sale_lines WHERE receipt = ? ORDER BY line`);
    this.insertSale = s.db.prepare(
      `INSERT INTO sales (receipt, store, register, channel, at, currency, total, tenders, event_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertLine = s.db.prepare(`INSERT INTO sale_lines (receipt, line, sku, qty, unit_price) VALUES (?, ?, ?, ?, ?)`);
  }

  get(receipt: string): SaleRow | undefined {
    const r = this.getSale.get(receipt) as Record<string, unknown> | undefined;
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
      lines: this.getLines.all(receipt) as SaleLineRow[],
    };
  }

  insert(sale: Omit<SaleRow, 'total'> & { eventId: string | null; createdAt: string }): void {
    const total = sale.lines.reduce((t, l) => t + lineAmount(l.qty, l.unitPrice), 0);
    this.s.tx(() => {
      this.insertSale.run(sale.receipt, sale.store, sale.register, sale.channel, sale.at, sale.currency, total, JSON.stringify(sale.tenders), sale.eventId, sale.createdAt);
      for (const l of sale.lines) this.insertLine.run(sale.receipt, l.line, l.sku, l.qty, l.unitPrice);
      for (const t of sale.tenders as { panHash?: unknown }[]) {
        if (typeof t.panHash === 'string' && t.panHash) this.insertCard.run(t.panHash, sale.receipt);
      }
    });
  }

  /** Sales paid with the card whose keyed hash is `panHash`, made at or after `sinceIso`, newest first. */
  findByCard(panHash: string, sinceIso: string): { receipt: string; store: string; at: string }[] {
    return this.byCard.all(panHash, sinceIso) as { receipt: string; store: string; at: string }[];
  }
}
