/**
 * The test support's child processes (scripts/lib/process.ts), which start every hub and agent of the end-to-end tests
 * and of the bench: a start that fails leaves no process behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { JsonLogProcess } from '@tillbridge/scripts/lib/process';

/** A real child that logs one JSON line, then lives until it is stopped. */
const logsOnce = (msg: string): JsonLogProcess =>
  JsonLogProcess.spawn('child', process.execPath, [
    '-e',
    `console.log(JSON.stringify({ msg: ${JSON.stringify(msg)} })); setInterval(() => {}, 60_000);`,
  ]);

let child: JsonLogProcess | undefined;
afterEach(async () => {
  await child?.kill();
  child = undefined;
});

describe('a child process started by the test support', () => {
  it('is stopped when the line that says it started never comes', async () => {
    child = logsOnce('starting');
    await child.waitForLine((l) => l.msg === 'starting');

    const start = child.startedOrStopped(() => child!.waitForLine((l) => l.msg === 'listening', 200));

    await expect(start).rejects.toThrow(/child: no matching log line within 200 ms/);
    expect(child.running).toBe(false);
    expect((await child.exited).signal).toBe('SIGTERM');
  });

  it('keeps running when it started, and hands the line over', async () => {
    child = logsOnce('listening');

    const line = await child.startedOrStopped(() => child!.waitForLine((l) => l.msg === 'listening'));

    expect(line.msg).toBe('listening');
    expect(child.running).toBe(true);
  });
});
