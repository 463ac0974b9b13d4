import { fullJitterDelay, systemClock, type Logger } from '@tillbridge/shared';
import type { Outbox, OutboxRow } from './outbox.js';
import type { HubLink } from './hub-link.js';

export interface UploaderOptions {
  batchMax: number;
  retryBaseMs: number;
  retryCapMs: number;
  log: Logger;
  /** Runs the deletes of acked rows; a failed one (a full disk) is retried (default: at once, once). */
  writes?: { run(what: string, write: () => void): boolean };
  /** The agent's clock, for the last sync's time; default the system's. */
  now?: () => number;
}

export type UploadMode = { mode: 'realtime' } | { mode: 'batched'; intervalMs: number };

/**
 * Sends the outbox to the hub in order, one batch in flight at a time (stop-and-wait: a batch
 * grows with whatever queued while the previous one was committing, so throughput follows the
 * load and nothing is ever applied out of order). A row is deleted only when the hub's `ack` of
 * the batch that carried it confirms it (DESIGN rule 9: never on a seq alone — a copy of this
 * database may hold other events under the same seqs). After a (re)connect the whole outbox is
 * sent again from its oldest row: the hub answers `duplicate`, by id, for what it already has.
 */
export class Uploader {
  private acked = 0;
  private inFlight: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private lastSyncMs: number | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private upload: UploadMode = { mode: 'realtime' };
  private batchTimer: NodeJS.Timeout | undefined;
  /** batched mode: a flush is under way (keep sending until the outbox is empty) */
  private flushing = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly link: HubLink,
    private readonly opts: UploaderOptions,
  ) {}

  /**
   * realtime: each event leaves as soon as it is committed. batched: everything queued leaves
   * every `intervalMs` (constrained links). Changed at any time, without a restart.
   */
  setMode(m: UploadMode): void {
    this.upload = m;
    if (this.batchTimer) clearInterval(this.batchTimer);
    this.batchTimer = undefined;
    if (m.mode === 'batched') {
      this.batchTimer = setInterval(() => {
        this.flushing = true;
        this.pump();
      }, m.intervalMs);
      this.batchTimer.unref();
    } else this.pump();
  }

  setRetry(baseMs: number, capMs: number): void {
    this.opts.retryBaseMs = baseMs;
    this.opts.retryCapMs = capMs;
  }

  start(): void {
    const onWelcome = (): void => {
      // the welcome's lastSeq deletes nothing: it is the hub's cursor, not a confirmation of these rows
      this.acked = 0;
      this.inFlight = undefined;
      this.clearRetry();
      this.pump();
    };
    const onAck = (upTo: number, results: { seq: number; outcome: string; code?: string }[]): void => {
      if (this.inFlight === undefined) return; // no batch of ours is waiting for it
      for (const r of results) {
        if (r.outcome === 'exception')
          this.opts.log.warn({ seq: r.seq, code: r.code }, 'the hub recorded an event as an exception');
      }
      // only the rows of the batch in flight, never past its last one
      const confirmed = Math.min(upTo, this.inFlight);
      this.drop(confirmed);
      this.acked = Math.max(this.acked, confirmed);
      this.inFlight = undefined;
      this.failures = 0;
      this.lastSyncMs = (this.opts.now ?? systemClock.now)();
      this.pump();
    };
    const onNack = (seq: number, code: string, retryAfterMs: number): void => {
      this.inFlight = undefined;
      const delay = Math.max(
        retryAfterMs,
        fullJitterDelay(this.failures++, { baseMs: this.opts.retryBaseMs, capMs: this.opts.retryCapMs }),
      );
      this.opts.log.warn({ seq, code, delay }, 'the hub could not apply an event now; retrying');
      this.clearRetry();
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, delay);
    };
    const onDown = (): void => {
      this.inFlight = undefined;
    };
    const hub = this.link.events;
    this.unsubscribe.push(
      hub.on('welcome', onWelcome),
      hub.on('ack', onAck),
      hub.on('nack', onNack),
      hub.on('down', onDown),
      this.outbox.onAppend(() => this.pump()),
    );
  }

  stop(): void {
    if (this.batchTimer) clearInterval(this.batchTimer);
    this.clearRetry();
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /**
   * Waits until the hub has acked every event queued now, the link goes down, or `ms` pass (a
   * stopping agent drains what it can, within a bound); true when nothing is left to send.
   */
  drain(ms: number): Promise<boolean> {
    const done = (): boolean => this.outbox.lastSeq() <= this.acked;
    if (done()) return Promise.resolve(true);
    if (!this.link.connected) return Promise.resolve(false);
    this.flushing = true; // batched mode too
    this.pump();
    return new Promise((resolve) => {
      const finish = (v: boolean): void => {
        clearTimeout(timer);
        stopHearing.forEach((off) => off());
        resolve(v);
      };
      const onAck = (): void => {
        if (done()) finish(true);
      };
      const onDown = (): void => finish(false);
      const timer = setTimeout(() => finish(done()), ms);
      const stopHearing = [this.link.events.on('ack', onAck), this.link.events.on('down', onDown)];
    });
  }

  lastSync(): string | undefined {
    return this.lastSyncMs !== undefined ? new Date(this.lastSyncMs).toISOString() : undefined;
  }

  /**
   * Deletes the rows the hub acked; should that fail (a full disk), they are deleted later, and never sent again
   * meanwhile.
   */
  private drop(upTo: number): void {
    const del = (): void => void this.outbox.deleteUpTo(upTo);
    if (this.opts.writes) this.opts.writes.run('outbox cleanup', del);
    else del();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /**
   * Sends the next batch, if one may leave now (batched mode: only during a flush, which runs until the outbox is
   * empty).
   */
  private pump(): void {
    if (this.inFlight !== undefined || this.retryTimer || !this.link.connected) return;
    if (this.upload.mode === 'batched' && !this.flushing) return;
    const rows = this.outbox.after(this.acked, this.opts.batchMax);
    if (rows.length === 0) {
      this.flushing = false;
      return;
    }
    const last = rows.at(-1);
    if (last && this.link.sendRaw(eventsFrame(rows))) this.inFlight = last.seq;
  }
}

/** The events frame, built around the stored JSON bodies without parsing them again. */
export function eventsFrame(rows: OutboxRow[]): string {
  const items = rows.map(
    (r) =>
      `{"seq":${r.seq},"id":${JSON.stringify(r.event_id)},"kind":${JSON.stringify(r.kind)},` +
      `"register":${JSON.stringify(r.register)},"at":${JSON.stringify(r.at)},"body":${r.body}}`,
  );
  return `{"t":"events","items":[${items.join(',')}]}`;
}
