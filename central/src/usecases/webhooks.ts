import type { Webhooks } from '../webhooks/webhooks.js';
import type { InUnitOfWork } from './unit-of-work.js';

export interface WebhookUseCaseDeps extends InUnitOfWork {
  webhooks: Pick<Webhooks, 'add' | 'remove' | 'rotateSecret' | 'enable' | 'disable' | 'test' | 'redeliver'>;
}

/**
 * Webhook endpoints administered: each change and its audit entry one transaction; the
 * dispatcher is woken after the commit (a delivery queued by `test` or `redeliver`).
 */
export class WebhookUseCases {
  constructor(private readonly deps: WebhookUseCaseDeps) {}

  add(actor: string, input: { url: unknown; events: unknown; store?: unknown }): ReturnType<Webhooks['add']> {
    return this.deps.uow.tx(() => this.deps.webhooks.add(input, actor));
  }

  remove(actor: string, id: string): void {
    this.deps.uow.tx(() => this.deps.webhooks.remove(id, actor));
  }

  rotateSecret(actor: string, id: string, overlapMs: number): ReturnType<Webhooks['rotateSecret']> {
    return this.deps.uow.tx(() => this.deps.webhooks.rotateSecret(id, overlapMs, actor));
  }

  /** Whether it was disabled. */
  enable(actor: string, id: string): boolean {
    return this.deps.uow.tx(() => this.deps.webhooks.enable(id, actor));
  }

  /** Whether it was enabled. */
  disable(actor: string, id: string, reason: string): boolean {
    return this.deps.uow.tx(() => this.deps.webhooks.disable(id, reason, actor));
  }

  /** A test event queued for the endpoint. */
  test(actor: string, id: string): ReturnType<Webhooks['test']> {
    return this.deps.uow.tx(() => this.deps.webhooks.test(id, actor));
  }

  redeliver(actor: string, deliveryId: string): ReturnType<Webhooks['redeliver']> {
    return this.deps.uow.tx(() => this.deps.webhooks.redeliver(deliveryId, actor));
  }
}
