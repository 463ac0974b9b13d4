import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminRoutes } from '../src/http/admin-api.js';
import { enrollmentRoutes } from '../src/http/enroll.js';
import { Router } from '../src/http/router.js';
import type { Hub } from '../src/hub-services.js';

/** The admin API of `hub` on a real HTTP server on a free port, with an admin and an operator token. */
export async function startAdminServer(
  hub: Hub,
): Promise<{ url: string; admin: string; operator: string; close: () => Promise<void> }> {
  const router = new Router();
  const api = { ...hub.useCases, queries: hub.queries };
  adminRoutes(router, api);
  enrollmentRoutes(router, api, { fingerprint: undefined });
  const server: Server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    admin: hub.credentials.createAdminToken('admin', 'contract test admin').secret,
    operator: hub.credentials.createAdminToken('operator', 'contract test operator').secret,
    close: async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

/** GET `path` with `token`: the status and the parsed JSON body. */
export async function getJson(url: string, token: string, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}
