import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { setModeCounts } from '@tillbridge/shared';
import type { Hub } from '../hub-services.js';

type Presence = ReturnType<Hub['presence']['get']>;
type AuthzRate = ReturnType<Hub['authzStats']['rate']>;

/**
 * The hub's Prometheus metrics (GET /metrics), among them the seed's three: transaction
 * synchronization latency (register time to hub commit), the return authorization success rate
 * (by mode and outcome), and inventory data accuracy (per store).
 */
export class HubMetrics {
  readonly registry = new Registry();
  private readonly syncLatency: Histogram<'kind'>;
  private readonly webhookAttempts: Counter<'outcome'>;
  private readonly eventsApplied: Counter<'kind' | 'outcome'>;
  private readonly feedRelayedTotal: Counter;
  private readonly registerDays: Counter<'status'>;
  private readonly closeToReconciled: Histogram<'status'>;
  /** counts text() calls: what a scrape reads once is read once per scrape */
  private scrapes = 0;

  constructor(hub: Hub) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'tillbridge_hub_' });
    this.syncLatency = new Histogram({
      name: 'tillbridge_sync_latency_seconds',
      help: 'From the register message being committed at the agent to its event being committed at the hub',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers: [r],
    });
    this.eventsApplied = new Counter({
      name: 'tillbridge_events_applied_total',
      help: 'Agent events applied, by kind and outcome (applied, exception)',
      labelNames: ['kind', 'outcome'],
      registers: [r],
    });
    const reconciliation = reconciliationMetrics(r);
    this.registerDays = reconciliation.registerDays;
    this.closeToReconciled = reconciliation.closeToReconciled;
    this.webhookAttempts = webhookMetrics(r, hub);
    storageMetrics(r, hub);
    storeMetrics(r, hub);
    authorizationMetrics(r, hub, () => this.scrapes);
    this.feedRelayedTotal = feedMetrics(r, hub);
    labelledGauge(
      r,
      'tillbridge_inventory_accuracy_ratio',
      "Share of a store's SKUs whose copy at the agent matches the hub (as of its last report)",
      'store',
      () => hub.accuracy.list().map((a) => [a.store, a.ratio]),
    );
  }

  /** An agent event applied: its sync latency, from the agent's commit time. */
  applied(kind: string, agentAt: string, outcome: string, nowMs: number): void {
    this.eventsApplied.inc({ kind, outcome });
    const t = Date.parse(agentAt);
    if (Number.isFinite(t)) this.syncLatency.observe({ kind }, Math.max(0, (nowMs - t) / 1000));
  }

  /** A batch of ERP feed entries the broker confirmed. */
  feedRelayed(n: number): void {
    this.feedRelayedTotal.inc(n);
  }

  /** A register day reconciled (`atMs`: the hub's clock when it was). */
  dayReconciled(status: string, closedAt: string, atMs: number): void {
    this.registerDays.inc({ status });
    if (status === 'resending') return;
    const t = Date.parse(closedAt);
    if (Number.isFinite(t)) this.closeToReconciled.observe({ status }, Math.max(0, (atMs - t) / 1000));
  }

  webhookAttempt(outcome: string): void {
    this.webhookAttempts.inc({ outcome });
  }

  text(): Promise<string> {
    this.scrapes++;
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Register days reconciled, and how long from a day's close to its outcome. */
function reconciliationMetrics(r: Registry): {
  registerDays: Counter<'status'>;
  closeToReconciled: Histogram<'status'>;
} {
  const registerDays = new Counter({
    name: 'tillbridge_register_days_reconciled_total',
    help:
      "Registers' business days reconciled against what the hub recorded, by outcome: " +
      'matched, discrepancy, resending (each resend asked counts)',
    labelNames: ['status'],
    registers: [r],
  });
  const closeToReconciled = new Histogram({
    name: 'tillbridge_day_close_to_reconciled_seconds',
    help: "From a register's day close (closedAt) to the hub's outcome, matched or discrepancy (resends included)",
    labelNames: ['status'],
    buckets: [1, 10, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400],
    registers: [r],
  });
  return { registerDays, closeToReconciled };
}

/** Webhook delivery attempts (counted by the caller) and the deliveries still open. */
function webhookMetrics(r: Registry, hub: Hub): Counter<'outcome'> {
  const webhookAttempts = new Counter({
    name: 'tillbridge_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome',
    labelNames: ['outcome'],
    registers: [r],
  });
  valueGauge(
    r,
    'tillbridge_webhook_deliveries_open',
    'Webhook deliveries not yet succeeded or abandoned (pending or waiting for a retry)',
    () => hub.webhooks.outcomes().pending,
  );
  return webhookAttempts;
}

/** The hub database: its commits and the writes deferred to the next batch. */
function storageMetrics(r: Registry, hub: Hub): void {
  new Counter({
    name: 'tillbridge_hub_db_commits_total',
    help:
      'Commits of the hub database: sync="full" fsynced (what is owed to someone), ' +
      'sync="normal" not (batches of presence and heartbeat figures)',
    labelNames: ['sync'],
    registers: [r],
    collect() {
      const c = hub.storage.commits();
      this.reset();
      this.inc({ sync: 'full' }, c.full);
      this.inc({ sync: 'normal' }, c.normal);
    },
  });
  valueGauge(
    r,
    'tillbridge_hub_deferred_writes_waiting',
    'Presence and heartbeat figures held in memory, waiting for the next batch (written every second)',
    () => hub.storage.deferred.waiting,
  );
}

/** Connected stores, and what each connected store's agent last reported. */
function storeMetrics(r: Registry, hub: Hub): void {
  // per process: a sum over the hub processes on one database counts each connection once
  valueGauge(r, 'tillbridge_connected_stores', 'Stores whose agent is connected to this hub process now', () =>
    hub.presence.countHere(),
  );
  // what each connected store's agent last reported
  const perStore = (name: string, help: string, pick: (p: Presence) => number | undefined): void =>
    labelledGauge(r, name, help, 'store', () =>
      hub.stores.list().flatMap((s): [string, number][] => {
        const p = hub.presence.here(s.id);
        const v = p.connected ? pick(p) : undefined;
        return v === undefined ? [] : [[s.id, v]];
      }),
    );
  perStore(
    'tillbridge_outbox_depth',
    "Events waiting in a store agent's outbox (as it last reported)",
    (p) => p.outboxDepth,
  );
  perStore(
    'tillbridge_outbox_oldest_age_seconds',
    "Age of the oldest event in a store agent's outbox (as it last reported)",
    (p) => (p.oldestAgeMs === undefined ? undefined : p.oldestAgeMs / 1000),
  );
}

/** Return authorizations by mode and outcome and their success shares; `scrapes` counts text() calls. */
function authorizationMetrics(r: Registry, hub: Hub, scrapes: () => number): void {
  // one reading of the rate per scrape (text()), shared by the gauges below
  let rateScrape = -1;
  let rateNow: AuthzRate | undefined;
  const rate = (): AuthzRate => {
    if (!rateNow || rateScrape !== scrapes()) {
      rateNow = hub.authzStats.rate();
      rateScrape = scrapes();
    }
    return rateNow;
  };
  // A share of nothing is no value, not 0: prom-client starts a gauge without labels at 0, so
  // it is removed while there is no request to share (an alert on "< 0.95" must not fire on a quiet hub).
  const rateGauge = (name: string, help: string, pick: (rate: AuthzRate) => number | null): void =>
    valueGauge(r, name, help, () => pick(rate()));
  new Gauge({
    name: 'tillbridge_return_authorizations',
    help: 'Return requests decided, by mode and outcome (every ticket at the hub)',
    labelNames: ['mode', 'outcome'],
    registers: [r],
    collect() {
      setModeCounts(this, rate().tickets, 'outcome');
    },
  });
  rateGauge(
    'tillbridge_return_authorization_success_ratio',
    'Share of return requests answered with a decision within the deadline (online or offline)',
    (rate) => rate.successRate,
  );
  rateGauge(
    'tillbridge_return_authorization_online_ratio',
    'Share of return requests the hub answered in time',
    (rate) => rate.onlineRate,
  );
}

/** The ERP feed: each consumer's lag and the broker relay; returns the relay's counter, counted by the caller. */
function feedMetrics(r: Registry, hub: Hub): Counter {
  // the ERP feed (docs/erp-feed.md): what each named consumer has still to take, the broker relay
  const feedRelayedTotal = new Counter({
    name: 'tillbridge_feed_relayed_total',
    help: 'ERP feed entries this hub process published to the broker and had confirmed',
    registers: [r],
  });
  labelledGauge(
    r,
    'tillbridge_feed_lag',
    "ERP feed entries after each named consumer's cursor (the feed's head minus its position; " +
      'amqp:<exchange> is the broker relay)',
    'consumer',
    () => {
      const lags = hub.erpFeed.consumers().map((c): [string, number] => [c.name, c.lag]);
      // the relay before its first confirmed batch has no cursor yet: its lag is the whole feed
      const relay = hub.feedRelay.relay;
      if (relay && !hub.erpFeed.consumer(relay.consumerName)) lags.push([relay.consumerName, hub.erpFeed.head()]);
      return lags;
    },
  );
  valueGauge(
    r,
    'tillbridge_feed_relay_connected',
    'The ERP feed relay of this hub process is connected to the broker (1) or not (0); ' +
      'absent when no broker is configured',
    () => {
      const relay = hub.feedRelay.relay;
      return relay ? (relay.connected ? 1 : 0) : null;
    },
  );
  return feedRelayedTotal;
}

/**
 * A gauge without labels, read at each scrape; absent while `read` has no value (null): prom-client
 * would otherwise show a gauge it never set as 0.
 */
function valueGauge(r: Registry, name: string, help: string, read: () => number | null): void {
  new Gauge({
    name,
    help,
    registers: [r],
    collect() {
      const v = read();
      if (v === null) this.remove({});
      else this.set(v);
    },
  });
}

/** A gauge of one label, read at each scrape: a series for each [label value, value] `read` gives, no others. */
function labelledGauge(r: Registry, name: string, help: string, label: string, read: () => [string, number][]): void {
  new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [r],
    collect() {
      this.reset();
      for (const [key, v] of read()) this.set({ [label]: key }, v);
    },
  });
}
