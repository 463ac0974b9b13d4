import type { Encoding } from './profile.js';

/** Bytes ↔ text in a record profile's encoding. */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text, or undefined when they are not valid in the encoding. */
export function decodeText(bytes: Uint8Array, enc: Encoding): string | undefined {
  if (enc === 'utf8') {
    try {
      return utf8.decode(bytes);
    } catch {
      return undefined;
    }
  }
  if (enc === 'ascii') {
    for (const b of bytes) if (b > 0x7f) return undefined;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export function encodingName(enc: Encoding): string {
  return enc === 'utf8' ? 'UTF-8' : enc === 'ascii' ? 'ASCII' : 'Latin-1';
}

// eslint-disable-next-line no-control-regex -- control characters are what it matches
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text made safe to write into a record: control characters (which could end a frame, e.g.
 * ETX) become spaces, characters the encoding cannot hold become "?".
 */
export function writable(text: string, enc: Encoding): string {
  const clean = text.replace(CONTROL, ' ');
  if (enc === 'utf8') return clean.replace(LONE_SURROGATE, '?');
  const max = enc === 'ascii' ? 0x7f : 0xff;
  let out = '';
  for (const ch of clean) out += (ch.codePointAt(0) ?? 0) > max ? '?' : ch;
  return out;
}

export function encodeText(text: string, enc: Encoding): Buffer {
  return Buffer.from(text, enc === 'utf8' ? 'utf8' : 'latin1');
}
