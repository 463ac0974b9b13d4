import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { TcpServerTransport } from '../src/gateway/transports/tcp-server.js';
import type { Connection } from '../src/gateway/types.js';

const log = createLogger({ name: 'test', level: 'silent' });
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(stops.splice(0).map((s) => s()));
});

describe('TcpServerTransport', () => {
  it('hands over each accepted socket; close listeners are told once, also those added after it closed', async () => {
    const t = new TcpServerTransport({ host: '127.0.0.1', port: 0, maxConnections: 2, log });
    stops.push(() => t.stop());
    const conns: Connection[] = [];
    await t.start((c) => conns.push(c));
    const sock = connect(t.port()!, '127.0.0.1');
    await expect.poll(() => conns.length).toBe(1);
    const conn = conns[0]!;
    expect(conn.id).toBe('tcp-1');
    const data: string[] = [];
    let closedCalls = 0;
    conn.onData((c) => data.push(c.toString('utf8')));
    conn.onClose(() => closedCalls++);
    sock.end('hello');
    await expect.poll(() => closedCalls).toBe(1);
    expect(data.join('')).toBe('hello');
    let lateToldClosed = false;
    conn.onClose(() => (lateToldClosed = true));
    await expect.poll(() => lateToldClosed).toBe(true);
    expect(closedCalls).toBe(1);
  });
});
