import { readFileSync } from 'node:fs';
import { TbCodes, TbError } from '@tillbridge/shared';
import { table } from '../format.js';
import { act, print, type CliContext } from '../context.js';

/** `a.b=3 c='["x"]'` → { a: { b: 3 }, c: ["x"] }: values are JSON when they parse as JSON, else text. */
export function parseAssignments(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new TbError(TbCodes.INVALID, `"${p}": expected key=value, e.g. returnWindowDays=14 or offline.maxRefundPerReturn=5000`);
    const path = p.slice(0, i).split('.');
    const rawValue = p.slice(i + 1);
    let value: unknown;
    try {
      value = JSON.parse(rawValue);
    } catch {
      value = rawValue;
    }
    let node = out;
    path.slice(0, -1).forEach((k) => {
      if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
      node = node[k] as Record<string, unknown>;
    });
    node[path[path.length - 1]!] = value;
  }
  return out;
}

export function policyCommands(ctx: CliContext): void {
  const { program } = ctx;
  const policy = program.command('policy').description('returns policies: the default and per-store overrides, versioned and audited');

  policy
    .command('show')
    .description("the default policy, or a store's effective policy (its override merged over the default)")
    .option('--store <store>', 'a store')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tillbridge-hub policy show\n  tillbridge-hub policy show --store S001 --json')
    .action(
      act(async (opts: { store?: string; json?: boolean }) => {
        type P = { scope: string; version: number; policy: unknown; override?: unknown; agentHolds?: number | null };
        const r = await ctx.client().get<P>(`/v1/admin/policy${opts.store ? `?store=${encodeURIComponent(opts.store)}` : ''}`);
        print(opts.json, r, () =>
          [
            `policy for ${r.scope === 'default' ? 'every store (default)' : `store ${r.scope}`}: version ${r.version}${r.agentHolds !== undefined ? `; the store's agent holds ${r.agentHolds ?? 'none (not connected)'}` : ''}`,
            r.override ? `store override: ${JSON.stringify(r.override)}` : '',
            JSON.stringify(r.policy, null, 2),
          ]
            .filter(Boolean)
            .join('\n'),
        );
      }),
    );

  policy
    .command('set [assignments...]')
    .description('change the default policy (or a store override with --store): key=value pairs, or --file with a JSON object')
    .option('--store <store>', 'change this store\'s override instead of the default')
    .option('--file <file>', 'a JSON file with the keys to change')
    .option('--replace', 'replace the whole default policy / store override instead of changing keys')
    .option('--note <text>', 'why (kept with the version and in the audit log)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Keys: returnWindowDays, windowOverridable, receipt.required, receipt.noReceiptMaxRefund,
maxRefundPerReturn, maxRefundPerStorePerDay, nonReturnable.skus, nonReturnable.prefixes,
tenders.cardToSameCard, tenders.cashRefundLimit, restockingFees, managerOverrideAbove,
reservationMinutes, offline.maxRefundPerReturn, offline.maxRefundPerRegisterPerDay,
offline.receiptRequired (money in minor units; null: no limit). See docs/returns-policy.md.

Examples:
  tillbridge-hub policy set returnWindowDays=14 managerOverrideAbove=20000 --note "holiday season"
  tillbridge-hub policy set --store S001 'nonReturnable.prefixes=["FOOD-","GIFT-"]'
  tillbridge-hub policy set --store S001 --replace --note "back to the default"`,
    )
    .action(
      act(async (assignments: string[], opts: { store?: string; file?: string; replace?: boolean; note?: string; json?: boolean }) => {
        let change: unknown = parseAssignments(assignments);
        if (opts.file) {
          try {
            change = { ...(JSON.parse(readFileSync(opts.file, 'utf8')) as object), ...(change as object) };
          } catch (err) {
            throw new TbError(TbCodes.INVALID, `cannot read ${opts.file} as JSON: ${(err as Error).message}`);
          }
        }
        if (Object.keys(change as object).length === 0 && !opts.replace) throw new TbError(TbCodes.INVALID, 'nothing to change: give key=value pairs or --file (see --help)');
        const r = await ctx.client().put<{ scope: string; version: number }>('/v1/admin/policy', { store: opts.store, change, replace: Boolean(opts.replace), note: opts.note });
        print(opts.json, r, () => `policy for ${r.scope} is now version ${r.version}; connected agents have it now, the others when they reconnect`);
      }),
    );

  policy
    .command('list')
    .description('the versions: who changed what, when (newest first)')
    .option('--store <store>', "only this store's override")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub policy list --store S001')
    .action(
      act(async (opts: { store?: string; json?: boolean }) => {
        type V = { version: number; scope: string; actor: string; note: string | null; createdAt: string; body: unknown };
        const r = await ctx.client().get<V[]>(`/v1/admin/policy/history${opts.store ? `?store=${encodeURIComponent(opts.store)}` : ''}`);
        print(opts.json, r, () => table(['VERSION', 'SCOPE', 'BY', 'AT', 'NOTE'], r.map((v) => [v.version, v.scope, v.actor, v.createdAt, v.note])));
      }),
    );

  const managers = program.command('managers').description('managers who may override a decision (codes stored hashed)');
  managers
    .command('add <id>')
    .description("add a manager, or set a new code for one (the code is read from --code or the TILLBRIDGE_MANAGER_CODE variable)")
    .option('--name <name>', 'display name')
    .option('--code <code>', 'the manager code (4-64 characters)')
    .addHelpText('after', '\nExample:\n  TILLBRIDGE_MANAGER_CODE=4711 tillbridge-hub managers add M-ANNA --name "Anna Berg"')
    .action(
      act(async (id: string, opts: { name?: string; code?: string }) => {
        const code = opts.code ?? process.env.TILLBRIDGE_MANAGER_CODE;
        if (!code) throw new TbError(TbCodes.INVALID, 'no code: pass --code or set TILLBRIDGE_MANAGER_CODE');
        await ctx.client().put(`/v1/admin/managers/${encodeURIComponent(id)}`, { name: opts.name, code });
        process.stdout.write(`manager ${id} can override from now on\n`);
      }),
    );
  managers
    .command('list')
    .description('managers and whether they are active')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub managers list --json')
    .action(
      act(async (opts: { json?: boolean }) => {
        type M = { id: string; name: string; createdAt: string; revokedAt: string | null };
        const r = await ctx.client().get<M[]>('/v1/admin/managers');
        print(opts.json, r, () => table(['ID', 'NAME', 'SINCE', 'ACTIVE'], r.map((m) => [m.id, m.name, m.createdAt, m.revokedAt ? `no (removed ${m.revokedAt})` : 'yes'])));
      }),
    );
  managers
    .command('remove <id>')
    .description('stop a manager from overriding')
    .addHelpText('after', '\nExample:\n  tillbridge-hub managers remove M-ANNA')
    .action(
      act(async (id: string) => {
        await ctx.client().delete(`/v1/admin/managers/${encodeURIComponent(id)}`);
        process.stdout.write(`manager ${id} removed\n`);
      }),
    );
}
