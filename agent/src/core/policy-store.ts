import { DEFAULT_POLICY, mergePolicy, PolicySchema, type Logger, type Policy } from '@tillbridge/shared';
import { getMeta, setMeta, type Db } from '../db/agent-db.js';

/**
 * The returns policy this agent decides offline by: the version the hub last pushed, kept in the
 * agent's database so it survives restarts. Before the first push, the default policy with the
 * config's `offline.maxRefund` (version 0).
 */
export class PolicyStore {
  private current: { version: number; policy: Policy };

  constructor(private readonly db: Db, fallbackMaxRefund: number, private readonly log: Logger) {
    const stored = getMeta(db, 'policy');
    const fallback = { version: 0, policy: mergePolicy(DEFAULT_POLICY, { offline: { maxRefundPerReturn: fallbackMaxRefund } }) };
    if (!stored) this.current = fallback;
    else {
      try {
        const { version, policy } = JSON.parse(stored) as { version: number; policy: unknown };
        this.current = { version, policy: PolicySchema.parse(policy) };
      } catch {
        this.current = fallback;
      }
    }
  }

  get version(): number {
    return this.current.version;
  }

  get policy(): Policy {
    return this.current.policy;
  }

  /** Keeps a policy pushed by the hub (an older or equal version is ignored). */
  accept(version: number, raw: unknown): boolean {
    if (version < this.current.version) return false;
    const parsed = PolicySchema.safeParse(raw);
    if (!parsed.success) {
      this.log.error({ version }, 'the hub pushed a policy this agent cannot read; keeping the one it has');
      return false;
    }
    const next = { version, policy: parsed.data };
    // kept before it is used: a write that fails (a full disk) throws, the policy held stays, and the caller retries
    setMeta(this.db, 'policy', JSON.stringify(next));
    this.current = next;
    this.log.info({ version }, 'returns policy updated');
    return true;
  }
}
