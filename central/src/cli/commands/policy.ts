import { readFileSync } from 'node:fs';
import { TbCodes, TbError } from '@tillbridge/shared';
import { table } from '../format.js';
import { Option, type Command } from 'commander';
import {
  configHistory,
  listManagers,
  policyHistory,
  removeManager,
  setManager,
  setPolicy,
  showPolicy,
} from '../../http/contract/settings.js';
import type { ResponseOf } from '../../http/contract/route.js';
import { act, idCommand, topCommand, print, printingCommand, type CliContext } from '../context.js';

/** `a.b=3 c='["x"]'` → { a: { b: 3 }, c: ["x"] }: values are JSON when they parse as JSON, else text. */

/**
 * `policy list` and `config list`: the versions of versioned settings, newest first; with `change`, the change
 * each version made (JSON) in a column of its own.
 */
export function versionsCommand(
  ctx: CliContext,
  parent: Command,
  history: typeof policyHistory | typeof configHistory,
  storeHelp: string,
  example: string,
  change = false,
): void {
  printingCommand(parent, 'list', {
    description: 'the versions: who changed what, when (newest first)',
    options: [new Option('--store <store>', storeHelp)],
    examples: [example],
  }).action(
    act(async (opts: { store?: string; json?: boolean }) => {
      const r = await ctx.client().request(history, { query: { store: opts.store } });
      const headers = ['VERSION', 'SCOPE', 'BY', 'AT', 'NOTE', ...(change ? ['CHANGE'] : [])];
      const rows = r.map((v) => [
        v.version,
        v.scope,
        v.actor,
        v.createdAt,
        v.note,
        ...(change ? [JSON.stringify(v.body)] : []),
      ]);
      print(opts.json, r, () => table(headers, rows));
    }),
  );
}

export function parseAssignments(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0)
      throw new TbError(
        TbCodes.INVALID,
        `"${p}": expected key=value, e.g. returnWindowDays=14 or offline.maxRefundPerReturn=5000`,
      );
    const path = p.slice(0, i).split('.');
    const leaf = path.pop() ?? ''; // split gives one part at least
    const rawValue = p.slice(i + 1);
    let value: unknown;
    try {
      value = JSON.parse(rawValue);
    } catch {
      value = rawValue;
    }
    let node = out;
    path.forEach((k) => {
      if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
      node = node[k] as Record<string, unknown>;
    });
    node[leaf] = value;
  }
  return out;
}

/** `policy show`'s text: whose policy, its version (and the one the store's agent holds), the override, the policy. */
function policyText(r: ResponseOf<typeof showPolicy>): string {
  const scope = r.scope === 'default' ? 'every store (default)' : `store ${r.scope}`;
  const holds = r.agentHolds === undefined ? '' : `; the store's agent holds ${r.agentHolds ?? 'none (not connected)'}`;
  return [
    `policy for ${scope}: version ${r.version}${holds}`,
    r.override ? `store override: ${JSON.stringify(r.override)}` : '',
    JSON.stringify(r.policy, null, 2),
  ]
    .filter(Boolean)
    .join('\n');
}

export function policyCommands(ctx: CliContext): void {
  const policy = topCommand(
    ctx,
    'policy',
    'returns policies: the default and per-store overrides, versioned and audited',
  );
  printingCommand(policy, 'show', {
    description: "the default policy, or a store's effective policy (its override merged over the default)",
    options: [new Option('--store <store>', 'a store')],
    examples: ['policy show', 'policy show --store S001 --json'],
  }).action(
    act(async (opts: { store?: string; json?: boolean }) => {
      const r = await ctx.client().request(showPolicy, { query: { store: opts.store } });
      print(opts.json, r, () => policyText(r));
    }),
  );

  policySetCommand(policy, ctx);

  versionsCommand(ctx, policy, policyHistory, "only this store's override", 'policy list --store S001');

  managerCommands(ctx);
}

/** `policy set`: change the default policy or a store's override. */
function policySetCommand(policy: Command, ctx: CliContext): void {
  policy
    .command('set [assignments...]')
    .description(
      'change the default policy (or a store override with --store): key=value pairs, or --file with a JSON object',
    )
    .option('--store <store>', "change this store's override instead of the default")
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
      act(
        async (
          assignments: string[],
          opts: { store?: string; file?: string; replace?: boolean; note?: string; json?: boolean },
        ) => {
          let change: unknown = parseAssignments(assignments);
          if (opts.file) {
            try {
              change = { ...(JSON.parse(readFileSync(opts.file, 'utf8')) as object), ...(change as object) };
            } catch (err) {
              throw new TbError(TbCodes.INVALID, `cannot read ${opts.file} as JSON: ${(err as Error).message}`);
            }
          }
          if (Object.keys(change as object).length === 0 && !opts.replace)
            throw new TbError(TbCodes.INVALID, 'nothing to change: give key=value pairs or --file (see --help)');
          const body = { store: opts.store, change, replace: Boolean(opts.replace), note: opts.note };
          const r = await ctx.client().request(setPolicy, { body });
          print(
            opts.json,
            r,
            () =>
              `policy for ${r.scope} is now version ${r.version}; connected agents have it now, the others ` +
              `when they reconnect`,
          );
        },
      ),
    );
}

/** `managers …`: who may override a decision. */
function managerCommands(ctx: CliContext): void {
  const managers = topCommand(ctx, 'managers', 'managers who may override a decision (codes stored hashed)');
  managers
    .command('add <id>')
    .description(
      'add a manager, or set a new code for one (the code is read from --code or the TILLBRIDGE_MANAGER_CODE variable)',
    )
    .option('--name <name>', 'display name')
    .option('--code <code>', 'the manager code (4-64 characters)')
    .addHelpText(
      'after',
      '\nExample:\n  TILLBRIDGE_MANAGER_CODE=4711 tillbridge-hub managers add M-ANNA --name "Anna Berg"',
    )
    .action(
      act(async (id: string, opts: { name?: string; code?: string }) => {
        const code = opts.code ?? process.env.TILLBRIDGE_MANAGER_CODE;
        if (!code) throw new TbError(TbCodes.INVALID, 'no code: pass --code or set TILLBRIDGE_MANAGER_CODE');
        await ctx.client().request(setManager, { params: { id }, body: { name: opts.name, code } });
        process.stdout.write(`manager ${id} can override from now on\n`);
      }),
    );
  printingCommand(managers, 'list', {
    description: 'managers and whether they are active',
    examples: ['managers list --json'],
  }).action(
    act(async (opts: { json?: boolean }) => {
      const r = await ctx.client().request(listManagers);
      const rows = r.map((m) => [m.id, m.name, m.createdAt, m.revokedAt ? `no (removed ${m.revokedAt})` : 'yes']);
      print(opts.json, r, () => table(['ID', 'NAME', 'SINCE', 'ACTIVE'], rows));
    }),
  );
  idCommand(managers, 'remove <id>', 'stop a manager from overriding', 'managers remove M-ANNA', async (id) => {
    await ctx.client().request(removeManager, { params: { id } });
    return `manager ${id} removed`;
  });
}
