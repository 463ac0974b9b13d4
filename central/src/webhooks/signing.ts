import { createHmac, randomBytes } from 'node:crypto';

/** Standard Webhooks 1.0 symmetric signatures: `whsec_` secrets, `v1,<base64 HMAC-SHA256>`. */
export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64). */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the secret's decoded bytes. */
export function signature(secret: string, msgId: string, timestampSec: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${msgId}.${timestampSec}.${body}`).digest('base64')}`;
}

/** The `webhook-signature` header: one signature per secret, space-separated (current first). */
export function signatureHeader(secrets: string[], msgId: string, timestampSec: number, body: string): string {
  return secrets.map((s) => signature(s, msgId, timestampSec, body)).join(' ');
}
