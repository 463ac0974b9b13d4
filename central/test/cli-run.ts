import { Command } from 'commander';
import { vi } from 'vitest';
import { AdminClient } from '../src/cli/admin-client.js';
import type { CliContext } from '../src/cli/context.js';

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * Runs `tillbridge-hub ARGS` in process as the CLI does — the commands `mount` adds, talking to the
 * admin API at `url` with `token` — and returns what it printed and its exit code (process.exit
 * and process.exitCode both count).
 */
export async function runCli(
  mount: (ctx: CliContext) => void,
  url: string,
  token: string | undefined,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const text = (s: string | Uint8Array): string => (typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += text(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += text(s)), true));
  const exit = vi.spyOn(process, 'exit').mockImplementation((c) => {
    throw new Exit(Number(c ?? 0));
  });
  const program = new Command().exitOverride();
  mount({ program, client: () => new AdminClient(url, token) });
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    code = e instanceof Exit ? e.code : ((e as { exitCode?: number }).exitCode ?? 99);
  } finally {
    process.exitCode = undefined;
    out.mockRestore();
    err.mockRestore();
    exit.mockRestore();
  }
  return { code, stdout, stderr };
}
