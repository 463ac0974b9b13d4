import { hostname } from 'node:os';
import { monotonicClock, type Logger } from '@tillbridge/shared';
import type { DeferredKind } from '../storage/deferred-writes.js';
import type { HubStorage, Statement } from '../storage/sql.js';
import { iso, type Clock } from '../domain/clock.js';
import type { SharedPresence, StorePresence } from '../sync/presence.js';

/** How often a hub process says it is alive (default); a deferred write, so at most a second later in the database. */
export const DEFAULT_PROCESS_HEARTBEAT_MS = 2_000;
/**
 * A process not heard of for this long (killed, or cut off from the database) no longer counts, nor do its connections.
 */
export const DEFAULT_PROCESS_TIMEOUT_MS = 15_000;
/** How long a read of the other processes' connections is reused (status pages ask per store). */
const SNAPSHOT_MS = 250;

interface SessionRow {
  store: string;
  process: string;
  agent_id: string;
  connected_at: string;
  last_seen_at: string;
  figures: string;
}
type Figures = Omit<StorePresence, 'store' | 'connected'>;

interface SessionValue {
  store: string;
  gone?: boolean;
  agentId?: string;
  connectedAt?: string;
  lastSeenAt?: string;
  figures?: string;
}

export interface LiveSessionsOptions {
  heartbeatMs?: number;
  timeoutMs?: number;
}

/**
 * The agent connections of every hub process on one database (`live_sessions`), and each
 * process's heartbeat (`hub_processes`): what `status`, the admin API and the metrics show of the
 * stores other processes hold. Neither is owed durability — an agent says it all again on its
 * next heartbeat — so both go through the deferred writes (one relaxed batch a second). A process
 * whose heartbeat is older than the timeout (SIGKILL, a cut network) stops counting, and with it
 * its connections; its rows are removed after ten timeouts by whichever process sweeps first.
 */
export class LiveSessions implements SharedPresence {
  private readonly sessions: DeferredKind<SessionValue>;
  private readonly processes: DeferredKind<{ heartbeatAt: string }>;
  private readonly readOthers: Statement;
  private readonly readHolders: Statement;
  private readonly purgeSessions: Statement;
  private readonly purgeProcesses: Statement;
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt: string;
  private readonly heartbeatMs: number;
  readonly timeoutMs: number;
  /** stores whose row this process wrote (other processes may see it listed as their holder) */
  private readonly listed = new Set<string>();
  private cache: { at: number; byStore: Map<string, StorePresence> } | undefined;
  private stopped = false;

  constructor(
    private readonly storage: HubStorage,
    readonly processId: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    opts: LiveSessionsOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULT_PROCESS_HEARTBEAT_MS;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS;
    this.startedAt = iso(clock.now());
    const db = storage.db;
    const upsertProcess = db.prepare(
      `INSERT INTO hub_processes (id, started_at, heartbeat_at, info) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
    );
    const info = JSON.stringify({ host: hostname(), pid: process.pid });
    this.processes = storage.deferred.kind<{ heartbeatAt: string }>('hub_process', (v) =>
      upsertProcess.run(processId, this.startedAt, v.heartbeatAt, info),
    );
    const upsertSession = db.prepare(
      `INSERT INTO live_sessions (store, process, agent_id, connected_at, last_seen_at, figures)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (store, process) DO UPDATE SET agent_id = excluded.agent_id, connected_at = excluded.connected_at,
         last_seen_at = excluded.last_seen_at, figures = excluded.figures`,
    );
    const deleteSession = db.prepare(`DELETE FROM live_sessions WHERE store = ? AND process = ?`);
    this.sessions = storage.deferred.kind<SessionValue>('live_session', (v) => {
      if (v.gone) deleteSession.run(v.store, processId);
      else upsertSession.run(v.store, processId, v.agentId, v.connectedAt, v.lastSeenAt, v.figures);
      // a batch that fails is written again; one that commits leaves this as written (close enough for a hint)
      if (v.gone) this.listed.delete(v.store);
      else this.listed.add(v.store);
    });
    const live = `FROM live_sessions s JOIN hub_processes p ON p.id = s.process WHERE p.heartbeat_at >= ?
      AND s.process <> ?`;
    this.readOthers = db.prepare(
      `SELECT s.store, s.process, s.agent_id, s.connected_at, s.last_seen_at, s.figures ${live}
       ORDER BY s.last_seen_at`,
    );
    this.readHolders = db.prepare(`SELECT s.process ${live} AND s.store = ?`);
    this.purgeSessions = db.prepare(
      `DELETE FROM live_sessions WHERE process IN (SELECT id FROM hub_processes WHERE heartbeat_at < ?)`,
    );
    this.purgeProcesses = db.prepare(`DELETE FROM hub_processes WHERE heartbeat_at < ?`);
    this.beat();
    let n = 0;
    this.timer = setInterval(() => {
      this.beat();
      if (++n % 30 === 0) this.purge();
    }, this.heartbeatMs);
    this.timer.unref();
  }

  private beat(): void {
    if (!this.stopped) this.processes.put('', this.processId, { heartbeatAt: iso(this.clock.now()) });
  }

  /** Removes what processes unheard of for ten timeouts left (their rows count for nothing already). */
  purge(): void {
    const before = iso(this.clock.now() - 10 * this.timeoutMs);
    try {
      this.storage.relaxed(() => {
        this.purgeSessions.run(before);
        this.purgeProcesses.run(before);
      });
    } catch (err) {
      this.log.warn({ err }, 'could not remove the connections of hub processes gone long ago');
    }
  }

  held(p: StorePresence): void {
    if (this.stopped || !p.agentId) return;
    const { store, connected: _c, ...figures } = p;
    this.sessions.put(store, this.processId, {
      store,
      agentId: p.agentId,
      connectedAt: iso(p.since ?? this.clock.now()),
      lastSeenAt: iso(p.lastFrameMs ?? this.clock.now()),
      figures: JSON.stringify(figures satisfies Figures),
    });
    this.cache = undefined;
  }

  released(store: string): void {
    if (this.stopped) return;
    this.sessions.put(store, this.processId, { store, gone: true });
  }

  private freshSince(): string {
    return iso(this.clock.now() - this.timeoutMs);
  }

  /** The stores other live processes hold, as they last wrote them (at most a second or two old). */
  others(): Map<string, StorePresence> {
    const now = monotonicClock.now();
    if (this.cache && now - this.cache.at < SNAPSHOT_MS) return this.cache.byStore;
    const byStore = new Map<string, StorePresence>();
    try {
      for (const r of this.readOthers.all(this.freshSince(), this.processId) as SessionRow[]) {
        const f = JSON.parse(r.figures) as Figures;
        // the newest connection of a store wins (two processes hold it for a moment at a hand-over)
        byStore.set(r.store, {
          ...f,
          store: r.store,
          connected: true,
          agentId: r.agent_id,
          since: Date.parse(r.connected_at),
          lastFrameMs: Date.parse(r.last_seen_at),
          process: r.process,
        });
      }
    } catch (err) {
      this.log.warn({ err }, 'could not read the connections other hub processes hold');
    }
    this.cache = { at: now, byStore };
    return byStore;
  }

  /** Whether other processes may read that this one holds the store (it wrote so, or is about to). */
  mayBeListed(store: string): boolean {
    return this.listed.has(store) || this.sessions.get(store, this.processId) !== undefined;
  }

  /** The other live processes that say they hold a connection of the store. */
  holders(store: string): string[] {
    return (this.readHolders.all(this.freshSince(), this.processId, store) as { process: string }[]).map(
      (r) => r.process,
    );
  }

  /** This process stops: its heartbeat and its connections leave the table at once. */
  stop(): void {
    clearInterval(this.timer);
    this.stopped = true;
    this.processes.delete('', this.processId);
    for (const v of this.sessions.all()) this.sessions.delete(v.store, this.processId);
    try {
      this.storage.tx(() => {
        this.storage.db.prepare(`DELETE FROM live_sessions WHERE process = ?`).run(this.processId);
        this.storage.db.prepare(`DELETE FROM hub_processes WHERE id = ?`).run(this.processId);
      });
    } catch (err) {
      this.log.warn(
        { err },
        'could not remove this hub process from hub_processes (it stops counting after the timeout)',
      );
    }
  }
}
