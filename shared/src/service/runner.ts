import { spawn } from 'node:child_process';
import { TbCodes, TbError } from '../errors.js';

/** What a command printed and how it ended. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one command (no shell) to its end: `systemctl`, `winsw`. Injectable for tests. */
export type CommandRunner = (cmd: string, args: string[]) => Promise<CommandResult>;

/** The real runner: a child process found on PATH (of `env`); a missing command is a clear error. */
export function processRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return (cmd, args) =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'ENOENT'
            ? new TbError(
                TbCodes.CONFIG,
                `${cmd} was not found (is this a ${cmd === 'systemctl' ? 'systemd' : 'supported'} system?)`,
              )
            : err,
        );
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
}

/** Runs `cmd args`; a non-zero exit is an error quoting what it printed. */
export async function mustRun(run: CommandRunner, cmd: string, args: string[]): Promise<CommandResult> {
  const r = await run(cmd, args);
  if (r.code !== 0) {
    const said = (r.stderr || r.stdout).trim();
    throw new TbError(
      TbCodes.INTERNAL,
      `\`${[cmd, ...args].join(' ')}\` failed (exit ${r.code})${said ? `: ${said}` : ''}`,
    );
  }
  return r;
}
