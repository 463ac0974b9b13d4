import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** A new globally unique, time-ordered id (UUID v7): keeps SQLite B-tree inserts append-only. */
export function newId(): string {
  return uuidv7();
}

/**
 * A UUID-shaped id derived from its parts (RFC 9562 version 8, "custom").
 * The same parts always give the same id: a register retransmitting a request after an
 * agent crash asks the hub about the same authorization, and the hub answers what it decided.
 */
export function derivedId(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(String(Buffer.byteLength(p)));
    h.update(':');
    h.update(p);
  }
  const b = h.digest().subarray(0, 16);
  b[6] = (b.readUInt8(6) & 0x0f) | 0x80; // version 8
  b[8] = (b.readUInt8(8) & 0x3f) | 0x80; // RFC 9562 variant
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * `bytes` in Crockford base32, lower case, most significant bit first, 5 bits a character; a last
 * group of fewer than 5 bits is padded with zero bits (10 bytes: 16 characters; 16 bytes: 26).
 */
export function crockfordBase32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  return bits > 0 ? out + CROCKFORD.charAt((value << (5 - bits)) & 31) : out;
}

/** Random secret material, base64url, `bytes` long before encoding. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
