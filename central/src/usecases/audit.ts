import type { AuditCheckpoints } from '../audit/checkpoints.js';
import type { InUnitOfWork } from './unit-of-work.js';

export interface AuditUseCaseDeps extends InUnitOfWork {
  checkpoints: Pick<AuditCheckpoints, 'create' | 'file'>;
}

/** The audit log's changes an operator asks for. */
export class AuditUseCases {
  constructor(private readonly deps: AuditUseCaseDeps) {}

  /** A signed checkpoint of the head now; the request is audited in the same transaction and covered by it. */
  checkpoint(actor: string): ReturnType<AuditCheckpoints['file']> {
    return this.deps.uow.tx(() => {
      // the request's own audit entry is in the log, so there is a head to sign
      const record = this.deps.checkpoints.create(actor);
      if (!record) throw new Error('no audit checkpoint was made: the audit log is empty');
      return this.deps.checkpoints.file(record);
    });
  }
}
