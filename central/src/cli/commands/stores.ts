import { Option } from 'commander';
import { createStore, listStores, minAgentVersion } from '../../http/contract/stores.js';
import { ago, describeAgentLine, table } from '../format.js';
import { act, topCommand, print, printingCommand, type CliContext } from '../context.js';

export function storeCommands(ctx: CliContext): void {
  const stores = topCommand(ctx, 'stores', 'stores and their API keys');
  printingCommand(stores, 'add <id>', {
    description: "create a store and print its API key (shown once; put it in the store agent's config)",
    options: [new Option('--name <name>', 'display name')],
    examples: ['stores add S001 --name "Main Street"'],
  }).action(
    act(async (id: string, opts: { name?: string; json?: boolean }) => {
      const r = await ctx.client().request(createStore, { body: { id, name: opts.name } });
      print(opts.json, r, () => `store ${r.store} (${r.name}) created\nAPI key (shown once): ${r.apiKey}`);
    }),
  );
  printingCommand(stores, 'list', { description: 'list stores', examples: ['stores list --json'] }).action(
    act(async (opts: { json?: boolean }) => {
      const r = await ctx.client().request(listStores);
      const anyBelow = r.some((s) => s.agent?.belowMinimum);
      const min = anyBelow ? (await ctx.client().request(minAgentVersion)).minAgentVersion : null;
      const rows = r.map((s) => {
        const lastSeen = s.connected ? 'now' : ago(s.lastSeenAt);
        return [s.id, s.name, s.connected ? 'yes' : 'no', lastSeen, describeAgentLine(s.agent, min)];
      });
      print(opts.json, r, () => table(['STORE', 'NAME', 'CONNECTED', 'LAST SEEN', 'AGENT'], rows));
    }),
  );
}
