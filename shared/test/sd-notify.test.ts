import { describe, expect, it } from 'vitest';
import { sdNotifier, systemdNotifySend, type NotifyTimers } from '../src/sd-notify.js';

/** Timers a test fires by hand: what the notifier scheduled, and at what interval. */
class HandTimers implements NotifyTimers {
  readonly scheduled: { fn: () => void; ms: number; cleared: boolean }[] = [];
  setInterval(fn: () => void, ms: number): unknown {
    const t = { fn, ms, cleared: false };
    this.scheduled.push(t);
    return t;
  }
  clearInterval(handle: unknown): void {
    (handle as { cleared: boolean }).cleared = true;
  }
  /** Runs every live timer once, as the event loop would when each comes due. */
  tick(): void {
    for (const t of this.scheduled) if (!t.cleared) t.fn();
  }
}

function recorder(): { sent: string[][]; send: (a: string[]) => Promise<void> } {
  const sent: string[][] = [];
  return {
    sent,
    send: (a) => {
      sent.push(a);
      return Promise.resolve();
    },
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('sdNotifier', () => {
  it('without NOTIFY_SOCKET: sends nothing and schedules nothing, even with WATCHDOG_USEC', async () => {
    const r = recorder();
    const timers = new HandTimers();
    const n = sdNotifier({ WATCHDOG_USEC: '1000000' }, { send: r.send, timers });
    expect(n.enabled).toBe(false);
    expect(n.watchdogMs).toBeUndefined();
    await n.ready('up');
    await n.status('x');
    await n.stopping();
    expect(r.sent).toEqual([]);
    expect(timers.scheduled).toEqual([]);
  });

  it('READY=1 with STATUS, then the watchdog fed at half of WATCHDOG_USEC, only from the timer', async () => {
    const r = recorder();
    const timers = new HandTimers();
    const n = sdNotifier({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000' }, { send: r.send, timers, pid: 42 });
    expect(n.watchdogMs).toBe(15_000);
    expect(timers.scheduled).toEqual([]); // not before READY
    await n.ready('listening on\nhttp://127.0.0.1:7400');
    expect(r.sent).toEqual([['READY=1', 'STATUS=listening on http://127.0.0.1:7400']]);
    expect(timers.scheduled.map((t) => t.ms)).toEqual([15_000]);
    // no feed until the event loop runs the timer: a stuck loop feeds nothing
    await flush();
    expect(r.sent).toHaveLength(1);
    timers.tick();
    await flush();
    timers.tick();
    await flush();
    expect(r.sent.slice(1)).toEqual([['WATCHDOG=1'], ['WATCHDOG=1']]);
    await n.stopping('bye');
    expect(r.sent.at(-1)).toEqual(['STOPPING=1', 'STATUS=bye']);
    expect(timers.scheduled[0]!.cleared).toBe(true);
  });

  it('one feed at a time: a feed still on its way skips the next tick', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const send = (a: string[]): Promise<void> => {
      sent.push(a);
      return a[0] === 'WATCHDOG=1' ? new Promise((r) => (release = r)) : Promise.resolve();
    };
    const timers = new HandTimers();
    const n = sdNotifier({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' }, { send, timers });
    await n.ready();
    timers.tick();
    timers.tick();
    expect(sent.filter((a) => a[0] === 'WATCHDOG=1')).toHaveLength(1);
    release();
    await flush();
    timers.tick();
    expect(sent.filter((a) => a[0] === 'WATCHDOG=1')).toHaveLength(2);
    n.close();
  });

  it('no watchdog when WATCHDOG_PID names another process, or WATCHDOG_USEC is absent', async () => {
    const timers = new HandTimers();
    const other = sdNotifier(
      { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '7' },
      { send: recorder().send, timers, pid: 42 },
    );
    expect(other.watchdogMs).toBeUndefined();
    await other.ready();
    const ours = sdNotifier(
      { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '42' },
      { send: recorder().send, timers, pid: 42 },
    );
    expect(ours.watchdogMs).toBe(500);
    const none = sdNotifier({ NOTIFY_SOCKET: '/run/x' }, { send: recorder().send, timers });
    await none.ready();
    expect(timers.scheduled).toEqual([]);
  });

  it('a failed send is reported, never thrown', async () => {
    const errors: string[] = [];
    const n = sdNotifier(
      { NOTIFY_SOCKET: '/run/x' },
      { send: () => Promise.reject(new Error('no manager')), onError: (e) => errors.push(e.message) },
    );
    await expect(n.ready()).resolves.toBeUndefined();
    expect(errors).toEqual(['no manager']);
  });

  it(
    'the default sender runs the command with the assignments; ' + 'a failing command rejects with its output',
    async () => {
      await expect(systemdNotifySend('/nonexistent/systemd-notify')(['READY=1'])).rejects.toThrow(/ENOENT/);
      await expect(systemdNotifySend('false')(['READY=1'])).rejects.toThrow(/false READY=1: exit 1/);
      await expect(systemdNotifySend('true')(['READY=1'])).resolves.toBeUndefined();
    },
  );
});
