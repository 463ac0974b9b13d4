import { setImmediate as nextTurn } from 'node:timers/promises';
import { isTbError, maskCardNumbersIn, newId, TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import type { ChangeFeed } from '../domain/change-feed.js';
import { iso, type Clock } from '../domain/clock.js';
import type { HubStorage } from '../storage/index.js';
import { applyStaged, incomplete } from './apply.js';
import { checkAndStage } from './check.js';
import { BodyStopped, Spool } from './spool.js';
import { ImportStaging } from './staging.js';
import {
  Stopped,
  type ImportKind,
  type ImportProgress,
  type ImportRequest,
  type ImportsOptions,
  type ImportStateName,
  type ImportStats,
  type Staged,
} from './types.js';

export type {
  CheckedRow,
  ImportKind,
  ImportProgress,
  ImportRequest,
  ImportsOptions,
  ImportStateName,
  ImportStats,
  RowBatch,
} from './types.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
/** finished imports kept for `GET /v1/admin/imports/:id` */
const KEEP_FINISHED = 50;
/** staged batches removed by one statement when an import is dropped */
const UNSTAGE_BATCHES = 10;

/**
 * Large admin imports without freezing the hub, in three steps, each holding a bounded amount
 * in memory: the body goes to an encrypted spool file as fast as the client sends it; it is then
 * parsed as a stream, every row checked and the good ones staged in a temp table, a batch at a
 * time (check.ts); only when the whole file is good are the rows applied, in transactions of at
 * most `chunkRows` rows, each with its audit entry (apply.ts). The event loop gets a turn after
 * every batch and every transaction — WebSocket frames, authorizations and /healthz are answered
 * throughout.
 *
 * Atomicity: a file with any bad row (or malformed, or too large) applies nothing. Once applying,
 * each transaction commits on its own; if the import stops part-way (the hub stops, the client
 * goes away, storage fails) exactly the transactions committed are applied — each audited with
 * its lines — and the error says so (TB_IMPORT_INCOMPLETE). Re-running the same file is safe: a
 * row already applied changes nothing (on-hand already equal; a receipt already recorded is skipped).
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
  async run<Row, Chunk, Totals>(
    kind: ImportKind<Row, Chunk, Totals>,
    req: ImportRequest,
  ): Promise<Record<string, unknown>> {
    if (req.id !== undefined && !ID.test(req.id))
      throw new TbError(TbCodes.INVALID, 'id: expected 1-64 letters, digits, "-" or "_"');
    const id = req.id ?? newId();
    if (this.all.has(id)) throw new TbError(TbCodes.CONFLICT, `an import with id ${id} already ran on this hub`);
    if (this.stopping)
      throw new TbError(TbCodes.STORAGE_BUSY, 'the hub is stopping; run the import again once it is back');
    if (this.running.size >= this.maxRunning) {
      throw new TbError(
        TbCodes.STORAGE_BUSY,
        `${this.running.size} imports are running (${[...this.running.keys()].join(', ')}); ` +
          `try again when one has finished`,
      );
    }
    const p: ImportProgress = {
      id,
      kind: kind.kind,
      actor: req.actor,
      state: 'receiving',
      startedAt: iso(this.clock.now()),
      bytesReceived: 0,
      bytesChecked: 0,
      rowsRead: 0,
      badRows: 0,
      applied: 0,
      transactions: 0,
    };
    if (req.bytesExpected !== undefined) p.bytesExpected = req.bytesExpected;
    this.all.set(id, p);
    this.statsOf.set(id, { maxUnparsedBytes: 0, maxStagedBatch: 0, maxRowsPerTx: 0 });
    this.forgetOld();
    const stop = new AbortController();
    const onClientGone = (): void => stop.abort();
    req.signal?.addEventListener('abort', onClientGone, { once: true });
    if (req.signal?.aborted) stop.abort();
    const done = this.runImport(kind, req, p, ++this.runs, stop.signal);
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

  /** Stops every running import at its next transaction boundary and waits for them (hub shutdown). */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.running.values()];
    for (const r of all) r.stop.abort();
    await Promise.all(all.map((r) => r.done));
  }

  private async runImport<Row, Chunk, Totals>(
    kind: ImportKind<Row, Chunk, Totals>,
    req: ImportRequest,
    p: ImportProgress,
    run: number,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const stats = this.statsOf.get(p.id);
    if (!stats) throw new Error(`import ${p.id}: started without its statistics`);
    const why = (): string => (this.stopping ? 'the hub is stopping' : 'the client went away');
    const unstage = (from: number, to: number): Promise<void> => this.unstage(run, from, to);
    const finish = (state: ImportStateName, err?: unknown): void => this.finish(p, state, err);
    let staged: Staged;
    const spool = new Spool();
    try {
      try {
        await spool.fill(req.body, this.maxBytes, (n) => (p.bytesReceived = n), signal);
      } catch (err) {
        throw err instanceof BodyStopped ? new Stopped() : err;
      }
      p.state = 'checking';
      staged = await checkAndStage(
        { kind, p, stats, run, signal, staging: this.staging, chunkRows: this.chunkRows, unstage },
        spool,
      );
    } catch (err) {
      if (err instanceof Stopped) {
        const e = incomplete(p, undefined, why());
        finish('stopped', e);
        throw e;
      }
      if (isTbError(err)) {
        finish('refused', err);
        throw err;
      }
      this.log.error({ err, import: p.id }, 'import failed before anything was applied');
      const e = new TbError(
        TbCodes.INTERNAL,
        `import ${p.id} failed before anything was applied: ${(err as Error).message}`,
        { cause: err },
      );
      finish('failed', e);
      throw e;
    } finally {
      spool.remove();
    }
    const result = await applyStaged(
      {
        kind,
        p,
        stats,
        run,
        signal,
        why,
        storage: this.storage,
        audit: this.audit,
        feed: this.feed,
        staging: this.staging,
        log: this.log,
        afterCommit: this.afterCommit,
        unstage,
        finish,
      },
      staged,
    );
    this.log.info({ import: p.id, kind: kind.kind, rows: staged.rows, transactions: p.transactions }, 'import applied');
    return result;
  }

  private finish(p: ImportProgress, state: ImportStateName, err?: unknown): void {
    p.state = state;
    // kept for `imports show`: a bad row's message quotes what the file held, never a card number
    if (err !== undefined)
      p.error = isTbError(err)
        ? { code: err.code, message: maskCardNumbersIn(err.message) }
        : { code: TbCodes.INTERNAL, message: maskCardNumbersIn((err as Error).message) };
    if (state !== 'imported')
      this.log.warn(
        { import: p.id, state, applied: p.applied, rows: p.rows, code: p.error?.code },
        'import did not complete',
      );
  }

  /** Removes staged batches [from, to), a few at a time, yielding between them. */
  private async unstage(run: number, from: number, to: number): Promise<void> {
    for (let b = from; b < to; b += UNSTAGE_BATCHES) {
      if (!this.storage.isOpen()) return; // the process is closing; the temp table goes with it
      this.staging.removeRange(run, b, Math.min(to, b + UNSTAGE_BATCHES));
      await nextTurn();
    }
  }

  private forgetOld(): void {
    const done = [...this.all.values()].filter(
      (p) => !this.running.has(p.id) && p.state !== 'receiving' && p.state !== 'checking' && p.state !== 'applying',
    );
    for (const p of done.slice(0, Math.max(0, done.length - KEEP_FINISHED))) {
      this.all.delete(p.id);
      this.statsOf.delete(p.id);
    }
  }
}
