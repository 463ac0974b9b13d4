import { TbCodes, TbError, type RegisterReply } from '@tillbridge/shared';
import type { Transaction } from 'better-sqlite3';
import type { Db } from '../db/agent-db.js';
import { isStorageError } from '../db/storage-errors.js';

export interface GroupCommitOptions {
  /**
   * Most messages one commit takes (default 250): a flush stops there and leaves the rest for the next
   * one. It bounds how long one flush holds the event loop — and so how long a return authorization's
   * answer, which never joins the queue, can wait behind it.
   */
  maxMessages?: number;
  /**
   * A seam for tests: called inside the group's transaction, after every message of it was written and
   * before COMMIT, with the number of messages. Throwing fails the whole group (rolled back, none
   * acknowledged), as a failing COMMIT would.
   */
  beforeCommit?: (messages: number) => void;
}

export const DEFAULT_GROUP_MAX_MESSAGES = 250;

/** What a message's effect needs: its register and id, and the write that answers it. */
export interface GroupedWrite {
  register: string;
  msgId: string;
  write: () => RegisterReply;
}

/** How the group's commit reaches the database (CoreContext): a message's savepoint, and the refusal of a write. */
export interface GroupCommitPort {
  db: Db;
  /** Writes one message's effect and records its reply, unless it was answered before (inside a transaction). */
  recorded(w: GroupedWrite): RegisterReply;
  /**
   * Runs the group's IMMEDIATE transaction; a write SQLite refuses is reported and becomes its stable
   * error. Storage is reported sound after it only when `healthy` says so of what it returned.
   */
  commit<T>(tx: () => T, healthy: (out: T) => boolean): T;
  /** The error a register hears for one message's write SQLite refused (reported too). */
  refused(err: unknown): unknown;
}

/** `storage`: SQLite refused the message's write (a full disk…), not the message itself. */
type Outcome = { ok: true; reply: RegisterReply } | { ok: false; error: unknown; storage?: boolean };

interface Queued {
  w: GroupedWrite;
  resolve: (reply: RegisterReply) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit of the registers' messages at the agent. A message is queued, not committed where it is
 * handled: once the frames read so far are handled (a setImmediate, no timer), one flush writes
 * everything queued since the last commit in ONE IMMEDIATE transaction — one fsync — each message in a
 * savepoint of its own, in arrival order. Every answer is given only once COMMIT returned: nothing is
 * acknowledged before it is durable (DESIGN rule: nothing half-written is ever acknowledged).
 *
 * Failures: a message whose own write throws (a refusal such as an unknown authorization, or a
 * statement SQLite refuses while the transaction survives) is rolled back to its savepoint alone and
 * gets the error it gets on its own; its neighbours commit. When the group's transaction itself fails
 * (BEGIN or COMMIT refused, or SQLite rolled the whole transaction back), nothing of it is written and
 * every message of it gets that error: none is acknowledged, and the register may send it again.
 *
 * An idle agent commits a lone message at once (the next check phase); a busy one commits whatever
 * arrived while the previous commit ran. Each register's messages keep their order: the endpoint
 * hands a connection's next message over only once the previous one is answered, and a group is written
 * and answered in arrival order. Return authorizations do not join the queue (their answers are written
 * where they are decided), so they wait at most for the one flush running, bounded by `maxMessages`.
 */
export class GroupCommit {
  private queue: Queued[] = [];
  private scheduled = false;
  private readonly maxMessages: number;
  private commits = 0;
  /** One message's write, nested in the group's transaction: better-sqlite3 makes it a savepoint. */
  private readonly savepoint: (w: GroupedWrite) => RegisterReply;
  private readonly group: Transaction<(taken: Queued[]) => Outcome[]>;

  constructor(
    private readonly port: GroupCommitPort,
    private readonly opts: GroupCommitOptions = {},
  ) {
    const max = opts.maxMessages ?? DEFAULT_GROUP_MAX_MESSAGES;
    if (!Number.isInteger(max) || max < 1)
      throw new TbError(TbCodes.CONFIG, `group commit maxMessages must be a whole number ≥ 1, got ${String(max)}`);
    this.maxMessages = max;
    // made once: better-sqlite3 builds a wrapper (and its variants) for each transaction function
    this.savepoint = port.db.transaction((w: GroupedWrite) => port.recorded(w));
    this.group = port.db.transaction((taken: Queued[]) => this.writeAll(taken));
  }

  /** Queues a message's write; the promise settles once the commit that holds it returned (or failed). */
  submit(w: GroupedWrite): Promise<RegisterReply> {
    return new Promise<RegisterReply>((resolve, reject) => {
      this.queue.push({ w, resolve, reject });
      this.schedule();
    });
  }

  /** Transactions committed (or tried) for queued messages since the agent started. */
  get commitCount(): number {
    return this.commits;
  }

  /** Messages waiting for a commit. */
  get depth(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const taken = this.queue.splice(0, this.maxMessages);
    if (taken.length === 0) return;
    // what is left goes in the next flush, after the frames read meanwhile are handled
    this.schedule();
    let outcomes: Outcome[];
    try {
      outcomes = this.write(taken);
    } catch (error) {
      // the group's transaction failed: nothing of it was written, none of it is acknowledged
      outcomes = taken.map(() => ({ ok: false, error }));
    }
    // answered in arrival order, all after the commit
    taken.forEach((q, i) => {
      const o = outcomes[i] ?? { ok: false, error: new Error('no outcome for a message') };
      if (o.ok) q.resolve(o.reply);
      else q.reject(o.error);
    });
  }

  private write(taken: Queued[]): Outcome[] {
    if (!this.port.db.open)
      throw new TbError(TbCodes.STORAGE_BUSY, "the agent's database is closed: nothing was recorded");
    this.commits++;
    return this.port.commit(
      () => this.group.immediate(taken),
      (outcomes) => !outcomes.some((o) => !o.ok && o.storage === true),
    );
  }

  /** The group's transaction: each message in its savepoint, in arrival order. */
  private writeAll(taken: Queued[]): Outcome[] {
    const outcomes: Outcome[] = [];
    const [lone] = taken;
    if (taken.length === 1 && lone) {
      // a group of one: its transaction is its savepoint (a failure rolls back just this message)
      outcomes.push({ ok: true, reply: this.port.recorded(lone.w) });
    } else {
      for (const q of taken) {
        try {
          outcomes.push({ ok: true, reply: this.savepoint(q.w) });
        } catch (error) {
          // SQLite rolled the whole transaction back: the group fails as one
          if (!this.port.db.inTransaction) throw error;
          outcomes.push({ ok: false, error: this.port.refused(error), storage: isStorageError(error) });
        }
      }
    }
    this.opts.beforeCommit?.(taken.length);
    return outcomes;
  }
}
