import { newId } from '@tillbridge/shared';
import { agentId, getMeta, setMeta, type Db } from '../db/agent-db.js';

/**
 * Who this agent's database is (DESIGN rule 9): the agent id, made with the database and the same
 * in every copy of it, and the incarnation — new when the database is created (or first opened by
 * an agent that knows incarnations), and whenever the hub finds it behind or forked from what it
 * applied (restored from a backup, a snapshot reverted, a disk copied). The hub keeps its cursor
 * per (agent, incarnation), so a new incarnation's seqs never meet another history's.
 */
export class AgentIdentity {
  readonly agentId: string;
  private current: string;

  constructor(private readonly db: Db) {
    this.agentId = agentId(db);
    let inc = getMeta(db, 'incarnation');
    if (!inc) {
      inc = newId();
      setMeta(db, 'incarnation', inc);
    }
    this.current = inc;
  }

  get incarnation(): string {
    return this.current;
  }

  /** Starts a new incarnation, committed (fsync) before it is used in a hello. */
  renew(): string {
    const inc = newId();
    setMeta(this.db, 'incarnation', inc);
    this.current = inc;
    return inc;
  }
}
