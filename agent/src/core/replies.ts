import type { Statement } from 'better-sqlite3';
import { systemClock, type RegisterReply } from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';

/** The answer given to every register message, so a retransmitted id is answered the same way. */
export class Replies {
  private readonly get: Statement;
  private readonly put: Statement;
  private readonly prune: Statement;

  constructor(
    db: Db,
    private readonly now: () => number = () => systemClock.now(),
  ) {
    this.get = db.prepare(`SELECT reply FROM replies WHERE register = ? AND msg_id = ?`);
    this.put = db.prepare(`INSERT INTO replies (register, msg_id, type, reply, created_ms) VALUES (?, ?, ?, ?, ?)`);
    this.prune = db.prepare(`DELETE FROM replies WHERE created_ms < ?`);
  }

  find(register: string, msgId: string): RegisterReply | undefined {
    const row = this.get.get(register, msgId) as { reply: string } | undefined;
    return row ? (JSON.parse(row.reply) as RegisterReply) : undefined;
  }

  /** Call inside the transaction that makes the message's effect durable. */
  record(register: string, msgId: string, reply: RegisterReply): void {
    this.put.run(register, msgId, reply.type, JSON.stringify(reply), this.now());
  }

  pruneOlderThan(ageMs: number): number {
    return this.prune.run(this.now() - ageMs).changes;
  }
}
