import { randomUUID } from 'node:crypto';
import type { Logger } from '@tillbridge/shared';
import type { Hub } from '../hub-services.js';
import type { AgentEndpoint, RemoteSessions } from '../sync/agent-endpoint.js';
import type { AgentSession } from '../sync/agent-session.js';
import {
  inventoryMessages,
  openBus,
  resendMessage,
  type BusMessage,
  type HubBus,
  type BusOptions,
  type RemoteVerdict,
} from './bus.js';
import { LiveSessions, type LiveSessionsOptions } from './live-sessions.js';

/** How long a claim waits, beyond the probe, for the processes that hold the store to answer. */
const CLAIM_MARGIN_MS = 1_500;
/**
 * How long after a claim went through a late answer (a holder that had not written its row yet) is still carried out.
 */
const LATE_VERDICT_MS = 30_000;

interface Pending {
  session: AgentSession;
  settled: boolean;
  waitingFor: Set<string>;
  resolve(v: RemoteVerdict): void;
  timer?: NodeJS.Timeout;
}

/**
 * Hellos put to the other hub processes (many processes on one database). The claim goes on the
 * bus; the processes `live_sessions` says hold the store are waited for (each answers, or the
 * probe time and a margin run out: a process that died answers nothing). A process that holds the
 * store and had not written so yet still acts on the claim, and its answer, when it refuses, is
 * carried out late (the connection accepted meanwhile is closed).
 */
class SessionClaims implements RemoteSessions {
  private readonly pending = new Map<string, Pending>();
  endpoint: AgentEndpoint | undefined;

  constructor(
    private readonly bus: HubBus,
    private readonly live: LiveSessions,
    private readonly waitMs: number,
    private readonly log: Logger,
  ) {}

  claim(session: AgentSession): Promise<RemoteVerdict> {
    const agent = session.claimed;
    if (agent === undefined) return Promise.reject(new Error('a connection is claimed for its agent after its hello'));
    const id = randomUUID();
    let holders: string[] = [];
    try {
      holders = this.live.holders(session.store);
    } catch (err) {
      this.log.warn(
        { store: session.store, err },
        'could not read which hub processes hold the store; not waiting for them',
      );
    }
    return new Promise<RemoteVerdict>((resolve) => {
      const p: Pending = { session, settled: false, waitingFor: new Set(holders), resolve };
      this.pending.set(id, p);
      const forget = setTimeout(() => this.pending.delete(id), LATE_VERDICT_MS);
      forget.unref();
      const { run, attempt } = session.attempt;
      this.bus.publish({
        t: 'session.claim',
        id,
        from: this.bus.processId,
        store: session.store,
        agent,
        ...(run !== undefined ? { run } : {}),
        ...(attempt !== undefined ? { attempt } : {}),
      });
      if (holders.length === 0) {
        this.settle(p, { kind: 'free' });
        return;
      }
      p.timer = setTimeout(() => {
        this.log.info(
          { store: session.store, processes: [...p.waitingFor] },
          'hub processes said to hold the store did not answer in time (gone?): the connection is accepted',
        );
        this.settle(p, { kind: 'free' });
      }, this.waitMs);
    });
  }

  private settle(p: Pending, v: RemoteVerdict): void {
    if (p.settled) return;
    p.settled = true;
    if (p.timer) clearTimeout(p.timer);
    p.resolve(v);
  }

  verdict(m: Extract<BusMessage, { t: 'session.verdict' }>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    const v: RemoteVerdict =
      m.verdict === 'duplicate'
        ? { kind: 'duplicate', live: m.live ?? 'another hub process' }
        : m.verdict === 'superseded'
          ? { kind: 'superseded' }
          : { kind: 'free' };
    if (!p.settled) {
      if (v.kind !== 'free') {
        this.settle(p, v);
        return;
      }
      p.waitingFor.delete(m.from);
      if (p.waitingFor.size === 0) this.settle(p, v);
      return;
    }
    if (v.kind !== 'free') this.endpoint?.refuseLate(p.session, v);
  }

  /**
   * A claim made at another process: answered when this process holds the store, or may still be listed as holding it.
   */
  async answer(m: Extract<BusMessage, { t: 'session.claim' }>): Promise<void> {
    if (!this.endpoint) return;
    const v = await this.endpoint.yieldTo(m);
    if (!v && !this.live.mayBeListed(m.store)) return;
    const out = v ?? { kind: 'free' as const };
    this.bus.publish({
      t: 'session.verdict',
      id: m.id,
      to: m.from,
      from: this.bus.processId,
      store: m.store,
      verdict: out.kind,
      ...(out.kind === 'duplicate' ? { live: out.live } : {}),
    });
  }
}

export interface ClusterOptions {
  log: Logger;
  /** How long an agent's open connection has to answer a probe (the endpoint's). */
  probeMs: number;
  bus?: BusOptions;
  processes?: LiveSessionsOptions;
}

/** How often, at most, a process tells the others it committed feed entries. */
const FEED_NOTICE_MS = 50;

/**
 * The hub process's part in a cluster of processes on one database (docs/architecture.md "Many
 * hub processes"); on SQLite, one process, the same wiring through the in-process bus.
 */
export class HubCluster {
  readonly bus: HubBus;
  readonly live: LiveSessions | undefined;
  private readonly claims: SessionClaims | undefined;

  constructor(
    private readonly hub: Hub,
    private readonly opts: ClusterOptions,
  ) {
    this.bus = openBus(hub.storage, opts.log, opts.bus);
    if (this.bus.shared) {
      this.live = new LiveSessions(hub.storage, this.bus.processId, hub.clock, opts.log, opts.processes);
      hub.presence.share(this.live);
      this.claims = new SessionClaims(this.bus, this.live, opts.probeMs + CLAIM_MARGIN_MS, opts.log);
    }
  }

  /** For the agents' endpoint: where its hellos are put to the other processes (none on SQLite). */
  get remote(): RemoteSessions | undefined {
    return this.claims;
  }

  /** Routes what changes through the bus to the agents this process holds. */
  attach(endpoint: AgentEndpoint): void {
    if (this.claims) this.claims.endpoint = endpoint;
    const { hub, bus } = this;
    hub.feed.onInventory((store, skus) => {
      for (const m of inventoryMessages(store, skus)) bus.publish(m);
    });
    hub.policies.onChange((scope) => bus.publish({ t: 'policy', scope }));
    hub.syncConfig.onChange((scope) => bus.publish({ t: 'config', scope }));
    if (bus.shared) {
      // at most one message per FEED_NOTICE_MS however fast this process commits: a long poll elsewhere waits that much
      // longer at worst
      let noticeDue: NodeJS.Timeout | undefined;
      hub.erpFeed.onCommitted((local) => {
        if (!local || noticeDue) return;
        noticeDue = setTimeout(() => {
          noticeDue = undefined;
          if (hub.storage.isOpen()) bus.publish({ t: 'feed', from: bus.processId });
        }, FEED_NOTICE_MS);
        noticeDue.unref();
      });
    }
    hub.keys.setDelivery({
      deliver: (store) => bus.publish({ t: 'key.deliver', store }),
      dropKey: (store, keyId) => bus.publish({ t: 'key.drop', store, keyId }),
    });
    // a register day the hub lacks transactions of: asked of the agent by the process holding it
    hub.registerDays.onResend((r) => bus.publish(resendMessage(r)));
    bus.subscribe((m) => this.hear(endpoint, m));
    // messages may have been missed while the bus was cut off: what they would have carried is sent again
    bus.onResume(() => {
      hub.erpFeed.zoneChanged('default'); // a store's time zone may have changed at another process
      endpoint.dropDeadKeys();
      endpoint.pushPolicy();
      endpoint.pushConfig();
      for (const s of endpoint.held()) {
        endpoint.deliver(s.store);
        s.pushPendingResends();
      }
    });
  }

  private hear(endpoint: AgentEndpoint, m: BusMessage): void {
    switch (m.t) {
      case 'inventory': {
        const s = endpoint.session(m.store);
        if (!s) return;
        s.pushInventory(m.all ? this.hub.ledger.list(m.store).map((r) => r.sku) : m.skus);
        return;
      }
      case 'policy': {
        endpoint.pushPolicy(m.scope === 'default' ? undefined : m.scope);
        return;
      }
      case 'config':
        this.hub.erpFeed.zoneChanged(m.scope); // the store's time zone may have changed at another process
        {
          endpoint.pushConfig(m.scope === 'default' ? undefined : m.scope);
          return;
        }
      case 'feed':
        if (m.from !== this.bus.processId) this.hub.erpFeed.committed(false);
        return;
      case 'key.deliver': {
        endpoint.deliver(m.store);
        return;
      }
      case 'resend':
        return endpoint
          .session(m.store)
          ?.pushResend({ t: 'resend', register: m.register, businessDay: m.businessDay, missing: m.missing });
      case 'key.drop': {
        endpoint.dropKey(m.store, m.keyId);
        return;
      }
      case 'session.claim':
        if (m.from === this.bus.processId || !this.claims) return;
        this.claims
          .answer(m)
          .catch((err: unknown) =>
            this.opts.log.error({ err, store: m.store }, "could not answer another hub process's claim"),
          );
        return;
      case 'session.verdict':
        if (m.to === this.bus.processId) this.claims?.verdict(m);
        return;
    }
  }

  /** Resolves once the bus hears messages. */
  ready(): Promise<void> {
    return this.bus.ready;
  }

  /** Leaves the cluster: this process's heartbeat and connections leave the table, the bus closes. */
  async close(): Promise<void> {
    this.live?.stop();
    await this.bus.close();
  }
}
