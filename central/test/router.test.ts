import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import { Router } from '../src/http/router.js';

// The router over a real socket: paths as a client sends them, answers as the client reads them.

let server: Server;
let port: number;

beforeAll(async () => {
  const router = new Router();
  router.add('GET', '/v1/things/:name', (ctx) => ({ name: ctx.params.name }));
  server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((ok) => server.close(() => ok()));
});

/** GET `path` exactly as written (no client-side encoding): status and parsed JSON body. */
function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('router', () => {
  it('decodes %-escaped path segments into params', async () => {
    const r = await get('/v1/things/a%20b%2Fc');
    expect(r).toEqual({ status: 200, body: { name: 'a b/c' } });
  });

  it.each(['/v1/things/%zz', '/v1/things/%', '/v1/things/%E0%A4%A', '/v1/%C3%28/x'])(
    'answers a malformed %% escape (%s) with 400 and the error shape, not 500',
    async (path) => {
      const r = await get(path);
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ code: TbCodes.MALFORMED, message: 'the request path has a malformed % escape' });
    },
  );

  it('still answers 404 for an unknown path and 405 for a wrong method', async () => {
    expect((await get('/v1/nothing')).status).toBe(404);
    const wrongMethod = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/things/x', method: 'DELETE' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(wrongMethod).toBe(405);
  });
});
