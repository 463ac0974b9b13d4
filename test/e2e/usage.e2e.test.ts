import { describe, expect, it } from 'vitest';
import { AGENT_BIN, HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';

/**
 * Bad usage exits 2 (docs/cli.md) at every level of both CLIs: a missing argument, an unknown
 * option or command, a missing mandatory option, a group named without a command. Help and the
 * version exit 0. Nothing here reaches a hub: commander refuses before any action runs.
 */
const env = { TILLBRIDGE_HUB_URL: 'http://127.0.0.1:9', TILLBRIDGE_ADMIN_TOKEN: 'tba_unused', TILLBRIDGE_CONFIG: '' };
const hub = (...args: string[]) => runCommand(process.execPath, [HUB_BIN, ...args], env);
const agent = (...args: string[]) => runCommand(process.execPath, [AGENT_BIN, ...args], env);

describe('tillbridge-hub: bad usage exits 2', () => {
  it.each([
    [['inventory', 'set'], /missing required argument 'store'/],
    [['inventory', 'set', 'S1', 'SKU'], /missing required argument 'qty'/],
    [['stores', 'list', '--nope'], /unknown option '--nope'/],
    [['returns', 'exceptions', '--stor', 'S1'], /unknown option '--stor'/],
    [['returns', 'resolve', 'X', '--action', 'accept'], /required option '--note <text>' not specified/],
    [['audit', 'export', '--format'], /option '--format <format>' argument missing/],
    [['init'], /required option '--data <dir>' not specified/],
    [['reconcile'], /required option '--day <YYYY-MM-DD>' not specified/],
    [['reconcile', '--day', '2026-11-27', '--nope'], /unknown option '--nope'/],
    [['--nope'], /unknown option '--nope'/],
    [['nocmd'], /unknown command 'nocmd'/],
    [['inventory', 'nocmd'], /unknown command 'nocmd'/],
    [['stores', 'add', 'S1', 'extra'], /too many arguments/],
  ])('%j', async (args, pattern) => {
    const r = await hub(...args);
    expect(r.stderr).toMatch(pattern);
    expect(r.code).toBe(2);
  });

  it('a group without its command shows the group help and exits 2', async () => {
    const r = await hub('inventory');
    expect(r.stderr).toMatch(/Usage: tillbridge-hub inventory/);
    expect(r.code).toBe(2);
  });

  it('help and version exit 0', async () => {
    for (const args of [
      ['--help'],
      ['inventory', '--help'],
      ['inventory', 'set', '--help'],
      ['help', 'returns'],
      ['--version'],
    ]) {
      const r = await hub(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout.length, args.join(' ')).toBeGreaterThan(0);
    }
  });
});

describe('tillbridge-agent: bad usage exits 2', () => {
  it.each([
    [['status', '--bogus'], /unknown option '--bogus'/],
    [['check-config', '--config'], /option '-c, --config <file>' argument missing/],
    [['devices', 'extra'], /too many arguments/],
    [['run', '--nope'], /unknown option '--nope'/],
    [['nocmd'], /unknown command 'nocmd'/],
    [['--nope'], /unknown option '--nope'/],
  ])('%j', async (args, pattern) => {
    const r = await agent(...args);
    expect(r.stderr).toMatch(pattern);
    expect(r.code).toBe(2);
  });

  it('help and version exit 0', async () => {
    for (const args of [['--help'], ['status', '--help'], ['help', 'run'], ['--version']]) {
      const r = await agent(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout.length, args.join(' ')).toBeGreaterThan(0);
    }
  });
});
