import type { Socket } from 'node:net';

/** Hands each whole line a socket receives to `onLine`, in order; a line cut between two reads waits for its end. */
export function readLines(sock: Socket, onLine: (line: string) => void): void {
  let buf = '';
  sock.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
}
