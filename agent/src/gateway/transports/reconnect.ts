import { ReconnectBackoff, TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { Connection, LinkState } from '../types.js';

/** One open link to a device or a register's port, as the loop sees it. */
export interface Link {
  /** Resolves with the reason once the link is gone, whoever ended it (never rejects). */
  readonly lost: Promise<string>;
  /** Ends the link; `lost` resolves soon after. */
  close(): void;
  /** The loop has reported the loss: tell the link's users (a Connection's onClose listeners). */
  notifyClosed(): void;
}

export interface ReconnectLoopOptions<L extends Link> {
  baseMs: number;
  capMs: number;
  /** Opens the link once; rejects when it cannot. `signal` aborts when the loop stops. */
  open(signal: AbortSignal): Promise<L>;
  /** Hands a link that just opened to its user (after 'connected' was reported). */
  onOpen(link: L): void;
  /** A short reason for a failed attempt (never raw register input). */
  describeError(err: unknown): string;
  onState(state: LinkState, detail?: string): void;
  /** Where a user that could not take a link it was handed is logged. */
  log: Logger;
  /** A link that stayed up this long resets the backoff (default: capMs). */
  stableMs?: number;
  random?: () => number;
}

/**
 * Keeps one link open until stopped: open, hand it over, wait for its loss, wait a full-jitter
 * backoff, open again. A link that keeps dropping right after opening backs off like a failed
 * attempt. States: 'connecting' once at start, 'connected' on each open, 'disconnected' with the
 * reason on each loss and when an attempt fails for a new reason (the same failure repeating is
 * reported once, so a missing device does not fill the log), and 'disconnected'/'stopped' at the end.
 */
export class ReconnectLoop<L extends Link> {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private current: L | undefined;
  private last: string | undefined;
  private readonly backoff: ReconnectBackoff;

  constructor(private readonly opts: ReconnectLoopOptions<L>) {
    const { baseMs, capMs, stableMs, random } = opts;
    const optional = { ...(stableMs !== undefined ? { stableMs } : {}), ...(random ? { random } : {}) };
    this.backoff = new ReconnectBackoff({ baseMs, capMs, ...optional });
  }

  /** Starts the loop in the background; the first attempt is made at once. */
  start(): void {
    if (this.running) return;
    this.running = this.run();
  }

  /** Stops retrying, ends the open link (its users hear onClose) and resolves when all is quiet. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.current?.close();
    await this.running;
  }

  private report(state: LinkState, detail?: string): void {
    const key = `${state}\u0000${detail ?? ''}`;
    if (key === this.last) return;
    this.last = key;
    this.opts.onState(state, detail);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    this.report('connecting');
    while (!signal.aborted) {
      let link: L;
      try {
        link = await this.opts.open(signal);
      } catch (err) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- it may fire during the await
        if (signal.aborted) break;
        this.report('disconnected', this.opts.describeError(err));
        await this.backoff.wait(signal);
        continue;
      }
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- it may fire during the await
      if (signal.aborted) {
        link.close();
        await link.lost;
        link.notifyClosed();
        break;
      }
      this.current = link;
      this.backoff.up(); // how long it stays up decides whether its loss starts the backoff over
      this.report('connected');
      try {
        this.opts.onOpen(link);
      } catch (err) {
        this.opts.log.error({ err }, 'the link opened but could not be taken; closing it to try again');
        link.close(); // the loss below starts the next attempt
      }
      const reason = await link.lost;
      this.current = undefined;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- it may fire during the await
      if (signal.aborted) {
        link.notifyClosed();
        break;
      }
      this.report('disconnected', reason);
      link.notifyClosed();
      this.backoff.lost();
      await this.backoff.wait(signal);
    }
    this.report('disconnected', 'stopped');
  }
}

/** What a transport that keeps one link open (serial, tcp-client) is given for it. */
export interface ReconnectingOptions {
  reconnectBaseMs: number;
  reconnectCapMs: number;
  log: Logger;
  /** For tests: the backoff's random source. */
  random?: () => number;
}

/** How a reconnecting transport names itself: in an error, and in its state log lines. */
export interface ReconnectingNames {
  /** the transport's type: 'serial', 'tcp-client' */
  kind: string;
  /** the device or address it opens */
  where: string;
  logFields: Record<string, unknown>;
}

/**
 * A transport that keeps one link open with a ReconnectLoop: starting, stopping and the state
 * listeners are here; a subclass opens its link and says why an attempt failed.
 */
export abstract class ReconnectingTransport<L extends Link & Connection> {
  private readonly stateListeners: ((state: LinkState, detail?: string) => void)[] = [];
  private loop: ReconnectLoop<L> | undefined;

  protected constructor(
    private readonly reconnecting: ReconnectingOptions,
    private readonly names: ReconnectingNames,
  ) {}

  /** Opens the link once; rejects when it cannot. */
  protected abstract open(signal: AbortSignal): Promise<L>;
  /** A short reason for a failed attempt. */
  protected abstract describeError(err: unknown): string;

  onState(listener: (state: LinkState, detail?: string) => void): void {
    this.stateListeners.push(listener);
  }

  start(onConnection: (conn: Connection) => void): Promise<void> {
    const { kind, where, logFields } = this.names;
    if (this.loop)
      return Promise.reject(new TbError(TbCodes.INTERNAL, `the ${kind} transport for ${where} was already started`));
    const { reconnectBaseMs, reconnectCapMs, random, log } = this.reconnecting;
    this.loop = new ReconnectLoop<L>({
      baseMs: reconnectBaseMs,
      capMs: reconnectCapMs,
      ...(random ? { random } : {}),
      open: (signal) => this.open(signal),
      onOpen: (link) => onConnection(link),
      log,
      describeError: (err) => this.describeError(err),
      onState: (state, detail) => {
        log.debug({ state, detail, ...logFields }, `${kind} link state`);
        for (const l of this.stateListeners) l(state, detail);
      },
    });
    this.loop.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
  }
}
