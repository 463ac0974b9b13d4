import { createHmac } from 'node:crypto';
import { seal, unseal } from '../auth/secrets.js';

/**
 * Endpoint secrets at rest: AES-256-GCM (auth/secrets.ts `seal`) under a key derived from the
 * hub's seal key for this purpose only. The secret is needed in clear to sign, so it cannot be hashed.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(sealKey: Buffer) {
    if (sealKey.length !== 32) throw new Error('webhooks: sealKey must be 32 bytes');
    this.key = createHmac('sha256', sealKey).update('tillbridge webhook secret v1').digest();
  }

  seal(secret: string): string {
    return seal(this.key, secret);
  }

  open(sealed: string): string {
    return unseal(this.key, sealed);
  }
}
