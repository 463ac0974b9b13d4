import type { AuthorizeRequestBody, OverrideBody, ReceiptLookupBody } from '@tillbridge/shared';
import type { ExceptionResolution, Resolution } from '../domain/exception-resolution.js';
import type { ReturnsEngine } from '../domain/returns-engine.js';
import type { InUnitOfWork } from './unit-of-work.js';

export interface ReturnUseCaseDeps extends InUnitOfWork {
  engine: Pick<ReturnsEngine, 'authorize' | 'override' | 'lookup'>;
  resolution: Pick<ExceptionResolution, 'resolve'>;
}

/**
 * Returns: an agent's authorization requests and manager overrides (each decision, its
 * reservations and its audit entry one transaction), receipt lookups, and the operator settling
 * an exception. Completions and cancellations arrive as events of an agent's batch (AgentUseCases.applyBatch).
 */
export class ReturnUseCases {
  constructor(private readonly deps: ReturnUseCaseDeps) {}

  /** `latencyMs`: how long since the request arrived, read as the decision is made (see ReturnsEngine.authorize). */
  authorize(
    store: string,
    body: AuthorizeRequestBody,
    latencyMs?: () => number,
  ): ReturnType<ReturnsEngine['authorize']> {
    return this.deps.uow.tx(() => this.deps.engine.authorize(store, body, latencyMs));
  }

  override(store: string, body: OverrideBody): ReturnType<ReturnsEngine['override']> {
    return this.deps.uow.tx(() => this.deps.engine.override(store, body));
  }

  /** What the hub knows of a receipt (nothing is written). */
  lookup(store: string, q: ReceiptLookupBody): ReturnType<ReturnsEngine['lookup']> {
    return this.deps.engine.lookup(store, q);
  }

  /**
   * Settles an exception: accepted as it stands, or reversed (stock and reservations undone); audited with the note.
   */
  resolveException(
    actor: string,
    id: string,
    action: Resolution,
    note: string,
  ): ReturnType<ExceptionResolution['resolve']> {
    return this.deps.uow.tx(() => this.deps.resolution.resolve(id, action, note, actor));
  }
}
