import { money, table } from '../format.js';
import { act, print, type CliContext } from '../context.js';

export function returnCommands(ctx: CliContext): void {
  const { program } = ctx;
  // ---- returns
  const returns = program.command('returns').description('return tickets, online and offline');
  returns
    .command('list')
    .description('list returns (exceptions included and marked)')
    .option('--store <store>', 'only this store')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub returns list --store S001')
    .action(
      act(async (opts: { store?: string; json?: boolean }) => {
        type Ret = { authorization: string; store: string; receipt: string; mode: string; decision: string; status: string; exception: string | null; createdAt: string };
        const q = opts.store ? `?store=${encodeURIComponent(opts.store)}` : '';
        const r = await ctx.client().get<Ret[]>(`/v1/admin/returns${q}`);
        print(opts.json, r, () =>
          table(['AUTHORIZATION', 'STORE', 'RECEIPT', 'MODE', 'DECISION', 'STATUS', 'EXCEPTION', 'CREATED'], r.map((x) => [x.authorization, x.store, x.receipt, x.mode, x.decision, x.status, x.exception ? `!! ${x.exception}` : '', x.createdAt])),
        );
      }),
    );
  returns
    .command('exceptions')
    .description('events and returns the hub refused or flagged (kept, never retried), and how they were settled')
    .option('--store <store>', 'only this store')
    .option('--open', 'only those not yet resolved')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub returns exceptions --store S001 --json')
    .action(
      act(async (opts: { store?: string; open?: boolean; json?: boolean }) => {
        type Exc = { id: string; store: string; kind: string; code: string; reason: string; authorization: string | null; createdAt: string; resolvedAt: string | null; resolution: { action: string } | null };
        const q = new URLSearchParams();
        if (opts.store) q.set('store', opts.store);
        if (opts.open) q.set('open', 'true');
        const r = await ctx.client().get<Exc[]>(`/v1/admin/exceptions${q.size ? `?${q}` : ''}`);
        print(opts.json, r, () =>
          table(
            ['ID', 'STORE', 'KIND', 'CODE', 'AUTHORIZATION', 'CREATED', 'SETTLED', 'REASON'],
            r.map((x) => [x.id, x.store, x.kind, x.code, x.authorization, x.createdAt, x.resolvedAt ? `${x.resolution?.action ?? 'yes'} ${x.resolvedAt}` : 'open', x.reason]),
          ),
        );
      }),
    );
  returns
    .command('show <authorization>')
    .description('one return ticket: request, rules that fired, decision, override, completion, reconciliation')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub returns show 530955b0-396b-8bce-a7c0-18da29f72d96')
    .action(
      act(async (authorization: string, opts: { json?: boolean }) => {
        type T = {
          authorization: string; store: string; register: string; receipt: string | null; currency: string | null; mode: string; decision: string; status: string; kind: string | null;
          exception: string | null; reason: string | null; refund: number | null; refundKind: string | null; createdAt: string; policyVersion: number;
          request: unknown; rules: { code: string; detail: string }[]; decisionDetail: { allowedTenders: string[]; conditions: string[]; grossRefund: number | null; fees: number; expiresAt: string | null };
          lines: { line: number; sku: string | null; requested: number; approved: number; completed: number; disposition: string; code: string }[];
          exchange: { sku: string; qty: number; approved: number; code: string }[];
          override: { manager: string; at: string } | null; completion: { at: string; refund: { kind: string; amount: number }; kind: string } | null;
          reconciliation: { result: string | null; exception: string | null; lateOnlineReplaced: boolean } | null;
          resolution: { action: string; by: string; at: string; note: string } | null;
        };
        const t = await ctx.client().get<T>(`/v1/admin/returns/${encodeURIComponent(authorization)}`);
        print(opts.json, t, () =>
          [
            `return ${t.authorization}  store ${t.store}  register ${t.register}  ${t.createdAt}`,
            `receipt   ${t.receipt ?? '(none)'}   request ${JSON.stringify(t.request)}`,
            `decision  ${t.decision.toUpperCase()} (${t.mode}, policy v${t.policyVersion})  status ${t.status}${t.kind ? ` (${t.kind})` : ''}${t.exception ? `  !! exception ${t.exception}` : ''}`,
            `refund    ${money(t.decisionDetail.grossRefund, t.currency)} - fees ${money(t.decisionDetail.fees, t.currency)} = ${money(t.refund, t.currency)}   tenders ${t.decisionDetail.allowedTenders.join(', ') || '-'}   conditions ${t.decisionDetail.conditions.join(', ') || '-'}`,
            t.reason ? `reason    ${t.reason}` : '',
            t.rules.length ? `rules     ${t.rules.map((r) => `${r.code}: ${r.detail}`).join('\n          ')}` : 'rules     (none fired)',
            table(['LINE', 'SKU', 'ASKED', 'APPROVED', 'RETURNED', 'DISPOSITION', 'CODE'], t.lines.map((l) => [l.line || '-', l.sku, l.requested, l.approved, l.completed, l.disposition, l.code])),
            t.exchange.length ? `exchange  ${t.exchange.map((e) => `${e.sku} × ${e.qty} (${e.approved} approved, ${e.code})`).join('; ')}` : '',
            t.override ? `override  by manager ${t.override.manager} at ${t.override.at}` : '',
            t.completion ? `completed ${t.completion.at}: ${money(t.completion.refund.amount, t.currency)} to ${t.completion.refund.kind} (${t.completion.kind})` : '',
            t.reconciliation ? `offline   reconciled: ${t.reconciliation.result ?? 'denied offline'}${t.reconciliation.lateOnlineReplaced ? ' (replaced a late online answer)' : ''}` : '',
            t.resolution ? `resolved  ${t.resolution.action} by ${t.resolution.by} at ${t.resolution.at}: ${t.resolution.note}` : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
      }),
    );
  returns
    .command('resolve <id>')
    .description('settle an exception (its id, or the authorization of a flagged return): accept it as it is, or reverse the return')
    .requiredOption('--action <action>', 'accept | reverse')
    .requiredOption('--note <text>', 'why (kept in the audit log)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tillbridge-hub returns resolve 0192f5e0-… --action accept --note "manager approved by phone"\n  tillbridge-hub returns resolve 530955b0-… --action reverse --note "goods not received"')
    .action(
      act(async (id: string, opts: { action: string; note: string; json?: boolean }) => {
        const r = await ctx.client().post<{ resolved: string[]; authorization: string | null; moved: { sku: string; qty: number }[] }>(`/v1/admin/exceptions/${encodeURIComponent(id)}/resolve`, { action: opts.action, note: opts.note });
        print(opts.json, r, () => `resolved ${r.resolved.length} exception(s)${r.authorization ? ` of return ${r.authorization}` : ''} (${opts.action})${r.moved.length ? `; stock moved back: ${r.moved.map((m) => `${m.sku} ${m.qty}`).join(', ')}` : ''}`);
      }),
    );
}
