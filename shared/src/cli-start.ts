/**
 * What both command-line tools load before they know which command was asked for, and no more:
 * the version, the usage-error exit, and the table that loads a command's module only when that
 * command runs. `tillbridge-hub stores list` then loads the stores commands and the admin client,
 * not the hub server, the database drivers or the doctor; `--version` loads none of them
 * (docs/benchmarks.md, start-up). Reached as `@tillbridge/shared/cli-start`, not through the
 * package's index, which loads everything shared holds.
 */
export { TILLBRIDGE_VERSION } from './version.js';
export { exitOnUsageError, type CommandTree } from './cli-usage.js';

/** One or more top-level commands whose definitions live in one module, loaded on demand. */
export interface CommandGroup<Ctx> {
  /** The top-level command names `register` adds to the program. */
  readonly names: readonly string[];
  /** Loads the module(s) and returns what adds the commands to the program. */
  readonly load: () => Promise<(ctx: Ctx) => void>;
}

/**
 * The top-level command named on a command line (`argv` without node and the script), skipping
 * the program's own options; `optionsWithValue` are those that take the next word as their value
 * (`--hub URL`). Undefined when only options are given (`--version`, `--help`, nothing).
 */
export function commandNamed(argv: readonly string[], optionsWithValue: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    if (word === '--') return argv[i + 1];
    if (!word.startsWith('-')) return word;
    if (optionsWithValue.includes(word)) i++; // `--hub URL`; `--hub=URL` is one word
  }
  return undefined;
}

/**
 * Adds to the program the commands the command line needs: only the group that holds the named
 * command, or, when no known command is named (help, a typo commander will answer, `help stores`),
 * every group in the table's order, so help lists them all as it always did. Returns the names of
 * the groups loaded (for tests).
 */
export async function registerCommandGroups<Ctx>(
  groups: readonly CommandGroup<Ctx>[],
  ctx: Ctx,
  argv: readonly string[],
  optionsWithValue: readonly string[],
): Promise<readonly CommandGroup<Ctx>[]> {
  const named = commandNamed(argv, optionsWithValue);
  const only = named === undefined ? undefined : groups.find((g) => g.names.includes(named));
  const wanted = only ? [only] : named === undefined && onlyVersion(argv) ? [] : groups;
  const registers = await Promise.all(wanted.map((g) => g.load()));
  for (const register of registers) register(ctx);
  return wanted;
}

/** `--version` / `-V` alone: commander prints the version and needs no command at all. */
function onlyVersion(argv: readonly string[]): boolean {
  return argv.length > 0 && argv.every((w) => w === '--version' || w === '-V');
}
