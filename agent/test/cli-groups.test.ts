import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AGENT_COMMAND_GROUPS } from '../src/cli/program.js';
import { describeCommandTable, runBin } from '../../test/support/cli-groups.js';

// tillbridge-agent loads a command's module only when that command runs (src/cli/program.ts).

const bin = fileURLToPath(new URL('../bin/tillbridge-agent.js', import.meta.url));

describeCommandTable('tillbridge-agent', AGENT_COMMAND_GROUPS, (program) => program, bin);

describe('tillbridge-agent as a process', () => {
  it('runs one command with only its group loaded, and a bad config is still exit 2', () => {
    const r = runBin(bin, 'status', '--config', '/nonexistent/agent.json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('/nonexistent/agent.json');
  });
});
