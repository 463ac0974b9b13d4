import type { AuditCheckpoints } from '../audit/checkpoints.js';
import type { UnitOfWork } from './unit-of-work.js';

export interface AuditUseCaseDeps {
  uow: UnitOfWork;
  checkpoints: Pick<AuditCheckpoints, 'create' | 'file'>;
}

/** The audit log's changes an operator asks for. */
export class AuditUseCases {
  constructor(private readonly d: AuditUseCaseDeps) {}

  /** A signed checkpoint of the head now; the request is audited in the same transaction and covered by it. */
  checkpoint(actor: string): ReturnType<AuditCheckpoints['file']> {
    return this.d.uow.tx(() => this.d.checkpoints.file(this.d.checkpoints.create(actor)!));
  }
}
