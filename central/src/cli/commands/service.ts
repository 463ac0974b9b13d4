import { examplesHelp } from '../format.js';
import { printServiceOutcome, systemdService, TbCodes, TbError, type SystemdServiceOptions } from '@tillbridge/shared';
import { act, type CliContext } from '../context.js';

/**
 * `tillbridge-hub service install|uninstall|start|stop|status` (docs/services.md): the shipped
 * systemd unit, installed and managed with systemctl. Linux only: the hub is served from Linux.
 */
const NAME = 'tillbridge-hub';
const systemd = systemdService(NAME);

function linuxOnly(): void {
  if (process.platform === 'win32')
    throw new TbError(
      TbCodes.CONFIG,
      'tillbridge-hub service manages a systemd unit: the hub runs as a service on Linux (docs/services.md)',
    );
}

export function serviceCommands(ctx: CliContext): void {
  const service = ctx.program
    .command('service')
    .description('install, remove, start, stop the hub as a systemd service (settings: /etc/tillbridge/hub.env)')
    .addHelpText(
      'after',
      '\n' +
        'Run as root. The unit reads /etc/tillbridge/hub.env (installers/hub.env.example).\n' +
        examplesHelp('sudo tillbridge-hub service install --now', 'sudo tillbridge-hub service status'),
    );
  const rootOpt = '--root <dir>';
  const rootHelp = 'write the unit under this root (an image or staging tree) and enable it there, offline';
  service
    .command('install')
    .description('write the unit to /etc/systemd/system and enable it at boot')
    .option(rootOpt, rootHelp)
    .option('--now', 'and start it now')
    .option('--unit-file <file>', 'install this unit instead of the shipped one')
    .action(
      act(async (opts: SystemdServiceOptions) => {
        linuxOnly();
        printServiceOutcome(await systemd.install(opts));
      }),
    );
  service
    .command('uninstall')
    .description('stop and disable the unit and remove it')
    .option(rootOpt, rootHelp)
    .action(
      act(async (opts: SystemdServiceOptions) => {
        linuxOnly();
        printServiceOutcome(await systemd.uninstall(opts));
      }),
    );
  for (const what of ['start', 'stop', 'status'] as const) {
    service
      .command(what)
      .description(what === 'status' ? "systemd's view of the hub (exit 3: not running)" : `systemctl ${what} ${NAME}`)
      .action(
        act(async () => {
          linuxOnly();
          printServiceOutcome(await systemd.control(what, {}));
        }),
      );
  }
}
