import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DayCloseCounters } from '../core/day-close.js';
import type { AgentStatus } from '../status/status-report.js';
import { monotonicClock, setModeCounts, type AuthzCounters } from '@tillbridge/shared';

export interface AgentMetricSources {
  status: () => AgentStatus;
  authz: () => AuthzCounters;
  /** day closes sent and resends served since start (absent: not shown) */
  dayCloses?: () => DayCloseCounters;
}

/**
 * The agent's Prometheus metrics (GET /metrics on its status listener): whether the hub is
 * reachable, the outbox backlog, each register's connection, and how return requests were decided.
 * Every figure is read from the same snapshot `tillbridge-agent status` shows, at scrape time.
 */
export class AgentMetrics {
  readonly registry = new Registry();

  constructor(src: AgentMetricSources) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'tillbridge_agent_' });
    // one snapshot per scrape, shared by the gauges below (kept 50 ms of elapsed time; the ages
    // in it come from the status, on the agent's clock)
    let cached: { at: number; s: AgentStatus } | undefined;
    const snapshot = (): AgentStatus => {
      const now = monotonicClock.now();
      if (!cached || now - cached.at > 50) cached = { at: now, s: src.status() };
      return cached.s;
    };
    if (src.dayCloses) dayCloseGauges(registry, src.dayCloses);
    connectionGauges(registry, snapshot);
    configGauges(registry, snapshot);
    decisionGauges(registry, src.authz);
    failureGauges(registry, snapshot);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Day closes sent and the hub's resends served since start. */
function dayCloseGauges(registry: Registry, days: () => DayCloseCounters): void {
  new Gauge({
    name: 'tillbridge_agent_day_closes_sent',
    help:
      'day.close events enqueued since start, by source ' +
      "(register: the register's own Z report; agent: none by the cut-off)",
    labelNames: ['source'],
    registers: [registry],
    collect() {
      const c = days();
      this.set({ source: 'register' }, c.sent.register);
      this.set({ source: 'agent' }, c.sent.agent);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_resends_served',
    help: 'resend frames from the hub served since start',
    registers: [registry],
    collect() {
      this.set(days().resends);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_resent_events',
    help: "journalled events put back in the outbox for the hub's resends since start",
    registers: [registry],
    collect() {
      this.set(days().requeued);
    },
  });
}

/** The hub link, the outbox and the registers' connections. */
function connectionGauges(registry: Registry, snapshot: () => AgentStatus): void {
  new Gauge({
    name: 'tillbridge_agent_hub_connected',
    help: '1 when the WebSocket to the hub is open, else 0',
    registers: [registry],
    collect() {
      this.set(snapshot().hub.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_hub_url_info',
    help: 'Each configured hub URL: 1 for the one in use (connected to, or tried next), 0 for the others',
    labelNames: ['url'],
    registers: [registry],
    collect() {
      this.reset();
      const h = snapshot().hub;
      for (const url of h.urls ?? [h.url]) this.set({ url }, url === h.url ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_outbox_depth',
    help: 'Events committed locally and not yet acknowledged by the hub',
    registers: [registry],
    collect() {
      this.set(snapshot().outbox.depth);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_outbox_oldest_age_seconds',
    help: 'Age of the oldest event waiting in the outbox (0 when empty)',
    registers: [registry],
    collect() {
      const o = snapshot().outbox;
      this.set(o.depth ? o.oldestAgeMs / 1000 : 0);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_register_connections',
    help: 'Open connections per register',
    labelNames: ['register', 'transport'],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of snapshot().registers) this.set({ register: e.id, transport: e.transport }, e.connected);
    },
  });
}

/** Which policy and sync settings the agent runs by, and whether the stored ones could be read. */
function configGauges(registry: Registry, snapshot: () => AgentStatus): void {
  new Gauge({
    name: 'tillbridge_agent_policy_version',
    help: 'Version of the returns policy this agent decides offline by (0: defaults)',
    registers: [registry],
    collect() {
      this.set(snapshot().policyVersion ?? 0);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_settings_version',
    help: "Version of the hub's sync settings this agent runs (0: its config file's)",
    registers: [registry],
    collect() {
      this.set(snapshot().configVersion ?? 0);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_stored_config_invalid',
    help:
      'The returns policy or sync settings stored in the agent database could not be read at start (1): ' +
      'defaults apply until the hub sends new ones',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const s = snapshot();
      this.set({ kind: 'policy' }, s.policyProblem ? 1 : 0);
      this.set({ kind: 'syncSettings' }, s.configProblem ? 1 : 0);
    },
  });
}

/** How return requests were decided since start. */
function decisionGauges(registry: Registry, authz: () => AuthzCounters): void {
  new Gauge({
    name: 'tillbridge_agent_return_decisions',
    help: 'Return requests this agent answered since it started, by mode and decision',
    labelNames: ['mode', 'decision'],
    registers: [registry],
    collect() {
      setModeCounts(this, authz(), 'decision');
    },
  });
  new Gauge({
    name: 'tillbridge_agent_return_failures',
    help: 'Return requests since start that were answered late by the hub (late) or not answered at all (failed)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const c = authz();
      this.set({ kind: 'late' }, c.lateOnline);
      this.set({ kind: 'failed' }, c.failed);
    },
  });
}

/** Writes to the agent's database and frames from the hub that failed. */
function failureGauges(registry: Registry, snapshot: () => AgentStatus): void {
  new Gauge({
    name: 'tillbridge_agent_storage_writes_failing',
    help:
      'Writes to the agent database failing now (1), by what they are for: ' +
      'retried, or refused to registers, until one succeeds',
    labelNames: ['what'],
    registers: [registry],
    collect() {
      this.reset();
      const st = snapshot().storage;
      if (!st) return;
      for (const what of new Set([...Object.keys(st.failures), ...st.failing]))
        this.set({ what }, st.failing.includes(what) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_storage_write_failures',
    help:
      'Writes to the agent database that failed since the agent started (a full disk, an I/O error), ' +
      'by what they were for',
    labelNames: ['what'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [what, n] of Object.entries(snapshot().storage?.failures ?? {})) this.set({ what }, n);
    },
  });
  new Gauge({
    name: 'tillbridge_agent_hub_frame_failures',
    help: 'Frames from the hub whose handling failed since the agent started, by frame (the link carried on)',
    labelNames: ['frame'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [frame, n] of Object.entries(snapshot().hub.frameFailures ?? {})) this.set({ frame }, n);
    },
  });
}
