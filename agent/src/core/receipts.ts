import type { Statement } from 'better-sqlite3';
import { systemClock, type SoldLine } from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';

export interface KnownReceipt {
  receipt: string;
  store: string;
  register: string | null;
  at: string | null;
  currency: string;
  lines: SoldLine[];
  /** how it was paid (card, cash…) */
  tenderKinds: string[];
}

/** Most receipts one prefix look-up reads (a sequence number recorded daily for years). */
const PREFIX_LIMIT = 2000;

/** Receipts this agent knows: those sold at this store, and those the hub described in its answers. */
export class Receipts {
  private readonly get: Statement;
  private readonly insert: Statement;
  private readonly prefixed: Statement;

  constructor(
    db: Db,
    private readonly now: () => number = () => systemClock.now(),
  ) {
    this.get = db.prepare(`SELECT * FROM receipts WHERE receipt = ?`);
    // Receipt numbers are each store's own: a sale made here (a register's, so it has one) takes the
    // place of the hub's description of another store's receipt under the same number.
    this.insert = db.prepare(
      `INSERT INTO receipts (receipt, store, register, at, currency, lines, tender_kinds, created_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(receipt) DO UPDATE SET store = excluded.store, register = excluded.register, at = excluded.at,
         currency = excluded.currency, lines = excluded.lines, tender_kinds = excluded.tender_kinds,
         created_ms = excluded.created_ms
       WHERE receipts.register IS NULL AND excluded.register IS NOT NULL AND receipts.store <> excluded.store`,
    );
    // the primary key's order: `prefix`, then `prefix-…` up to `prefix.` ("-" < "."), newest day first
    this.prefixed = db.prepare(
      `SELECT receipt, at FROM receipts WHERE receipt >= ? AND receipt < ? ORDER BY receipt DESC LIMIT ${PREFIX_LIMIT}`,
    );
  }

  /**
   * Receipts that are `prefix` or start with `prefix-` (a register's store-workstation-sequence
   * recorded on several days), with their times: how a return link that names no day finds its sale.
   */
  byPrefix(prefix: string): { receipt: string; at: string | null }[] {
    const rows = this.prefixed.all(prefix, `${prefix}.`) as { receipt: string; at: string | null }[];
    return rows.filter((r) => r.receipt === prefix || r.receipt.startsWith(`${prefix}-`));
  }

  find(receipt: string): KnownReceipt | undefined {
    const r = this.get.get(receipt) as
      | {
          receipt: string;
          store: string;
          register: string | null;
          at: string | null;
          currency: string;
          lines: string;
          tender_kinds: string;
        }
      | undefined;
    if (!r) return undefined;
    return {
      receipt: r.receipt,
      store: r.store,
      register: r.register,
      at: r.at,
      currency: r.currency,
      lines: JSON.parse(r.lines) as SoldLine[],
      tenderKinds: JSON.parse(r.tender_kinds) as string[],
    };
  }

  /**
   * Remembers a receipt; the first version recorded wins (a reused receipt number is the hub's to
   * flag), except that a sale made here replaces another store's receipt of the same number.
   */
  remember(r: KnownReceipt): boolean {
    return (
      this.insert.run(
        r.receipt,
        r.store,
        r.register,
        r.at,
        r.currency,
        JSON.stringify(r.lines),
        JSON.stringify(r.tenderKinds),
        this.now(),
      ).changes > 0
    );
  }
}
