import { Transform } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { Spool } from './spool.js';
import type { ImportStaging } from './staging.js';
import { Stopped, type ImportKind, type ImportProgress, type ImportStats, type Staged } from './types.js';

/** bad rows named in a refusal; the rest are counted */
const LISTED_ERRORS = 20;

/** One import, as its checking sees it. */
export interface CheckContext<Row> {
  kind: Pick<ImportKind<Row, unknown, unknown>, 'read' | 'emptyMessage'>;
  p: ImportProgress;
  stats: ImportStats;
  /** this import's key in the staging table */
  run: number;
  signal: AbortSignal;
  staging: ImportStaging;
  chunkRows: number;
  /** removes staged batches [from, to) */
  unstage(from: number, to: number): Promise<void>;
}

/**
 * Reads the spooled body (CSV or lines, as the kind reads it) and checks every row; the good ones
 * are staged in batches of `chunkRows` — each batch will be one transaction — yielding after each
 * batch read. Any bad row: nothing stays staged, and a TB_INVALID lists the first 20.
 */
export async function checkAndStage<Row>(ctx: CheckContext<Row>, spool: Spool): Promise<Staged> {
  const { p, stats, staging, run, signal } = ctx;
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
    staging.add(run, staged.batches++, JSON.stringify(pending));
    staged.rows += pending.length;
    stats.maxStagedBatch = Math.max(stats.maxStagedBatch, pending.length);
    pending = [];
  };
  const errors: { line: number; message: string }[] = [];
  try {
    for await (const batch of ctx.kind.read(counted, ctx.chunkRows)) {
      p.rowsRead += batch.items.length;
      p.bytesChecked = batch.bytes;
      for (const it of batch.items) {
        if ('error' in it) {
          p.badRows++;
          if (errors.length < LISTED_ERRORS) errors.push({ line: it.line, message: it.error });
        } else if (p.badRows === 0) {
          pending.push(it);
          if (pending.length === ctx.chunkRows) stage();
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
    await ctx.unstage(0, staged.batches);
    throw err;
  }
  p.bytesChecked = p.bytesReceived;
  if (p.badRows > 0) {
    await ctx.unstage(0, staged.batches);
    const listed = errors.map((e) => `  ${e.message}`).join('\n');
    const more = p.badRows > errors.length ? `\n  … and ${p.badRows - errors.length} more` : '';
    throw new TbError(
      TbCodes.INVALID,
      `${p.badRows} bad row(s) in ${p.rowsRead}; nothing was applied:\n${listed}${more}`,
      { details: { import: p.id, badRows: p.badRows, errors } },
    );
  }
  if (staged.rows === 0 && ctx.kind.emptyMessage !== undefined)
    throw new TbError(TbCodes.INVALID, ctx.kind.emptyMessage);
  return staged;
}
