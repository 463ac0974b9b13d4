import { connect, type Socket } from 'node:net';

/**
 * Connects to a register endpoint at `port`, writes each frame as a line and resolves with the
 * first `replies` reply lines (one per frame unless said otherwise), then hangs up.
 */
export function exchangeLines(port: number, frames: Buffer[], replies = frames.length): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let held = '';
    const sock: Socket = connect(port, '127.0.0.1', () => {
      for (const f of frames) sock.write(Buffer.concat([f, Buffer.from('\n')]));
    });
    sock.on('data', (d) => {
      held += d.toString('utf8');
      let i: number;
      while ((i = held.indexOf('\n')) !== -1) {
        lines.push(held.slice(0, i));
        held = held.slice(i + 1);
      }
      if (lines.length >= replies) {
        sock.end();
        resolve(lines);
      }
    });
    sock.on('error', reject);
  });
}
