import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../src/cli/context.js';
import { HUB_COMMAND_GROUPS, HUB_OPTIONS_WITH_VALUE, hubProgram } from '../src/cli/program.js';

// tillbridge-hub loads a command's module only when that command runs (src/cli/program.ts). The
// table names each group's top-level commands: if a module adds a command the table does not
// name, that command would be "unknown" when asked for directly.

const context = (program: Command): CliContext => ({
  program,
  client: () => {
    throw new Error('no client in this test');
  },
});

describe("tillbridge-hub's command table", () => {
  it.each(HUB_COMMAND_GROUPS.map((g) => [g.names.join(' '), g] as const))(
    'group %s adds exactly the commands it names',
    async (_, group) => {
      const program = new Command();
      (await group.load())(context(program));
      expect(program.commands.map((c) => c.name())).toEqual(group.names);
    },
  );

  it('names no command twice', () => {
    const names = HUB_COMMAND_GROUPS.flatMap((g) => g.names);
    expect(new Set(names).size).toBe(names.length);
  });

  it('lists the global options that take a value', () => {
    const takesValue = hubProgram()
      .options.filter((o) => o.required || o.optional)
      .map((o) => o.long);
    expect([...takesValue].sort()).toEqual([...HUB_OPTIONS_WITH_VALUE].sort());
  });
});

describe('tillbridge-hub as a process', () => {
  const bin = fileURLToPath(new URL('../bin/tillbridge-hub.js', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

  it('prints its version without loading a command', () => {
    const r = run('--version');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('lists every command in its help', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const name of HUB_COMMAND_GROUPS.flatMap((g) => g.names))
      expect(r.stdout).toMatch(new RegExp(`\\n  ${name}\\b`));
  });

  it('runs a command named after a global option with its value', () => {
    const r = run('--hub', 'http://127.0.0.1:9', 'stores', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: tillbridge-hub stores');
  });

  it('answers an unknown command as a usage error (exit 2)', () => {
    const r = run('stroes', 'list');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'stroes'");
  });
});
