import { isConstraintError } from './sql.js';
/**
 * Writes the hub does not owe durability to anyone — presence, last seen, what heartbeats report,
 * a register's state, when a key was last used: each agent sends them again on its next heartbeat
 * or connection. They are held in memory (the latest value per store and key) and written in
 * batches, each one transaction committed with `synchronous=NORMAL` (no fsync: durable at the next
 * synced commit or checkpoint; a crash may lose the last batches). Readers lay what waits over
 * what the database holds, so they never see an older value than the one held here.
 */
export interface DeferredKind<V> {
  /** Holds `value` until the next batch, replacing what waited for (store, key) — keeping its place in line. */
  put(store: string, key: string, value: V): void;
  /** What waits for (store, key). */
  get(store: string, key: string): V | undefined;
  /** What waits for a store. */
  ofStore(store: string): V[];
  /** Everything that waits. */
  all(): V[];
  /** Forgets what waits for (store, key) (it was just written another way). */
  delete(store: string, key: string): void;
}

/** The transactions a batch is written in (HubStorage). */
export interface BatchTransactions {
  /** one transaction committed with synchronous=NORMAL */
  relaxed<T>(fn: () => T): T;
  /** one synced transaction (synchronous=FULL) */
  tx<T>(fn: () => T): T;
}

interface Entry {
  kind: Kind<unknown>;
  store: string;
  key: string;
  value: unknown;
}

class Kind<V> implements DeferredKind<V> {
  readonly byStore = new Map<string, Map<string, Entry>>();

  constructor(
    readonly name: string,
    readonly write: (value: V) => void,
    private readonly line: Set<Entry>,
  ) {}

  put(store: string, key: string, value: V): void {
    let m = this.byStore.get(store);
    if (!m) this.byStore.set(store, (m = new Map<string, Entry>()));
    const e = m.get(key);
    if (e) {
      e.value = value;
      return;
    }
    const entry: Entry = { kind: this as Kind<unknown>, store, key, value };
    m.set(key, entry);
    this.line.add(entry);
  }

  get(store: string, key: string): V | undefined {
    return this.byStore.get(store)?.get(key)?.value as V | undefined;
  }

  ofStore(store: string): V[] {
    const m = this.byStore.get(store);
    return m ? [...m.values()].map((e) => e.value as V) : [];
  }

  all(): V[] {
    const out: V[] = [];
    for (const m of this.byStore.values()) for (const e of m.values()) out.push(e.value as V);
    return out;
  }

  delete(store: string, key: string): void {
    const m = this.byStore.get(store);
    const e = m?.get(key);
    if (!m || !e) return;
    this.remove(e);
  }

  remove(e: Entry): void {
    const m = this.byStore.get(e.store);
    if (m?.get(e.key) !== e) return;
    m.delete(e.key);
    if (m.size === 0) this.byStore.delete(e.store);
    this.line.delete(e);
  }
}

export interface DeferredStats {
  /** rows waiting to be written */
  waiting: number;
  /** batches written (each one transaction) */
  batches: number;
  /** rows written */
  rows: number;
  /** batches that failed (their rows kept for the next one) */
  failures: number;
  /** rows the database refused (a constraint): dropped */
  dropped: number;
}

/** Most rows written in one transaction. */
export const DEFAULT_BATCH_ROWS = 500;

/**
 * The queue of deferred writes of one database. `flush()` writes what waits, oldest first, at most
 * `maxRows` rows per transaction, and lets the event loop run between two transactions; the
 * hub runs it every second. `drain()` writes everything at once in synced transactions (closing).
 */
export class DeferredWrites {
  /** every waiting entry, in the order it first came */
  private readonly line = new Set<Entry>();
  private readonly kinds = new Map<string, Kind<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<number> | undefined;
  private closed = false;
  private onError: (err: unknown, rows: number, fate: string) => void = () => {
    // until the hub says where failures go: none reported
  };
  private readonly counts = { batches: 0, rows: 0, failures: 0, dropped: 0 };

  constructor(
    private readonly txs: BatchTransactions,
    readonly maxRows = DEFAULT_BATCH_ROWS,
  ) {}

  /** A kind of deferred write; `write` runs inside the batch's transaction, once per waiting value. */
  kind<V>(name: string, write: (value: V) => void): DeferredKind<V> {
    if (this.kinds.has(name)) throw new Error(`deferred writes: "${name}" is already a kind`);
    const k = new Kind<V>(name, write, this.line);
    this.kinds.set(name, k as Kind<unknown>);
    return k;
  }

  get waiting(): number {
    return this.line.size;
  }

  stats(): DeferredStats {
    return { waiting: this.line.size, ...this.counts };
  }

  /**
   * Writes at most `maxRows` (and `limit`) waiting rows, oldest first, in one transaction (NORMAL;
   * synced with `synced`). Returns how many it took (written, or dropped when refused); a failed
   * transaction writes none, keeps them and throws.
   */
  writeBatch(synced = false, limit = this.maxRows): number {
    if (this.closed || this.line.size === 0) return 0;
    const batch: Entry[] = [];
    for (const e of this.line) {
      batch.push(e);
      if (batch.length >= Math.min(limit, this.maxRows)) break;
    }
    const refused: { entry: Entry; err: unknown }[] = [];
    const write = (): void => {
      for (const e of batch) {
        try {
          e.kind.write(e.value);
        } catch (err) {
          // a row the database refuses (a constraint) would refuse every batch: it is dropped, not retried
          if (!isConstraintError(err)) throw err;
          refused.push({ entry: e, err });
        }
      }
    };
    try {
      if (synced) this.txs.tx(write);
      else this.txs.relaxed(write);
    } catch (err) {
      this.counts.failures++;
      throw err;
    }
    // nothing ran between the writes and here (no await): what was written is what waited
    for (const e of batch) e.kind.remove(e);
    this.counts.batches++;
    this.counts.rows += batch.length - refused.length;
    this.counts.dropped += refused.length;
    for (const r of refused) this.onError(r.err, 1, 'dropped: the database refuses it');
    return batch.length;
  }

  /**
   * Writes what waits now, batch after batch, yielding to the event loop between two batches (what
   * comes meanwhile waits for the next flush). One flush at a time: a call during one joins it.
   * Resolves with the rows taken; a failed batch ends the flush (reported to `onError`), its rows kept.
   */
  flush(): Promise<number> {
    this.flushing ??= this.run().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async run(): Promise<number> {
    let budget = this.line.size;
    let written = 0;
    while (budget > 0 && !this.closed) {
      let n: number;
      try {
        n = this.writeBatch(false, budget);
      } catch (err) {
        this.onError(err, Math.min(this.line.size, this.maxRows), 'kept for the next batch');
        break;
      }
      if (n === 0) break;
      written += n;
      budget -= n;
      if (budget > 0) await new Promise<void>((r) => setImmediate(r));
    }
    return written;
  }

  /** Flushes every `everyMs` until `stop()`; `onError` hears each failed batch. */
  start(everyMs: number, onError: (err: unknown, rows: number, fate: string) => void): void {
    this.onError = onError;
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => void this.flush(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Writes everything that waits, synced, in batches of `maxRows`, without yielding (the database is
   * about to close). A failure is reported to `onError` and what is left is lost. Nothing is written after it.
   */
  drain(): number {
    this.stop();
    let written = 0;
    try {
      for (let n = this.writeBatch(true); n > 0; n = this.writeBatch(true)) written += n;
    } catch (err) {
      this.onError(err, this.line.size, 'lost: the database is closing');
    }
    this.closed = true;
    return written;
  }
}
