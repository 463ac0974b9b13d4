import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { AGENT_COMMAND_GROUPS } from '../src/cli/program.js';

// tillbridge-agent loads a command's module only when that command runs (src/cli/program.ts). The
// table names each group's top-level commands: a command the table does not name would be
// "unknown" when asked for directly.

describe("tillbridge-agent's command table", () => {
  it.each(AGENT_COMMAND_GROUPS.map((g) => [g.names.join(' '), g] as const))(
    'group %s adds exactly the commands it names',
    async (_, group) => {
      const program = new Command();
      (await group.load())(program);
      expect(program.commands.map((c) => c.name())).toEqual(group.names);
    },
  );
});

describe('tillbridge-agent as a process', () => {
  const bin = fileURLToPath(new URL('../bin/tillbridge-agent.js', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

  it('lists every command in its help', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const name of AGENT_COMMAND_GROUPS.flatMap((g) => g.names)) {
      expect(r.stdout).toMatch(new RegExp(`\\n  ${name}\\b`));
    }
  });

  it('runs one command with only its group loaded, and a bad config is still exit 2', () => {
    const r = run('status', '--config', '/nonexistent/agent.json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('/nonexistent/agent.json');
  });
});
