import type { RawData } from 'ws';

/** The text of a WebSocket message as `ws` hands it over (one buffer, fragments, or an ArrayBuffer). */
export function wsText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}
