import { TbError, type Logger } from '@tillbridge/shared';
import { createServer, type Server } from 'node:http';
import type { AgentStatus } from './status-report.js';
import { listenError } from '@tillbridge/shared';

export interface StatusServerHooks {
  /** Prometheus text exposition for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** null when ready; otherwise why not (GET /readyz answers 503 with it). */
  notReady?: () => string | null;
  /** Where a failed metrics scrape is logged (it is answered with a 500 either way). */
  log?: Logger;
}

const ROUTES = 'GET /status, /healthz, /readyz or /metrics';

/** A loopback HTTP endpoint: GET /status (JSON), /healthz, /readyz and /metrics (Prometheus). */
export class StatusServer {
  private server: Server | undefined;
  private url: string | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly snapshot: () => AgentStatus,
    private readonly hooks: StatusServerHooks = {},
  ) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const json = (code: number, body: unknown): void => {
        res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.method !== 'GET') {
        json(405, { code: 'TB_METHOD', message: ROUTES });
        return;
      }
      if (path === '/status') {
        json(200, this.snapshot());
        return;
      }
      if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      if (path === '/readyz') {
        const why = this.hooks.notReady?.() ?? null;
        if (why === null) json(200, { ok: true });
        else json(503, { ok: false, message: why });
        return;
      }
      if (path === '/metrics' && this.hooks.metrics) {
        this.hooks.metrics().then(
          (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.body),
          (err: unknown) => {
            this.hooks.log?.error({ err }, 'metrics scrape failed');
            json(500, { code: 'TB_INTERNAL', message: (err as Error).message });
          },
        );
        return;
      }
      json(404, { code: 'TB_NOT_FOUND', message: ROUTES });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => {
        this.server = undefined;
        const e = listenError(err, this.host, this.port);
        reject(new TbError(e.code, `status.listen: ${e.message}`, { cause: err, details: e.details }));
      });
      server.listen(this.port, this.host, () => resolve());
    });
    const a = server.address();
    if (typeof a !== 'object' || !a) throw new Error('the status listener has no TCP address');
    this.url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
