import { createServer, connect, type Socket } from 'node:net';

/** A loopback TCP proxy that counts the bytes each way: put between the agent and the hub to weigh the sync. */
export interface CountingProxy {
  port: number;
  /** bytes from the client side (the agent) to the target (the hub), and back */
  up: () => number;
  down: () => number;
  close: () => Promise<void>;
}

export async function countingProxy(targetHost: string, targetPort: number): Promise<CountingProxy> {
  let up = 0;
  let down = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const target = connect(targetPort, targetHost);
    for (const s of [client, target]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        target.destroy();
      });
    }
    client.on('data', (d: Buffer) => {
      up += d.length;
      target.write(d);
    });
    target.on('data', (d: Buffer) => {
      down += d.length;
      client.write(d);
    });
    client.on('end', () => target.end());
    target.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    up: () => up,
    down: () => down,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
