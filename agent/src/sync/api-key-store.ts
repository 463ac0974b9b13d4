import { getMeta, setMeta, type Db } from '../db/agent-db.js';

/**
 * The API key the hub rotated in, kept in the agent's database: one SQLite transaction (WAL,
 * synchronous=FULL) writes it, so a crash at any point leaves either the old key (still valid
 * during the grace period) or the new one — never half of one. It is used in preference to the
 * key in the config file.
 */
export class ApiKeyStore {
  constructor(private readonly db: Db) {}

  current(): string | undefined {
    const v = getMeta(this.db, 'api_key');
    return v ? (JSON.parse(v) as { secret: string }).secret : undefined;
  }

  store(id: string, secret: string): void {
    this.db.transaction(() => setMeta(this.db, 'api_key', JSON.stringify({ id, secret, storedAt: new Date().toISOString() }))).immediate();
  }
}
