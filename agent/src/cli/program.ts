import { Command } from 'commander';
import {
  exitOnUsageError,
  registerCommandGroups,
  TILLBRIDGE_VERSION,
  type CommandGroup,
} from '@tillbridge/shared/cli-start';
import { EXIT } from './exit-codes.js';

/**
 * tillbridge-agent's commands, each group's module loaded only when one of its commands runs (help
 * loads them all, in this order: the order `--help` lists them in). `names` must be exactly the
 * top-level commands the group adds: agent/test/cli-groups.test.ts checks it against the modules.
 */
export const AGENT_COMMAND_GROUPS: readonly CommandGroup<Command>[] = [
  { names: ['run'], load: async () => (await import('./run-command.js')).runCommand },
  {
    names: ['status', 'check-config', 'devices'],
    load: async () => (await import('./local-commands.js')).localCommands,
  },
  {
    names: ['backup', 'restore'],
    load: async () => {
      const [{ registerBackupCommands }, { configOpt, configPath, loadOrExit }] = await Promise.all([
        import('./backup.js'),
        import('./common.js'),
      ]);
      return (program) => registerBackupCommands(program, configOpt, (file) => loadOrExit(configPath(file)));
    },
  },
  {
    names: ['enroll'],
    load: async () => {
      const { enrollCommand } = await import('./enroll.js');
      return (program) => enrollCommand(program, EXIT);
    },
  },
  {
    names: ['doctor'],
    load: async () => {
      const [{ doctorCommand }, { configOpt }] = await Promise.all([import('./doctor.js'), import('./common.js')]);
      return (program) => doctorCommand(program, configOpt);
    },
  },
  { names: ['service'], load: async () => (await import('./service.js')).serviceCommands },
];

/** The program with no commands yet. */
export function agentProgram(): Command {
  return new Command()
    .name('tillbridge-agent')
    .description('The Tillbridge store agent: links the registers of one store to the hub.')
    .version(TILLBRIDGE_VERSION)
    .showHelpAfterError('(run with --help for usage)');
}

/** Runs tillbridge-agent with `argv` (node's process.argv). */
export async function runAgentCli(argv: readonly string[]): Promise<void> {
  const program = agentProgram();
  await registerCommandGroups(AGENT_COMMAND_GROUPS, program, argv.slice(2), []);
  exitOnUsageError(program, EXIT.USAGE);
  await program.parseAsync([...argv]);
}
