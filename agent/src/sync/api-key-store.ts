import { systemClock } from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';
import type { MetaSecrets } from '../db/meta-secrets.js';

/**
 * The API key the hub rotated in, kept in the agent's database (sealed: db/meta-secrets.ts): one
 * SQLite transaction (WAL, synchronous=FULL) writes it, so a crash at any point leaves either the
 * old key (still valid during the grace period) or the new one — never half of one. It is used in
 * preference to the key in the config file.
 */
export class ApiKeyStore {
  /** `now`: the agent's clock, for `storedAt`. */
  constructor(
    private readonly db: Db,
    private readonly secrets: MetaSecrets,
    private readonly now: () => number = () => systemClock.now(),
  ) {}

  current(): string | undefined {
    const v = this.secrets.get('api_key');
    return v ? (JSON.parse(v) as { secret: string }).secret : undefined;
  }

  store(id: string, secret: string): void {
    this.db
      .transaction(() =>
        this.secrets.set('api_key', JSON.stringify({ id, secret, storedAt: new Date(this.now()).toISOString() })),
      )
      .immediate();
  }
}
