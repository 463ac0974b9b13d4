import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export interface UpgradeRejection {
  /** more response headers (`Retry-After`…) */
  headers?: Record<string, string>;
  /** a JSON body (the agent's register endpoints answer `{code, message}`); none: an empty body */
  json?: unknown;
}

/**
 * Refuses an HTTP upgrade (a WebSocket handshake) on its raw socket — the hub's agent endpoint and
 * the agent's register endpoints — with an HTTP/1.1 error response and `Connection: close`; the
 * socket is destroyed once the response is written, or at once when the client is already gone.
 */
export function rejectUpgrade(socket: Duplex, status: number, rejection: UpgradeRejection = {}): void {
  if (upgradeSocketGone(socket)) {
    socket.destroy();
    return;
  }
  const body = rejection.json === undefined ? '' : JSON.stringify(rejection.json);
  const headers: Record<string, string> = { connection: 'close' };
  if (body) headers['content-type'] = 'application/json';
  Object.assign(headers, rejection.headers, { 'content-length': String(Buffer.byteLength(body)) });
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${head}\r\n${body}`, () => socket.destroy());
}

/** Whether the client of an upgrade request closed or reset its socket (nothing can be written to it). */
export function upgradeSocketGone(socket: Duplex): boolean {
  return socket.destroyed || !socket.readable || !socket.writable;
}
