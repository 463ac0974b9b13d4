import { describe, expect, it } from 'vitest';
import { TbCodes, TbError, type WireEvent } from '@tillbridge/shared';
import type { BatchInput, BatchOutcome } from '../src/domain/event-applier.js';
import { IngestQueue } from '../src/sync/ingest-queue.js';
import { silent, wireSale } from './helpers.js';

/**
 * The ingest queue alone, over an in-memory applier that records what each flush was given and
 * answers each batch as the real one would (ingest-group.test.ts runs the same queue against a real
 * hub): a batch larger than `maxRows` is applied in parts and answered once.
 */

/** An applier that records each flush's batches and fails the batch holding a seq in `failAt`. */
class RecordingApplier {
  readonly flushes: { agentId: string; seqs: number[] }[][] = [];
  constructor(private readonly failAt = new Set<number>()) {}
  applyBatches(batches: BatchInput[]): BatchOutcome[] {
    this.flushes.push(batches.map((b) => ({ agentId: b.agentId, seqs: b.items.map((i) => i.seq) })));
    return batches.map((b): BatchOutcome => {
      const bad = b.items.find((i) => this.failAt.has(i.seq));
      if (bad) return { ok: false, error: new TbError(TbCodes.STORAGE_BUSY, `seq ${String(bad.seq)} failed`) };
      return {
        ok: true,
        result: {
          upTo: Math.max(...b.items.map((i) => i.seq)),
          results: b.items.map((i) => ({ seq: i.seq, outcome: 'applied' as const })),
        },
      };
    });
  }
}

const events = (from: number, n: number): WireEvent[] =>
  Array.from({ length: n }, (_, i) => wireSale(from + i, `e${String(from + i)}`, `r${String(from + i)}`));

const batch = (agentId: string, items: WireEvent[]): Omit<BatchInput, 'origin'> => ({
  store: 'S1',
  agentId,
  incarnation: 'i1',
  items,
});

/** Submits and resolves with every outcome `done` heard, once the queue has settled. */
async function outcomesOf(queue: IngestQueue, b: Omit<BatchInput, 'origin'>): Promise<BatchOutcome[]> {
  const heard: BatchOutcome[] = [];
  queue.submit(b, (o) => heard.push(o));
  for (let turn = 0; queue.depth().batches > 0 || heard.length === 0; turn++) {
    if (turn > 10_000) throw new Error('the queue never answered');
    await new Promise((r) => setImmediate(r));
  }
  // a second answer would come on a later turn, if at all
  for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
  return heard;
}

describe('IngestQueue: a batch larger than maxRows', () => {
  it('is applied in parts of at most maxRows, in order, one flush each, and answered once for the whole', async () => {
    const applier = new RecordingApplier();
    const queue = new IngestQueue(applier, silent, { maxRows: 4 });
    const heard = await outcomesOf(queue, batch('a', events(1, 10)));
    expect(applier.flushes).toEqual([
      [{ agentId: 'a', seqs: [1, 2, 3, 4] }],
      [{ agentId: 'a', seqs: [5, 6, 7, 8] }],
      [{ agentId: 'a', seqs: [9, 10] }],
    ]);
    expect(heard).toHaveLength(1);
    const [o] = heard;
    expect(o?.ok).toBe(true);
    if (!o?.ok) return;
    expect(o.result.upTo).toBe(10);
    expect(o.result.results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('is answered with the first failure, and the parts after it are never applied', async () => {
    const applier = new RecordingApplier(new Set([6]));
    const queue = new IngestQueue(applier, silent, { maxRows: 4 });
    const heard = await outcomesOf(queue, batch('a', events(1, 12)));
    expect(applier.flushes.map((f) => f.map((b) => b.seqs[0]))).toEqual([[1], [5]]);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ ok: false, error: { message: 'seq 6 failed' } });
    expect(queue.depth()).toEqual({ batches: 0, rows: 0 });
  });

  it('shares a flush with what follows only through its last part, and other batches keep their turn', async () => {
    const applier = new RecordingApplier();
    const queue = new IngestQueue(applier, silent, { maxRows: 4 });
    const other: BatchOutcome[] = [];
    queue.submit(batch('b', events(1, 1)), (o) => other.push(o));
    const heard = await outcomesOf(queue, batch('a', events(1, 6)));
    queue.submit(batch('c', events(1, 2)), (o) => other.push(o));
    await outcomesOf(queue, batch('d', events(1, 1)));
    expect(applier.flushes).toEqual([
      [{ agentId: 'b', seqs: [1] }],
      [{ agentId: 'a', seqs: [1, 2, 3, 4] }],
      [{ agentId: 'a', seqs: [5, 6] }],
      [
        { agentId: 'c', seqs: [1, 2] },
        { agentId: 'd', seqs: [1] },
      ],
    ]);
    expect(heard.map((o) => o.ok)).toEqual([true]);
    expect(other.map((o) => o.ok)).toEqual([true, true]);
  });

  it('is answered once, failed, when the queue closes between its parts', async () => {
    const applier = new RecordingApplier();
    let release: (() => void) | undefined;
    let held = true;
    const queue = new IngestQueue(applier, silent, {
      maxRows: 4,
      // the first flush runs; the second is held until the queue has closed
      beforeFlush: () => (applier.flushes.length === 1 && held ? new Promise((r) => (release = r)) : undefined),
    });
    const heard: BatchOutcome[] = [];
    queue.submit(batch('a', events(1, 10)), (o) => heard.push(o));
    for (let turn = 0; release === undefined; turn++) {
      if (turn > 10_000) throw new Error('the batch was not applied in parts: no second flush came');
      await new Promise((r) => setImmediate(r));
    }
    queue.close();
    held = false;
    release();
    for (let turn = 0; turn < 10; turn++) await new Promise((r) => setImmediate(r));
    expect(applier.flushes).toHaveLength(1);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ ok: false, error: { code: TbCodes.STORAGE_BUSY } });
  });
});
