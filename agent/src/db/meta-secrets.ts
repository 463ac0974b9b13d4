import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { getMeta, setMeta, type Db } from './agent-db.js';

/** The `meta` rows that hold secrets: the API key the hub rotated in, and the key of the keyed hash of card numbers. */
export const SECRET_META_KEYS = ['api_key', 'card_key'] as const;
export type SecretMetaKey = (typeof SECRET_META_KEYS)[number];

const PREFIX = 'sealed:v1:';

/**
 * Secrets in the agent's database are sealed (AES-256-GCM, the row's name as associated data)
 * under a key derived (HKDF-SHA256) from the API key in the config file (200 random bits). That
 * key lives outside the database — in the config file, normally /etc, not the data directory — so
 * a copy of agent.sqlite, or of the whole data directory (a backup, a disk image, a file sent for
 * support), does not give the secrets away. Whoever also has the config file has a store API key
 * anyway.
 *
 * A value that cannot be opened (the config's API key was replaced since it was sealed) reads as
 * absent: the agent then uses the config's key, and takes the card key again from the hub's next
 * welcome.
 */
export class MetaSecrets {
  private readonly key: Buffer;

  constructor(
    private readonly db: Db,
    configApiKey: string,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', configApiKey, 'tillbridge agent', 'meta secrets v1', 32));
  }

  get(name: SecretMetaKey): string | undefined {
    const v = getMeta(this.db, name);
    if (!v?.startsWith(PREFIX)) return undefined;
    try {
      const [iv, tag, body] = v
        .slice(PREFIX.length)
        .split('.')
        .map((p) => Buffer.from(p, 'base64url'));
      if (!iv || !tag || !body) throw new Error('a sealed secret has three parts');
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAAD(Buffer.from(name));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }

  /** Writes the sealed value (in the caller's transaction, if any). */
  set(name: SecretMetaKey, value: string): void {
    setMeta(this.db, name, this.seal(name, value));
  }

  /**
   * Seals the clear values an older version left, in one transaction with secure_delete on (the
   * old bytes are zeroed in the page, not left in free space), then checkpoints and truncates the
   * WAL, which may still hold pages with them. Returns how many values it sealed.
   */
  sealClearValues(): number {
    const before = this.db.pragma('secure_delete', { simple: true }) as number;
    this.db.pragma('secure_delete = ON');
    try {
      const n = this.db
        .transaction(() => {
          let sealed = 0;
          for (const name of SECRET_META_KEYS) {
            const v = getMeta(this.db, name);
            if (v === undefined || v.startsWith(PREFIX)) continue;
            setMeta(this.db, name, this.seal(name, v));
            sealed++;
          }
          return sealed;
        })
        .immediate();
      if (n > 0) this.db.pragma('wal_checkpoint(TRUNCATE)');
      return n;
    } finally {
      this.db.pragma(`secure_delete = ${before ? 'ON' : 'OFF'}`);
    }
  }

  private seal(name: string, value: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(name));
    const body = Buffer.concat([c.update(value, 'utf8'), c.final()]);
    return PREFIX + [iv, c.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
  }
}
