/**
 * The floor's relay process: a TCP server on loopback taking JSON lines (as a register speaks to the
 * agent) and one WebSocket to the floor server (as the agent speaks to the hub). Each line is sent on
 * with a request id; the answer goes back to the line's connection. No parsing beyond JSON, no
 * commit: the agent's shape without the agent's work. argv[2] is the server's ws:// URL; prints its
 * TCP port on stdout.
 */
import { createServer, type Socket } from 'node:net';
import WebSocket from 'ws';
import { readLines } from './json-lines.js';

const ws = new WebSocket(process.argv[2] ?? 'ws://127.0.0.1:1');
const waiting = new Map<number, Socket>();
let nextRid = 1;

ws.on('message', (data: Buffer) => {
  const res = JSON.parse(data.toString('utf8')) as { rid: number };
  const sock = waiting.get(res.rid);
  waiting.delete(res.rid);
  sock?.write(`${JSON.stringify({ ok: true, rid: res.rid })}\n`);
});

const server = createServer((sock) => {
  sock.setNoDelay(true);
  readLines(sock, (line) => {
    const body: unknown = JSON.parse(line);
    const rid = nextRid++;
    waiting.set(rid, sock);
    ws.send(JSON.stringify({ t: 'req', rid, op: 'authorize', body }));
  });
});
ws.on('open', () =>
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`)),
);
ws.on('error', (err) => {
  process.stderr.write(`floor relay: ${err.message}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => {
  server.close();
  ws.close();
  process.exit(0);
});
