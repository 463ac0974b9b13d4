import { setImmediate as nextTurn } from 'node:timers/promises';
import { TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import type { ChangeFeed } from '../domain/change-feed.js';
import type { HubStorage } from '../storage/index.js';
import type { ImportStaging } from './staging.js';
import type { ImportKind, ImportProgress, ImportStateName, ImportStats, Staged } from './types.js';

/** One import, as its applying sees it. */
export interface ApplyContext<Row, Chunk, Totals> {
  kind: ImportKind<Row, Chunk, Totals>;
  p: ImportProgress;
  stats: ImportStats;
  run: number;
  signal: AbortSignal;
  /** why the signal fired */
  why(): string;
  storage: HubStorage;
  audit: AuditLog;
  feed: ChangeFeed;
  staging: ImportStaging;
  log: Logger;
  /** after each committed transaction */
  afterCommit(): void;
  unstage(from: number, to: number): Promise<void>;
  finish(state: ImportStateName, err?: unknown): void;
}

/**
 * Applies the staged batches, one transaction each — its rows' effects and one audit entry —
 * yielding to the event loop between them. Stopped (the signal) or failing part-way, it throws
 * TB_IMPORT_INCOMPLETE naming exactly the lines the committed transactions applied.
 */
export async function applyStaged<Row, Chunk, Totals>(
  ctx: ApplyContext<Row, Chunk, Totals>,
  staged: Staged,
): Promise<Record<string, unknown>> {
  const { kind, p, stats } = ctx;
  p.state = 'applying';
  p.rows = staged.rows;
  let totals: Totals | undefined;
  let firstLine: number | undefined;
  // a file without rows still makes one (empty) transaction: its audit entry says it was imported
  for (let b = 0; b < Math.max(1, staged.batches); b++) {
    if (ctx.signal.aborted) {
      auditStop(ctx, firstLine);
      await ctx.unstage(b, staged.batches);
      const e = incomplete(p, firstLine, ctx.why());
      ctx.finish('stopped', e);
      throw e;
    }
    const rows = b < staged.batches ? (JSON.parse(ctx.staging.read(ctx.run, b)) as { line: number; row: Row }[]) : [];
    const last = b >= staged.batches - 1;
    const from = rows[0]?.line;
    const to = rows[rows.length - 1]?.line;
    let after: Totals;
    try {
      after = durableIf(ctx.storage, last, () =>
        ctx.storage.tx(() => {
          const chunk = kind.apply(rows, p.id);
          const sum = kind.add(totals, chunk);
          ctx.audit.append({
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
      ctx.log.error({ err, import: p.id, applied: p.applied, rows: staged.rows }, 'import failed while applying');
      await ctx.unstage(b, staged.batches);
      const e = incomplete(p, firstLine, 'storage failed', err);
      ctx.finish('failed', e);
      throw e;
    }
    ctx.afterCommit();
    totals = after;
    firstLine ??= from;
    p.applied += rows.length;
    if (to !== undefined) p.appliedThroughLine = to;
    p.transactions++;
    stats.maxRowsPerTx = Math.max(stats.maxRowsPerTx, rows.length);
    if (b < staged.batches) ctx.staging.remove(ctx.run, b);
    if (!last) await nextTurn();
  }
  const result = { import: p.id, ...kind.result(totals) };
  p.result = result;
  ctx.finish('imported');
  return result;
}

/**
 * Runs a transaction that waits for the disk only when `durable`; otherwise a relaxed one,
 * committed without waiting for it (a power cut may undo it, never tear it). The last transaction of an import — and
 * the audit entry of a stop —
 * are durable, and the WAL's fsync makes every transaction before them durable too: the answer
 * never reports what the disk does not hold.
 */
function durableIf<T>(storage: HubStorage, durable: boolean, fn: () => T): T {
  return durable ? fn() : storage.relaxed(fn);
}

/** The error of an import that stopped part-way: exactly what was applied. */
export function incomplete(p: ImportProgress, firstLine: number | undefined, why: string, cause?: unknown): TbError {
  const what =
    p.applied === 0
      ? 'nothing was applied'
      : `${p.applied} of ${p.rows} rows were applied (lines ${firstLine}–${p.appliedThroughLine}, ` +
        `in ${p.transactions} transaction(s), each audited as import:${p.id}); ` +
        `nothing after line ${p.appliedThroughLine}`;
  return new TbError(
    TbCodes.IMPORT_INCOMPLETE,
    `import ${p.id} stopped (${why}): ${what}. ` +
      `Run the same file again to finish it: rows already applied change nothing`,
    {
      ...(cause === undefined ? {} : { cause }),
      details: { import: p.id, applied: p.applied, rows: p.rows, appliedThroughLine: p.appliedThroughLine ?? null },
    },
  );
}

/** The stop, audited in a durable transaction of its own (the transactions before it each have theirs). */
function auditStop<Row, Chunk, Totals>(ctx: ApplyContext<Row, Chunk, Totals>, firstLine: number | undefined): void {
  const { p } = ctx;
  try {
    ctx.storage.tx(() =>
      ctx.audit.append({
        actor: p.actor,
        action: ctx.kind.action,
        outcome: 'stopped',
        resource: `import:${p.id}`,
        details: {
          import: p.id,
          reason: ctx.why(),
          applied: p.applied,
          rows: p.rows,
          lines: p.applied > 0 ? [firstLine, p.appliedThroughLine] : [],
        },
      }),
    );
  } catch (err) {
    ctx.log.error({ err, import: p.id }, 'could not audit the stop of an import');
  }
}
