import type { HubStorage, Statement } from '../storage/index.js';
import type { AuditLog } from './audit-log.js';
import type { Exceptions } from './exceptions.js';

/** Exception codes for copies of an agent's database (stable; listed with the others by `returns exceptions`). */
export const AgentCopyCodes = {
  /** A second live copy of an agent connected and was refused. */
  DUPLICATE_AGENT: 'duplicate_agent',
  /** Two histories were written under one incarnation of an agent's database. */
  AGENT_FORKED: 'agent_forked',
} as const;

/** The kind of the exceptions below: about an agent, not about one of its events. */
const KIND = 'agent';

export interface CopyOf {
  store: string;
  agentId: string;
  incarnation: string;
}

/**
 * DESIGN rule 9 at the hub: what is recorded when an agent's database turns out to be a copy.
 * - behind: its newest seq is below what the hub applied for its incarnation (restored from a
 *   backup, a VM snapshot reverted) — audited; the agent starts a new incarnation.
 * - forked: it sent an unseen event under a seq the hub applied another event for (a copy that
 *   went on after it was taken) — audited and kept as an exception; the agent starts a new
 *   incarnation and nothing is lost: the hub takes its events by id.
 * - duplicate: a second copy connected while another answers (two PCs from one disk image) —
 *   refused; audited and kept as an exception, once while that exception is open.
 */
export class AgentCopies {
  private readonly openDuplicate: Statement;
  private readonly markDuplicate: Statement;

  constructor(
    private readonly storage: HubStorage,
    private readonly exceptions: Exceptions,
    private readonly audit: AuditLog,
  ) {
    this.openDuplicate = storage.db.prepare(
      `SELECT e.id FROM agent_cursors c JOIN exceptions e ON e.id = c.duplicate_exception
       WHERE c.agent_id = ? AND e.resolved_at IS NULL`,
    );
    this.markDuplicate = storage.db.prepare(`UPDATE agent_cursors SET duplicate_exception = ? WHERE agent_id = ?`);
  }

  behind(c: CopyOf, newest: number, applied: number): void {
    this.storage.tx(() => this.auditCopy(c, 'agent.restored', 'new_incarnation', { newest, applied }));
  }

  forked(c: CopyOf, at: { seq: number; eventId: string; applied: number }): string {
    return this.storage.tx(() => {
      const reason =
        `agent ${c.agentId} sent event ${at.eventId} as seq ${at.seq}, but the hub applied another event under ` +
        `that seq of the same incarnation (up to ${at.applied}): its database was copied, or a snapshot reverted, ` +
        `and both histories went on. ` +
        `Every event is taken once by its id; if two PCs run from one disk image, retire one.`;
      this.auditCopy(c, 'agent.forked', 'new_incarnation', { seq: at.seq, event: at.eventId, applied: at.applied });
      const { seq, eventId: event, applied } = at;
      const body = { agent: c.agentId, incarnation: c.incarnation, seq, event, applied };
      return this.exceptions.record({ store: c.store, kind: KIND, code: AgentCopyCodes.AGENT_FORKED, reason, body });
    });
  }

  /** Returns the exception recorded, or undefined when one is already open for this agent. */
  duplicate(c: CopyOf, sources: { live: string; refused: string }): string | undefined {
    return this.storage.tx(() => {
      if (this.openDuplicate.get(c.agentId)) return undefined;
      const reason =
        `another copy of agent ${c.agentId} (same database, incarnation ${c.incarnation}) connected from ` +
        `${sources.refused} while the copy connected from ${sources.live} answers; the second was refused. ` +
        `Two PCs run from one disk image (or the agent runs twice on one database): retire one; ` +
        `its queued sales are delivered once it is the only one.`;
      this.auditCopy(c, 'agent.duplicate', 'refused', { live: sources.live, refused: sources.refused });
      const body = { agent: c.agentId, incarnation: c.incarnation, ...sources };
      const code = AgentCopyCodes.DUPLICATE_AGENT;
      const id = this.exceptions.record({ store: c.store, kind: KIND, code, reason, body });
      this.markDuplicate.run(id, c.agentId);
      return id;
    });
  }

  /** The audit entry of what happened to a copy of an agent's database: by the agent, about the agent. */
  private auditCopy(c: CopyOf, action: string, outcome: string, details: Record<string, unknown>): void {
    const agent = `agent:${c.agentId}`;
    const withIncarnation = { incarnation: c.incarnation, ...details };
    this.audit.append({ actor: agent, action, outcome, store: c.store, resource: agent, details: withIncarnation });
  }
}
