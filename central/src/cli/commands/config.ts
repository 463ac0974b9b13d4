import { TbCodes, TbError } from '@tillbridge/shared';
import { table } from '../format.js';
import { configHistory, setConfig, showConfig } from '../../http/contract/settings.js';
import type { ResponseOf } from '../../http/contract/route.js';
import { act, topCommand, print, printingCommand, type CliContext } from '../context.js';
import { parseAssignments, versionsCommand } from './policy.js';

/** `config show`'s text: whose settings, their version (and the one the store's agent runs), each key. */
function configText(r: ResponseOf<typeof showConfig>): string {
  const scope = r.scope === 'default' ? 'every store (default)' : `store ${r.scope}`;
  const agentRuns = r.agentRuns === null ? 'none yet (not connected)' : `version ${r.agentRuns}`;
  const runs = r.agentRuns === undefined ? '' : `; its agent runs ${agentRuns}`;
  const rows = Object.entries(r.settings).map(([key, value]) => [key, JSON.stringify(value)]);
  return [`sync settings for ${scope}: version ${r.version}${runs}`, table(['KEY', 'VALUE'], rows)].join('\n');
}

export function configCommands(ctx: CliContext): void {
  const config = topCommand(
    ctx,
    'config',
    "sync settings, set centrally: how each store's agent uploads, retries, times out, reports",
  );
  printingCommand(config, 'show [store]', {
    description: "the default settings, or a store's effective settings and the version its agent runs",
    examples: ['config show', 'config show S001 --json'],
  }).action(
    act(async (store: string | undefined, opts: { json?: boolean }) => {
      const r = await ctx.client().request(showConfig, { query: { store } });
      print(opts.json, r, () => configText(r));
    }),
  );

  config
    .command('set <target> <assignments...>')
    .description("change a store's settings (target: a store id), or the default for every store (target: default)")
    .option('--replace', 'replace the store override (or the default) instead of changing keys')
    .option('--note <text>', 'why (kept with the version and in the audit log)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `\n` +
        `Keys: uploadMode (realtime|batched), uploadIntervalSeconds, inventoryRefreshSeconds, ` +
        `authorizationDeadlineMs,\n` +
        `retryBaseMs, retryCapMs, heartbeatSeconds, refusedEvents (exception|exception+webhook), ` +
        `offlineApprovals (true|false),\n` +
        `timeZone (IANA name or UTC: the store's business days), dayCutoff (HH:MM next day: reconcile ` +
        `registers that never closed their day).\n` +
        `Returns policies (offline refund limits…) are set with \`tillbridge-hub policy set\`.\n` +
        `\n` +
        `Examples:\n` +
        `  tillbridge-hub config set S001 uploadMode=batched uploadIntervalSeconds=60 --note "satellite ` +
        `link"\n` +
        `  tillbridge-hub config set default authorizationDeadlineMs=2000`,
    )
    .action(
      act(async (target: string, assignments: string[], opts: { replace?: boolean; note?: string; json?: boolean }) => {
        const store = target === 'default' || target === '--default' ? undefined : target;
        const change = parseAssignments(assignments);
        if (Object.keys(change).length === 0)
          throw new TbError(TbCodes.INVALID, 'nothing to change: give key=value pairs (see --help)');
        const body = { store, change, replace: Boolean(opts.replace), note: opts.note };
        const r = await ctx.client().request(setConfig, { body });
        print(
          opts.json,
          r,
          () =>
            `sync settings for ${r.scope} are now version ${r.version}; connected agents apply them now, ` +
            `without a restart`,
        );
      }),
    );

  versionsCommand(ctx, config, configHistory, "only this store's overrides", 'config list --store S001', true);
}
