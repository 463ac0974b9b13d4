import { money, table } from '../format.js';
import { uploadImport } from '../import-upload.js';
import { Option } from 'commander';
import { importSales, showSale } from '../../http/contract/sales.js';
import type { ResponseOf } from '../../http/contract/route.js';
import { act, topCommand, print, printingCommand, type CliContext } from '../context.js';

/** `sales show`'s text: the sale, and per line what is returned or reserved and what is still returnable. */
function saleText(r: ResponseOf<typeof showSale>): string {
  const rows = r.lines.map((l) => [
    l.line,
    l.sku,
    l.qty,
    money(l.unitPrice, r.currency),
    l.returnedOrReserved,
    l.returnable,
  ]);
  return [
    `receipt ${r.receipt}  store ${r.store}  ${r.at}  total ${money(r.total, r.currency)}`,
    table(['LINE', 'SKU', 'SOLD', 'UNIT PRICE', 'RETURNED/RESERVED', 'RETURNABLE'], rows),
  ].join('\n');
}

export function saleCommands(ctx: CliContext): void {
  const sales = topCommand(ctx, 'sales', 'sales from every channel');
  const store = new Option(
    '--store <id>',
    "the store that issued the receipt (receipt numbers are each store's own; " +
      'needed when several stores used the number)',
  );
  printingCommand(sales, 'show <receipt>', {
    description: 'show a sale with what is returned and still returnable per line',
    options: [store],
    examples: ['sales show R-1001', 'sales show 1001 --store S002'],
  }).action(
    act(async (receipt: string, opts: { store?: string; json?: boolean }) => {
      const r = await ctx.client().request(showSale, { params: { receipt }, query: { store: opts.store } });
      print(opts.json, r, () => saleText(r));
    }),
  );
  sales
    .command('import <file>')
    .description(
      'record sales from other channels (web orders…): JSON lines of the sale shape plus "store" and ' +
        '"channel"; checked whole before anything is applied, then applied in transactions ' +
        '(docs/operations.md#imports); receipts already recorded are skipped',
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\n' +
        'A line: ' +
        '{"store":"WEB","channel":"web","receipt":"W-1001","at":"2026-11-20T10:00:00Z","currency":"EUR",' +
        '"lines":[{"line":1,"sku":"TEE-BLUE-M","qty":1,"unitPrice":1999}],' +
        '"tenders":[{"kind":"card","amount":1999,"pan":"4111111111111111"}]}\n' +
        '\n' +
        'On a terminal a bar follows the import: bytes sent, then checked, then sales applied.\n' +
        '\n' +
        'Example:\n' +
        '  tillbridge-hub sales import web-orders.jsonl',
    )
    .action(
      act(async (file: string, opts: { json?: boolean }) => {
        const r = await uploadImport(ctx.client(), importSales, file, 'application/x-ndjson');
        const more =
          r.skippedCount > r.skipped.length ? [`… and ${r.skippedCount - r.skipped.length} more skipped`] : [];
        print(opts.json, r, () =>
          [
            `imported ${r.imported} sale(s) for ${r.stores.join(', ')}; ${r.skippedCount} skipped (import ${r.import})`,
            ...r.skipped.map((x) => `skipped line ${x.line} (${x.receipt}): ${x.reason}`),
            ...more,
          ].join('\n'),
        );
      }),
    );
}
