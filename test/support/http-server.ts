import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A plain HTTP server of a test (a webhook receiver, a stand-in hub), listening on 127.0.0.1. */
export interface LoopbackServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Stops it, cutting the connections still open (a sender keeping one alive must not hold the test up). */
  close: () => Promise<void>;
}

/** Serves `listener` on a free port of 127.0.0.1. */
export async function serveOnLoopback(listener: RequestListener): Promise<LoopbackServer> {
  const server = createServer(listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}

/** A request listener that reads each request's body whole (UTF-8), then hands it to `handle`. */
export function withBody(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void): RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks).toString('utf8'), res));
  };
}
