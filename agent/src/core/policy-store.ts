import { DEFAULT_POLICY, mergePolicy, PolicySchema, type Logger, type Policy } from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';
import { PushedDocument } from './pushed-document.js';

/**
 * The returns policy this agent decides offline by: the version the hub last pushed, kept in the
 * agent's database so it survives restarts. Before the first push, the default policy with the
 * config's `offline.maxRefund` (version 0) — and so too when the stored policy cannot be read,
 * which is logged, shown by `tillbridge-agent status` and in the metrics until the hub sends one.
 */
export class PolicyStore {
  private readonly doc: PushedDocument<Policy>;

  constructor(
    db: Db,
    fallbackMaxRefund: number,
    private readonly log: Logger,
  ) {
    this.doc = new PushedDocument(db, {
      key: 'policy',
      field: 'policy',
      schema: PolicySchema,
      fallback: mergePolicy(DEFAULT_POLICY, { offline: { maxRefundPerReturn: fallbackMaxRefund } }),
      log,
      unreadableMessage:
        'the stored returns policy cannot be read: deciding offline by the default policy until the hub sends one',
      rejectedMessage: 'the hub pushed a policy this agent cannot read; keeping the one it has',
    });
  }

  get version(): number {
    return this.doc.version;
  }

  get policy(): Policy {
    return this.doc.value;
  }

  /** Why the stored policy could not be read at start (defaults rule meanwhile); undefined once the hub sent one. */
  get problem(): string | undefined {
    return this.doc.problem;
  }

  /** Keeps a policy pushed by the hub (an older version is ignored; the same version is taken again). */
  accept(version: number, raw: unknown): boolean {
    if (version < this.doc.version) return false;
    if (!this.doc.keep(version, raw)) return false;
    this.log.info({ version }, 'returns policy updated');
    return true;
  }
}
