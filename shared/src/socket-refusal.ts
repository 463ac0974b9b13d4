import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export interface SocketRefusal {
  /** more response headers (`Retry-After`…) */
  headers?: Record<string, string>;
  /** a JSON body (the agent's register endpoints answer `{code, message}`); none: an empty body */
  json?: unknown;
}

/**
 * Refuses a request on its raw socket, where Node's HTTP server has handed the socket over: an HTTP upgrade (a
 * WebSocket handshake at the hub's agent endpoint or the agent's register endpoints), a request Node could not parse
 * (`clientError`) or a `CONNECT`. It writes an HTTP/1.1 error response with `Connection: close`; the socket is
 * destroyed once the response is written, or at once when the client is already gone.
 */
export function refuseOnSocket(socket: Duplex, status: number, rejection: SocketRefusal = {}): void {
  if (socketGone(socket)) {
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

/** Whether the client closed or reset a handed-over socket (nothing can be written to it). */
export function socketGone(socket: Duplex): boolean {
  return socket.destroyed || !socket.readable || !socket.writable;
}
