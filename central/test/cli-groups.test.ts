import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HUB_COMMAND_GROUPS, HUB_OPTIONS_WITH_VALUE, hubProgram } from '../src/cli/program.js';
import { describeCommandTable, runBin } from '../../test/support/cli-groups.js';

// tillbridge-hub loads a command's module only when that command runs (src/cli/program.ts).

const bin = fileURLToPath(new URL('../bin/tillbridge-hub.js', import.meta.url));

describeCommandTable(
  'tillbridge-hub',
  HUB_COMMAND_GROUPS,
  (program) => ({
    program,
    client: () => {
      throw new Error('no client in this test');
    },
  }),
  bin,
);

describe('tillbridge-hub as a process', () => {
  it('lists the global options that take a value', () => {
    const takesValue = hubProgram()
      .options.filter((o) => o.required || o.optional)
      .map((o) => o.long);
    expect([...takesValue].sort()).toEqual([...HUB_OPTIONS_WITH_VALUE].sort());
  });

  it('prints its version without loading a command', () => {
    const r = runBin(bin, '--version');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('runs a command named after a global option with its value', () => {
    const r = runBin(bin, '--hub', 'http://127.0.0.1:9', 'stores', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: tillbridge-hub stores');
  });

  it('answers an unknown command as a usage error (exit 2)', () => {
    const r = runBin(bin, 'stroes', 'list');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'stroes'");
  });
});
