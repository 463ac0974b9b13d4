import { money, table } from '../format.js';
import { uploadImport } from '../import-upload.js';
import { act, print, type CliContext } from '../context.js';

export function saleCommands(ctx: CliContext): void {
  const { program } = ctx;
  // ---- sales
  const sales = program.command('sales').description('sales from every channel');
  sales
    .command('show <receipt>')
    .description('show a sale with what is returned and still returnable per line')
    .option('--store <id>', 'the store that issued the receipt (receipt numbers are each store\'s own; needed when several stores used the number)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tillbridge-hub sales show R-1001\n  tillbridge-hub sales show 1001 --store S002')
    .action(
      act(async (receipt: string, opts: { store?: string; json?: boolean }) => {
        type Sale = { receipt: string; store: string; at: string; currency: string; total: number; lines: { line: number; sku: string; qty: number; unitPrice: number; returnedOrReserved: number; returnable: number }[] };
        const query = opts.store !== undefined ? `?store=${encodeURIComponent(opts.store)}` : '';
        const r = await ctx.client().get<Sale>(`/v1/admin/sales/${encodeURIComponent(receipt)}${query}`);
        print(opts.json, r, () =>
          [`receipt ${r.receipt}  store ${r.store}  ${r.at}  total ${money(r.total, r.currency)}`, table(['LINE', 'SKU', 'SOLD', 'UNIT PRICE', 'RETURNED/RESERVED', 'RETURNABLE'], r.lines.map((l) => [l.line, l.sku, l.qty, money(l.unitPrice, r.currency), l.returnedOrReserved, l.returnable]))].join('\n'),
        );
      }),
    );
  sales
    .command('import <file>')
    .description('record sales from other channels (web orders…): JSON lines of the sale shape plus "store" and "channel"; checked whole before anything is applied, then applied in transactions (docs/operations.md#imports); receipts already recorded are skipped')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nA line: {"store":"WEB","channel":"web","receipt":"W-1001","at":"2026-11-20T10:00:00Z","currency":"EUR","lines":[{"line":1,"sku":"TEE-BLUE-M","qty":1,"unitPrice":1999}],"tenders":[{"kind":"card","amount":1999,"pan":"4111111111111111"}]}\n\nOn a terminal a bar follows the import: bytes sent, then checked, then sales applied.\n\nExample:\n  tillbridge-hub sales import web-orders.jsonl')
    .action(
      act(async (file: string, opts: { json?: boolean }) => {
        type Result = { import: string; imported: number; skippedCount: number; skipped: { line: number; receipt: string; reason: string }[]; stores: string[] };
        const r = await uploadImport<Result>(ctx.client(), '/v1/admin/sales', file, 'application/x-ndjson');
        const more = r.skippedCount > r.skipped.length ? [`… and ${r.skippedCount - r.skipped.length} more skipped`] : [];
        print(opts.json, r, () => [`imported ${r.imported} sale(s) for ${r.stores.join(', ')}; ${r.skippedCount} skipped (import ${r.import})`, ...r.skipped.map((x) => `skipped line ${x.line} (${x.receipt}): ${x.reason}`), ...more].join('\n'));
      }),
    );
}
