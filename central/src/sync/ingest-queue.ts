import { TbCodes, TbError, type Logger } from '@tillbridge/shared';
import { auditOrigin } from '../domain/audit-log.js';
import type { BatchInput, BatchOutcome, BatchResult, EventApplier } from '../domain/event-applier.js';

export interface IngestOptions {
  /**
   * Most events one commit takes (default 250): a flush stops before the batch that would pass
   * it, and a larger batch is applied in parts of at most this many, one commit each, in order. It
   * bounds how long one flush holds the hub — and so how long a return authorization or any other
   * frame read meanwhile waits (a backlog's drain sends batches of 500: `hub.uploadBatchMax`).
   */
  maxRows?: number;
  /**
   * A seam for tests: called before each flush; a promise returned holds the flush (and everything
   * queued) until it settles.
   */
  beforeFlush?: () => Promise<void> | undefined;
}

interface Queued {
  batch: BatchInput;
  done: (o: BatchOutcome) => void;
  /** a part of a larger batch whose earlier part failed: not applied (its events would come after a gap) */
  abandoned?: () => boolean;
}

/**
 * The outcome of one agent's batch applied in parts: `done` hears once — the first failure as soon
 * as it comes (the parts after it are not applied), or, once every part committed, one result for
 * the whole batch. The parts committed before a failure stay: the agent sends the batch again and
 * the hub answers their events as duplicates (by id, DESIGN rule 2).
 */
class PartedBatch {
  private readonly results: BatchResult[] = [];
  private finished = false;

  constructor(
    private readonly parts: number,
    private readonly done: (o: BatchOutcome) => void,
  ) {}

  get abandoned(): boolean {
    return this.finished;
  }

  part(o: BatchOutcome): void {
    if (this.finished) return;
    if (!o.ok) {
      this.finished = true;
      this.done(o);
      return;
    }
    this.results.push(o.result);
    if (this.results.length < this.parts) return;
    this.finished = true;
    this.done({
      ok: true,
      result: {
        upTo: Math.max(...this.results.map((r) => r.upTo)),
        results: this.results.flatMap((r) => r.results),
      },
    });
  }
}

export const DEFAULT_INGEST_MAX_ROWS = 250;

/**
 * Group commit of the agents' `events` frames. A frame is queued, not applied where it is read:
 * once the frames read so far are handled, one flush applies everything queued since the last
 * commit in ONE write transaction — one synced commit — each batch in a savepoint of its own
 * (`EventApplier.applyBatches`: a batch that fails is rolled back alone and reported failed, the
 * others commit). Each batch's outcome reaches its session only once the commit has returned:
 * nothing is acknowledged before it is durable, and the cursor moves in the same transaction as
 * the effects (exactly once, DESIGN rules 2 and 9).
 *
 * No timer: the flush is a setImmediate, so an idle hub commits a lone batch at once, and a busy one
 * commits whatever arrived during the previous commit. Frames other than `events` — return
 * authorizations, lookups — are still answered where they are read, so they never wait behind the
 * queue, at most behind the one flush running (bounded by `maxRows`: a larger batch is applied in
 * parts, the frames read meanwhile handled between them, and acknowledged once its last part committed).
 */
export class IngestQueue {
  private queue: Queued[] = [];
  private scheduled = false;
  private closed = false;
  private readonly maxRows: number;
  private flushes = 0;

  constructor(
    private readonly applier: Pick<EventApplier, 'applyBatches'>,
    private readonly log: Logger,
    private readonly opts: IngestOptions = {},
  ) {
    const max = opts.maxRows ?? DEFAULT_INGEST_MAX_ROWS;
    if (!Number.isInteger(max) || max < 1)
      throw new TbError(TbCodes.CONFIG, `ingest maxRows must be a whole number ≥ 1, got ${String(max)}`);
    this.maxRows = max;
  }

  /**
   * Queues one agent's batch; `done` hears its outcome once the commit that holds it returned (or
   * failed). `done` is called once, never synchronously.
   */
  submit(batch: Omit<BatchInput, 'origin'>, done: (o: BatchOutcome) => void): void {
    if (this.closed) {
      const error = new TbError(TbCodes.STORAGE_BUSY, 'the hub is stopping');
      setImmediate(() => done({ ok: false, error }));
      return;
    }
    // the origin its audit entries name is the one of the frame that brought it, not of the flush
    const whole: BatchInput = { ...batch, origin: auditOrigin.getStore() };
    const size = whole.items.length;
    if (size <= this.maxRows) this.queue.push({ batch: whole, done });
    else {
      // in parts, in order and side by side in the queue: each part's flush is one commit
      const parted = new PartedBatch(Math.ceil(size / this.maxRows), done);
      for (let from = 0; from < size; from += this.maxRows) {
        this.queue.push({
          batch: { ...whole, items: whole.items.slice(from, from + this.maxRows) },
          done: (o) => parted.part(o),
          abandoned: () => parted.abandoned,
        });
      }
    }
    this.schedule();
  }

  /** Batches (a larger batch's parts each count) and events waiting for a commit. */
  depth(): { batches: number; rows: number } {
    return { batches: this.queue.length, rows: this.queue.reduce((n, q) => n + q.batch.items.length, 0) };
  }

  /** Flushes run since the hub started. */
  get flushCount(): number {
    return this.flushes;
  }

  /** Drops what is queued (never acknowledged: each agent sends it again) and takes nothing more. */
  close(): void {
    this.closed = true;
    const dropped = this.queue.splice(0);
    const error = new TbError(TbCodes.STORAGE_BUSY, 'the hub is stopping');
    for (const q of dropped) this.deliver(q, { ok: false, error });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      const held = this.opts.beforeFlush?.();
      if (held) {
        held.then(
          () => this.flush(),
          () => this.flush(),
        );
      } else this.flush();
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    // the parts left of a batch whose earlier part failed: that batch has had its answer
    this.queue = this.queue.filter((q) => q.abandoned?.() !== true);
    if (this.queue.length === 0) return;
    let rows = 0;
    let n = 0;
    for (const queued of this.queue) {
      const size = queued.batch.items.length;
      if (n > 0 && rows + size > this.maxRows) break;
      rows += size;
      n++;
    }
    const taken = this.queue.splice(0, n);
    this.flushes++;
    // each batch runs under its own frame's audit origin; none inherits the one that scheduled the flush
    let outcomes: BatchOutcome[];
    try {
      outcomes = auditOrigin.exit(() => this.applier.applyBatches(taken.map((q) => q.batch)));
    } catch (error) {
      outcomes = taken.map(() => ({ ok: false, error }));
    }
    // what is left goes in the next flush, after the frames read meanwhile are handled
    this.schedule();
    taken.forEach((q, i) => this.deliver(q, outcomes[i] ?? { ok: false, error: new Error('no outcome for a batch') }));
  }

  private deliver(q: Queued, o: BatchOutcome): void {
    try {
      // what the outcome sets off (an authorization waiting for these events) is the frame's agent's doing
      const origin = q.batch.origin;
      if (origin === undefined) auditOrigin.exit(() => q.done(o));
      else auditOrigin.run(origin, () => q.done(o));
    } catch (err) {
      this.log.error({ err }, 'handling the outcome of an events batch failed');
    }
  }
}
