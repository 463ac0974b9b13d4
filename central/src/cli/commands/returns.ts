import { Option, type Command } from 'commander';
import { TbCodes, TbError } from '@tillbridge/shared';
import {
  listExceptions,
  listReturns,
  resolveException,
  RETURNS_PAGE,
  showReturn,
} from '../../http/contract/returns.js';
import type { ResponseOf } from '../../http/contract/route.js';
import { money, table } from '../format.js';
import { act, topCommand, print, printingCommand, storeFilter, type CliContext } from '../context.js';

type ReturnsPage = ResponseOf<typeof listReturns>;
type Ticket = ResponseOf<typeof showReturn>;

/** --limit: a whole number from 1 to the API's page maximum. */
function pageLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > RETURNS_PAGE.max) {
    const expected = `a whole number from 1 to ${RETURNS_PAGE.max}`;
    throw new TbError(TbCodes.INVALID, `--limit: expected ${expected}, got "${value}"`);
  }
  return limit;
}

/**
 * The tickets `returns list` asks for: with --limit, one page (and its `next`); without, every
 * page followed to the last.
 */
async function readReturns(
  ctx: CliContext,
  opts: { store?: string; limit?: string; after?: string },
): Promise<ReturnsPage> {
  const limit = pageLimit(opts.limit);
  const client = ctx.client();
  const query = { store: opts.store, limit: limit ?? RETURNS_PAGE.max, after: opts.after };
  let page = await client.request(listReturns, { query });
  if (limit !== undefined) return page;
  const returns = [...page.returns];
  while (page.next !== null) {
    page = await client.request(listReturns, { query: { ...query, after: page.next } });
    returns.push(...page.returns);
  }
  return { returns, next: null };
}

/** The ticket's offline reconciliation in a line ('' for an online ticket). */
function reconciliationOf(t: Ticket): string {
  const reconciliation = t.reconciliation;
  if (!reconciliation) return '';
  const late = reconciliation.lateOnlineReplaced ? ' (replaced a late online answer)' : '';
  return `offline   reconciled: ${reconciliation.result ?? 'denied offline'}${late}`;
}

function ticketText(t: Ticket): string {
  const detail = t.decisionDetail;
  const amount = (minor: number | null): string => money(minor, t.currency);
  const refund = `${amount(detail.grossRefund)} - fees ${amount(detail.fees)} = ${amount(t.refund)}`;
  const tenders = detail.allowedTenders.join(', ') || '-';
  const conditions = detail.conditions.join(', ') || '-';
  const rules = t.rules.map((r) => `${r.code}: ${r.detail}`).join('\n          ');
  const completion = t.completion;
  const resolution = t.resolution;
  const replaced = reconciliationOf(t);
  const lines = t.lines.map((l) => [l.line || '-', l.sku, l.requested, l.approved, l.completed, l.disposition, l.code]);
  const exchange = t.exchange.map((e) => `${e.sku} × ${e.qty} (${e.approved} approved, ${e.code})`).join('; ');
  return [
    `return ${t.authorization}  store ${t.store}  register ${t.register}  ${t.createdAt}`,
    `receipt   ${t.receipt ?? '(none)'}   request ${JSON.stringify(t.request)}`,
    `decision  ${t.decision.toUpperCase()} (${t.mode}, policy v${t.policyVersion})  status ${t.status}` +
      `${t.kind ? ` (${t.kind})` : ''}${t.exception ? `  !! exception ${t.exception}` : ''}`,
    `refund    ${refund}   tenders ${tenders}   conditions ${conditions}`,
    t.reason ? `reason    ${t.reason}` : '',
    t.rules.length ? `rules     ${rules}` : 'rules     (none fired)',
    table(['LINE', 'SKU', 'ASKED', 'APPROVED', 'RETURNED', 'DISPOSITION', 'CODE'], lines),
    t.exchange.length ? `exchange  ${exchange}` : '',
    t.override ? `override  by manager ${t.override.manager} at ${t.override.at}` : '',
    completion
      ? `completed ${completion.at}: ${amount(completion.refund.amount)} to ${completion.refund.kind} ` +
        `(${completion.kind})`
      : '',
    replaced,
    resolution ? `resolved  ${resolution.action} by ${resolution.by} at ${resolution.at}: ${resolution.note}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export function returnCommands(ctx: CliContext): void {
  const returns = topCommand(ctx, 'returns', 'return tickets, online and offline');
  returnsListCommand(returns, ctx);
  printingCommand(returns, 'exceptions', {
    description: 'events and returns the hub refused or flagged (kept, never retried), and how they were settled',
    options: [storeFilter(), new Option('--open', 'only those not yet resolved')],
    examples: ['returns exceptions --store S001 --json'],
  }).action(
    act(async (opts: { store?: string; open?: boolean; json?: boolean }) => {
      const query = { store: opts.store, open: opts.open ? ('true' as const) : undefined };
      const exceptions = await ctx.client().request(listExceptions, { query });
      const rows = exceptions.map((x) => [
        x.id,
        x.store,
        x.kind,
        x.code,
        x.authorization,
        x.createdAt,
        x.resolvedAt ? `${x.resolution?.action ?? 'yes'} ${x.resolvedAt}` : 'open',
        x.reason,
      ]);
      const headers = ['ID', 'STORE', 'KIND', 'CODE', 'AUTHORIZATION', 'CREATED', 'SETTLED', 'REASON'];
      print(opts.json, exceptions, () => table(headers, rows));
    }),
  );
  printingCommand(returns, 'show <authorization>', {
    description: 'one return ticket: request, rules that fired, decision, override, completion, reconciliation',
    examples: ['returns show 530955b0-396b-8bce-a7c0-18da29f72d96'],
  }).action(
    act(async (authorization: string, opts: { json?: boolean }) => {
      const ticket = await ctx.client().request(showReturn, { params: { authorization } });
      print(opts.json, ticket, () => ticketText(ticket));
    }),
  );
  printingCommand(returns, 'resolve <id>', {
    description:
      'settle an exception (its id, or the authorization of a flagged return): ' +
      'accept it as it is, or reverse the return',
    options: [
      new Option('--action <action>', 'accept | reverse').makeOptionMandatory(),
      new Option('--note <text>', 'why (kept in the audit log)').makeOptionMandatory(),
    ],
    examples: [
      'returns resolve 0192f5e0-… --action accept --note "manager approved by phone"',
      'returns resolve 530955b0-… --action reverse --note "goods not received"',
    ],
  }).action(
    act(async (id: string, opts: { action: string; note: string; json?: boolean }) => {
      const body = { action: opts.action, note: opts.note };
      const r = await ctx.client().request(resolveException, { params: { id }, body });
      const moved = r.moved.length ? `; stock moved back: ${r.moved.map((m) => `${m.sku} ${m.qty}`).join(', ')}` : '';
      const of = r.authorization ? ` of return ${r.authorization}` : '';
      print(opts.json, r, () => `resolved ${r.resolved.length} exception(s)${of} (${opts.action})${moved}`);
    }),
  );
}

/** `returns list`: every page of returns, or one with --limit. */
function returnsListCommand(returns: Command, ctx: CliContext): void {
  printingCommand(returns, 'list', {
    description: 'list returns, oldest first (exceptions included and marked)',
    note: 'Without --limit every page is printed; with it one page, whose last line says how to get the next.',
    options: [
      storeFilter(),
      new Option('--limit <n>', `one page of at most n tickets (1 to ${RETURNS_PAGE.max})`),
      new Option('--after <cursor>', 'the page after the one that printed this cursor (with --limit)'),
    ],
    examples: ['returns list --store S001', 'returns list --limit 50', 'returns list --limit 50 --after eyJ…'],
  }).action(
    act(async (opts: { store?: string; limit?: string; after?: string; json?: boolean }) => {
      const page = await readReturns(ctx, opts);
      const rows = page.returns.map((x) => {
        const exception = x.exception ? `!! ${x.exception}` : '';
        return [x.authorization, x.store, x.receipt, x.mode, x.decision, x.status, exception, x.createdAt];
      });
      const headers = ['AUTHORIZATION', 'STORE', 'RECEIPT', 'MODE', 'DECISION', 'STATUS', 'EXCEPTION', 'CREATED'];
      const nextPage = `more: tillbridge-hub returns list --limit ${opts.limit} --after ${page.next}`;
      const more = page.next === null ? [] : [nextPage];
      print(opts.json, page, () => [table(headers, rows), ...more].join('\n'));
    }),
  );
}
