import {
  fromMilli,
  type HeartbeatFrame,
  type Policy,
  type SyncSettings,
  type TerminalStatus,
} from '@tillbridge/shared';
import type { AccessTokens } from '../auth/access-tokens.js';
import type { Credentials } from '../auth/credentials.js';
import type { AgentCopies, CopyOf } from '../domain/agent-copies.js';
import type { AuthzStats } from '../domain/authz-stats.js';
import type { Clock } from '../domain/clock.js';
import type { Cursors } from '../domain/cursors.js';
import type { BatchInput, BatchOutcome } from '../domain/event-applier.js';
import type { InventoryAccuracy } from '../domain/inventory-accuracy.js';
import type { InventoryLedger } from '../domain/inventory-ledger.js';
import type { Policies } from '../domain/policies.js';
import type { Stores } from '../domain/stores.js';
import type { Terminals } from '../domain/terminals.js';
import type { VersionedSettings } from '../domain/versioned-settings.js';
import type { IngestQueue } from '../sync/ingest-queue.js';
import type { AgentInfo, Presence } from '../sync/presence.js';
import type { DayReconciliation, ResendRequest } from '../reconcile/day-reconciliation.js';
import type { AuditedWork } from './unit-of-work.js';

export interface AgentUseCaseDeps extends AuditedWork {
  clock: Clock;
  tokens: Pick<AccessTokens, 'verify'>;
  stores: Pick<Stores, 'get' | 'touch'>;
  credentials: Pick<Credentials, 'keyWorks' | 'pendingKey' | 'markDelivered' | 'confirm'>;
  cursors: Pick<Cursors, 'cursor' | 'incarnation' | 'setCursor'>;
  copies: Pick<AgentCopies, 'behind' | 'forked' | 'duplicate'>;
  policies: Pick<Policies, 'effective'>;
  syncConfig: Pick<VersionedSettings<SyncSettings>, 'effective'>;
  ledger: Pick<InventoryLedger, 'get' | 'list'>;
  accuracy: Pick<InventoryAccuracy, 'compare'>;
  authzStats: Pick<AuthzStats, 'report'>;
  terminals: Pick<Terminals, 'record'>;
  presence: Pick<Presence, 'connected' | 'disconnected' | 'frame' | 'heartbeat'>;
  /** where `events` frames go: committed together with other agents' (group commit) */
  ingest: Pick<IngestQueue, 'submit'>;
  /** Key of the keyed hash of card numbers, sent to agents in the welcome. */
  cardKey: Buffer;
  /** register days waiting for the agent to send transactions again (docs/reconciliation.md) */
  registerDays: Pick<DayReconciliation, 'pending'>;
}

/** What `connect` decided for an agent's hello. */
export type Connection =
  /** welcome: the hub applied its events up to `lastSeq` */
  | { kind: 'accepted'; lastSeq: number }
  /** its database is behind what the hub applied (restored or reverted): recorded; it must start a new incarnation */
  | { kind: 'behind'; applied: number };

/** What a token presented on an open connection is. */
export type TokenCheck =
  { kind: 'ok'; kid: string; expiresAt: number } | { kind: 'other-store' } | { kind: 'key-dead' };

/**
 * What a store agent's connection does at the hub (sync/agent-session.ts, agent-endpoint.ts):
 * apply an event batch (through the ingest queue: one commit for many agents' batches), connect
 * and disconnect, deliver and confirm rotated keys, record copies of its database (DESIGN rule 9),
 * and the reads the hub sends it. What it owes durability to runs in one transaction with its
 * audit entry; presence, heartbeat figures, terminal states and the inventory accuracy are
 * deferred writes, which open no transaction here.
 */
export class AgentUseCases {
  constructor(private readonly deps: AgentUseCaseDeps) {}

  /** The card key sent in the welcome. */
  get cardKey(): Buffer {
    return this.deps.cardKey;
  }

  /** An access token's store, key and expiry; rejects an invalid one. */
  verifyToken(token: string): ReturnType<AccessTokens['verify']> {
    return this.deps.tokens.verify(token);
  }

  /** May a connection authenticated by this store's key `kid` be accepted? */
  acceptsKey(store: string, kid: string): boolean {
    return this.deps.stores.get(store) !== undefined && this.deps.credentials.keyWorks(store, kid);
  }

  /**
   * A fresh token sent on an open connection: its key still works, and it is the store's (a token of another store is
   * refused, audited).
   */
  async refreshToken(store: string, token: string): Promise<TokenCheck> {
    const t = await this.deps.tokens.verify(token);
    if (t.store !== store) {
      this.auditCrossStore(`store:${store}`, store, { tokenStore: t.store });
      return { kind: 'other-store' };
    }
    if (!this.deps.credentials.keyWorks(t.store, t.kid)) return { kind: 'key-dead' };
    return { kind: 'ok', kid: t.kid, expiresAt: t.expiresAt };
  }

  /**
   * The store of another agent, when the agent of this hello belongs to another store (refused, audited); undefined
   * when not.
   */
  otherStoreOf(store: string, agentId: string): string | undefined {
    const c = this.deps.cursors.cursor(agentId);
    if (!c || c.store === store) return undefined;
    this.auditCrossStore(`agent:${agentId}`, store, { agentStore: c.store });
    return c.store;
  }

  /** An agent connection refused for belonging to another store, audited in a transaction of its own. */
  private auditCrossStore(actor: string, store: string, details: Record<string, unknown>): void {
    this.deps.uow.tx(() =>
      this.deps.audit.append({
        actor,
        action: 'auth.cross_store',
        outcome: 'refused',
        store,
        resource: 'agent connection',
        details,
      }),
    );
  }

  /**
   * The agent's connection accepted: it belongs to the store from now on (a new incarnation gets
   * its cursor), and is present — unless its database is behind what the hub applied under that
   * incarnation (restored or reverted), which is recorded and refused.
   */
  connect(store: string, agentId: string, incarnation: string, newest: number, agent?: AgentInfo): Connection {
    const c = this.deps.uow.tx((): Connection => {
      const inc = this.deps.cursors.incarnation(agentId, incarnation);
      if (inc && newest < inc.lastSeq) {
        this.deps.copies.behind({ store, agentId, incarnation }, newest, inc.lastSeq);
        return { kind: 'behind', applied: inc.lastSeq };
      }
      if (!inc) this.deps.cursors.setCursor(agentId, incarnation, store, 0);
      return { kind: 'accepted', lastSeq: inc?.lastSeq ?? 0 };
    });
    if (c.kind === 'accepted') this.deps.presence.connected(store, agentId, this.deps.clock.now(), agent);
    return c;
  }

  /** The store's agent is gone from this process (a deferred write of when it was last seen). */
  disconnected(store: string): void {
    const now = this.deps.clock.now();
    this.deps.presence.disconnected(store, now);
    this.deps.stores.touch(store, now);
  }

  /** A frame from the store's agent, now (in memory). */
  frame(store: string): void {
    this.deps.presence.frame(store, this.deps.clock.now());
  }

  /** What the agent's heartbeat reports: held in memory, or a deferred write (no fsync). */
  heartbeat(store: string, agentId: string, frame: HeartbeatFrame): void {
    this.deps.presence.heartbeat(store, frame, this.deps.clock.now());
    if (frame.authz) this.deps.authzStats.report(store, agentId, frame.authz);
  }

  /**
   * Records the terminal states reported (Terminals sends `terminal.status` webhooks for those whose state
   * changed); returns those recorded, an older report than the one held being ignored.
   */
  reportTerminals(store: string, items: TerminalStatus[]): TerminalStatus[] {
    return items.filter((t) => this.deps.terminals.record(store, t));
  }

  /** The agent's inventory digest against the hub's: the accuracy report (a deferred write) and what to re-send. */
  compareInventory(
    store: string,
    digest: { sku: string; h: string }[],
    inFlight: ReadonlySet<string>,
  ): ReturnType<InventoryAccuracy['compare']> {
    return this.deps.accuracy.compare(store, digest, inFlight);
  }

  /**
   * Queues one agent's event batch for the next group commit (sales, returns completed or
   * cancelled, adjustments, each applied and audited once); `done` hears its outcome once the
   * commit that holds it returned.
   */
  applyBatch(batch: Omit<BatchInput, 'origin'>, done: (o: BatchOutcome) => void): void {
    this.deps.ingest.submit(batch, done);
  }

  /** The rotated-in key waiting for the store, marked delivered (sent over the agent's authenticated connection). */
  /** The resends the store's agent still owes: asked again when it connects (a read). */
  pendingResends(store: string): ResendRequest[] {
    return this.deps.registerDays.pending(store);
  }

  takePendingKey(store: string): { id: string; secret: string } | undefined {
    return this.deps.uow.tx(() => {
      const k = this.deps.credentials.pendingKey(store);
      if (k) this.deps.credentials.markDelivered(k.id);
      return k;
    });
  }

  /**
   * The agent stored its new key: the confirmation and its audit entry, one synced commit. Whether it was newly
   * confirmed.
   */
  confirmKey(store: string, id: string): boolean {
    return this.deps.uow.tx(() =>
      this.deps.credentials.confirm(store, id, () =>
        this.deps.audit.append({
          actor: `store:${store}`,
          action: 'key.confirm',
          outcome: 'stored',
          store,
          resource: `api-key:${id}`,
        }),
      ),
    );
  }

  /** A second live copy of the agent's database was refused: audited, kept as an exception. */
  recordDuplicate(copy: CopyOf, sources: { live: string; refused: string }): void {
    this.deps.uow.tx(() => this.deps.copies.duplicate(copy, sources));
  }

  /** The agent's database forked from what the hub applied: audited, kept as an exception. */
  recordForked(copy: CopyOf, at: { seq: number; eventId: string; applied: number }): void {
    this.deps.uow.tx(() => this.deps.copies.forked(copy, at));
  }

  /** The store's returns policy in force. */
  policy(store: string): { version: number; policy: Policy } {
    const { version, policy } = this.deps.policies.effective(store);
    return { version, policy };
  }

  /** The store's sync settings in force. */
  settings(store: string): { version: number; settings: SyncSettings } {
    const { version, value } = this.deps.syncConfig.effective(store);
    return { version, settings: value };
  }

  /** The store's whole inventory, as the agent's copy holds it. */
  inventory(store: string): { sku: string; onHand: number }[] {
    return this.deps.ledger.list(store).map((r) => ({ sku: r.sku, onHand: fromMilli(r.onHand) }));
  }

  /** On hand of these SKUs (0 for one the hub does not hold). */
  onHand(store: string, skus: string[]): { sku: string; onHand: number }[] {
    return skus.map((sku) => ({ sku, onHand: fromMilli(this.deps.ledger.get(store, sku)?.onHand ?? 0) }));
  }
}
