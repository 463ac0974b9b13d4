import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PtyPair {
  /** Path of one end (a symlink to /dev/pts/N). */
  a: string;
  /** Path of the other end. */
  b: string;
  /** SIGTERMs socat and resolves once it exited: both ends and their links disappear. */
  close(): Promise<void>;
}

/**
 * A real pseudo-terminal pair joined by socat: bytes written to one end come out of the other.
 * The links are `<dir>/a` and `<dir>/b`; starting again with the same dir re-creates the same
 * paths (a device plugged back in).
 */
export function startPtyPair(dir: string, timeoutMs = 5000): Promise<PtyPair> {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 10_000) stderr += d;
  });
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`socat exited early: ${stderr}`));
        return;
      }
      // socat logs this once both ptys exist and their links are made
      if (stderr.includes('starting data transfer loop') && existsSync(a) && existsSync(b)) {
        resolve({ a, b, close });
        return;
      }
      if (Date.now() - started > timeoutMs) {
        void close();
        reject(new Error(`socat did not make ${a} and ${b} within ${timeoutMs} ms: ${stderr}`));
        return;
      }
      setTimeout(check, 5);
    };
    child.once('error', reject);
    check();
  });
}
