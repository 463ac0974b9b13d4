import type { Command } from 'commander';
import { clockFromEnv, isTbError, TbCodes } from '@tillbridge/shared';
import { configOpt, configPath, loadOrExit, orExit } from './common.js';
import { EXIT } from './exit-codes.js';

/**
 * `status`, `check-config` and `devices`: what store IT asks of this machine and of a running agent.
 * Each loads what it reads (the status report, the config checks, serial and HID discovery) when it runs.
 */

async function statusCmd(opts: { config?: string; json?: boolean }): Promise<void> {
  const file = configPath(opts.config);
  const config = loadOrExit(file);
  const [{ readStatus }, { formatStatus }] = await Promise.all([
    import('./status-command.js'),
    import('../status/status-report.js'),
  ]);
  // the clock `run` reads too: the age of what a stopped agent left in its outbox
  const { clock } = orExit(() => clockFromEnv(process.env));
  let s;
  try {
    s = await readStatus(config, file, () => clock.now());
  } catch (err) {
    // the data directory cannot be read by this user: say so, and how to ask instead
    if (!isTbError(err, TbCodes.FORBIDDEN)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(EXIT.FAILURE);
  }
  process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s)}\n`);
  process.exitCode = s.running ? EXIT.OK : EXIT.NOT_RUNNING;
}

async function checkConfigCmd(opts: { config?: string; json?: boolean }): Promise<void> {
  const { checkConfig, formatConfigReport } = await import('./check-config.js');
  const r = await checkConfig(configPath(opts.config));
  if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else {
    const text = formatConfigReport(r);
    process.stdout.write(text.stdout);
    process.stderr.write(text.stderr);
  }
  process.exitCode = r.valid ? EXIT.OK : EXIT.USAGE;
}

export function localCommands(program: Command): void {
  program
    .command('status')
    .description('hub connection, outbox depth and age, registers connected, last sync')
    .addOption(configOpt())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExit code: 0 when the agent is running, 3 when it is not, 1 when it does not answer and this user ' +
        'may not read its data directory.\n\nExample:\n  tillbridge-agent status --config ' +
        '/etc/tillbridge/agent.json --json',
    )
    .action(statusCmd);

  program
    .command('check-config')
    .description(
      'validate a config file and check what `run` needs from this machine: ports free, data directory ' +
        'writable, serial devices usable (2 on a problem, naming each key)',
    )
    .addOption(configOpt())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nRun it as the user the agent runs as (e.g. sudo -u tillbridge …): permissions are checked for the ' +
        'user running it.\nExit code: 0 when run has what it needs (warnings allowed), 2 on a problem.\n\n' +
        'Example:\n  tillbridge-agent check-config --config agent.json --json',
    )
    .action(checkConfigCmd);

  program
    .command('devices')
    .description('list serial ports and USB HID devices (with vendor/product ids) this machine can see')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nProblems (e.g. udevadm or libusb missing) are listed, never fatal; exit code 0.\n\nExample:\n  ' +
        'tillbridge-agent devices --json',
    )
    .action(async (opts: { json?: boolean }) => {
      const { formatDevices, listDevices } = await import('../gateway/discovery.js');
      const list = await listDevices();
      process.stdout.write(opts.json ? `${JSON.stringify(list, null, 2)}\n` : `${formatDevices(list)}\n`);
    });
}
