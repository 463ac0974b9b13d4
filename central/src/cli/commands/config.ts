import { TbCodes, TbError } from '@tillbridge/shared';
import { table } from '../format.js';
import { act, print, type CliContext } from '../context.js';
import { parseAssignments } from './policy.js';

export function configCommands(ctx: CliContext): void {
  const { program } = ctx;
  const config = program.command('config').description('sync settings, set centrally: how each store\'s agent uploads, retries, times out, reports');

  config
    .command('show [store]')
    .description('the default settings, or a store\'s effective settings and the version its agent runs')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tillbridge-hub config show\n  tillbridge-hub config show S001 --json')
    .action(
      act(async (store: string | undefined, opts: { json?: boolean }) => {
        type C = { scope: string; version: number; settings: Record<string, unknown>; override?: unknown; agentRuns?: number | null };
        const r = await ctx.client().get<C>(`/v1/admin/config${store ? `?store=${encodeURIComponent(store)}` : ''}`);
        print(opts.json, r, () =>
          [
            `sync settings for ${r.scope === 'default' ? 'every store (default)' : `store ${r.scope}`}: version ${r.version}${r.agentRuns !== undefined ? `; its agent runs ${r.agentRuns === null ? 'none yet (not connected)' : `version ${r.agentRuns}`}` : ''}`,
            table(['KEY', 'VALUE'], Object.entries(r.settings).map(([k, v]) => [k, JSON.stringify(v)])),
          ].join('\n'),
        );
      }),
    );

  config
    .command('set <target> <assignments...>')
    .description('change a store\'s settings (target: a store id), or the default for every store (target: default)')
    .option('--replace', 'replace the store override (or the default) instead of changing keys')
    .option('--note <text>', 'why (kept with the version and in the audit log)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Keys: uploadMode (realtime|batched), uploadIntervalSeconds, inventoryRefreshSeconds, authorizationDeadlineMs,
retryBaseMs, retryCapMs, heartbeatSeconds, refusedEvents (exception|exception+webhook), offlineApprovals (true|false),
timeZone (IANA name or UTC: the store's business days), dayCutoff (HH:MM next day: reconcile registers that never closed their day).
Returns policies (offline refund limits…) are set with \`tillbridge-hub policy set\`.

Examples:
  tillbridge-hub config set S001 uploadMode=batched uploadIntervalSeconds=60 --note "satellite link"
  tillbridge-hub config set default authorizationDeadlineMs=2000`,
    )
    .action(
      act(async (target: string, assignments: string[], opts: { replace?: boolean; note?: string; json?: boolean }) => {
        const store = target === 'default' || target === '--default' ? undefined : target;
        const change = parseAssignments(assignments);
        if (Object.keys(change).length === 0) throw new TbError(TbCodes.INVALID, 'nothing to change: give key=value pairs (see --help)');
        const r = await ctx.client().put<{ scope: string; version: number }>('/v1/admin/config', { store, change, replace: Boolean(opts.replace), note: opts.note });
        print(opts.json, r, () => `sync settings for ${r.scope} are now version ${r.version}; connected agents apply them now, without a restart`);
      }),
    );

  config
    .command('list')
    .description('the versions: who changed what, when (newest first)')
    .option('--store <store>', "only this store's overrides")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub config list --store S001')
    .action(
      act(async (opts: { store?: string; json?: boolean }) => {
        type V = { version: number; scope: string; actor: string; note: string | null; createdAt: string; body: unknown };
        const r = await ctx.client().get<V[]>(`/v1/admin/config/history${opts.store ? `?store=${encodeURIComponent(opts.store)}` : ''}`);
        print(opts.json, r, () => table(['VERSION', 'SCOPE', 'BY', 'AT', 'NOTE', 'CHANGE'], r.map((v) => [v.version, v.scope, v.actor, v.createdAt, v.note, JSON.stringify(v.body)])));
      }),
    );
}
