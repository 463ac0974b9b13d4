import type { AuditLog } from '../domain/audit-log.js';
import type { HubStorage } from '../storage/index.js';

/**
 * The unit of work: one transaction of the hub's storage. A use case runs all it changes —
 * its audit entry included — inside one `tx`; a transaction opened inside it (a domain service's
 * own) joins it. Effects owed to others once the change is durable (pushes to agents, the
 * webhook dispatcher's wake-up, metrics) are queued with `afterCommit` by whoever causes them and
 * run after the outermost commit, never after a rollback. `savepoint` undoes one part and lets
 * the transaction go on (a refused sale of an import).
 */
export type UnitOfWork = Pick<HubStorage, 'tx' | 'savepoint' | 'afterCommit'>;

/** What a use case that changes the hub's data is given: the unit of work it runs in. */
export interface InUnitOfWork {
  uow: UnitOfWork;
}

/** What an audited use case is given: the unit of work, and the audit log its entry joins in the same transaction. */
export interface AuditedWork extends InUnitOfWork {
  audit: Pick<AuditLog, 'append'>;
}
