import { connect, type Socket } from 'node:net';
import type { Logger } from '@tillbridge/shared';
import type { Codec, MessageHandler } from '../src/gateway/types.js';
import { LineFramer } from '../src/gateway/framing/line.js';
import { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import { TcpServerTransport } from '../src/gateway/transports/tcp-server.js';

/**
 * Starts a register endpoint `register` on a TCP server on 127.0.0.1 (a free port, two connections at
 * most) with line framing (`\n` and 1 MiB frames unless said otherwise, no inter-byte timeout), the
 * codec and the handler given. Stop it with `endpoint.stop()`.
 */
export async function startTcpLineEndpoint(
  register: string,
  codec: Codec,
  handler: MessageHandler,
  log: Logger,
  lines: { terminator?: string; maxFrameBytes?: number; maxConnections?: number } = {},
): Promise<{ endpoint: RegisterEndpoint; port: number }> {
  const transport = new TcpServerTransport({
    host: '127.0.0.1',
    port: 0,
    maxConnections: lines.maxConnections ?? 2,
    log,
  });
  const framer = () =>
    new LineFramer({
      terminator: lines.terminator ?? '\n',
      maxFrameBytes: lines.maxFrameBytes ?? 1_048_576,
      interByteTimeoutMs: 0,
    });
  const endpoint = new RegisterEndpoint(register, transport, framer, codec, handler, log);
  await endpoint.start();
  return { endpoint, port: transport.port()! };
}

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
