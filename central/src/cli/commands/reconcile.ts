import { examplesHelp, money, table } from '../format.js';
import { act, EXIT, print, type CliContext } from '../context.js';
import { reconcileDay } from '../../http/contract/reconcile.js';
import type { ResponseOf } from '../../http/contract/route.js';

type RegisterDay = ResponseOf<typeof reconcileDay>['registers'][number];

const list = (what: string, names: string[]): string[] =>
  names.length > 0 ? [`${what} ${names.slice(0, 5).join(',')}${names.length > 5 ? ` +${names.length - 5}` : ''}`] : [];

/** What differs, short, for the table. */
function differs(r: RegisterDay): string {
  const d = r.differences;
  if (!d) return '';
  const amount = (what: string, n: number): string => (what.endsWith('.count') ? String(n) : money(n, r.currency));
  return [
    ...d.totals.map((t) => `${t.what} ${amount(t.what, t.register)} vs hub ${amount(t.what, t.hub)}`),
    ...list('missing', [...d.missing.receipts, ...d.missing.authorizations]),
    ...list('extra', [...d.extra.receipts, ...d.extra.authorizations]),
    ...list(
      'elsewhere',
      [...d.elsewhere.receipts, ...d.elsewhere.authorizations].map((e) => e.id),
    ),
  ].join('; ');
}

const both = (
  reported: { count: number; amount: number },
  recorded: { count: number; amount: number } | undefined,
  currency: string | null,
): string =>
  `${reported.count} · ${money(reported.amount, currency)} ` +
  `/ ${recorded ? `${recorded.count} · ${money(recorded.amount, currency)}` : '-'}`;

export function reconcileCommands(ctx: CliContext): void {
  ctx.program
    .command('reconcile')
    .description(
      "registers' business days: the day close each register (or its agent) reported against what the " +
        'hub recorded — matched, resending (the hub asked the agent for what it lacks) or discrepancy ' +
        '(docs/reconciliation.md)',
    )
    .requiredOption('--day <YYYY-MM-DD>', "the business day (in each store's time zone)")
    .option('--store <id>', 'only this store')
    .option('--check', 'exit 1 when any register of the day is not matched (for cron)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\n' +
        'Exit code: 0; with --check, 1 when a register of the day is resending or has a discrepancy.\n' +
        examplesHelp(
          'tillbridge-hub reconcile --day 2026-11-27',
          'tillbridge-hub reconcile --day 2026-11-27 --store S001 --json',
          'tillbridge-hub reconcile --day "$(date -d yesterday +%F)" --check',
        ),
    )
    .action(
      act(async (opts: { day: string; store?: string; check?: boolean; json?: boolean }) => {
        const r = await ctx.client().request(reconcileDay, { query: { day: opts.day, store: opts.store } });
        print(opts.json, r, () => {
          const s = r.summary;
          const head =
            `business day ${r.day}${r.store ? ` at store ${r.store}` : ''}: ${s.registers} register(s) ` +
            `closed — ${s.matched} matched, ${s.resending} resending, ${s.discrepancy} discrepancy`;
          if (r.registers.length === 0) return head;
          return [
            head,
            table(
              [
                'STORE',
                'REGISTER',
                'SOURCE',
                'STATUS',
                'SALES REGISTER / HUB',
                'RETURNS REGISTER / HUB',
                'RESENDS',
                'EXCEPTION',
                'DIFFERENCES',
              ],
              r.registers.map((x) => [
                x.store,
                x.register,
                x.source,
                x.status === 'matched' ? x.status : `!! ${x.status}`,
                both(x.reported.sales, x.recorded?.sales, x.currency),
                both(x.reported.returns, x.recorded?.returns, x.currency),
                x.resendAttempts,
                x.exception ? `${x.exception.id}${x.exception.resolved ? ' (settled)' : ''}` : '',
                differs(x),
              ]),
            ),
          ].join('\n');
        });
        if (opts.check && r.registers.some((x) => x.status !== 'matched')) process.exitCode = EXIT.FAILURE;
      }),
    );
}
