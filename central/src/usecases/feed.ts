import type { Feed, FeedConsumer } from '../feed/feed.js';
import type { AuditedWork } from './unit-of-work.js';

export interface FeedUseCaseDeps extends AuditedWork {
  erpFeed: Pick<Feed, 'ack' | 'removeConsumer' | 'consumer'>;
}

/**
 * The ERP feed's named consumers (docs/erp-feed.md): an ERP job acknowledges what it handled and
 * resumes there. An ack moving forward is routine (not audited: a job acks every page); going
 * back (`rewind`, a replay) and forgetting a consumer are audited.
 */
export class FeedUseCases {
  constructor(private readonly deps: FeedUseCaseDeps) {}

  ack(actor: string, name: string, position: number, opts: { rewind?: boolean } = {}): FeedConsumer {
    return this.deps.uow.tx(() => {
      const before = this.deps.erpFeed.consumer(name);
      const after = this.deps.erpFeed.ack(name, position, opts);
      if (before && position < before.position) {
        this.deps.audit.append({
          actor,
          action: 'feed.rewind',
          outcome: 'rewound',
          resource: `feed-consumer:${name}`,
          details: { from: before.position, to: position },
        });
      }
      return after;
    });
  }

  /** False when there was no such consumer. */
  remove(actor: string, name: string): boolean {
    return this.deps.uow.tx(() => {
      const prior = this.deps.erpFeed.consumer(name);
      if (!prior) return false;
      this.deps.erpFeed.removeConsumer(name);
      this.deps.audit.append({
        actor,
        action: 'feed.consumer.remove',
        outcome: 'removed',
        resource: `feed-consumer:${name}`,
        details: { position: prior.position },
      });
      return true;
    });
  }
}
