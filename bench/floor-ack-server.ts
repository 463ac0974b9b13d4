/**
 * The sale ack's path floor, the server side: a TCP server on loopback taking JSON lines (as a register speaks to the
 * agent) that makes one durable SQLite commit (WAL, synchronous=FULL) of each line and answers it with an ack line.
 * The agent's shape without the agent's work. Prints its port on stdout; argv[2] is the SQLite file.
 */
import { createServer } from 'node:net';
import { durableRows } from './durable-rows.js';
import { readLines } from './json-lines.js';

const rows = durableRows(process.argv[2] ?? ':memory:');

const server = createServer((sock) => {
  sock.setNoDelay(true);
  readLines(sock, (line) => {
    const msg = JSON.parse(line) as { id?: unknown };
    rows.commit(line);
    sock.write(`${JSON.stringify({ type: 'ack', id: msg.id })}\n`);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => {
  server.close();
  rows.close();
  process.exit(0);
});
