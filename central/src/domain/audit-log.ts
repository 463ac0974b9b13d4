import { createHash } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { HubStorage, Statement } from '../storage/index.js';
import { iso, type Clock } from './clock.js';
import { MultiRowInsert } from './multi-row.js';
import { ChangeListeners } from './change-listeners.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditInput {
  actor: string;
  action: string;
  outcome: string;
  store?: string | null;
  register?: string | null;
  resource?: string | null;
  details?: Record<string, unknown>;
  /** Where it came from; default: the origin of the request being handled (`auditOrigin`). */
  origin?: string | null;
}

/**
 * The origin of what is being handled, for the audit entries it writes: `ip:ADDR` for an admin
 * API request, `agent:ID` for an agent's frames, `hub` for the hub's own timers.
 */
export const auditOrigin = new AsyncLocalStorage<string>();

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  store: string | null;
  register: string | null;
  outcome: string;
  resource: string | null;
  details: string;
  /** null for entries written before the column existed, and for those with no known origin */
  origin: string | null;
  prev_hash: string;
  hash: string;
}

type OwnFields = Pick<
  AuditEntry,
  'id' | 'at' | 'actor' | 'action' | 'store' | 'register' | 'outcome' | 'resource' | 'details'
>;

/** An entry's own fields, in the order both its hash and its row list them (the chain's fields follow). */
function ownFields(e: OwnFields): unknown[] {
  return [e.id, e.at, e.actor, e.action, e.store, e.register, e.outcome, e.resource, e.details];
}

/**
 * The hash of an entry: SHA-256 over its fields (id included, so order matters) and the previous
 * hash. The origin is appended only when there is one, so entries written before it existed keep
 * their hashes.
 */
export function entryHash(e: Omit<AuditEntry, 'hash' | 'origin'> & { origin?: string | null }): string {
  const fields = [...ownFields(e), e.prev_hash];
  if (e.origin !== null && e.origin !== undefined) fields.push(e.origin);
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/**
 * `s` with each lone surrogate (a string JSON and the wire allow, but no database's text column keeps) as U+FFFD: the
 * entry is hashed as it will read back, or it would read as tampered.
 */
function wellFormed(s: string): string {
  return s.replace(/\p{Cs}/gu, '\ufffd');
}

function wellFormedOrNull(s: string | null | undefined): string | null {
  return s === undefined || s === null ? null : wellFormed(s);
}

/**
 * The tamper-evident audit log (DESIGN rule 7). `append` runs inside the caller's transaction,
 * so an effect and its audit entry commit together or not at all.
 */
export class AuditLog {
  private readonly head: Statement;
  private readonly insert: Statement;
  private readonly page: Statement;
  private readonly tailStmt: Statement;
  private readonly insertMany: MultiRowInsert;
  private readonly appended = new ChangeListeners<number>();

  constructor(
    /** The storage it writes to (for the parts that write beside it, e.g. the gate). */
    readonly storage: HubStorage,
    private readonly clock: Clock,
  ) {
    this.head = storage.db.prepare(`SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1`);
    this.insert = storage.db.prepare(
      `INSERT INTO audit (id, at, actor, action, store, register, outcome, resource, details, origin, prev_hash, hash)
       VALUES (@id, @at, @actor, @action, @store, @register, @outcome, @resource, @details, @origin, @prev_hash,
         @hash)`,
    );
    this.page = storage.db.prepare(`SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?`);
    this.tailStmt = storage.db.prepare(`SELECT * FROM audit ORDER BY id DESC LIMIT ?`);
    this.insertMany = new MultiRowInsert(
      storage.db,
      `INSERT INTO audit (id, at, actor, action, store, register, outcome, resource, details, origin, prev_hash, hash)`,
      ['int', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text'],
    );
  }

  /**
   * Hears the log's new last id once entries appended in this process committed (the operator console's audit tail).
   * Entries appended by other hub processes are not heard here.
   */
  onAppended(listener: (lastId: number) => void): void {
    this.appended.add(listener);
  }

  /** The last entry's id (0: the log is empty). */
  lastId(): number {
    return Number((this.head.get() as { id: number | string } | undefined)?.id ?? 0);
  }

  private committed(lastId: number): void {
    if (this.appended.heard) this.storage.afterCommit(() => this.appended.tell(lastId));
  }

  append(input: AuditInput): AuditEntry {
    return this.storage.tx(() => {
      const last = this.head.get() as { id: number; hash: string } | undefined;
      const entry = this.chained(input, last, iso(this.clock.now()));
      this.insert.run(entry);
      this.committed(entry.id);
      return entry;
    });
  }

  /**
   * `append` for many entries, in order: the head is read once, the entries are chained to it and
   * to each other here, and written in a few multi-row statements — the same chain as appending
   * them one by one. Call inside a transaction (the write lock keeps the head where it was read).
   */
  appendMany(inputs: readonly AuditInput[]): AuditEntry[] {
    if (inputs.length === 0) return [];
    return this.storage.tx(() => {
      let last = this.head.get() as { id: number; hash: string } | undefined;
      const at = iso(this.clock.now());
      const entries = inputs.map((input) => (last = this.chained(input, last, at)));
      this.insertMany.run(entries.map((e) => [...ownFields(e), e.origin, e.prev_hash, e.hash]));
      this.committed(last?.id ?? 0);
      return entries;
    });
  }

  /** The entry `input` makes after `last` (undefined: the first of the log). */
  private chained(input: AuditInput, last: { id: number; hash: string } | undefined, at: string): AuditEntry {
    const origin = input.origin !== undefined ? input.origin : (auditOrigin.getStore() ?? null);
    const e: Omit<AuditEntry, 'hash'> = {
      id: (last?.id ?? 0) + 1,
      at,
      actor: wellFormed(input.actor),
      action: wellFormed(input.action),
      store: wellFormedOrNull(input.store),
      register: wellFormedOrNull(input.register),
      outcome: wellFormed(input.outcome),
      resource: wellFormedOrNull(input.resource),
      details: JSON.stringify(input.details ?? {}), // JSON escapes a lone surrogate: it reads back as written
      origin: wellFormedOrNull(origin),
      prev_hash: last?.hash ?? GENESIS_HASH,
    };
    return { ...e, hash: entryHash(e) };
  }

  after(id: number, limit: number): AuditEntry[] {
    return this.page.all(id, limit) as AuditEntry[];
  }

  tail(n: number): AuditEntry[] {
    return (this.tailStmt.all(n) as AuditEntry[]).reverse();
  }
}
