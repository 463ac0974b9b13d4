import { Option } from 'commander';
import { act, askCommand, print, printingCommand, type CliContext } from '../context.js';
import { durationOption, table } from '../format.js';
import { createEnrollment, listEnrollments } from '../../http/contract/stores.js';

/** The command store IT runs: the hub as the operator's CLI reaches it (http(s):// or ws(s):// alike). */
export function agentEnrollCommand(hub: string, code: string, fingerprint: string | null): string {
  return (
    `tillbridge-agent enroll --hub ${hub} ` +
    `--code ${code}${fingerprint ? ` --fingerprint ${fingerprint}` : ''} --config <agent config file>`
  );
}

/** `stores enroll` and `stores enrollments`: one-time codes that set up a store's agent. */
export function enrollCommands(ctx: CliContext): void {
  const stores = ctx.program.commands.find((c) => c.name() === 'stores');
  if (!stores) throw new Error('the stores command must be registered first');
  printingCommand(stores, 'enroll <store>', {
    description:
      "a one-time code for the store's agent (`tillbridge-agent enroll`): " +
      'it gets the store a new API key, and the keys it had stop working',
    options: [new Option('--ttl <duration>', 'how long the code works (1m to 7d)').default('1h')],
    examples: ['stores enroll S001 --ttl 30m'],
    note: "Read the code (and the fingerprint, for an https:// hub) to whoever sets up the store's PC.",
  }).action(
    act(async (store: string, opts: { ttl: string; json?: boolean }) => {
      const body = { ttlMs: durationOption(opts.ttl, '--ttl') };
      const r = await ctx.client().request(createEnrollment, { params: { store }, body });
      const hub = ctx.program.opts<{ hub: string }>().hub;
      const command = agentEnrollCommand(hub, r.code, r.fingerprint);
      print(opts.json, { ...r, command }, () =>
        [
          `enrollment code for store ${r.store} (works once, until ${r.expiresAt}):`,
          '',
          `  ${r.code}`,
          '',
          r.fingerprint
            ? `hub certificate SHA-256 fingerprint: ${r.fingerprint}`
            : 'the hub serves plain HTTP (no certificate fingerprint)',
          '',
          "at the store, as the agent's user (replace the hub address if the store reaches the hub by another name):",
          `  ${command}`,
          '',
          'when the code is used, the API keys store ' + r.store + ' had stop working.',
        ].join('\n'),
      );
    }),
  );
  askCommand(ctx, stores, 'enrollments', {
    description: 'enrollment codes not yet used nor expired (with --store: every code of that store)',
    options: [new Option('--store <id>', "one store's codes, used and expired ones too")],
    examples: ['stores enrollments --store S001'],
    route: listEnrollments,
    request: (opts: { store?: string }) => ({ query: { store: opts.store } }),
    text: (r) =>
      table(
        ['ID', 'STORE', 'STATE', 'EXPIRES', 'CREATED BY', 'USED', 'FROM'],
        r.map((e) => [e.id, e.store, e.state, e.expiresAt, e.createdBy, e.usedAt, e.usedFrom]),
      ),
  });
}
