import type { IncomingMessage } from 'node:http';
import { TbCodes, TbError } from '@tillbridge/shared';
import type { AuditLog } from '../domain/audit-log.js';
import { iso, type Clock } from '../domain/clock.js';
import type { HubStorage, Statement } from '../storage/index.js';

export interface GateOptions {
  /**
   * Access tokens per store (requests with a working API key, whatever their address): up to
   * `tokenBurst` at once, the allowance refilling evenly, `tokenBurst` per `tokenPeriodMs`.
   */
  tokenBurst: number;
  tokenPeriodMs: number;
  /** Failed authentications per source within `windowMs` before the source is blocked. */
  maxFailures: number;
  windowMs: number;
  /** How long a blocked source's failing requests are refused. */
  blockMs: number;
  /** Most sources remembered at once; past it the one seen longest ago is forgotten. */
  maxSources?: number;
  /**
   * Most stores whose token allowance is remembered; past it the one seen longest ago is forgotten (its allowance full
   * again).
   */
  maxStores?: number;
  /** Most gate audit entries written per minute; the rest are counted into one `auth.summary` entry a minute. */
  auditPerMinute?: number;
}

export const DEFAULT_GATE: Required<GateOptions> = {
  tokenBurst: 10,
  tokenPeriodMs: 5 * 60_000,
  maxFailures: 10,
  windowMs: 5 * 60_000,
  blockMs: 5 * 60_000,
  maxSources: 10_000,
  maxStores: 100_000,
  auditPerMinute: 100,
};

const MINUTE = 60_000;
/** Most stores a blocked source's failures named that are remembered (their keys refused unchecked from it). */
export const LOCKED_PER_SOURCE = 100;

export function sourceOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** Whole seconds for a `Retry-After` header: at least 1, never less than `ms`. */
export function retryAfterSec(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * The error every 429 answers with: `TB_RATE_LIMITED`, and how long to wait (`details.retryAfterSec`, the `Retry-After`
 * header).
 */
export function rateLimited(message: string, retryAfterMs: number): TbError {
  return new TbError(TbCodes.RATE_LIMITED, message, { details: { retryAfterSec: retryAfterSec(retryAfterMs) } });
}

/** Failed authentications of one source not yet written, to be written as one entry with their count. */
interface Pending {
  count: number;
  from: number;
  to: number;
  what: Record<string, number>;
  store: string | null;
}

/** What this process holds back of a source's audit entries (the audit's volume is each process's own). */
interface Quiet {
  /** Until then, this source's failures are counted into `pending` rather than written one by one. */
  quietUntil: number;
  pending: Pending | undefined;
}

/** A source's shared state (table gate_sources): what every hub process on the database enforces. */
interface SourceState {
  /** The latest failures within the window, at most maxFailures: [at, the store whose key it tried, or null]. */
  failures: [number, string | null][];
  blockedUntil: number;
  /** While blocked: the stores whose keys it failed at — its further tries at them are refused unchecked. */
  locked: string[];
}

interface SourceRow {
  failures: string;
  blocked_until: number;
  locked: string;
}
const toState = (r: SourceRow): SourceState => ({
  failures: JSON.parse(r.failures) as [number, string | null][],
  blockedUntil: r.blocked_until,
  locked: JSON.parse(r.locked) as string[],
});

interface Entry {
  source: string;
  action: string;
  what: string;
  details: Record<string, unknown>;
  store?: string | null;
  /** The failed authentications this entry stands for. */
  count: number;
}

function prepare(s: HubStorage) {
  const p = (sql: string): Statement => s.db.prepare(sql);
  return {
    source: p(`SELECT failures, blocked_until, locked FROM gate_sources WHERE source = ?`),
    blockedUntil: p(`SELECT blocked_until FROM gate_sources WHERE source = ?`),
    putSource: p(
      `INSERT INTO gate_sources (source, failures, blocked_until, locked, last_at)
       VALUES (@source, @failures, @blocked_until, @locked, @last_at)
       ON CONFLICT (source) DO UPDATE SET failures = excluded.failures, blocked_until = excluded.blocked_until,
         locked = excluded.locked, last_at = excluded.last_at`,
    ),
    // the newest `max` sources stay (ties by name)
    trimSources: p(
      `DELETE FROM gate_sources WHERE (last_at, source) <= (SELECT last_at, source FROM gate_sources
       ORDER BY last_at DESC, source DESC LIMIT 1 OFFSET @max)`,
    ),
    sweepSources: p(`DELETE FROM gate_sources WHERE blocked_until <= @now AND last_at <= @windowStart`),
    countSources: p(`SELECT COUNT(*) AS n FROM gate_sources`),
    allSources: p(`SELECT failures, blocked_until, locked FROM gate_sources`),
    // a token request: the store's allowance and whether its source is blocked from its key, in one statement
    tokenCheck: p(
      `SELECT (SELECT tat FROM gate_allowances WHERE store = @store) AS tat,
              (SELECT blocked_until FROM gate_sources WHERE source = @source) AS blocked_until,
              (SELECT locked FROM gate_sources WHERE source = @source) AS locked`,
    ),
    // GCRA: the allowance is a "theoretical arrival time"; a token moves it one interval on from now or from where it
    // is
    take: p(
      `INSERT INTO gate_allowances (store, tat, limited_until) VALUES (@store, @first, 0)
       ON CONFLICT (store) DO UPDATE SET tat = (CASE WHEN gate_allowances.tat > @now THEN gate_allowances.tat
         ELSE @now END) + @interval
       RETURNING tat`,
    ),
    limited: p(`UPDATE gate_allowances SET limited_until = @until WHERE store = @store AND limited_until <= @now`),
    // the allowances furthest from empty go first
    trimStores: p(
      `DELETE FROM gate_allowances WHERE (tat, store) <= (SELECT tat, store FROM gate_allowances
       ORDER BY tat DESC, store DESC LIMIT 1 OFFSET @max)`,
    ),
    sweepStores: p(`DELETE FROM gate_allowances WHERE tat <= @now AND limited_until <= @now`),
    countStores: p(`SELECT COUNT(*) AS n FROM gate_allowances`),
  };
}

/**
 * Who may ask, and how often.
 *
 * - **Per store (credential)**: a request with a working API key takes a token from its store's
 *   allowance (`tokenBurst` at once, refilled evenly over `tokenPeriodMs`), whatever address it
 *   comes from — a whole chain behind one NAT shares nothing. A request refused for it takes
 *   nothing, so a client retrying while refused is not kept out longer: it gets in once the
 *   allowance has refilled (the `Retry-After` it was told).
 * - **Per source (address)**: requests that fail authentication (bad API key, admin token, access
 *   token or client certificate, malformed token requests). `maxFailures` within `windowMs` block
 *   the source for `blockMs`: its failing requests are answered 429, and not counted into the
 *   window again (a refusal never extends the block). Its requests that authenticate are still
 *   served — but not its tries at the keys of the stores it failed at (brute force per credential):
 *   those are refused unchecked until the block ends.
 *
 * Shared by every hub process on the database: allowances (table gate_allowances) and sources'
 * failures, blocks and locked stores (gate_sources) live in the database, so N processes enforce
 * one limit. The hot paths are one small statement each: `blockedFor` (every request without a
 * credential) one primary-key read, `tokenWait` one read, `tokenIssued` one upsert. A failure is
 * one write transaction — none for a source already blocked (its failures are not counted again).
 * Two processes letting the same store's last token through at the same instant both take it: the
 * allowance goes into debt and the store waits that much longer, so over time the limit holds.
 *
 * Bounded, whatever the traffic: a source's first failure in a window is audited at once and the
 * rest of that window are written as one entry with their `count` (or folded into the
 * `auth.blocked` entry); at most `auditPerMinute` entries are written a minute, the rest counted
 * into one `auth.summary` entry a minute — so the counts in the audit add up to every failure.
 * That audit bookkeeping is each process's own (per process: at most `auditPerMinute` a minute,
 * `maxSources` sources held back). At most about `maxSources` sources are kept, each with at most
 * `maxFailures` times and `LOCKED_PER_SOURCE` stores, and about `maxStores` allowances (only
 * stores that got a token); a source or allowance with nothing live is forgotten by `sweep()` (run
 * by the hub's timer, and lazily on calls).
 */
export class Gate {
  private readonly quiet = new Map<string, Quiet>();
  private readonly storage: HubStorage;
  private readonly st: ReturnType<typeof prepare>;
  private readonly maxSources: number;
  private readonly maxStores: number;
  private readonly auditPerMinute: number;
  /** ms per token: how long the allowance takes to regain one. */
  private readonly interval: number;
  private budgetFrom = 0;
  private written = 0;
  private overflow:
    { entries: number; count: number; byAction: Record<string, number>; from: number; to: number } | undefined;
  private nextSweep = 0;
  /**
   * Rows as counted at the last sweep plus those this process added since (another process's are counted at the next
   * sweep).
   */
  private sourceRows: number;
  private storeRows: number;

  constructor(
    private readonly opts: GateOptions,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    storage: HubStorage = audit.storage,
  ) {
    this.maxSources = opts.maxSources ?? DEFAULT_GATE.maxSources;
    this.maxStores = opts.maxStores ?? DEFAULT_GATE.maxStores;
    this.auditPerMinute = opts.auditPerMinute ?? DEFAULT_GATE.auditPerMinute;
    this.interval = opts.tokenPeriodMs / opts.tokenBurst;
    this.st = prepare(storage);
    this.storage = storage;
    this.sourceRows = this.count(this.st.countSources);
    this.storeRows = this.count(this.st.countStores);
  }

  /** How much longer `source` is blocked (ms), else 0. One primary-key read. */
  blockedFor(source: string): number {
    const r = this.st.blockedUntil.get(source) as { blocked_until: number } | undefined;
    return r === undefined ? 0 : Math.max(0, r.blocked_until - this.clock.now());
  }

  blocked(source: string): boolean {
    return this.blockedFor(source) > 0;
  }

  /**
   * Before the API key of a token request for `store` is checked: 0 when it may go ahead, else how
   * long to wait (ms) — the store has used its allowance, or `source` is blocked and failed at this
   * store's key. Takes nothing: only `tokenIssued` does.
   */
  tokenWait(source: string, store: string): number {
    const now = this.clock.now();
    const r = this.st.tokenCheck.get({ store, source }) as {
      tat: number | null;
      blocked_until: number | null;
      locked: string | null;
    };
    const blockedUntil = r.blocked_until ?? 0;
    if (blockedUntil > now && r.locked !== null && (JSON.parse(r.locked) as string[]).includes(store))
      return blockedUntil - now;
    if (r.tat === null) return 0;
    // tokens left = burst - (tat - now) / interval; one is there while tat - now <= (burst - 1) intervals
    const wait = Math.max(r.tat, now) - now - (this.opts.tokenBurst - 1) * this.interval;
    if (wait <= 0) return 0;
    if (this.write1(() => this.st.limited.run({ store, now, until: now + MINUTE }).changes) > 0) {
      this.write({
        source,
        action: 'auth.rate_limited',
        what: 'token requests',
        details: { burst: this.opts.tokenBurst, periodSec: this.opts.tokenPeriodMs / 1000 },
        store,
        count: 0,
      });
    }
    return Math.ceil(wait);
  }

  /** A token was issued to `store`: one taken from its allowance (one upsert). */
  tokenIssued(store: string): void {
    const now = this.clock.now();
    if (now >= this.nextSweep) this.sweep();
    this.write1(() => {
      const r = this.st.take.get({ store, now, first: now + this.interval, interval: this.interval }) as {
        tat: number;
      };
      // new, or full until now (as good as new): maybe one allowance more than counted
      if (r.tat - now <= this.interval && ++this.storeRows > this.maxStores) {
        this.st.trimStores.run({ max: this.maxStores });
        this.storeRows = this.count(this.st.countStores);
      }
    });
  }

  /**
   * A failed authentication from `source` (`tried`: the store whose API key it tried, if any),
   * audited (see the class); blocks the source past the limit. Returns how long the source is
   * blocked (ms): above 0, answer this request 429 with that wait.
   */
  failed(source: string, what: string, details: Record<string, unknown> = {}, store?: string, tried?: string): number {
    const now = this.clock.now();
    const q = this.touch(source, now);
    const { blockedUntil, failures, newBlock } = this.recordFailure(source, now, tried);
    if (now >= q.quietUntil) {
      this.flushPending(source, q);
      q.quietUntil = now + this.opts.windowMs;
      this.write({
        source,
        action: 'auth.refused',
        what,
        details: { ...details, count: 1 },
        store: store ?? null,
        count: 1,
      });
    } else {
      const p = (q.pending ??= { count: 0, from: now, to: now, what: {}, store: store ?? null });
      p.count++;
      p.to = now;
      p.what[what] = (p.what[what] ?? 0) + 1;
      if (p.store !== (store ?? null)) p.store = null;
    }
    if (newBlock) {
      const folded = q.pending?.count ?? 0;
      q.pending = undefined;
      this.write({
        source,
        action: 'auth.blocked',
        what: 'too many failed authentications',
        details: { failures, until: iso(blockedUntil), count: folded },
        count: folded,
      });
    }
    return Math.max(0, blockedUntil - now);
  }

  /** Audits a refusal that is not an authentication failure (a certificate for another store…). */
  refused(source: string, action: string, what: string, details: Record<string, unknown> = {}, store?: string): void {
    this.write({ source, action, what, details, store: store ?? null, count: 0 });
  }

  /**
   * Writes what is due (each source's counted failures once its window has passed, the minute's
   * summary) and forgets the sources and allowances with nothing live. The hub's timer runs it;
   * calls run it too, at most once per minute.
   */
  sweep(): void {
    const now = this.clock.now();
    this.nextSweep = now + MINUTE;
    for (const [source, q] of this.quiet) {
      if (q.pending && now >= q.quietUntil) this.flushPending(source, q);
      if (q.pending === undefined && q.quietUntil <= now) this.quiet.delete(source);
    }
    this.write1(() => {
      this.st.sweepSources.run({ now, windowStart: now - this.opts.windowMs });
      // an allowance that has refilled is the same as none
      this.st.sweepStores.run({ now });
    });
    this.sourceRows = this.count(this.st.countSources);
    this.storeRows = this.count(this.st.countStores);
    this.flushOverflow(now);
  }
  /** Writes everything counted and not yet written (at shutdown). */
  flush(): void {
    for (const [source, q] of this.quiet) this.flushPending(source, q);
    this.flushOverflow(this.clock.now(), true);
  }

  /**
   * How much the gate holds (every process's), for tests and metrics: sources, their failure times and locked stores,
   * store allowances.
   */
  size(): { sources: number; times: number; locked: number; stores: number } {
    let times = 0;
    let locked = 0;
    const rows = (this.st.allSources.all() as SourceRow[]).map(toState);
    for (const st of rows) {
      times += st.failures.length;
      locked += st.locked.length;
    }
    return { sources: rows.length, times, locked, stores: this.count(this.st.countStores) };
  }

  /**
   * The gate's writes: one transaction that does not wait for the disk (`relaxed`) — a crash may
   * forget the last failures or tokens counted, which only makes the gate briefly more lenient,
   * never lets it refuse wrongly. Inside a caller's transaction, part of it.
   */
  private write1<T>(fn: () => T): T {
    return this.storage.inTransaction() ? fn() : this.storage.relaxed(fn);
  }

  private count(st: Statement): number {
    return (st.get() as { n: number }).n;
  }

  /**
   * Counts a failure into the source's shared state, in one write transaction (re-read under the
   * write lock, so failures from several processes add up). A source already blocked writes
   * nothing, unless it tried a store's key it is not yet locked out of.
   */
  private recordFailure(
    source: string,
    now: number,
    tried: string | undefined,
  ): { blockedUntil: number; failures: number; newBlock: boolean } {
    const read = (): SourceState | undefined => {
      const r = this.st.source.get(source) as SourceRow | undefined;
      return r && toState(r);
    };
    const seen = read();
    if (
      seen &&
      seen.blockedUntil > now &&
      (tried === undefined || seen.locked.includes(tried) || seen.locked.length >= LOCKED_PER_SOURCE)
    ) {
      return { blockedUntil: seen.blockedUntil, failures: seen.failures.length, newBlock: false };
    }
    return this.write1(() => {
      const row = read();
      const st = row ?? { failures: [], blockedUntil: 0, locked: [] };
      let newBlock = false;
      if (st.blockedUntil <= now) {
        st.locked = []; // what a past block locked
        st.failures = st.failures.filter(([at]) => at > now - this.opts.windowMs);
        st.failures.push([now, tried ?? null]);
        if (st.failures.length > this.opts.maxFailures) st.failures.shift();
        if (st.failures.length >= this.opts.maxFailures) {
          st.blockedUntil = now + this.opts.blockMs;
          st.locked = [...new Set(st.failures.flatMap(([, t]) => (t === null ? [] : [t])))].slice(0, LOCKED_PER_SOURCE);
          newBlock = true;
        }
      } else if (tried !== undefined && !st.locked.includes(tried) && st.locked.length < LOCKED_PER_SOURCE) {
        st.locked.push(tried);
      }
      this.st.putSource.run({
        source,
        failures: JSON.stringify(st.failures),
        blocked_until: st.blockedUntil,
        locked: JSON.stringify(st.locked),
        last_at: now,
      });
      if (!row && ++this.sourceRows > this.maxSources) {
        this.st.trimSources.run({ max: this.maxSources });
        this.sourceRows = this.count(this.st.countSources);
      }
      return { blockedUntil: st.blockedUntil, failures: st.failures.length, newBlock };
    });
  }

  /**
   * The source's audit bookkeeping in this process, most recently seen last (the Map's order), making room when full.
   */
  private touch(source: string, now: number): Quiet {
    if (now >= this.nextSweep) this.sweep();
    let q = this.quiet.get(source);
    if (q) {
      this.quiet.delete(source);
    } else {
      q = { quietUntil: 0, pending: undefined };
      while (this.quiet.size >= this.maxSources) {
        const [oldest, old] = this.quiet.entries().next().value ?? [];
        if (oldest === undefined || old === undefined) break;
        this.flushPending(oldest, old);
        this.quiet.delete(oldest);
      }
    }
    this.quiet.set(source, q);
    return q;
  }

  private flushPending(source: string, q: Quiet): void {
    const p = q.pending;
    if (!p) return;
    q.pending = undefined;
    this.write({
      source,
      action: 'auth.refused',
      what: Object.keys(p.what).join(', '),
      details: { count: p.count, from: iso(p.from), to: iso(p.to), what: p.what },
      store: p.store,
      count: p.count,
    });
  }

  /** Audits an entry within the minute's budget; past it, counts it into the minute's summary. */
  private write(e: Entry): void {
    const now = this.clock.now();
    this.flushOverflow(now);
    if (this.written < this.auditPerMinute) {
      this.written++;
      this.audit.append({
        actor: `source:${e.source}`,
        action: e.action,
        outcome: 'refused',
        store: e.store ?? null,
        resource: e.what,
        details: e.details,
      });
      return;
    }
    const o = (this.overflow ??= { entries: 0, count: 0, byAction: {}, from: now, to: now });
    o.entries++;
    o.count += e.count;
    o.to = now;
    o.byAction[e.action] = (o.byAction[e.action] ?? 0) + 1;
  }

  /** A new minute: the previous one's summary (if entries were held back), and a fresh budget. */
  private flushOverflow(now: number, force = false): void {
    if (now - this.budgetFrom < MINUTE && !force) return;
    if (now - this.budgetFrom >= MINUTE) {
      this.budgetFrom = now;
      this.written = 0;
    }
    const o = this.overflow;
    if (!o) return;
    this.overflow = undefined;
    this.audit.append({
      actor: 'source:*',
      action: 'auth.summary',
      outcome: 'refused',
      resource: 'gate',
      details: {
        entries: o.entries,
        count: o.count,
        byAction: o.byAction,
        from: iso(o.from),
        to: iso(o.to),
        note: `over ${this.auditPerMinute} gate entries a minute: counted here, not written one by one`,
      },
    });
  }
}
