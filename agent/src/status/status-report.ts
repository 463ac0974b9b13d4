import type { StorageHealthView } from '../db/storage-health.js';
import type { RegisterStatus as RegisterEndpointStatus } from '../core/ports.js';

/** Events waiting in the outbox (sync's Outbox.stats()). */
interface OutboxStats {
  depth: number;
  oldestAgeMs: number;
}
/** A listener of a hub frame that threw (sync's HubLink counts them). */
interface FrameFailure {
  frame: string;
  code: string;
  message: string;
  at: string;
}

/** What `tillbridge-agent status` shows; served as JSON by the agent at GET /status. */
export interface AgentStatus {
  store: string;
  agentId: string;
  /** this database's incarnation (DESIGN rule 9: new when the hub finds it restored, reverted or copied) */
  incarnation?: string;
  running: boolean;
  pid?: number;
  startedAt?: string;
  /** `refused`: the hub refuses this agent — another copy of its database is connected */
  /** `url`: the hub in use (connected to, or tried next); `urls`: every configured one, in the order they are tried */
  hub: {
    url: string;
    urls?: string[];
    connected: boolean;
    since?: string;
    protocol?: number;
    lastError?: string;
    lastSync?: string;
    refused?: { code: string; reason: string; at: string };
    frameFailures?: Record<string, number>;
    lastFrameError?: FrameFailure;
  };
  /** Writes to the agent's database that fail now (a full disk) and since start. */
  storage?: StorageHealthView;
  outbox: OutboxStats;
  registers: RegisterEndpointStatus[];
  inventorySkus?: number;
  /** the returns policy version this agent decides offline by */
  policyVersion?: number;
  /** the sync settings version this agent runs (0: its config file's) */
  configVersion?: number;
  /** why the policy stored at start could not be read (the agent decides by defaults until the hub sends one) */
  policyProblem?: string;
  /** why the sync settings stored at start could not be read (the config file's rule until the hub sends some) */
  configProblem?: string;
}

function age(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function formatStatus(s: AgentStatus): string {
  const incarnation = s.incarnation ? ` (incarnation ${s.incarnation})` : '';
  const lines = [
    `store ${s.store}  agent ${s.agentId}${incarnation}  ${s.running ? `running (pid ${s.pid})` : 'NOT RUNNING'}`,
    ...hubLines(s),
    `sync     last ${s.hub.lastSync ?? 'never (since start)'}`,
    `outbox   ${s.outbox.depth} event(s) waiting${s.outbox.depth ? `, oldest ${age(s.outbox.oldestAgeMs)}` : ''}`,
    ...storageLines(s),
    ...storedConfigLines(s),
  ];
  if (s.registers.length === 0 && !s.running) lines.push('registers  (unknown: the agent is not running)');
  for (const r of s.registers) {
    const last = r.lastMessageAt ? `, last message ${r.lastMessageAt}` : '';
    lines.push(
      `register ${r.id.padEnd(8)} ${r.transport}  ${r.codec}  ${r.state}, ${r.connected} connection(s)${last}`,
    );
  }
  return lines.join('\n');
}

/** The hub in use, the others, a refusal and the frames that could not be handled. */
function hubLines(s: AgentStatus): string[] {
  const { hub } = s;
  const protocol = hub.protocol !== undefined ? ` (protocol ${hub.protocol})` : '';
  const state = hub.connected
    ? `connected since ${hub.since}${protocol}`
    : `not connected${hub.lastError && !hub.refused ? ` (${hub.lastError})` : ''}`;
  const lines = [`hub      ${hub.url}  ${state}`];
  if (hub.urls && hub.urls.length > 1) {
    const urls = hub.urls.map((u) => (s.running && u === hub.url ? `${u} (in use)` : u)).join(', ');
    lines.push(`hubs     ${urls}: tried in this order, the next one after a failure`);
  }
  if (hub.refused) {
    lines.push(`!! REFUSED by the hub since ${hub.refused.at} (${hub.refused.code}): ${hub.refused.reason}`);
    if (hub.refused.code === 'TB_PROTOCOL_VERSION') {
      lines.push(
        '!! this agent and the hub share no protocol version: upgrade the one the message names (docs/upgrade.md); ' +
          'sales wait here meanwhile, retried slowly',
      );
    } else {
      lines.push(
        "!! another copy of this agent's database (a second PC from one disk image?) is connected to the hub; " +
          'retire one — sales wait here until this copy is the only one',
      );
    }
  }
  if (hub.lastFrameError) {
    const e = hub.lastFrameError;
    const n = Object.values(hub.frameFailures ?? {}).reduce((a, b) => a + b, 0);
    lines.push(
      `hub      ${n} frame(s) from the hub could not be handled since start; ` +
        `last: ${e.frame} at ${e.at}: ${e.code} ${e.message}`,
    );
  }
  return lines;
}

/** Writes to the agent's database failing now, and those that failed since start. */
function storageLines(s: AgentStatus): string[] {
  if (!s.storage) return [];
  const failed = Object.entries(s.storage.failures);
  const since = failed.length ? `; failed writes since start: ${failed.map(([w, n]) => `${w} ${n}`).join(', ')}` : '';
  const e = s.storage.lastError;
  if (s.storage.failing.length === 0) return [`storage  ok${since}`];
  const last = e ? `: ${e.code} ${e.message} (at ${e.at})` : '';
  return [`storage  WRITES FAILING (${s.storage.failing.join(', ')})${last}${since}`];
}

/** The policy and sync settings lines, with what could not be read of them. */
function storedConfigLines(s: AgentStatus): string[] {
  const lines: string[] = [];
  if (s.policyVersion !== undefined) {
    const fallback = s.policyProblem ? 'the stored policy cannot be read' : 'the hub has not sent one yet';
    lines.push(`policy   version ${s.policyVersion}${s.policyVersion === 0 ? ` (defaults: ${fallback})` : ''}`);
  }
  if (s.policyProblem) {
    lines.push(`!! the stored returns policy cannot be read (${s.policyProblem}); offline decisions use defaults`);
  }
  if (s.configVersion !== undefined) {
    const fallback = s.configProblem ? 'the stored settings cannot be read' : 'the hub has not sent any yet';
    lines.push(
      `settings version ${s.configVersion}${s.configVersion === 0 ? ` (this config file's: ${fallback})` : ''}`,
    );
  }
  if (s.configProblem) {
    lines.push(`!! the stored sync settings cannot be read (${s.configProblem}); the config file's values apply`);
  }
  return lines;
}
