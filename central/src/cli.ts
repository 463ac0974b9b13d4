import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { exitOnUsageError, TILLBRIDGE_VERSION } from '@tillbridge/shared';
import { AdminClient } from './cli/admin-client.js';
import { EXIT, type CliContext } from './cli/context.js';
import { hubCommands } from './cli/commands/hub.js';
import { storeCommands } from './cli/commands/stores.js';
import { enrollCommands } from './cli/commands/enroll.js';
import { inventoryCommands } from './cli/commands/inventory.js';
import { saleCommands } from './cli/commands/sales.js';
import { returnCommands } from './cli/commands/returns.js';
import { policyCommands } from './cli/commands/policy.js';
import { statusCommands } from './cli/commands/status.js';
import { auditCommands } from './cli/commands/audit.js';
import { securityCommands } from './cli/commands/security.js';
import { configCommands } from './cli/commands/config.js';
import { webhookCommands } from './cli/commands/webhooks.js';
import { storageCommands } from './cli/commands/storage.js';
import { feedCommands } from './cli/commands/feed.js';
import { feedPoslogCommand } from './cli/commands/feed-poslog.js';
import { reconcileCommands } from './cli/commands/reconcile.js';
import { backupCommands } from './cli/commands/backup.js';
import { doctorCommands } from './cli/commands/doctor.js';
import { serviceCommands } from './cli/commands/service.js';
import { agentVersionCommands } from './cli/commands/agent-versions.js';

const program = new Command();
program
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
    return new AdminClient(o.hub, o.token, ca, o.ca);
  },
};
hubCommands(ctx);
storeCommands(ctx);
enrollCommands(ctx);
agentVersionCommands(ctx);
inventoryCommands(ctx);
saleCommands(ctx);
returnCommands(ctx);
policyCommands(ctx);
statusCommands(ctx);
auditCommands(ctx);
securityCommands(ctx);
configCommands(ctx);
webhookCommands(ctx);
storageCommands(ctx);
feedPoslogCommand(feedCommands(ctx), ctx);
reconcileCommands(ctx);
backupCommands(ctx);
doctorCommands(ctx);
serviceCommands(ctx);

exitOnUsageError(program, EXIT.USAGE);

await program.parseAsync(process.argv);
