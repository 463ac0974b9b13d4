import { randomBytes } from 'node:crypto';
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
const LAST_RUN_KEY = 'audit_retention_last_run';
const LEASE_KEY = 'audit_retention_lease';
/** A pruning run's lease: far longer than a run takes; only a process that died mid-run leaves one to run out. */
const LEASE_MS = 3_600_000;

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
    throw new TbError(
      TbCodes.CONFIG,
      `--audit-retention: expected whole days, at least ${HOT_WINDOW_DAYS} (e.g. 400d), got "${text}"`,
    );
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
  private readonly lastRun: Statement;
  private readonly setLastRun: Statement;
  private readonly lease: Statement;
  private readonly takeLease: Statement;
  private readonly dropLease: Statement;
  /** This process's name on the pruning lease. */
  private readonly owner = `retention:${randomBytes(6).toString('hex')}`;

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
      `SELECT c.entry_id AS id FROM audit_checkpoints c JOIN audit a ON a.id = c.entry_id
       WHERE a.at < ? ORDER BY c.entry_id DESC LIMIT 1`,
    );
    this.oldest = db.prepare(`SELECT id FROM audit ORDER BY id LIMIT 1`);
    this.del = db.prepare(`DELETE FROM audit WHERE id <= ?`);
    // shared by every hub process on the database: when retention last ran, and who is pruning now
    this.lastRun = db.prepare(`SELECT value FROM meta WHERE key = '${LAST_RUN_KEY}'`);
    this.setLastRun = db.prepare(
      `INSERT INTO meta (key, value) VALUES ('${LAST_RUN_KEY}', ?) ON CONFLICT (key) DO UPDATE
       SET value = excluded.value`,
    );
    this.lease = db.prepare(`SELECT value FROM meta WHERE key = '${LEASE_KEY}'`);
    this.takeLease = db.prepare(
      `INSERT INTO meta (key, value) VALUES ('${LEASE_KEY}', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
    this.dropLease = db.prepare(`DELETE FROM meta WHERE key = '${LEASE_KEY}' AND value = ?`);
  }

  /**
   * Prunes when a day has passed since the last run, by whichever hub process on the database
   * (call from the hub's timer): the time of the last run is in the database, taken in the same
   * transaction that decides, so of several processes one runs a day.
   */
  runDue(): PruneResult | undefined {
    const now = this.clock.now();
    const last = this.lastRun.get() as { value: string } | undefined;
    if (last && now - Date.parse(last.value) < DAY) return undefined;
    const mine = this.storage.tx(() => {
      const again = this.lastRun.get() as { value: string } | undefined;
      if (again && now - Date.parse(again.value) < DAY) return false;
      this.setLastRun.run(iso(now));
      return true;
    });
    return mine ? this.pruneOlderThan(this.days) : undefined;
  }

  /**
   * Prunes what is older than `days`, up to a checkpoint's head. One hub process at a time: the run
   * holds a lease in the database while it deletes (a process that dies mid-run leaves a lease that
   * runs out after an hour); another process asked meanwhile prunes nothing.
   */
  pruneOlderThan(days: number, actor = 'hub:retention'): PruneResult {
    if (!Number.isInteger(days) || days < HOT_WINDOW_DAYS)
      throw new TbError(TbCodes.INVALID, `retention: expected whole days, at least ${HOT_WINDOW_DAYS}`);
    const now = this.clock.now();
    const cutoff = iso(now - days * DAY);
    const leaseValue = `${this.owner} ${iso(now + LEASE_MS)}`;
    const plan = this.storage.tx(() => {
      const held = (this.lease.get() as { value: string } | undefined)?.value;
      if (held && !held.startsWith(`${this.owner} `) && (held.split(' ')[1] ?? '') > iso(now)) {
        this.log.info({ held }, 'audit retention is running in another hub process');
        return undefined;
      }
      const through = (this.anchor.get(cutoff) as { id: number } | undefined)?.id;
      const from = (this.oldest.get() as { id: number } | undefined)?.id;
      if (through === undefined || from === undefined || through < from) return undefined;
      this.takeLease.run(leaseValue);
      this.audit.append({
        actor,
        action: PRUNE_ACTION,
        outcome: 'pruned',
        resource: 'audit',
        details: { through, from, cutoff, days },
      });
      return { from, through };
    });
    if (!plan) return { removed: 0, through: null, cutoff };
    let removed = 0;
    try {
      for (const end of batchEnds(this.heads(plan.from), plan.from, plan.through, BATCH)) {
        removed += this.storage.tx(() => {
          const n = this.del.run(end).changes;
          this.checkpoints.dropBefore(end);
          return n;
        });
      }
    } finally {
      this.dropLease.run(leaseValue);
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
