import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/agent-db.js';

export interface ReceiptLine {
  line: number;
  sku: string;
  /** milli-units */
  qty: number;
  unitPrice: number;
}

export interface KnownReceipt {
  receipt: string;
  store: string;
  register: string | null;
  at: string | null;
  currency: string;
  lines: ReceiptLine[];
  /** how it was paid (card, cash…) */
  tenderKinds: string[];
}

/** Receipts this agent knows: those sold at this store, and those the hub described in its answers. */
export class Receipts {
  private readonly get: Statement;
  private readonly insert: Statement;

  constructor(db: Db, private readonly now: () => number = Date.now) {
    this.get = db.prepare(`SELECT * FROM receipts WHERE receipt = ?`);
    this.insert = db.prepare(
      `INSERT INTO receipts (receipt, store, register, at, currency, lines, tender_kinds, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(receipt) DO NOTHING`,
    );
  }

  find(receipt: string): KnownReceipt | undefined {
    const r = this.get.get(receipt) as
      | { receipt: string; store: string; register: string | null; at: string | null; currency: string; lines: string; tender_kinds: string }
      | undefined;
    if (!r) return undefined;
    return { receipt: r.receipt, store: r.store, register: r.register, at: r.at, currency: r.currency, lines: JSON.parse(r.lines) as ReceiptLine[], tenderKinds: JSON.parse(r.tender_kinds) as string[] };
  }

  /** Remembers a receipt; the first version recorded wins (a reused receipt number is the hub's to flag). */
  remember(r: KnownReceipt): boolean {
    return this.insert.run(r.receipt, r.store, r.register, r.at, r.currency, JSON.stringify(r.lines), JSON.stringify(r.tenderKinds), this.now()).changes > 0;
  }
}
