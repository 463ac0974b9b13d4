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
  hub: { url: string; urls?: string[]; connected: boolean; since?: string; protocol?: number; lastError?: string; lastSync?: string; refused?: { code: string; reason: string; at: string }; frameFailures?: Record<string, number>; lastFrameError?: FrameFailure };
  /** Writes to the agent's database that fail now (a full disk) and since start. */
  storage?: StorageHealthView;
  outbox: OutboxStats;
  registers: RegisterEndpointStatus[];
  inventorySkus?: number;
  /** the returns policy version this agent decides offline by */
  policyVersion?: number;
  /** the sync settings version this agent runs (0: its config file's) */
  configVersion?: number;
}

function age(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function formatStatus(s: AgentStatus): string {
  const lines: string[] = [];
  lines.push(`store ${s.store}  agent ${s.agentId}${s.incarnation ? ` (incarnation ${s.incarnation})` : ''}  ${s.running ? `running (pid ${s.pid})` : 'NOT RUNNING'}`);
  const hub = s.hub.connected ? `connected since ${s.hub.since}${s.hub.protocol !== undefined ? ` (protocol ${s.hub.protocol})` : ''}` : `not connected${s.hub.lastError && !s.hub.refused ? ` (${s.hub.lastError})` : ''}`;
  lines.push(`hub      ${s.hub.url}  ${hub}`);
  if (s.hub.urls && s.hub.urls.length > 1) lines.push(`hubs     ${s.hub.urls.map((u) => (s.running && u === s.hub.url ? `${u} (in use)` : u)).join(', ')}: tried in this order, the next one after a failure`);
  if (s.hub.refused) {
    lines.push(`!! REFUSED by the hub since ${s.hub.refused.at} (${s.hub.refused.code}): ${s.hub.refused.reason}`);
    if (s.hub.refused.code === 'TB_PROTOCOL_VERSION') lines.push('!! this agent and the hub share no protocol version: upgrade the one the message names (docs/upgrade.md); sales wait here meanwhile, retried slowly');
    else lines.push('!! another copy of this agent\'s database (a second PC from one disk image?) is connected to the hub; retire one — sales wait here until this copy is the only one');
  }
  if (s.hub.lastFrameError) {
    const e = s.hub.lastFrameError;
    const n = Object.values(s.hub.frameFailures ?? {}).reduce((a, b) => a + b, 0);
    lines.push(`hub      ${n} frame(s) from the hub could not be handled since start; last: ${e.frame} at ${e.at}: ${e.code} ${e.message}`);
  }
  lines.push(`sync     last ${s.hub.lastSync ?? 'never (since start)'}`);
  lines.push(`outbox   ${s.outbox.depth} event(s) waiting${s.outbox.depth ? `, oldest ${age(s.outbox.oldestAgeMs)}` : ''}`);
  if (s.storage) {
    const failed = Object.entries(s.storage.failures);
    const since = failed.length ? `; failed writes since start: ${failed.map(([w, n]) => `${w} ${n}`).join(', ')}` : '';
    const e = s.storage.lastError;
    if (s.storage.failing.length > 0) lines.push(`storage  WRITES FAILING (${s.storage.failing.join(', ')})${e ? `: ${e.code} ${e.message} (at ${e.at})` : ''}${since}`);
    else lines.push(`storage  ok${since}`);
  }
  if (s.policyVersion !== undefined) lines.push(`policy   version ${s.policyVersion}${s.policyVersion === 0 ? ' (defaults: the hub has not sent one yet)' : ''}`);
  if (s.configVersion !== undefined) lines.push(`settings version ${s.configVersion}${s.configVersion === 0 ? ' (this config file\'s: the hub has not sent any yet)' : ''}`);
  if (s.registers.length === 0 && !s.running) lines.push('registers  (unknown: the agent is not running)');
  for (const r of s.registers) {
    lines.push(`register ${r.id.padEnd(8)} ${r.transport}  ${r.codec}  ${r.state}, ${r.connected} connection(s)${r.lastMessageAt ? `, last message ${r.lastMessageAt}` : ''}`);
  }
  return lines.join('\n');
}
