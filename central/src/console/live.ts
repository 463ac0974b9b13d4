import type { Logger } from '@tillbridge/shared';
import type { Feed } from '../feed/feed.js';
import { DECISION_TYPES, decisionOf, type DecisionRow, type LiveStoreRow } from './fleet.js';
import type { AuditRow, ExceptionDetail, Timeline, TerminalRow } from './wire.js';

/** What one viewer is sent: a decision as it is committed, or the stores whose live row changed. */
export type LiveMessage =
  | { event: 'decision'; data: DecisionRow }
  | { event: 'stores'; data: LiveStoreRow[] }
  | { event: 'terminals'; data: { store: string; terminals: TerminalRow[] } }
  | { event: 'exceptions'; data: ExceptionDetail[] }
  | { event: 'audit'; data: AuditRow[] }
  | { event: 'timeline'; data: Timeline };

/** The open exceptions and the audit log's tail, as the console pushes them when they change. */
export interface OversightSource {
  /** every open exception with its detail, newest first */
  exceptions(): ExceptionDetail[];
  /** the audit log's last entry id (0 when empty) */
  auditLastId(): number;
  /** the entries after `id`, oldest first, at most `limit` */
  auditAfter(id: number, limit: number): AuditRow[];
  /** this process's audit appends, once committed */
  onAppended(listener: () => void): void;
}

/** Feed entries that raise or settle an exception (a return flagged or refused, a register's day reconciled). */
const EXCEPTION_TYPES: readonly string[] = ['return.exception', 'day.discrepancy', 'day.reconciled'];
const LIVE_TYPES = [...DECISION_TYPES, ...EXCEPTION_TYPES];
/** Audit entries pushed at once at most (the view shows the latest 50). */
const AUDIT_PUSH = 50;

export interface LiveDeps {
  /** the hub's feed: its after-commit signal (this process's commits and those the cluster tells of), and its rows */
  feed: Pick<Feed, 'head' | 'read'>;
  commits: Pick<Feed, 'onCommitted'>;
  /** this process's presence changes, as they happen */
  presence: { onChange(listener: (store: string) => void): void };
  /** the live rows of these stores (all when undefined) */
  rows(only?: ReadonlySet<string>): LiveStoreRow[];
  /** this process's reports of a store's registers that change them, as they are recorded */
  terminals: { onChange(listener: (store: string) => void): void };
  /** a store's registers as held now */
  terminalRows(store: string): TerminalRow[];
  /** the open exceptions and the audit tail; without it neither is pushed */
  oversight?: OversightSource;
  /** the charts over time (timeline.ts): started while anyone watches, each new one sent to every viewer */
  timeline?: { start(send: (t: Timeline) => void): void; stop(): void };
  log: Logger;
}

export interface LiveOptions {
  /** how soon the stores changed here are sent (changes within it go together; default 250 ms) */
  flushMs?: number;
  /** how often every store's row is looked at again, for the stores other hub processes hold (default 5 s) */
  refreshMs?: number;
}

/** Feed entries read at once after a commit (up to ten such reads; a burst beyond is read at the next commit). */
const READ_BATCH = 1000;

/**
 * The console's live updates, one per hub process whatever the number of viewers: after each commit that put entries
 * on the feed it reads them once (the decisions among them go to every viewer); each presence change of this process
 * sends that store's row; and while anyone watches, every `refreshMs` the rows are looked at again (one read of the
 * stores, presence from memory) and those that changed are sent — the stores other hub processes hold. Nothing is
 * read while nobody watches.
 */
export class ConsoleLive {
  private readonly viewers = new Set<(m: LiveMessage) => void>();
  private position = 0;
  private readonly dirty = new Set<string>();
  private readonly dirtyTerminals = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** each store's row as last sent (JSON), to send only what changed */
  private readonly sent = new Map<string, string>();
  /** each store's register counts at the last refresh (JSON): a change sends its registers, wherever reported */
  private readonly registersSeen = new Map<string, string>();
  private oversightTimer: NodeJS.Timeout | undefined;
  private exceptionsDirty = false;
  /** the open exceptions as last sent (JSON), and the last audit entry sent */
  private exceptionsSent: string | undefined;
  private auditSent = 0;
  private readonly timing: Required<LiveOptions>;

  constructor(
    private readonly deps: LiveDeps,
    { flushMs = 250, refreshMs = 5000 }: LiveOptions = {},
  ) {
    this.timing = { flushMs, refreshMs };
    deps.commits.onCommitted(() => this.guard('read the feed', () => this.readFeed()));
    deps.presence.onChange((store) => this.storeChanged(store));
    deps.terminals.onChange((store) => this.storeChanged(store, true));
    deps.oversight?.onAppended(() => this.oversightChanged(false));
  }

  /** A viewer joins: it is sent every message from now on until the function returned is called. */
  join(viewer: (m: LiveMessage) => void): () => void {
    if (this.viewers.size === 0) this.start();
    this.viewers.add(viewer);
    return () => {
      this.viewers.delete(viewer);
      if (this.viewers.size === 0) this.pause();
    };
  }

  watching(): number {
    return this.viewers.size;
  }

  close(): void {
    this.viewers.clear();
    this.pause();
  }

  private start(): void {
    this.position = this.deps.feed.head();
    this.sent.clear();
    this.registersSeen.clear();
    for (const r of this.deps.rows()) {
      this.sent.set(r.store, JSON.stringify(r));
      this.registersSeen.set(r.store, JSON.stringify(r.registers));
    }
    this.exceptionsSent = undefined;
    if (this.deps.oversight) this.auditSent = this.deps.oversight.auditLastId();
    this.refreshTimer = setInterval(() => this.guard('refresh the fleet', () => this.refresh()), this.timing.refreshMs);
    this.refreshTimer.unref();
    this.deps.timeline?.start((t) => this.broadcast({ event: 'timeline', data: t }));
  }

  private pause(): void {
    clearInterval(this.refreshTimer);
    clearTimeout(this.flushTimer);
    clearTimeout(this.oversightTimer);
    this.refreshTimer = this.flushTimer = this.oversightTimer = undefined;
    this.exceptionsDirty = false;
    this.deps.timeline?.stop();
    this.dirty.clear();
    this.dirtyTerminals.clear();
  }

  private readFeed(): void {
    for (let batch = 0; batch < 10 && this.viewers.size > 0; batch++) {
      const from = this.position;
      const { entries, next } = this.deps.feed.read(from, READ_BATCH, { types: LIVE_TYPES });
      this.position = next;
      for (const e of entries)
        if (EXCEPTION_TYPES.includes(e.type)) this.exceptionsDirty = true;
        else this.broadcast({ event: 'decision', data: decisionOf(e) });
      if (next === from) break;
    }
    // what committed may have appended to the audit log, here or in another hub process
    this.oversightChanged(false);
  }

  /**
   * The every-refreshMs look: the stores' rows; the registers of a store whose register counts changed (reported to
   * another hub process, they reach this one only so); the audit log's end (appended by other processes).
   */
  private refresh(): void {
    const rows = this.deps.rows();
    this.send(rows);
    for (const r of rows) {
      const counts = JSON.stringify(r.registers);
      const before = this.registersSeen.get(r.store);
      this.registersSeen.set(r.store, counts);
      if (before !== undefined && before !== counts) this.storeChanged(r.store, true);
    }
    this.oversightChanged(false);
  }

  /**
   * The audit log or (`exceptions`) the open exceptions may have changed: after flushMs, with whatever else changed
   * since, the audit entries appended are sent (one read from where the last sent ended; none when it has not moved)
   * and the open exceptions, when an entry raised or settled one, if they differ from those last sent.
   */
  private oversightChanged(exceptions: boolean): void {
    if (!this.deps.oversight || this.viewers.size === 0) return;
    if (exceptions) this.exceptionsDirty = true;
    this.oversightTimer ??= setTimeout(() => {
      this.oversightTimer = undefined;
      this.guard('send the audit tail and the open exceptions', () => this.sendOversight());
    }, this.timing.flushMs);
  }

  private sendOversight(): void {
    const o = this.deps.oversight;
    if (!o) return;
    const last = o.auditLastId();
    if (last > this.auditSent) {
      const fresh = o.auditAfter(Math.max(this.auditSent, last - AUDIT_PUSH), AUDIT_PUSH);
      this.auditSent = Math.max(last, ...fresh.map((e) => e.id));
      if (fresh.some((e) => e.action.startsWith('exception.'))) this.exceptionsDirty = true;
      if (fresh.length > 0) this.broadcast({ event: 'audit', data: fresh.reverse() });
    }
    if (!this.exceptionsDirty) return;
    this.exceptionsDirty = false;
    const list = o.exceptions();
    const json = JSON.stringify(list);
    if (json === this.exceptionsSent) return;
    this.exceptionsSent = json;
    this.broadcast({ event: 'exceptions', data: list });
  }

  /** A store's presence (or, `terminals`, its registers) changed here: sent after flushMs, with the others since. */
  private storeChanged(store: string, terminals = false): void {
    if (this.viewers.size === 0) return;
    (terminals ? this.dirtyTerminals : this.dirty).add(store);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const only = new Set(this.dirty);
      const registers = [...this.dirtyTerminals];
      this.dirty.clear();
      this.dirtyTerminals.clear();
      if (only.size > 0) this.guard('send the stores changed', () => this.send(this.deps.rows(only)));
      for (const s of registers)
        this.guard("send a store's registers", () =>
          this.broadcast({ event: 'terminals', data: { store: s, terminals: this.deps.terminalRows(s) } }),
        );
    }, this.timing.flushMs);
  }

  /** Sends the rows that differ from what was last sent. */
  private send(rows: LiveStoreRow[]): void {
    const changed = rows.filter((r) => {
      const json = JSON.stringify(r);
      if (this.sent.get(r.store) === json) return false;
      this.sent.set(r.store, json);
      return true;
    });
    if (changed.length > 0) this.broadcast({ event: 'stores', data: changed });
  }

  private broadcast(m: LiveMessage): void {
    for (const v of [...this.viewers]) v(m);
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log.warn({ err }, `console: could not ${what}`);
    }
  }
}
