import { TbCodes, TbError } from '@tillbridge/shared';
import { table } from '../format.js';
import { uploadImport } from '../import-upload.js';
import { act, print, type CliContext } from '../context.js';

export function inventoryCommands(ctx: CliContext): void {
  const { program } = ctx;
  // ---- inventory
  const inventory = program.command('inventory').description('authoritative inventory (a ledger of movements)');
  inventory
    .command('set <store> <sku> <qty>')
    .description('set on-hand quantity (recorded as an adjustment movement)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub inventory set S001 SKU-123 40')
    .action(
      act(async (store: string, sku: string, qty: string, opts: { json?: boolean }) => {
        const n = Number(qty);
        if (qty.trim() === '' || !Number.isFinite(n)) throw new TbError(TbCodes.INVALID, `QTY: expected a number, got "${qty}"`);
        const r = await ctx.client().put<{ store: string; sku: string; onHand: number; delta: number }>(`/v1/admin/stores/${encodeURIComponent(store)}/inventory/${encodeURIComponent(sku)}`, { qty: n });
        print(opts.json, r, () => `${r.store} ${r.sku}: on hand ${r.onHand} (${r.delta >= 0 ? '+' : ''}${r.delta})`);
      }),
    );
  inventory
    .command('import <file>')
    .description('set on-hand quantities from a CSV file with the header store,sku,qty: checked whole before anything is applied, then applied in transactions (docs/operations.md#imports)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nOn a terminal a bar follows the import: bytes sent, then checked, then rows applied.\n\nExample:\n  tillbridge-hub inventory import stock.csv')
    .action(
      act(async (file: string, opts: { json?: boolean }) => {
        const r = await uploadImport<{ import: string; rows: number; changed: number; stores: string[] }>(ctx.client(), '/v1/admin/inventory/import', file, 'text/csv');
        print(opts.json, r, () => `imported ${r.rows} row(s) for ${r.stores.length} store(s); ${r.changed} changed (import ${r.import})`);
      }),
    );
  inventory
    .command('show <store> [sku]')
    .description("a store's stock: on hand, reserved for exchanges, available")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub inventory show S001 SKU-123 --json')
    .action(
      act(async (store: string, sku: string | undefined, opts: { json?: boolean }) => {
        const q = sku ? `?sku=${encodeURIComponent(sku)}` : '';
        const r = await ctx.client().get<{ store: string; sku: string; onHand: number; reserved: number; available: number }[]>(`/v1/admin/stores/${encodeURIComponent(store)}/inventory${q}`);
        if (sku !== undefined && r.length === 0) throw new TbError(TbCodes.NOT_FOUND, `store ${store} has no SKU ${sku} (no stock was ever recorded for it)`);
        print(opts.json, r, () => table(['STORE', 'SKU', 'ON HAND', 'RESERVED', 'AVAILABLE'], r.map((i) => [i.store, i.sku, i.onHand, i.reserved, i.available])));
      }),
    );
}
