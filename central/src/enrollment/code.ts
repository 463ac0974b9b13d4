import { createHmac, randomBytes } from 'node:crypto';
import { crockfordBase32 } from '@tillbridge/shared';

/**
 * Enrollment codes: 16 Crockford base32 characters (80 random bits) in four groups of four, e.g.
 * `7KQ2-M9XD-4HTR-Z1WB` — short enough to read over the phone. Typed back case-insensitively,
 * dashes and spaces optional, with Crockford's readings of look-alikes (O → 0, I and L → 1).
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_CHARS = 16;

export function newEnrollmentCode(): string {
  // 80 bits: exactly 16 characters of 5 bits
  return formatCode(crockfordBase32(randomBytes(10)).toUpperCase());
}

/** `ABCDEFGHJKMNPQRS` → `ABCD-EFGH-JKMN-PQRS`. */
export function formatCode(c: string): string {
  return (c.match(/.{1,4}/g) ?? []).join('-');
}

/**
 * The code as typed, in its canonical form (16 upper-case characters, no dashes), or undefined when it cannot be one.
 */
export function normalizeCode(typed: string): string | undefined {
  if (typed.length > 64) return undefined;
  const c = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (c.length !== CODE_CHARS) return undefined;
  for (const ch of c) if (!ALPHABET.includes(ch)) return undefined;
  return c;
}

/** What is stored of a code: a keyed hash of its canonical form. */
export function hashCode(key: Buffer, canonical: string): string {
  return createHmac('sha256', key).update(`tillbridge enrollment code v1:${canonical}`).digest('hex');
}
