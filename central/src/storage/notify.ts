import type { Logger } from '@tillbridge/shared';
import type { HubStorage } from './sql.js';

/**
 * Messages between the processes on one database, sent with a transaction's commit: the storage's
 * listen/notify. On PostgreSQL, NOTIFY inside the writing transaction and a LISTEN connection of
 * its own (`postgres-notify.ts`); on SQLite, one process, delivered in it after the commit. The
 * hub's bus (cluster/bus.ts) speaks only this.
 */
/** The largest payload a notifier must carry: PostgreSQL's NOTIFY takes under 8000 bytes. */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7900;

export interface Notifier {
  /** True when other processes on the database hear what this one sends (PostgreSQL). */
  readonly shared: boolean;
  /** The largest payload `notify` carries, in bytes (PostgreSQL: under 8000). */
  readonly maxPayloadBytes: number;
  /**
   * Sends `payload` on `channel` to every listener, this process's included. Inside a transaction
   * of the storage it leaves with the commit, and never when the transaction rolls back; outside
   * one, at once. Throws what the storage throws (inside a transaction, as any of its statements).
   */
  notify(channel: string, payload: string): void;
  /** Hears `channel` until the listener is closed. */
  listen(channel: string, onMessage: (payload: string) => void, opts?: ListenOptions): Listener;
}

export interface ListenOptions {
  /** First and largest wait before listening again after the connection was lost (default 100 ms, 5 s). */
  backoff?: { baseMs: number; capMs: number };
  log?: Logger;
  /** Runs each time the listener listens again after losing its connection: messages may have been missed meanwhile. */
  onResume?: () => void;
}

export interface Listener {
  /** Resolves once messages are heard (at once in one process); also when closed first. */
  readonly ready: Promise<void>;
  /** Whether messages are heard now. */
  readonly listening: boolean;
  close(): Promise<void>;
}

/** A channel is named as an SQL identifier is: lower case letters, digits, underscores. */
export function checkChannel(channel: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel))
    throw new Error(`notify channel "${channel}": expected lower case letters, digits and underscores (at most 63)`);
  return channel;
}

/** Calls `onMessage`, logging rather than passing on what it throws. */
export function deliverSafely(
  onMessage: (payload: string) => void,
  payload: string,
  channel: string,
  log: Logger | undefined,
): void {
  try {
    onMessage(payload);
  } catch (err) {
    log?.error({ err, channel }, 'a listener failed on a message');
  }
}

/** One process (SQLite): a message is delivered in this process once the transaction commits. */
export class LocalNotifier implements Notifier {
  readonly shared = false;
  readonly maxPayloadBytes = Number.POSITIVE_INFINITY;
  private readonly channels = new Map<string, Set<{ onMessage: (payload: string) => void; log: Logger | undefined }>>();

  constructor(private readonly storage: Pick<HubStorage, 'afterCommit'>) {}

  notify(channel: string, payload: string): void {
    checkChannel(channel);
    this.storage.afterCommit(() => {
      for (const l of this.channels.get(channel) ?? []) deliverSafely(l.onMessage, payload, channel, l.log);
    });
  }

  listen(channel: string, onMessage: (payload: string) => void, opts: ListenOptions = {}): Listener {
    checkChannel(channel);
    let set = this.channels.get(channel);
    if (!set) this.channels.set(channel, (set = new Set()));
    const entry = { onMessage, log: opts.log };
    set.add(entry);
    let listening = true;
    return {
      ready: Promise.resolve(),
      get listening() {
        return listening;
      },
      close: () => {
        listening = false;
        set.delete(entry);
        return Promise.resolve();
      },
    };
  }
}
