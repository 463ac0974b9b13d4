import { Transform, type Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isTbError, newId, TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import type { ChangeFeed } from '../domain/change-feed.js';
import { iso, type Clock } from '../domain/clock.js';
import type { HubStorage } from '../storage/sqlite.js';
import { BodyStopped, Spool } from './spool.js';
import { ImportStaging } from './staging.js';

/** One row of a file, validated: what to stage, or what is wrong with it (`column: expected …`). */
export type CheckedRow<Row> = { line: number; row: Row } | { line: number; error: string };

export interface RowBatch<Row> {
  items: CheckedRow<Row>[];
  /** bytes of the body parsed through this batch */
  bytes: number;
}

/** What one kind of import (inventory, sales) brings to the runner. */
export interface ImportKind<Row, Chunk, Totals> {
  readonly kind: 'inventory' | 'sales';
  /** the audit action of each applied chunk */
  readonly action: string;
  /** Reads and validates rows as the body arrives, in batches of at most `batch` rows. A malformed file throws TB_INVALID naming the line. */
  read(body: Readable, batch: number): AsyncIterable<RowBatch<Row>>;
  /** A file without a single row: TB_INVALID with this message (undefined: an empty import is fine). */
  readonly emptyMessage?: string;
  /** Applies rows inside the chunk's transaction (the runner owns it); what the chunk did, for its audit entry. */
  apply(rows: { line: number; row: Row }[], importId: string): Chunk;
  /** Audit details of a chunk. */
  chunkDetails(chunk: Chunk): Record<string, unknown>;
  /** The totals with a chunk added (pure: the chunk may still roll back). */
  add(totals: Totals | undefined, chunk: Chunk): Totals;
  /** The answer: what the import did, from its totals. */
  result(totals: Totals | undefined): Record<string, unknown>;
  /** The totals as the last chunk's audit entry records them (counts, no lists of rows). */
  summary(totals: Totals): Record<string, unknown>;
}

export type ImportStateName = 'receiving' | 'checking' | 'applying' | 'imported' | 'refused' | 'stopped' | 'failed';

/** What `GET /v1/admin/imports/:id` shows. */
export interface ImportProgress {
  id: string;
  kind: string;
  actor: string;
  state: ImportStateName;
  startedAt: string;
  finishedAt?: string;
  /** body bytes received so far, and the request's Content-Length when it had one */
  bytesReceived: number;
  bytesExpected?: number;
  /** body bytes checked so far (once it is all received) */
  bytesChecked: number;
  /** rows read and checked so far, and how many of them were bad */
  rowsRead: number;
  badRows: number;
  /** rows to apply (known once the whole file is checked) */
  rows?: number;
  /** rows applied and committed, through which line of the file, in how many transactions */
  applied: number;
  appliedThroughLine?: number;
  transactions: number;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** Counts of what an import held at once (for tests and the benchmark; not part of the API). */
export interface ImportStats {
  /** most bytes read from the spool but not yet parsed, seen at any batch */
  maxUnparsedBytes: number;
  /** most rows staged in one batch (a batch is one transaction) */
  maxStagedBatch: number;
  /** most rows applied in one transaction */
  maxRowsPerTx: number;
}

export interface ImportRequest {
  /** chosen by the client (so it can follow the progress while the request runs); a new id otherwise */
  id?: string | undefined;
  actor: string;
  body: Readable;
  bytesExpected?: number | undefined;
  /** aborted when the client goes away: the import stops at the next chunk boundary */
  signal?: AbortSignal;
}

export interface ImportsOptions {
  /** rows per staging batch and per applying transaction (default 2000) */
  chunkRows?: number;
  /** largest body accepted (default 256 MiB) */
  maxBytes?: number;
  /** imports running at once (default 2) */
  maxRunning?: number;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
/** bad rows named in a refusal; the rest are counted */
const LISTED_ERRORS = 20;
/** finished imports kept for `GET /v1/admin/imports/:id` */
const KEEP_FINISHED = 50;

/** staged batches removed by one statement when an import is dropped */
const UNSTAGE_BATCHES = 10;

class Stopped extends Error {}

interface Staged {
  batches: number;
  rows: number;
}

/**
 * Large admin imports without freezing the hub, in three steps, each holding a bounded amount
 * in memory: the body goes to an encrypted spool file as fast as the client sends it; it is then
 * parsed as a stream, every row checked and the good ones staged in a temp table, a batch at a
 * time; only when the whole file is good are the rows applied, in transactions of at most
 * `chunkRows` rows, each with its audit entry. The event loop gets a turn after every batch and
 * every transaction — WebSocket frames, authorizations and /healthz are answered throughout.
 *
 * Atomicity: a file with any bad row (or malformed, or too large) applies nothing. Once applying,
 * each chunk commits on its own; if the import stops part-way (the hub stops, the client goes
 * away, storage fails) exactly the chunks committed are applied — each audited with its lines —
 * and the error says so (TB_IMPORT_INCOMPLETE). Re-running the same file is safe: a row already
 * applied changes nothing (on-hand already equal; a receipt already recorded is skipped).
 */
export class Imports {
  private readonly staging: ImportStaging;
  private readonly all = new Map<string, ImportProgress>();
  private readonly running = new Map<string, { stop: AbortController; done: Promise<unknown> }>();
  private readonly statsOf = new Map<string, ImportStats>();
  private runs = 0;
  private stopping = false;
  readonly chunkRows: number;
  private readonly maxBytes: number;
  private readonly maxRunning: number;

  constructor(
    private readonly storage: HubStorage,
    private readonly audit: AuditLog,
    private readonly feed: ChangeFeed,
    private readonly clock: Clock,
    private readonly log: Logger,
    opts: ImportsOptions = {},
    /** after each committed transaction (the audit trail's checkpoints) */
    private readonly afterCommit: () => void = () => undefined,
  ) {
    this.staging = new ImportStaging(storage.db);
    this.chunkRows = Math.max(1, Math.min(opts.chunkRows ?? 2000, 10_000));
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.maxRunning = opts.maxRunning ?? 2;
  }

  get(id: string): ImportProgress | undefined {
    const p = this.all.get(id);
    return p && { ...p };
  }

  /** Running and recently finished imports, newest first. */
  list(): ImportProgress[] {
    return [...this.all.values()].reverse().map((p) => ({ ...p }));
  }

  stats(id: string): ImportStats | undefined {
    return this.statsOf.get(id);
  }

  /** Runs one import to its end; resolves with its result (and id), or throws a TbError saying what was applied. */
  async run<Row, Chunk, Totals>(kind: ImportKind<Row, Chunk, Totals>, req: ImportRequest): Promise<Record<string, unknown>> {
    if (req.id !== undefined && !ID.test(req.id)) throw new TbError(TbCodes.INVALID, 'id: expected 1-64 letters, digits, "-" or "_"');
    const id = req.id ?? newId();
    if (this.all.has(id)) throw new TbError(TbCodes.CONFLICT, `an import with id ${id} already ran on this hub`);
    if (this.stopping) throw new TbError(TbCodes.STORAGE_BUSY, 'the hub is stopping; run the import again once it is back');
    if (this.running.size >= this.maxRunning) {
      throw new TbError(TbCodes.STORAGE_BUSY, `${this.running.size} imports are running (${[...this.running.keys()].join(', ')}); try again when one has finished`);
    }
    const p: ImportProgress = { id, kind: kind.kind, actor: req.actor, state: 'receiving', startedAt: iso(this.clock.now()), bytesReceived: 0, bytesChecked: 0, rowsRead: 0, badRows: 0, applied: 0, transactions: 0 };
    if (req.bytesExpected !== undefined) p.bytesExpected = req.bytesExpected;
    this.all.set(id, p);
    this.statsOf.set(id, { maxUnparsedBytes: 0, maxStagedBatch: 0, maxRowsPerTx: 0 });
    this.forgetOld();
    const stop = new AbortController();
    const onClientGone = (): void => stop.abort();
    req.signal?.addEventListener('abort', onClientGone, { once: true });
    if (req.signal?.aborted) stop.abort();
    const run = ++this.runs;
    const done = this.runImport(kind, req, p, run, stop.signal);
    this.running.set(id, { stop, done: done.catch(() => undefined) });
    this.log.info({ import: id, kind: kind.kind, actor: req.actor, bytes: req.bytesExpected }, 'import started');
    try {
      return await done;
    } finally {
      req.signal?.removeEventListener('abort', onClientGone);
      this.running.delete(id);
      p.finishedAt = iso(this.clock.now());
    }
  }

  /** Stops every running import at its next chunk boundary and waits for them (hub shutdown). */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.running.values()];
    for (const r of all) r.stop.abort();
    await Promise.all(all.map((r) => r.done));
  }

  private async runImport<Row, Chunk, Totals>(kind: ImportKind<Row, Chunk, Totals>, req: ImportRequest, p: ImportProgress, run: number, signal: AbortSignal): Promise<Record<string, unknown>> {
    let staged: Staged;
    try {
      staged = await this.receive(kind, req, p, run, signal);
    } catch (err) {
      if (err instanceof Stopped) {
        const e = this.incomplete(p, undefined, this.stopping ? 'the hub is stopping' : 'the client went away');
        this.finish(p, 'stopped', e);
        throw e;
      }
      if (isTbError(err)) {
        this.finish(p, 'refused', err);
        throw err;
      }
      this.log.error({ err, import: p.id }, 'import failed before anything was applied');
      const e = new TbError(TbCodes.INTERNAL, `import ${p.id} failed before anything was applied: ${(err as Error).message}`, { cause: err });
      this.finish(p, 'failed', e);
      throw e;
    }
    return this.applyAll(kind, p, run, staged, signal);
  }

  /** Takes the body to the spool, then checks and stages every row; throws (having removed what it staged) if any row is bad. */
  private async receive<Row, Chunk, Totals>(kind: ImportKind<Row, Chunk, Totals>, req: ImportRequest, p: ImportProgress, run: number, signal: AbortSignal): Promise<Staged> {
    const spool = new Spool();
    try {
      try {
        await spool.fill(req.body, this.maxBytes, (n) => (p.bytesReceived = n), signal);
      } catch (err) {
        throw err instanceof BodyStopped ? new Stopped() : err;
      }
      p.state = 'checking';
      return await this.check(kind, spool, p, run, signal);
    } finally {
      spool.remove();
    }
  }

  /**
   * Reads the spooled body as CSV or lines and checks every row; the good ones are staged in
   * batches of `chunkRows` (each batch will be one transaction), yielding after each batch read.
   * Returns what was staged.
   */
  private async check<Row, Chunk, Totals>(kind: ImportKind<Row, Chunk, Totals>, spool: Spool, p: ImportProgress, run: number, signal: AbortSignal): Promise<Staged> {
    const stats = this.statsOf.get(p.id)!;
    let read = 0;
    const input = spool.open();
    const counted = input.pipe(
      new Transform({
        transform(chunk: Buffer, _enc, cb): void {
          read += chunk.length;
          cb(null, chunk);
        },
      }),
    );
    input.once('error', (err) => counted.destroy(err));
    const staged: Staged = { batches: 0, rows: 0 };
    let pending: { line: number; row: Row }[] = [];
    const stage = (): void => {
      this.staging.add(run, staged.batches++, JSON.stringify(pending));
      staged.rows += pending.length;
      stats.maxStagedBatch = Math.max(stats.maxStagedBatch, pending.length);
      pending = [];
    };
    const errors: { line: number; message: string }[] = [];
    try {
      for await (const batch of kind.read(counted, this.chunkRows)) {
        p.rowsRead += batch.items.length;
        p.bytesChecked = batch.bytes;
        for (const it of batch.items) {
          if ('error' in it) {
            p.badRows++;
            if (errors.length < LISTED_ERRORS) errors.push({ line: it.line, message: it.error });
          } else if (p.badRows === 0) {
            pending.push(it);
            if (pending.length === this.chunkRows) stage();
          }
        }
        if (p.badRows > 0) pending = [];
        stats.maxUnparsedBytes = Math.max(stats.maxUnparsedBytes, read - batch.bytes);
        if (signal.aborted) throw new Stopped();
        await nextTurn();
      }
      if (signal.aborted) throw new Stopped();
      if (pending.length > 0) stage();
    } catch (err) {
      counted.destroy();
      input.destroy();
      await this.unstage(run, 0, staged.batches);
      throw err;
    }
    p.bytesChecked = p.bytesReceived;
    if (p.badRows > 0) {
      await this.unstage(run, 0, staged.batches);
      const listed = errors.map((e) => `  ${e.message}`).join('\n');
      const more = p.badRows > errors.length ? `\n  … and ${p.badRows - errors.length} more` : '';
      throw new TbError(TbCodes.INVALID, `${p.badRows} bad row(s) in ${p.rowsRead}; nothing was applied:\n${listed}${more}`, { details: { import: p.id, badRows: p.badRows, errors } });
    }
    if (staged.rows === 0 && kind.emptyMessage !== undefined) throw new TbError(TbCodes.INVALID, kind.emptyMessage);
    return staged;
  }

  /** Applies the staged batches, one transaction each (audited), yielding between them. */
  private async applyAll<Row, Chunk, Totals>(kind: ImportKind<Row, Chunk, Totals>, p: ImportProgress, run: number, staged: Staged, signal: AbortSignal): Promise<Record<string, unknown>> {
    const stats = this.statsOf.get(p.id)!;
    p.state = 'applying';
    p.rows = staged.rows;
    let totals: Totals | undefined;
    let firstLine: number | undefined;
    // a file without rows still makes one (empty) transaction: its audit entry says it was imported
    for (let b = 0; b < Math.max(1, staged.batches); b++) {
      if (signal.aborted) {
        const why = this.stopping ? 'the hub is stopping' : 'the client went away';
        this.auditStop(kind, p, firstLine, why);
        await this.unstage(run, b, staged.batches);
        const e = this.incomplete(p, firstLine, why);
        this.finish(p, 'stopped', e);
        throw e;
      }
      const rows = b < staged.batches ? (JSON.parse(this.staging.read(run, b)) as { line: number; row: Row }[]) : [];
      const last = b >= staged.batches - 1;
      const from = rows[0]?.line;
      const to = rows[rows.length - 1]?.line;
      let after: Totals;
      try {
        after = this.durableIf(last, () =>
          this.storage.tx(() => {
            const chunk = kind.apply(rows, p.id);
            const sum = kind.add(totals, chunk);
            this.audit.append({
              actor: p.actor,
              action: kind.action,
              outcome: last ? 'imported' : 'applied',
              resource: `import:${p.id}`,
              details: {
                import: p.id,
                transaction: p.transactions + 1,
                lines: rows.length > 0 ? [from, to] : [],
                rows: rows.length,
                ...kind.chunkDetails(chunk),
                ...(last ? { total: { rows: staged.rows, transactions: p.transactions + 1, ...kind.summary(sum) } } : {}),
              },
            });
            return sum;
          }),
        );
      } catch (err) {
        this.feed.discard();
        this.log.error({ err, import: p.id, applied: p.applied, rows: staged.rows }, 'import failed while applying');
        await this.unstage(run, b, staged.batches);
        const e = this.incomplete(p, firstLine, 'storage failed', err);
        this.finish(p, 'failed', e);
        throw e;
      }
      this.feed.publish();
      this.afterCommit();
      totals = after;
      firstLine ??= from;
      p.applied += rows.length;
      if (to !== undefined) p.appliedThroughLine = to;
      p.transactions++;
      stats.maxRowsPerTx = Math.max(stats.maxRowsPerTx, rows.length);
      if (b < staged.batches) this.staging.remove(run, b);
      if (!last) await nextTurn();
    }
    const result = { import: p.id, ...kind.result(totals) };
    p.result = result;
    this.finish(p, 'imported');
    this.log.info({ import: p.id, kind: kind.kind, rows: staged.rows, transactions: p.transactions }, 'import applied');
    return result;
  }

  /**
   * Runs a transaction that waits for the disk (the connection's synchronous=FULL) only when
   * `durable`; otherwise committed in the WAL without an fsync (synchronous=NORMAL: a power cut may
   * undo it, never tear it). The last transaction of an import — and the audit entry of a stop —
   * are durable, and the WAL's fsync makes every transaction before them durable too: the answer
   * never reports what the disk does not hold.
   */
  private durableIf<T>(durable: boolean, fn: () => T): T {
    if (durable) return fn();
    const db = this.storage.db;
    const was = db.pragma('synchronous', { simple: true }) as number;
    db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      db.pragma(`synchronous = ${was}`);
    }
  }

  private incomplete(p: ImportProgress, firstLine: number | undefined, why: string, cause?: unknown): TbError {
    const what =
      p.applied === 0
        ? 'nothing was applied'
        : `${p.applied} of ${p.rows} rows were applied (lines ${firstLine}–${p.appliedThroughLine}, in ${p.transactions} transaction(s), each audited as import:${p.id}); nothing after line ${p.appliedThroughLine}`;
    return new TbError(TbCodes.IMPORT_INCOMPLETE, `import ${p.id} stopped (${why}): ${what}. Run the same file again to finish it: rows already applied change nothing`, {
      ...(cause === undefined ? {} : { cause }),
      details: { import: p.id, applied: p.applied, rows: p.rows, appliedThroughLine: p.appliedThroughLine ?? null },
    });
  }

  /** The stop, audited in a transaction of its own (the chunks before it each have theirs). */
  private auditStop<Row, Chunk, Totals>(kind: ImportKind<Row, Chunk, Totals>, p: ImportProgress, firstLine: number | undefined, why: string): void {
    try {
      this.storage.tx(() =>
        this.audit.append({ actor: p.actor, action: kind.action, outcome: 'stopped', resource: `import:${p.id}`, details: { import: p.id, reason: why, applied: p.applied, rows: p.rows, lines: p.applied > 0 ? [firstLine, p.appliedThroughLine] : [] } }),
      );
    } catch (err) {
      this.log.error({ err, import: p.id }, 'could not audit the stop of an import');
    }
  }

  private finish(p: ImportProgress, state: ImportStateName, err?: unknown): void {
    p.state = state;
    if (err !== undefined) p.error = isTbError(err) ? { code: err.code, message: err.message } : { code: TbCodes.INTERNAL, message: (err as Error).message };
    if (state !== 'imported') this.log.warn({ import: p.id, state, applied: p.applied, rows: p.rows, code: p.error?.code }, 'import did not complete');
  }

  /** Removes staged batches [from, to), a few at a time, yielding between them. */
  private async unstage(run: number, from: number, to: number): Promise<void> {
    for (let b = from; b < to; b += UNSTAGE_BATCHES) {
      if (!this.storage.db.open) return; // the process is closing; the temp table goes with it
      this.staging.removeRange(run, b, Math.min(to, b + UNSTAGE_BATCHES));
      await nextTurn();
    }
  }

  private forgetOld(): void {
    const finished = [...this.all.values()].filter((p) => !this.running.has(p.id) && p.state !== 'receiving' && p.state !== 'checking' && p.state !== 'applying');
    for (const p of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) {
      this.all.delete(p.id);
      this.statsOf.delete(p.id);
    }
  }
}
