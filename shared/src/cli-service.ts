import { processRunner, type CommandResult, type CommandRunner } from './service/runner.js';
import { shippedUnit, systemdControl, systemdInstall, systemdUninstall } from './service/systemd.js';

/** What `service install|uninstall|start|stop|status` take on Linux (`--root`, `--now`, `--unit-file`). */
export interface SystemdServiceOptions {
  root?: string | undefined;
  now?: boolean | undefined;
  unitFile?: string | undefined;
}

/** The service commands of one program on Linux, each answering what it did (`printServiceOutcome`). */
export interface SystemdService {
  install(o: SystemdServiceOptions): Promise<string[]>;
  uninstall(o: SystemdServiceOptions): Promise<string[]>;
  control(what: 'start' | 'stop' | 'status', o: SystemdServiceOptions): Promise<CommandResult>;
}

/**
 * `tillbridge-agent|hub service …` on Linux: the program's shipped unit (or `--unit-file`) written and enabled,
 * disabled and removed, started, stopped and asked about with systemctl, on this system or under `--root`.
 */
export function systemdService(name: string, runner: () => CommandRunner = processRunner): SystemdService {
  return {
    install: (o) =>
      systemdInstall({
        name,
        root: o.root,
        run: runner(),
        unitText: shippedUnit(name, o.unitFile).text,
        now: Boolean(o.now),
      }),
    uninstall: (o) => systemdUninstall({ name, root: o.root, run: runner() }),
    control: (what, o) => systemdControl({ name, root: o.root, run: runner() }, what),
  };
}

/**
 * What a service command did, printed: the lines of an install or uninstall; or the service manager's own answer
 * to start, stop or status, as it is, with its exit code (status: 3 when not running).
 */
export function printServiceOutcome(outcome: string[] | CommandResult): void {
  if (Array.isArray(outcome)) {
    process.stdout.write(`${outcome.join('\n')}\n`);
    return;
  }
  process.stdout.write(outcome.stdout);
  process.stderr.write(outcome.stderr);
  process.exitCode = outcome.code ?? 1;
}
