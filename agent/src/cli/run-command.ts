import type { Command } from 'commander';
import {
  checkDataDir,
  clockFromEnv,
  createLogger,
  rotatingFile,
  sdNotifier,
  stopOnSignals,
  TEST_CLOCK_ENV,
  type DataDirFinding,
  type RotatingFileOptions,
} from '@tillbridge/shared';
import type { AgentConfig } from '../config.js';
import { startAgent, type RunningAgent } from '../agent.js';
import { configOpt, configPath, loadOrExit, orExit } from './common.js';
import { EXIT } from './exit-codes.js';

/** `tillbridge-agent run`: the agent itself, in the foreground or as a service. */

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

export function runCommand(program: Command): void {
  program
    .command('run')
    .description('run the agent in the foreground (as a service: see installers/)')
    .addOption(configOpt())
    .addHelpText('after', '\nExample:\n  tillbridge-agent run --config /etc/tillbridge/agent.json')
    .action(run);
}
