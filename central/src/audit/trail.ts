import type { Logger } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import type { Clock } from '../domain/clock.js';
import type { HubStorage } from '../storage/index.js';
import { AuditCheckpoints, type CheckpointOptions } from './checkpoints.js';
import { AuditQuery } from './query.js';
import { AuditRetention, DEFAULT_RETENTION_DAYS } from './retention.js';
import { verifyStoredChain, type ChainVerifyResult } from './verify-stored.js';

export interface AuditTrailOptions extends CheckpointOptions {
  /** The hub's data directory: the signing key lives there. */
  dataDir: string;
  /** Days of audit entries kept (default 400, at least 90). */
  retentionDays?: number;
}

/** The audit tooling the admin API and the hub's timer use: paging, checkpoints, retention, verification. */
export class AuditTrail {
  readonly query: AuditQuery;
  readonly checkpoints: AuditCheckpoints;
  readonly retention: AuditRetention;
  private pending: NodeJS.Immediate | undefined;
  private stopped = false;

  constructor(
    storage: HubStorage,
    audit: AuditLog,
    clock: Clock,
    opts: AuditTrailOptions,
    private readonly log: Logger,
  ) {
    this.query = new AuditQuery(storage, clock);
    this.checkpoints = new AuditCheckpoints(storage, audit, clock, opts.dataDir, log, opts);
    this.retention = new AuditRetention(
      storage,
      audit,
      this.checkpoints,
      clock,
      log,
      opts.retentionDays ?? DEFAULT_RETENTION_DAYS,
    );
  }

  /** The stored chain, from the oldest retained entry, against the signed checkpoints. */
  verify(): ChainVerifyResult {
    return verifyStoredChain(this.query, this.checkpoints);
  }

  /** Due work for the hub's timer: a checkpoint when one is due, retention once a day. */
  runDue(): void {
    this.checkpoints.maybeCheckpoint();
    this.retention.runDue();
  }

  /**
   * Entries were appended (e.g. a batch applied): checks for a due checkpoint at the next turn of
   * the event loop, once however many times it is called meanwhile, outside the caller's
   * transaction. A failure is logged, never thrown at the caller.
   */
  nudge(): void {
    if (this.pending || this.stopped) return;
    this.pending = setImmediate(() => {
      this.pending = undefined;
      try {
        this.checkpoints.maybeCheckpoint();
      } catch (err) {
        this.log.error({ err }, 'audit checkpoint failed');
      }
    });
  }

  /** No more nudges (call before the storage closes). */
  stop(): void {
    this.stopped = true;
    if (this.pending) clearImmediate(this.pending);
    this.pending = undefined;
  }
}
