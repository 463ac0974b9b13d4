import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CommandGroup } from '@tillbridge/shared/cli-start';

/**
 * The checks both CLIs' command tables (src/cli/program.ts) get: each group adds exactly the top-level
 * commands it names (a command it does not name would be "unknown" when asked for directly), no command
 * is named twice, and the program's help, run as a process, lists every one.
 */
export function describeCommandTable<Ctx>(
  program: string,
  groups: readonly CommandGroup<Ctx>[],
  contextFor: (program: Command) => Ctx,
  bin: string,
): void {
  describe(`${program}'s command table`, () => {
    it.each(groups.map((g) => [g.names.join(' '), g] as const))(
      'group %s adds exactly the commands it names',
      async (_, group) => {
        const root = new Command();
        (await group.load())(contextFor(root));
        expect(root.commands.map((c) => c.name())).toEqual(group.names);
      },
    );

    it('names no command twice', () => {
      const names = groups.flatMap((g) => g.names);
      expect(new Set(names).size).toBe(names.length);
    });

    it('lists every command in its help', () => {
      const r = runBin(bin, '--help');
      expect(r.status).toBe(0);
      for (const name of groups.flatMap((g) => g.names)) expect(r.stdout).toMatch(new RegExp(`\\n  ${name}\\b`));
    });
  });
}

/** Runs a program's bin script with node. */
export function runBin(bin: string, ...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
}
