import { DEFAULT_POLICY, mergePolicy, PolicySchema, type Logger, type Policy } from '@tillbridge/shared';
import { setMeta, type Db } from '../db/agent-db.js';
import { readStoredConfig } from '../db/stored-config.js';

/**
 * The returns policy this agent decides offline by: the version the hub last pushed, kept in the
 * agent's database so it survives restarts. Before the first push, the default policy with the
 * config's `offline.maxRefund` (version 0) — and so too when the stored policy cannot be read,
 * which is logged, shown by `tillbridge-agent status` and in the metrics until the hub sends one.
 */
export class PolicyStore {
  private current: { version: number; policy: Policy };
  private unreadable: string | undefined;

  constructor(
    private readonly db: Db,
    fallbackMaxRefund: number,
    private readonly log: Logger,
  ) {
    const fallbackPolicy = mergePolicy(DEFAULT_POLICY, { offline: { maxRefundPerReturn: fallbackMaxRefund } });
    this.current = { version: 0, policy: fallbackPolicy };
    const stored = readStoredConfig(db, 'policy', 'policy', PolicySchema);
    if (stored.state === 'read') this.current = { version: stored.version, policy: stored.value };
    else if (stored.state === 'invalid') {
      this.unreadable = stored.problem;
      log.error(
        { err: stored.err, problem: stored.problem },
        'the stored returns policy cannot be read: deciding offline by the default policy until the hub sends one',
      );
    }
  }

  get version(): number {
    return this.current.version;
  }

  get policy(): Policy {
    return this.current.policy;
  }

  /** Why the stored policy could not be read at start (defaults rule meanwhile); undefined once the hub sent one. */
  get problem(): string | undefined {
    return this.unreadable;
  }

  /** Keeps a policy pushed by the hub (an older or equal version is ignored). */
  accept(version: number, raw: unknown): boolean {
    if (version < this.current.version) return false;
    const parsed = PolicySchema.safeParse(raw);
    if (!parsed.success) {
      const message = 'the hub pushed a policy this agent cannot read; keeping the one it has';
      this.log.error({ version, err: parsed.error }, message);
      return false;
    }
    const next = { version, policy: parsed.data };
    // kept before it is used: a write that fails (a full disk) throws, the policy held stays, and the caller retries
    setMeta(this.db, 'policy', JSON.stringify(next));
    this.current = next;
    this.unreadable = undefined;
    this.log.info({ version }, 'returns policy updated');
    return true;
  }
}
