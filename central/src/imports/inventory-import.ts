import type { Readable } from 'node:stream';
import { maskCardNumbersIn, toMilli } from '@tillbridge/shared';
import type { InventoryLedger } from '../domain/inventory-ledger.js';
import { isStockQty, SKU } from '../domain/stock-input.js';
import type { Stores } from '../domain/stores.js';
import { readCsv } from './csv-reader.js';
import type { CheckedRow, ImportKind, RowBatch } from './types.js';

/** What an inventory import reads and writes. */
export interface InventoryImportDeps {
  stores: Pick<Stores, 'get'>;
  ledger: Pick<InventoryLedger, 'setOnHand'>;
}

export interface InventoryCsvRow {
  store: string;
  sku: string;
  /** milli-units */
  qty: number;
}

interface Chunk {
  rows: number;
  changed: number;
  stores: string[];
}

interface Totals {
  rows: number;
  changed: number;
  stores: string[];
}

/** The longest CSV record accepted (a row is a store, a SKU and a quantity). */
const MAX_RECORD_CHARS = 4096;

/** Checks one CSV record; `storeExists` is asked once per store of the file. */
export function checkInventoryRecord(
  line: number,
  r: Record<string, string>,
  storeExists: (s: string) => boolean,
): CheckedRow<InventoryCsvRow> {
  // the header named every column, so each record has them all
  const store = r.store ?? '';
  const sku = r.sku ?? '';
  if (!storeExists(store))
    return {
      line,
      error: maskCardNumbersIn(
        `line ${line}, column store: no store "${store}" (add it with: tillbridge-hub stores add ${store})`,
      ),
    };
  if (!SKU.test(sku))
    return { line, error: `line ${line}, column sku: expected 1-64 characters without spaces or commas` };
  const qty = Number(r.qty);
  if (r.qty === '' || !isStockQty(qty))
    return {
      line,
      error:
        `line ${line}, column qty: expected a quantity ` +
        `of zero or more with at most three decimals, got "${r.qty}"`,
    };
  return { line, row: { store, sku, qty: toMilli(qty) } };
}

/**
 * `store,sku,qty` CSV (header first, any column order, other columns ignored): each row sets a
 * store's on-hand for a SKU through an adjustment movement (ref `import:ID`); a row that changes
 * nothing moves nothing.
 */
export function inventoryImport(d: InventoryImportDeps): ImportKind<InventoryCsvRow, Chunk, Totals> {
  return {
    kind: 'inventory',
    action: 'inventory.import',
    async *read(body: Readable, batch: number): AsyncGenerator<RowBatch<InventoryCsvRow>> {
      const known = new Map<string, boolean>();
      const exists = (s: string): boolean => {
        let k = known.get(s);
        if (k === undefined) known.set(s, (k = d.stores.get(s) !== undefined));
        return k;
      };
      for await (const b of readCsv(body, {
        columns: ['store', 'sku', 'qty'],
        batch,
        maxRecordChars: MAX_RECORD_CHARS,
      })) {
        yield { bytes: b.bytes, items: b.records.map((r) => checkInventoryRecord(r.line, r.record, exists)) };
      }
    },
    apply(rows, importId) {
      let changed = 0;
      const stores = new Set<string>();
      for (const { row } of rows) {
        if (d.ledger.setOnHand(row.store, row.sku, row.qty, `import:${importId}`) !== 0) changed++;
        stores.add(row.store);
      }
      return { rows: rows.length, changed, stores: [...stores] };
    },
    chunkDetails: (c) => ({ changed: c.changed, stores: c.stores }),
    add: (t, c) => ({
      rows: (t?.rows ?? 0) + c.rows,
      changed: (t?.changed ?? 0) + c.changed,
      stores: [...new Set([...(t?.stores ?? []), ...c.stores])],
    }),
    result: (t) => ({ rows: t?.rows ?? 0, changed: t?.changed ?? 0, stores: t?.stores ?? [] }),
    summary: (t) => ({ changed: t.changed, stores: t.stores }),
  };
}
