import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { refuseOnSocket, type SocketRefusal } from '../src/socket-refusal.js';

/** A real HTTP server refusing every upgrade as told, and a client asking for a WebSocket. */
let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function refusedUpgrade(
  status: number,
  rejection?: SocketRefusal,
): Promise<{ res: IncomingMessage; body: string }> {
  server = createServer();
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => refuseOnSocket(socket, status, rejection));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const headers = { connection: 'Upgrade', upgrade: 'websocket' };
    const req = request({ host: '127.0.0.1', port, path: '/ws', headers });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ res, body }));
    });
    req.on('upgrade', () => reject(new Error('the upgrade was accepted')));
    req.on('error', reject);
    req.end();
  });
}

describe('refuseOnSocket', () => {
  it('answers an HTTP error with its status text, extra headers and no body, and closes', async () => {
    const { res, body } = await refusedUpgrade(429, { headers: { 'Retry-After': '7' } });
    expect([res.statusCode, res.statusMessage]).toEqual([429, 'Too Many Requests']);
    expect(res.headers).toMatchObject({ 'retry-after': '7', connection: 'close', 'content-length': '0' });
    expect(body).toBe('');
  });

  it('answers a JSON body when given one', async () => {
    const { res, body } = await refusedUpgrade(404, { json: { code: 'TB_NOT_FOUND', message: 'no register here' } });
    expect([res.statusCode, res.headers['content-type']]).toEqual([404, 'application/json']);
    expect(JSON.parse(body)).toEqual({ code: 'TB_NOT_FOUND', message: 'no register here' });
  });
});
