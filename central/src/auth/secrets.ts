import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crockfordBase32 } from '@tillbridge/shared';

/**
 * The hub's server-side secret (data/hub.secret, 0600), generated at `init`. API keys and admin
 * tokens are stored as HMAC-SHA256 under a key derived from it; access tokens are signed with
 * another derived key. No credential is hard-coded anywhere.
 */
export interface HubSecrets {
  credentialKey: Buffer;
  tokenKey: Buffer;
  /** Key of the keyed hash kept of card numbers (sent to agents; the number itself never leaves the gateway). */
  cardKey: Buffer;
  /** Key that encrypts a new API key until the store's agent has it (AES-256-GCM). */
  sealKey: Buffer;
  /** Key that encrypts webhook endpoints' signing secrets at rest (AES-256-GCM). */
  webhookKey: Buffer;
}

export function secretPath(dataDir: string): string {
  return join(dataDir, 'hub.secret');
}

export function createSecret(dataDir: string): void {
  const file = secretPath(dataDir);
  if (existsSync(file)) return;
  writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function loadSecrets(dataDir: string): HubSecrets {
  const master = Buffer.from(readFileSync(secretPath(dataDir), 'utf8').trim(), 'base64');
  if (master.length < 32) throw new Error(`${secretPath(dataDir)} is too short`);
  const derive = (label: string): Buffer => createHmac('sha256', master).update(label).digest();
  return {
    credentialKey: derive('tillbridge credential hash v1'),
    tokenKey: derive('tillbridge access token v1'),
    cardKey: derive('tillbridge card hmac v1'),
    sealKey: derive('tillbridge key seal v1'),
    webhookKey: derive('tillbridge webhook secret seal v1'),
  };
}

/**
 * What the database keeps of the secret it was created with (meta 'secret_check'): a hub process
 * whose hub.secret gives another value is refused (hub-services.ts), as is a migration's copy.
 */
export function secretCheck(secrets: HubSecrets): string {
  return createHmac('sha256', secrets.credentialKey).update('tillbridge hub.secret check').digest('hex').slice(0, 32);
}

function checksum(body: string): string {
  const c = crc32(body) >>> 0;
  return crockfordBase32(Buffer.from([c >>> 24, (c >>> 16) & 255, (c >>> 8) & 255, c & 255])).slice(0, 6);
}

export interface NewCredential {
  /** Shown once to the operator; never stored. */
  secret: string;
  /** Public id (part of the secret), stored and shown in listings. */
  id: string;
}

/**
 * `<prefix>_<id:8><secret:32>_<checksum:6>`: 200 random bits (40 base32 characters), and a
 * CRC-32 checksum so a mistyped key is caught before any lookup.
 */
export function newCredential(prefix: 'tbk' | 'tba'): NewCredential {
  const body = crockfordBase32(randomBytes(25));
  const secret = `${prefix}_${body}_${checksum(body)}`;
  return { secret, id: `${prefix}_${body.slice(0, 8)}` };
}

/** The public id of a well-formed credential, or undefined when it is malformed or its checksum fails. */
export function credentialId(secret: string, prefix: 'tbk' | 'tba'): string | undefined {
  const m = new RegExp(`^${prefix}_([0-9a-z]{40})_([0-9a-z]{6})$`).exec(secret);
  const body = m?.[1];
  if (body === undefined || checksum(body) !== m?.[2]) return undefined;
  return `${prefix}_${body.slice(0, 8)}`;
}

export function hashCredential(key: Buffer, secret: string): string {
  return createHmac('sha256', key).update(secret).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** AES-256-GCM: iv.tag.ciphertext, base64url. */
export function seal(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return [iv, c.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
}

export function unseal(key: Buffer, sealed: string): string {
  const [iv, tag, body] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  if (!iv || !tag || !body) throw new Error('a sealed secret is not iv.tag.ciphertext');
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(body), d.final()]).toString('utf8');
}
