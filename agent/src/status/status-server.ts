import { createServer, type Server } from 'node:http';
import type { AgentStatus } from './status-report.js';

/** A loopback HTTP endpoint: GET /status (JSON), GET /healthz. */
export class StatusServer {
  private server: Server | undefined;
  private url: string | undefined;

  constructor(private readonly host: string, private readonly port: number, private readonly snapshot: () => AgentStatus) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/status') {
        const body = JSON.stringify(this.snapshot());
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"TB_NOT_FOUND","message":"GET /status or /healthz"}');
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    const a = server.address();
    this.url = typeof a === 'object' && a ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : undefined;
    return this.url!;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
