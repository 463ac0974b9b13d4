import type { Logger } from './logger.js';

/** Something a composition root started and can stop. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * How long a stop may take before the process gives up and exits with 1: longer than the bounds
 * the agent (about 8 s) and the hub (about 3 s) keep (docs/operations.md#stopping), shorter than a
 * service manager's patience (the systemd units' TimeoutStopSec=20).
 */
export const STOP_LIMIT_MS = 15_000;

/**
 * SIGINT/SIGTERM stop the process in every state, starting included: installed before the start,
 * a signal that arrives during it stops what started as soon as it is there. The process exits 0
 * after a clean stop, 1 after an unclean one, a second signal, or `limitMs`. Returns the call to
 * make once the thing is started.
 */
export function stopOnSignals(what: string, log: Logger, limitMs = STOP_LIMIT_MS): (started: Stoppable) => void {
  let running: Stoppable | undefined;
  let stopAsked = false;
  let signals = 0;
  const stop = (s: Stoppable): void => {
    s.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  const shutdown = (sig: string): void => {
    if (++signals > 1) process.exit(1);
    log.info({ signal: sig }, 'stopping');
    setTimeout(() => {
      log.error({ limitMs }, `the ${what} did not stop in time; exiting`);
      process.exit(1);
    }, limitMs).unref();
    if (running) stop(running);
    else stopAsked = true;
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  return (started) => {
    running = started;
    if (stopAsked) stop(started);
  };
}
