import { spawn } from 'node:child_process';

/**
 * systemd's notification protocol (sd_notify(3)) for `Type=notify` units: READY=1 once the process
 * serves, STATUS=… for `systemctl status`, WATCHDOG=1 at half of WatchdogSec, STOPPING=1 on the way out.
 *
 * Node cannot send on a unix datagram socket, so each message is sent by running `systemd-notify
 * VAR=VALUE…` (systemd 252 waits until the manager has read it, so with NotifyAccess=all the message
 * is credited to the unit although it comes from a child process). The sender is injectable for tests.
 *
 * Nothing at all happens when NOTIFY_SOCKET is unset (not under systemd, or Type=simple).
 */

/** Sends one message: its assignments, e.g. ['READY=1', 'STATUS=listening on 127.0.0.1:7400']. */
export type NotifySend = (assignments: string[]) => Promise<void>;

/** The timers the watchdog runs on (the process's own, unless a test gives others). */
export interface NotifyTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface SdNotifier {
  /** True when NOTIFY_SOCKET is set: messages are sent. */
  readonly enabled: boolean;
  /** The watchdog interval in ms (half of WATCHDOG_USEC), or undefined when systemd asked for none. */
  readonly watchdogMs: number | undefined;
  /** READY=1 (with a STATUS), then the watchdog starts being fed. */
  ready(status?: string): Promise<void>;
  status(text: string): Promise<void>;
  /** STOPPING=1 (with a STATUS); the watchdog stops. */
  stopping(status?: string): Promise<void>;
  /** Stops the watchdog timer without a message. */
  close(): void;
}

/** How long one systemd-notify may take before it is killed (the manager is stuck or gone). */
const SEND_LIMIT_MS = 5_000;

/** The default sender: `systemd-notify VAR=VALUE…`, killed after a few seconds; its failure rejects. */
export function systemdNotifySend(command = 'systemd-notify', env: NodeJS.ProcessEnv = process.env): NotifySend {
  return (assignments) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(command, assignments, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), SEND_LIMIT_MS);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else
          reject(
            new Error(
              `${command} ${assignments.join(' ')}: ` +
                `${signal ? `killed (${signal})` : `exit ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`,
            ),
          );
      });
    });
}

/** STATUS= is one line: newlines would end the assignment. */
function statusLine(text: string): string {
  return `STATUS=${text.replace(/[\r\n]+/g, ' ')}`;
}

/**
 * The process's notifier, from its environment: NOTIFY_SOCKET (else a notifier that does nothing),
 * WATCHDOG_USEC (and WATCHDOG_PID, when it names another process the watchdog is not ours).
 * A failed send is passed to `onError` (a log line), never thrown: the service keeps running.
 */
export function sdNotifier(
  env: NodeJS.ProcessEnv,
  opts: { send?: NotifySend; timers?: NotifyTimers; pid?: number; onError?: (err: Error) => void } = {},
): SdNotifier {
  const enabled = Boolean(env.NOTIFY_SOCKET);
  const usec = Number(env.WATCHDOG_USEC);
  const pid = opts.pid ?? process.pid;
  const forUs = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === '' || Number(env.WATCHDOG_PID) === pid;
  const watchdogMs =
    enabled && Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 2000)) : undefined;
  const send = opts.send ?? systemdNotifySend();
  const timers: NotifyTimers = opts.timers ?? {
    setInterval: (fn, ms) => setInterval(fn, ms).unref(),
    clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  };
  const onError =
    opts.onError ??
    (() => {
      // nobody asked to hear of failed notifications
    });
  let watchdog: unknown;
  let feeding = false;

  const deliver = async (assignments: string[]): Promise<void> => {
    if (!enabled) return;
    try {
      await send(assignments);
    } catch (err) {
      onError(err as Error);
    }
  };
  const stopWatchdog = (): void => {
    if (watchdog !== undefined) timers.clearInterval(watchdog);
    watchdog = undefined;
  };

  return {
    enabled,
    watchdogMs,
    async ready(status) {
      await deliver(status === undefined ? ['READY=1'] : ['READY=1', statusLine(status)]);
      if (watchdogMs === undefined || watchdog !== undefined) return;
      // fed from a timer on the event loop: a loop that is stuck feeds nothing, and systemd restarts the service
      watchdog = timers.setInterval(() => {
        if (feeding) return; // the last one has not gone yet: one at a time
        feeding = true;
        void deliver(['WATCHDOG=1']).finally(() => (feeding = false));
      }, watchdogMs);
    },
    status: (text) => deliver([statusLine(text)]),
    async stopping(status) {
      stopWatchdog();
      await deliver(status === undefined ? ['STOPPING=1'] : ['STOPPING=1', statusLine(status)]);
    },
    close: stopWatchdog,
  };
}
