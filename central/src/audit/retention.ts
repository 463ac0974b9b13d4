import type { HubStorage, Statement } from '../storage/index.js';
import { TbCodes, TbError, type Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import type { AuditCheckpoints } from './checkpoints.js';
import { HOT_WINDOW_DAYS } from './query.js';

export const DEFAULT_RETENTION_DAYS = 400;
export const PRUNE_ACTION = 'audit.prune';
const DAY = 86_400_000;
/** Entries deleted per transaction at most (a batch always ends at a checkpoint's head). */
const BATCH = 10_000;

export interface PruneResult {
  /** Entries deleted. */
  removed: number;
  /** The newest entry pruned (a signed checkpoint's head), or null when nothing was old enough. */
  through: number | null;
  cutoff: string;
}

/** "400d" or "400" → days; at least the 90 days the admin API serves at once. */
export function parseRetentionDays(text: string): number {
  const m = /^\s*(\d+)\s*d?\s*$/.exec(text);
  const days = m ? Number(m[1]) : NaN;
  if (!Number.isInteger(days) || days < HOT_WINDOW_DAYS) {
    throw new TbError(TbCodes.CONFIG, `--audit-retention: expected whole days, at least ${HOT_WINDOW_DAYS} (e.g. 400d), got "${text}"`);
  }
  return days;
}

/**
 * Audit retention: entries older than the retention are deleted, but only up to the head of a
 * signed checkpoint, so the oldest retained entry always links to a hash that checkpoint vouches
 * for and the chain still verifies. Each run first appends an `audit.prune` entry saying how far it
 * prunes (a removal no such entry covers is tampering), then deletes in batches that each end at
 * a checkpoint's head (the chain verifies between batches, even after a crash).
 */
export class AuditRetention {
  private readonly anchor: Statement;
  private readonly oldest: Statement;
  private readonly del: Statement;
  private lastRunAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly storage: HubStorage,
    private readonly audit: AuditLog,
    private readonly checkpoints: AuditCheckpoints,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly days = DEFAULT_RETENTION_DAYS,
  ) {
    const db = storage.db;
    this.anchor = db.prepare(
      `SELECT c.entry_id AS id FROM audit_checkpoints c JOIN audit a ON a.id = c.entry_id WHERE a.at < ? ORDER BY c.entry_id DESC LIMIT 1`,
    );
    this.oldest = db.prepare(`SELECT id FROM audit ORDER BY id LIMIT 1`);
    this.del = db.prepare(`DELETE FROM audit WHERE id <= ?`);
  }

  /** Prunes when a day has passed since the last run (call from the hub's timer). */
  runDue(): PruneResult | undefined {
    const now = this.clock.now();
    if (now - this.lastRunAt < DAY) return undefined;
    this.lastRunAt = now;
    return this.pruneOlderThan(this.days);
  }

  pruneOlderThan(days: number, actor = 'hub:retention'): PruneResult {
    if (!Number.isInteger(days) || days < HOT_WINDOW_DAYS) throw new TbError(TbCodes.INVALID, `retention: expected whole days, at least ${HOT_WINDOW_DAYS}`);
    const cutoff = iso(this.clock.now() - days * DAY);
    const plan = this.storage.tx(() => {
      const through = (this.anchor.get(cutoff) as { id: number } | undefined)?.id;
      const from = (this.oldest.get() as { id: number } | undefined)?.id;
      if (through === undefined || from === undefined || through < from) return undefined;
      this.audit.append({ actor, action: PRUNE_ACTION, outcome: 'pruned', resource: 'audit', details: { through, from, cutoff, days } });
      return { from, through };
    });
    if (!plan) return { removed: 0, through: null, cutoff };
    let removed = 0;
    for (const end of batchEnds(this.heads(plan.from), plan.from, plan.through, BATCH)) {
      removed += this.storage.tx(() => {
        const n = this.del.run(end).changes;
        this.checkpoints.dropBefore(end);
        return n;
      });
    }
    this.log.info({ removed, through: plan.through, cutoff }, 'audit entries pruned');
    return { removed, through: plan.through, cutoff };
  }

  private *heads(from: number): Generator<number> {
    for (const cp of this.checkpoints.from(from)) yield cp.id;
  }
}

/**
 * Where the pruning transactions end: checkpoint heads (ascending) in [from, through], thinned so
 * that a batch holds about `batch` entries (more only when checkpoints are further apart), the
 * last always `through`.
 */
export function* batchEnds(heads: Iterable<number>, from: number, through: number, batch: number): Generator<number> {
  let start = from;
  let candidate: number | undefined;
  for (const id of heads) {
    if (id > through) break;
    if (candidate !== undefined && id - start >= batch) {
      yield candidate;
      start = candidate + 1;
    }
    candidate = id;
  }
  if (candidate !== undefined) yield candidate;
}
