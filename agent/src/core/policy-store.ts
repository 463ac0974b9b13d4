import { DEFAULT_POLICY, mergePolicy, PolicySchema, type Logger, type Policy } from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';
import { PushedDocument } from './pushed-document.js';

/**
 * The returns policy this agent decides offline by: the version the hub last pushed, kept in the
 * agent's database so it survives restarts. Before the first push, the default policy with the
 * config's `offline.maxRefund` (version 0) — and so too when the stored policy cannot be read,
 * which is logged, shown by `tillbridge-agent status` and in the metrics (`problem`) until the
 * hub sends one.
 */
export class PolicyStore extends PushedDocument<Policy> {
  constructor(db: Db, fallbackMaxRefund: number, log: Logger) {
    super(db, {
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

  get policy(): Policy {
    return this.value;
  }

  /** Keeps a policy pushed by the hub (an older version is ignored; the same version is taken again). */
  accept(version: number, raw: unknown): boolean {
    if (version < this.version) return false;
    if (!this.keep(version, raw)) return false;
    this.spec.log.info({ version }, 'returns policy updated');
    return true;
  }
}
