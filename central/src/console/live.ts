import type { Logger } from '@tillbridge/shared';
import type { Feed } from '../feed/feed.js';
import { DECISION_TYPES, decisionOf, type DecisionRow, type LiveStoreRow } from './fleet.js';
import type { Timeline, TerminalRow } from './wire.js';

/** What one viewer is sent: a decision as it is committed, or the stores whose live row changed. */
export type LiveMessage =
  | { event: 'decision'; data: DecisionRow }
  | { event: 'stores'; data: LiveStoreRow[] }
  | { event: 'terminals'; data: { store: string; terminals: TerminalRow[] } }
  | { event: 'timeline'; data: Timeline };

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
  private readonly flushMs: number;
  private readonly refreshMs: number;

  constructor(
    private readonly d: LiveDeps,
    o: LiveOptions = {},
  ) {
    this.flushMs = o.flushMs ?? 250;
    this.refreshMs = o.refreshMs ?? 5000;
    d.commits.onCommitted(() => this.guard('read the feed', () => this.readFeed()));
    d.presence.onChange((store) => this.storeChanged(store));
    d.terminals.onChange((store) => this.storeChanged(store, true));
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
    this.position = this.d.feed.head();
    this.sent.clear();
    for (const r of this.d.rows()) this.sent.set(r.store, JSON.stringify(r));
    this.refreshTimer = setInterval(
      () => this.guard('refresh the fleet', () => this.send(this.d.rows())),
      this.refreshMs,
    );
    this.refreshTimer.unref();
    this.d.timeline?.start((t) => this.broadcast({ event: 'timeline', data: t }));
  }

  private pause(): void {
    clearInterval(this.refreshTimer);
    clearTimeout(this.flushTimer);
    this.refreshTimer = this.flushTimer = undefined;
    this.d.timeline?.stop();
    this.dirty.clear();
    this.dirtyTerminals.clear();
  }

  private readFeed(): void {
    for (let batch = 0; batch < 10 && this.viewers.size > 0; batch++) {
      const from = this.position;
      const { entries, next } = this.d.feed.read(from, READ_BATCH, { types: DECISION_TYPES });
      this.position = next;
      for (const e of entries) this.broadcast({ event: 'decision', data: decisionOf(e) });
      if (next === from) return;
    }
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
      if (only.size > 0) this.guard('send the stores changed', () => this.send(this.d.rows(only)));
      for (const s of registers)
        this.guard("send a store's registers", () =>
          this.broadcast({ event: 'terminals', data: { store: s, terminals: this.d.terminalRows(s) } }),
        );
    }, this.flushMs);
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
      this.d.log.warn({ err }, `console: could not ${what}`);
    }
  }
}
