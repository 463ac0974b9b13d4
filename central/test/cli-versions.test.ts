import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configCommands } from '../src/cli/commands/config.js';
import { policyCommands } from '../src/cli/commands/policy.js';
import { startAdminServer } from './admin-server.js';
import { runCli } from './cli-run.js';
import { testHub } from './helpers.js';

// `tillbridge-hub policy list` and `config list` (one command, two versioned settings), in-process,
// through the admin API on a real HTTP server.

let t: ReturnType<typeof testHub>;
let server: Awaited<ReturnType<typeof startAdminServer>>;

beforeAll(async () => {
  t = testHub();
  t.hub.stores.create('S1', 'Main Street');
  server = await startAdminServer(t.hub);
  const settings = t.hub.useCases.settings;
  settings.setPolicy('admin:ops', 'S1', { returnWindowDays: 14 }, { note: 'summer' });
  settings.setSyncSettings('admin:ops', 'S1', { timeZone: 'Europe/Berlin' }, { note: 'moved' });
});

afterAll(async () => {
  await server.close();
  t.cleanup();
});

describe('the versions of versioned settings', () => {
  it.each([
    ['policy', policyCommands, ['VERSION', 'SCOPE', 'BY', 'AT', 'NOTE'], 'summer'],
    ['config', configCommands, ['VERSION', 'SCOPE', 'BY', 'AT', 'NOTE', 'CHANGE'], 'moved'],
  ] as const)('%s list --store: a table of them, newest first', async (name, mount, headers, note) => {
    const r = await runCli(mount, server.url, server.operator, [name, 'list', '--store', 'S1']);
    expect(r.code).toBe(0);
    const [head, first] = r.stdout.split('\n');
    expect(head!.split(/\s{2,}/)).toEqual(headers);
    expect(first).toMatch(new RegExp(`^\\d+\\s+store:S1\\s+admin:ops\\s+\\S+\\s+${note}`));
    if (name === 'config') expect(first).toContain('{"timeZone":"Europe/Berlin"}');
    else expect(first).not.toContain('{');
  });
});
