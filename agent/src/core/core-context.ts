import { systemClock, type Logger, type RegisterReply, type SyncSettings } from '@tillbridge/shared';
import { withoutFsync, type Db } from '../db/agent-db.js';
import { isStorageError, storageRefusal } from '../db/storage-errors.js';
import type { StorageHealth } from '../db/storage-health.js';
import { GroupCommit, type GroupCommitOptions, type GroupedWrite } from './group-commit.js';
import type { EventOutbox, HubAuthorizer } from './ports.js';
import type { AuthzCounter } from './authz-counters.js';
import type { LocalReturns } from './local-returns.js';
import type { PolicyStore } from './policy-store.js';
import type { Receipts } from './receipts.js';
import type { Replies } from './replies.js';

export interface StoreCoreDeps {
  db: Db;
  store: string;
  agentId: string;
  outbox: EventOutbox;
  replies: Replies;
  receipts: Receipts;
  returns: LocalReturns;
  hub: HubAuthorizer;
  policy: PolicyStore;
  counters: AuthzCounter;
  deadlineMs: number;
  /** Sync settings pushed by the hub (deadline, offline approvals), read at each use. */
  live?: { readonly settings: SyncSettings };
  log: Logger;
  /** The agent's clock (decisions, times written); default the system's. */
  now?: () => number;
  /** Hears whether registers' messages can be written (a full disk), for `status`. */
  storage?: Pick<StorageHealth, 'failed' | 'ok'>;
  /** How registers' messages are grouped into commits (core/group-commit.ts); tests set its seam. */
  groupCommit?: GroupCommitOptions;
}

/** What the parts of the store core share: their dependencies and the one way answers become durable. */
export class CoreContext {
  readonly now: () => number;
  /** The registers' messages written durably in groups: one commit for all that arrived meanwhile. */
  readonly group: GroupCommit;

  constructor(readonly deps: StoreCoreDeps) {
    this.now = deps.now ?? (() => systemClock.now());
    this.group = new GroupCommit(
      {
        db: deps.db,
        recorded: (w) => this.recorded(w),
        commit: (tx, healthy) => this.commit(tx, healthy),
        refused: (err) => this.refused(err),
      },
      deps.groupCommit,
    );
  }

  /** How long a request waits for the hub now. */
  deadline(): number {
    return this.deps.live?.settings.authorizationDeadlineMs ?? this.deps.deadlineMs;
  }

  /**
   * The `after` of a request to the hub about a return of `receipt` (or a look-up of it): the newest queued event the
   * hub's decision reads — the receipt's sale, the events of this store's returns of it, and under a store-wide daily
   * refund limit (in this agent's copy of the policy) every queued event that is not a sale. `everySale`: the request
   * reads what any sale changes (a card's sales, exchange stock) and waits for every queued event. Other queued sales
   * change nothing such a decision reads, so a request made while a backlog of sales drains need not wait for it.
   */
  queuedSeqFor(receipt: string | undefined, everySale: boolean): number {
    const { outbox, returns, policy } = this.deps;
    if (everySale) return outbox.lastSeq();
    return outbox.lastSeqOf({
      receipt,
      authorizations: receipt === undefined ? [] : returns.authorizationsOf(receipt),
      everyNotSale: policy.policy.maxRefundPerStorePerDay !== null,
    });
  }

  offlineApprovals(): boolean {
    return this.deps.live?.settings.offlineApprovals ?? true;
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction, recording its reply, unless the message was answered
   * meanwhile. `fsync: false` commits without waiting for the disk (synchronous=NORMAL): used
   * only for the agent's copy of a decision the hub already holds durably, which a durable
   * pending row lets the agent recover after a power loss.
   */
  durably(
    register: string,
    msgId: string,
    fn: () => RegisterReply,
    opts: { fsync: boolean } = { fsync: true },
  ): RegisterReply {
    const tx = this.deps.db.transaction(() => this.recorded({ register, msgId, write: fn }));
    if (opts.fsync) return this.commit(() => tx.immediate());
    return withoutFsync(this.deps.db, () => this.commit(() => tx.immediate()));
  }

  /**
   * As `durably`, in the group commit: `fn` runs in its own savepoint of the transaction that takes every
   * message queued meanwhile, and the reply comes once that transaction committed (one fsync for all).
   * For the messages that only write locally (sales, status, day closes, completions, cancellations);
   * a return authorization's answer keeps `durably`, so it never waits in the queue.
   */
  grouped(register: string, msgId: string, fn: () => RegisterReply): Promise<RegisterReply> {
    return this.group.submit({ register, msgId, write: fn });
  }

  /** A message's effect and its reply, unless it was answered meanwhile; call inside a transaction. */
  private recorded({ register, msgId, write }: GroupedWrite): RegisterReply {
    const prior = this.deps.replies.find(register, msgId);
    if (prior) return prior;
    const reply = write();
    this.deps.replies.record(register, msgId, reply);
    return reply;
  }

  /** What a register hears for an error of its message's write: a write SQLite refused is reported too. */
  private refused(err: unknown): unknown {
    if (!isStorageError(err)) return err;
    this.deps.storage?.failed('register messages', err);
    return storageRefusal(err) ?? err;
  }

  /**
   * Runs one transaction for a register's message. A write SQLite refuses rolls back whole and
   * is reported (status); a full disk or a busy database becomes its stable code
   * (TB_STORAGE_FULL, TB_STORAGE_BUSY) for the register, which may send the message again.
   */
  commit<T>(tx: () => T, healthy: (out: T) => boolean = () => true): T {
    let out: T;
    try {
      out = tx();
    } catch (err) {
      throw this.refused(err);
    }
    if (healthy(out)) this.deps.storage?.ok('register messages');
    return out;
  }
}
