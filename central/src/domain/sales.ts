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

  constructor(private readonly s: HubStorage) {
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
    });
  }
}
