/**
 * How both command-line tools end on a usage error (a missing argument, an unknown option or
 * command, a missing mandatory option, a group named without its command): exit 2, as
 * docs/cli.md says, where commander's own default is 1. Help and --version still exit 0.
 *
 * Commander copies an exit handler only into commands created after it was set, so it is
 * applied here to every command of the finished tree, however each was added. Typed by shape,
 * so this package needs no dependency on commander.
 */
export interface CommandTree {
  readonly commands: readonly CommandTree[];
  exitOverride(handler: (err: { exitCode: number }) => void): unknown;
}

export function exitOnUsageError(
  root: CommandTree,
  usageExitCode: number,
  exit: (code: number) => void = (c) => process.exit(c),
): void {
  const visit = (c: CommandTree): void => {
    c.exitOverride((err) => exit(err.exitCode === 0 ? 0 : usageExitCode));
    for (const sub of c.commands) visit(sub);
  };
  visit(root);
}
