import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import {
  exitOnUsageError,
  registerCommandGroups,
  TILLBRIDGE_VERSION,
  type CommandGroup,
} from '@tillbridge/shared/cli-start';
import type { AdminClient } from './admin-client.js';
import type { CliContext } from './context.js';
import { EXIT } from './exit-codes.js';

/**
 * tillbridge-hub's top-level commands, each group's module loaded only when one of its commands runs
 * (help loads them all, in this order: the order `--help` lists them in). `names` must be exactly the
 * top-level commands the group adds: central/test/cli-groups.test.ts checks it against the modules.
 */
export const HUB_COMMAND_GROUPS: readonly CommandGroup<CliContext>[] = [
  { names: ['init', 'serve'], load: async () => (await import('./commands/hub.js')).hubCommands },
  {
    names: ['stores'],
    load: async () => {
      const [stores, enroll, versions] = await Promise.all([
        import('./commands/stores.js'),
        import('./commands/enroll.js'),
        import('./commands/agent-versions.js'),
      ]);
      return (ctx) => {
        stores.storeCommands(ctx);
        enroll.enrollCommands(ctx);
        versions.agentVersionCommands(ctx);
      };
    },
  },
  { names: ['inventory'], load: async () => (await import('./commands/inventory.js')).inventoryCommands },
  { names: ['sales'], load: async () => (await import('./commands/sales.js')).saleCommands },
  { names: ['returns'], load: async () => (await import('./commands/returns.js')).returnCommands },
  { names: ['policy', 'managers'], load: async () => (await import('./commands/policy.js')).policyCommands },
  { names: ['status'], load: async () => (await import('./commands/status.js')).statusCommands },
  { names: ['audit'], load: async () => (await import('./commands/audit.js')).auditCommands },
  {
    names: ['keys', 'tokens', 'certs'],
    load: async () => (await import('./commands/security.js')).securityCommands,
  },
  { names: ['config'], load: async () => (await import('./commands/config.js')).configCommands },
  { names: ['webhooks'], load: async () => (await import('./commands/webhooks.js')).webhookCommands },
  { names: ['storage'], load: async () => (await import('./commands/storage.js')).storageCommands },
  {
    names: ['feed'],
    load: async () => {
      const [feed, poslog] = await Promise.all([import('./commands/feed.js'), import('./commands/feed-poslog.js')]);
      return (ctx) => poslog.feedPoslogCommand(feed.feedCommands(ctx), ctx);
    },
  },
  { names: ['reconcile'], load: async () => (await import('./commands/reconcile.js')).reconcileCommands },
  { names: ['backup', 'restore'], load: async () => (await import('./commands/backup.js')).backupCommands },
  { names: ['doctor'], load: async () => (await import('./commands/doctor.js')).doctorCommands },
  { names: ['service'], load: async () => (await import('./commands/service.js')).serviceCommands },
];

/** The program's options that take a value: skipped when looking for the command's name. */
export const HUB_OPTIONS_WITH_VALUE = ['--hub', '--token', '--ca'] as const;

/** The program with its global options and no commands yet. */
export function hubProgram(): Command {
  return new Command()
    .name('tillbridge-hub')
    .description('Run and operate the Tillbridge hub: stores, inventory, sales, returns, policies, audit.')
    .version(TILLBRIDGE_VERSION)
    .addOption(
      new Option('--hub <url>', 'hub admin API base URL').env('TILLBRIDGE_HUB_URL').default('http://127.0.0.1:7400'),
    )
    .addOption(new Option('--token <token>', 'admin token (printed by init)').env('TILLBRIDGE_ADMIN_TOKEN'))
    .addOption(
      new Option('--ca <file>', "the hub's CA certificate, for an https:// hub with a private CA").env(
        'TILLBRIDGE_HUB_CA',
      ),
    )
    .showHelpAfterError('(run with --help for usage)');
}

/** Runs tillbridge-hub with `argv` (node's process.argv). */
export async function runHubCli(argv: readonly string[]): Promise<void> {
  const program = hubProgram();
  // the admin client (and its HTTP client) is loaded with the commands, not for --version
  let Client: typeof AdminClient | undefined;
  const ctx: CliContext = {
    program,
    client: () => {
      const o = program.opts<{ hub: string; token?: string; ca?: string }>();
      let ca: Buffer | undefined;
      if (o.ca) {
        try {
          ca = readFileSync(o.ca);
        } catch (err) {
          process.stderr.write(`error: cannot read --ca ${o.ca}: ${(err as Error).message}\n`);
          process.exit(EXIT.USAGE);
        }
      }
      if (!Client) throw new Error('the admin client was not loaded before the command ran');
      return new Client(o.hub, o.token, ca, o.ca);
    },
  };
  const loaded = await registerCommandGroups(HUB_COMMAND_GROUPS, ctx, argv.slice(2), HUB_OPTIONS_WITH_VALUE);
  if (loaded.length > 0) Client = (await import('./admin-client.js')).AdminClient;
  exitOnUsageError(program, EXIT.USAGE);
  await program.parseAsync([...argv]);
}
