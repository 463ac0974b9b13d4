import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LogLine {
  level?: number;
  msg?: string;
  [k: string]: unknown;
}

/**
 * A child process whose stdout is pino JSON lines: every line is kept, and a test can wait for
 * the first line matching a predicate.
 */
export class JsonLogProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly proc: ChildProcess,
    readonly name: string,
    echo = false,
  ) {
    const { stdout, stderr } = proc;
    if (!stdout || !stderr) throw new Error(`${name}: its stdout and stderr must be pipes`);
    createInterface({ input: stdout }).on('line', (text) => {
      if (echo) process.stdout.write(`[${name}] ${text}\n`);
      let l: LogLine;
      try {
        l = JSON.parse(text) as LogLine;
      } catch {
        l = { msg: text };
      }
      this.lines.push(l);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(l)) {
          w.resolve(l);
          return false;
        }
        return true;
      });
    });
    createInterface({ input: stderr }).on('line', (text) => {
      this.stderr.push(text);
      if (echo) process.stderr.write(`[${name}] ${text}\n`);
    });
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** `detached`: own process group, so a terminal's Ctrl-C reaches only the parent, which stops it in order. */
  static spawn(
    name: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    echo = false,
    detached = false,
  ): JsonLogProcess {
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached });
    return new JsonLogProcess(proc, name, echo);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  waitForLine(pred: (l: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(`${this.name}: no matching log line within ${timeoutMs} ms; stderr: ${this.stderr.join('\n')}`),
          ),
        timeoutMs,
      );
      const onExit = (): void => {
        clearTimeout(t);
        reject(new Error(`${this.name} exited before the expected log line; stderr: ${this.stderr.join('\n')}`));
      };
      this.proc.once('exit', onExit);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          this.proc.off('exit', onExit);
          resolve(l);
        },
      });
    });
  }

  /** SIGTERM and wait; SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  /**
   * Runs `waits` (the waits for the lines that say the process started); when one fails, stops the process before the
   * error goes on, so a start that failed leaves no process behind.
   */
  async startedOrStopped<T>(waits: () => Promise<T>): Promise<T> {
    try {
      return await waits();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/** Runs a command to completion and returns its exit code and output. */
export function runCommand(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) proc.stdin.end(input);
    else proc.stdin.end();
  });
}
