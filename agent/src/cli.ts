import { Command, Option } from 'commander';
import {
  checkDataDir,
  clockFromEnv,
  createLogger,
  rotatingFile,
  type RotatingFileOptions,
  exitOnUsageError,
  isTbError,
  sdNotifier,
  stopOnSignals,
  TbCodes,
  TEST_CLOCK_ENV,
  TILLBRIDGE_VERSION,
  type DataDirFinding,
} from '@tillbridge/shared';
import { loadAgentConfig, type AgentConfig } from './config.js';
import { startAgent, type RunningAgent } from './agent.js';
import { formatStatus } from './status/status-report.js';
import { formatDevices, listDevices } from './gateway/discovery.js';
import { readStatus } from './cli/status-command.js';
import { checkConfig, formatConfigReport } from './cli/check-config.js';
import { registerBackupCommands } from './cli/backup.js';
import { enrollCommand } from './cli/enroll.js';
import { doctorCommand } from './cli/doctor.js';
import { serviceCommands } from './cli/service.js';

/** Exit codes (docs/cli.md): 0 ok, 1 failure at run time, 2 bad usage or config, 3 agent not running. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, NOT_RUNNING: 3 } as const;

function configPath(opt: string | undefined): string {
  const file = opt ?? process.env.TILLBRIDGE_CONFIG;
  if (!file) {
    process.stderr.write('error: no config file: pass --config FILE or set TILLBRIDGE_CONFIG\n');
    process.exit(EXIT.USAGE);
  }
  return file;
}

function loadOrExit(file: string): Readonly<AgentConfig> {
  return orExit(() => loadAgentConfig(file));
}

/** Runs `f`; a configuration error is printed and exits with the usage code. */
function orExit<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (isTbError(err, TbCodes.CONFIG)) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(EXIT.USAGE);
    }
    throw err;
  }
}

/** The data directory's permissions (shared/src/data-dir-check.ts): an error exits 2, each warning is passed on. */
function dataDirOrExit(findings: DataDirFinding[], warn: (message: string) => void): void {
  for (const f of findings) if (f.level === 'warning') warn(f.message);
  const errors = findings.filter((f) => f.level === 'error');
  for (const e of errors) process.stderr.write(`error: ${e.message}\n`);
  if (errors.length > 0) process.exit(EXIT.USAGE);
}

/** log.file: the logs go to that file too, rotated by size (docs/operations.md). */
function logDestination(config: Readonly<AgentConfig>): { file?: RotatingFileOptions } {
  if (config.log.file === undefined) return {};
  const file = { file: config.log.file, maxBytes: config.log.maxSizeMb * 1024 * 1024, keep: config.log.keep };
  try {
    rotatingFile(file).end(); // can it be opened? say so naming the key, before the logger would throw
    return { file };
  } catch (err) {
    process.stderr.write(
      `error: log.file: cannot open ${config.log.file} for writing: ` +
        `${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`,
    );
    process.exit(EXIT.USAGE);
  }
}

async function run(opts: { config?: string }): Promise<void> {
  const config = loadOrExit(configPath(opts.config));
  const log = createLogger({ name: 'tillbridge-agent', level: config.log.level, ...logDestination(config) });
  const { clock, test } = orExit(() => clockFromEnv(process.env));
  if (test)
    log.warn({ startsAt: test }, `TEST CLOCK: ${TEST_CLOCK_ENV} is set; this agent's clock is not the system's`);
  dataDirOrExit(checkDataDir(config.dataDir), (message) => log.warn({ dataDir: config.dataDir }, message));
  const started = stopOnSignals('agent', log);
  const notify = sdNotifier(process.env, { onError: (err) => log.warn({ err }, 'systemd notification failed') });
  log.info({ store: config.store }, 'starting');
  let agent: RunningAgent;
  try {
    agent = await startAgent(config, log, { clock });
  } catch (err) {
    log.fatal({ err }, 'the agent could not start');
    // and for whoever started it by hand: what is wrong, in one line (e.g. "register R1: cannot listen on …")
    process.stderr.write(`error: the agent could not start: ${(err as Error).message}\n`);
    process.exit(EXIT.FAILURE);
  }
  // STOPPING=1 goes out while it stops (a slow systemd-notify does not hold the stop up), before the process exits
  started({
    stop: async () => {
      const said = notify.stopping('stopping');
      await agent.stop();
      await said;
    },
  });
  // under systemd (Type=notify): READY=1 once every register's port is open, the watchdog (docs/services.md)
  await notify.ready(`store ${config.store}: ${config.registers.length} register(s) open`);
}

async function statusCmd(opts: { config?: string; json?: boolean }): Promise<void> {
  const file = configPath(opts.config);
  const config = loadOrExit(file);
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
  const r = await checkConfig(configPath(opts.config));
  if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else {
    const text = formatConfigReport(r);
    process.stdout.write(text.stdout);
    process.stderr.write(text.stderr);
  }
  process.exitCode = r.valid ? EXIT.OK : EXIT.USAGE;
}

const program = new Command();
program
  .name('tillbridge-agent')
  .description('The Tillbridge store agent: links the registers of one store to the hub.')
  .version(TILLBRIDGE_VERSION)
  .showHelpAfterError('(run with --help for usage)');

const configOpt = (): Option =>
  new Option('-c, --config <file>', 'agent config file (JSON); default: $TILLBRIDGE_CONFIG');

program
  .command('run')
  .description('run the agent in the foreground (as a service: see installers/)')
  .addOption(configOpt())
  .addHelpText('after', '\nExample:\n  tillbridge-agent run --config /etc/tillbridge/agent.json')
  .action(run);

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
    const list = await listDevices();
    process.stdout.write(opts.json ? `${JSON.stringify(list, null, 2)}\n` : `${formatDevices(list)}\n`);
  });

registerBackupCommands(program, configOpt, (file) => loadOrExit(configPath(file)));
enrollCommand(program, EXIT);
doctorCommand(program, configOpt);
serviceCommands(program);

exitOnUsageError(program, EXIT.USAGE);

await program.parseAsync(process.argv);
