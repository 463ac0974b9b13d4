import { TbCodes, TbError } from '@tillbridge/shared';
import { importInventory, setInventory, showInventory } from '../../http/contract/inventory.js';
import { table } from '../format.js';
import { uploadImport } from '../import-upload.js';
import { act, topCommand, print, printingCommand, type CliContext } from '../context.js';

export function inventoryCommands(ctx: CliContext): void {
  const inventory = topCommand(ctx, 'inventory', 'authoritative inventory (a ledger of movements)');
  const setDescription = 'set on-hand quantity (recorded as an adjustment movement)';
  printingCommand(inventory, 'set <store> <sku> <qty>', {
    description: setDescription,
    examples: ['inventory set S001 SKU-123 40'],
  }).action(
    act(async (store: string, sku: string, qty: string, opts: { json?: boolean }) => {
      const n = Number(qty);
      if (qty.trim() === '' || !Number.isFinite(n)) {
        throw new TbError(TbCodes.INVALID, `QTY: expected a number, got "${qty}"`);
      }
      const r = await ctx.client().request(setInventory, { params: { store, sku }, body: { qty: n } });
      print(opts.json, r, () => `${r.store} ${r.sku}: on hand ${r.onHand} (${r.delta >= 0 ? '+' : ''}${r.delta})`);
    }),
  );
  inventory
    .command('import <file>')
    .description(
      'set on-hand quantities from a CSV file with the header store,sku,qty: ' +
        'checked whole before anything is applied, then applied in transactions (docs/operations.md#imports)',
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nOn a terminal a bar follows the import: bytes sent, then checked, then rows applied.\n\n' +
        'Example:\n  tillbridge-hub inventory import stock.csv',
    )
    .action(
      act(async (file: string, opts: { json?: boolean }) => {
        const r = await uploadImport(ctx.client(), importInventory, file, 'text/csv');
        print(
          opts.json,
          r,
          () => `imported ${r.rows} row(s) for ${r.stores.length} store(s); ${r.changed} changed (import ${r.import})`,
        );
      }),
    );
  printingCommand(inventory, 'show <store> [sku]', {
    description: "a store's stock: on hand, reserved for exchanges, available",
    examples: ['inventory show S001 SKU-123 --json'],
  }).action(
    act(async (store: string, sku: string | undefined, opts: { json?: boolean }) => {
      const r = await ctx.client().request(showInventory, { params: { store }, query: { sku } });
      if (sku !== undefined && r.length === 0) {
        throw new TbError(TbCodes.NOT_FOUND, `store ${store} has no SKU ${sku} (no stock was ever recorded for it)`);
      }
      const rows = r.map((i) => [i.store, i.sku, i.onHand, i.reserved, i.available]);
      print(opts.json, r, () => table(['STORE', 'SKU', 'ON HAND', 'RESERVED', 'AVAILABLE'], rows));
    }),
  );
}
