import type { Command } from 'commander';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  agentWinswService,
  isTbError,
  printServiceOutcome,
  processRunner,
  systemdService,
  TbCodes,
  TbError,
  windowsSerialProblems,
  winswControl,
  winswInstall,
  winswUninstall,
  type CommandResult,
  type SystemdServiceOptions,
  type WindowsAccount,
} from '@tillbridge/shared';

/**
 * `tillbridge-agent service install|uninstall|start|stop|status` (docs/services.md): systemd on
 * Linux (the shipped unit), WinSW on Windows (docs/install-windows.md).
 */
const NAME = 'tillbridge-agent';
const win = path.win32;
const systemd = systemdService(NAME);

interface ServiceOpts extends SystemdServiceOptions {
  winsw?: string;
  account?: string;
  config?: string;
}

const windows = (): boolean => process.platform === 'win32';

/**
 * WinSW's exe: --winsw, else INSTALLDIR\service\tillbridge-agent.exe, INSTALLDIR being the folder of
 * the CLI script (a release bundle: INSTALLDIR\tillbridge-agent.mjs) or its parent when that is bin\.
 */
export function defaultWinswExe(cliScript: string): string {
  const dir = win.dirname(cliScript);
  const installDir = win.basename(dir).toLowerCase() === 'bin' ? win.dirname(dir) : dir;
  return win.join(installDir, 'service', `${NAME}.exe`);
}

function winswExe(opts: ServiceOpts): string {
  return opts.winsw ?? defaultWinswExe(process.argv[1] ?? '');
}

function account(v: string | undefined): WindowsAccount {
  if (v === undefined || v === 'localservice' || v === 'virtual') return v ?? 'localservice';
  throw new TbError(TbCodes.CONFIG, `--account: expected localservice or virtual, got "${v}"`);
}

/** On Windows: the config's serial ports must be COM ports (checked before the service is registered). */
function checkWindowsConfig(file: string): void {
  if (!existsSync(file)) return;
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `${file}: not JSON (${(err as Error).message})`);
  }
  const problems = windowsSerialProblems(config);
  if (problems.length > 0) throw new TbError(TbCodes.CONFIG, `${file}: ${problems.join('; ')}`);
}

async function install(opts: ServiceOpts): Promise<string[]> {
  if (!windows()) return systemd.install(opts);
  const run = processRunner();
  const config =
    opts.config ??
    process.env.TILLBRIDGE_CONFIG ??
    win.join(process.env.ProgramData ?? 'C:\\ProgramData', 'Tillbridge', 'agent.json');
  checkWindowsConfig(config);
  const service = agentWinswService({
    node: process.execPath,
    cli: process.argv[1] ?? '',
    account: account(opts.account),
    ...(opts.config ? { config: opts.config } : {}),
  });
  return winswInstall({
    exe: winswExe(opts),
    run,
    service,
    now: Boolean(opts.now),
    write: (f, t) => writeFileSync(f, t),
    remove: (f) => rmSync(f, { force: true }),
  });
}

async function uninstall(opts: ServiceOpts): Promise<string[]> {
  if (!windows()) return systemd.uninstall(opts);
  return winswUninstall({
    exe: winswExe(opts),
    run: processRunner(),
    write: (f, t) => writeFileSync(f, t),
    remove: (f) => rmSync(f, { force: true }),
  });
}

async function control(what: 'start' | 'stop' | 'status', opts: ServiceOpts): Promise<CommandResult> {
  return windows() ? winswControl({ exe: winswExe(opts), run: processRunner() }, what) : systemd.control(what, opts);
}

/** Errors: "error: …", exit 2 for bad usage or configuration, else 1. */
function act<A extends unknown[]>(fn: (...a: A) => Promise<void>): (...a: A) => Promise<void> {
  return async (...a) => {
    try {
      await fn(...a);
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exit(isTbError(err, TbCodes.CONFIG) ? 2 : 1);
    }
  };
}

export function serviceCommands(program: Command): void {
  const service = program
    .command('service')
    .description('install, remove, start, stop the agent as a system service (systemd on Linux, WinSW on Windows)')
    .addHelpText(
      'after',
      '\nLinux: the unit goes to /etc/systemd/system (run as root). Windows: docs/install-windows.md.\n\nExamples:\n ' +
        ' sudo tillbridge-agent service install --now\n  sudo tillbridge-agent service status',
    );
  const common = (c: Command): Command =>
    c
      .option(
        '--root <dir>',
        'Linux: write the unit under this root (an image or staging tree) and enable it there, offline',
      )
      .option(
        '--winsw <exe>',
        `Windows: WinSW's exe, named after the service (default: INSTALLDIR\\service\\${NAME}.exe)`,
      );
  common(service.command('install').description('write the service definition and enable it at boot'))
    .option('--now', 'and start it now')
    .option('--unit-file <file>', 'Linux: install this unit instead of the shipped one')
    .option(
      '--account <account>',
      'Windows: localservice (NT AUTHORITY\\LocalService, default) or virtual (NT SERVICE\\tillbridge-agent)',
    )
    .option(
      '--config <file>',
      'Windows: the config the service runs with (default %ProgramData%\\Tillbridge\\agent.json)',
    )
    .action(act(async (opts: ServiceOpts) => printServiceOutcome(await install(opts))));
  common(service.command('uninstall').description('stop and disable the service and remove its definition')).action(
    act(async (opts: ServiceOpts) => printServiceOutcome(await uninstall(opts))),
  );
  for (const what of ['start', 'stop', 'status'] as const) {
    common(
      service
        .command(what)
        .description(
          what === 'status' ? "the service manager's view of the service (exit 3: not running)" : `${what} the service`,
        ),
    ).action(act(async (opts: ServiceOpts) => printServiceOutcome(await control(what, opts))));
  }
}
