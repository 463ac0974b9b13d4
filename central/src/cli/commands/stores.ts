import { ago, describeAgentLine, table, type AgentView } from '../format.js';
import { act, print, type CliContext } from '../context.js';

export function storeCommands(ctx: CliContext): void {
  const { program } = ctx;
  // ---- stores
  const stores = program.command('stores').description('stores and their API keys');
  stores
    .command('add <id>')
    .description("create a store and print its API key (shown once; put it in the store agent's config)")
    .option('--name <name>', 'display name')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub stores add S001 --name "Main Street"')
    .action(
      act(async (id: string, opts: { name?: string; json?: boolean }) => {
        const r = await ctx.client().post<{ store: string; name: string; apiKey: string }>('/v1/admin/stores', { id, name: opts.name });
        print(opts.json, r, () => `store ${r.store} (${r.name}) created\nAPI key (shown once): ${r.apiKey}`);
      }),
    );
  stores
    .command('list')
    .description('list stores')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub stores list --json')
    .action(
      act(async (opts: { json?: boolean }) => {
        const r = await ctx.client().get<{ id: string; name: string; connected: boolean; lastSeenAt: string | null; agent?: AgentView | null }[]>('/v1/admin/stores');
        const min = r.some((s) => s.agent?.belowMinimum) ? (await ctx.client().get<{ minAgentVersion: string | null }>('/v1/admin/stores/min-version')).minAgentVersion : null;
        print(opts.json, r, () => table(['STORE', 'NAME', 'CONNECTED', 'LAST SEEN', 'AGENT'], r.map((s) => [s.id, s.name, s.connected ? 'yes' : 'no', s.connected ? 'now' : ago(s.lastSeenAt), describeAgentLine(s.agent ?? null, min)])));
      }),
    );
}
