import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { TcpClientTransportSchema } from '../src/gateway/transports/schemas.js';
import { TcpClientTransport } from '../src/gateway/transports/tcp-client.js';
import type { Connection, LinkState } from '../src/gateway/types.js';
import { waitFor } from './pty.js';
import { configProblems } from './support/config-problems.js';
import { freePort } from '../../test/support/net.js';

const log = createLogger({ name: 'test', level: 'silent' });

/** The register's side: a real TCP server on loopback that records what it gets. */
function registerServer() {
  const sockets: Socket[] = [];
  const received: string[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    const i = sockets.length - 1;
    received[i] = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (received[i] = (received[i] ?? '') + d));
    s.on('error', () => undefined);
  });
  const listen = (port = 0) =>
    new Promise<number>((resolve) =>
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    );
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (server.listening) server.close(() => resolve());
      else resolve();
    });
  return { server, sockets, received, listen, close };
}

function watched(port: number, over: Record<string, unknown> = {}, random?: () => number) {
  const cfg = TcpClientTransportSchema.parse({
    type: 'tcp-client',
    host: '127.0.0.1',
    port,
    reconnectBaseMs: 10,
    reconnectCapMs: 100,
    ...over,
  });
  const transport = new TcpClientTransport({ ...cfg, log, ...(random ? { random } : {}) });
  const states: { state: LinkState; detail?: string }[] = [];
  const conns: { conn: Connection; data: string; closed: boolean; stateAtClose?: LinkState }[] = [];
  transport.onState((state, detail) => states.push({ state, detail }));
  const start = () =>
    transport.start((conn) => {
      const rec: (typeof conns)[number] = { conn, data: '', closed: false };
      conn.onData((d) => (rec.data += d.toString()));
      conn.onClose(() => {
        rec.closed = true;
        rec.stateAtClose = states.at(-1)?.state;
      });
      conns.push(rec);
    });
  return { transport, states, conns, start };
}

/**
 * A register that never answers a SYN: a child process listens with a backlog of 1 and blocks
 * its event loop so it never accepts; two connections fill the accept queue, after which the
 * kernel drops further SYNs and a dial hangs.
 */
async function silentListener(): Promise<{ port: number; connected: Socket[] }> {
  const code =
    "const s=require('net').createServer().listen({port:0,host:'127.0.0.1',backlog:1},()=>" +
    "process.stdout.write(s.address().port+'\\n',()=>Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0)))";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    child.kill('SIGKILL');
    return Promise.resolve();
  });
  const port = await new Promise<number>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  const connected = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          s.on('error', reject);
        }),
    ),
  );
  return { port, connected };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A register server listening and a started transport dialling it, both stopped after the test. */
interface Started {
  reg: ReturnType<typeof registerServer>;
  port: number;
  t: ReturnType<typeof watched>;
}
async function startedAgainstRegister(): Promise<Started> {
  const reg = registerServer();
  const port = await reg.listen();
  cleanups.push(reg.close);
  const t = watched(port);
  cleanups.push(() => t.transport.stop());
  await t.start();
  return { reg, port, t };
}

describe('TcpClientTransport against a real TCP server', () => {
  it('dials, carries bytes both ways, and dials again after the register drops the connection', async () => {
    const { reg, port, t } = await startedAgainstRegister();
    expect(t.transport.describe()).toBe(`tcp-client://127.0.0.1:${port}`);
    await waitFor('first connection', () => t.conns.length === 1 && reg.sockets.length === 1);
    expect(t.states.map((s) => s.state)).toEqual(['connecting', 'connected']);
    expect(t.conns[0]!.conn.remote).toBe(`127.0.0.1:${port}`);

    reg.sockets[0]!.write('{"type":"sale"}\n');
    await waitFor('bytes at the agent', () => t.conns[0]!.data === '{"type":"sale"}\n');
    t.conns[0]!.conn.write(Buffer.from('{"type":"ack"}\n'));
    await waitFor('bytes at the register', () => reg.received[0] === '{"type":"ack"}\n');

    reg.sockets[0]!.end(); // the register hangs up
    await waitFor('connection closed', () => t.conns[0]!.closed);
    expect(t.states[2]).toEqual({ state: 'disconnected', detail: 'the register closed the connection' });
    expect(t.conns[0]!.stateAtClose).toBe('disconnected');

    await waitFor('second connection', () => t.conns.length === 2 && reg.sockets.length === 2);
    expect(t.states.at(-1)?.state).toBe('connected');
    t.conns[1]!.conn.write(Buffer.from('again\n'));
    await waitFor('bytes on the new connection', () => reg.received[1] === 'again\n');
  });

  it('reports a reset connection with its reason', async () => {
    const { reg, t } = await startedAgainstRegister();
    await waitFor('connection', () => reg.sockets.length === 1 && t.conns.length === 1);
    reg.sockets[0]!.resetAndDestroy();
    await waitFor('connection closed', () => t.conns[0]!.closed);
    expect(t.states.find((s) => s.state === 'disconnected')?.detail).toMatch(/^connection lost \(.*ECONNRESET/);
  });

  it('keeps dialling while nobody listens, and connects once the register listens', async () => {
    const port = await freePort();
    const t = watched(port);
    cleanups.push(() => t.transport.stop());
    await t.start(); // resolves although nothing answers
    await waitFor('refused', () => t.states.some((s) => s.state === 'disconnected'));
    expect(t.states[1]!.detail).toMatch(
      new RegExp(`^cannot connect to tcp-client://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
    await new Promise((r) => setTimeout(r, 150)); // several refused attempts
    expect(t.states).toHaveLength(2); // the same refusal is reported once
    expect(t.conns).toHaveLength(0);

    const reg = registerServer();
    await reg.listen(port);
    cleanups.push(reg.close);
    await waitFor('connection', () => t.conns.length === 1 && reg.sockets.length === 1);
    reg.sockets[0]!.write('hi\n');
    await waitFor('bytes', () => t.conns[0]!.data === 'hi\n');
  });

  it('gives up a dial after connectTimeoutMs, reporting why, without throwing', async () => {
    const { port, connected } = await silentListener();
    cleanups.push(() => {
      connected.forEach((s) => s.destroy());
      return Promise.resolve();
    });
    // start() does not wait for the dial: with a dial that could hang for two minutes, it resolves
    // (a start() that waited would outlast the test's timeout) and nothing has been reported yet.
    const slow = watched(port, { connectTimeoutMs: 120_000 });
    cleanups.push(() => slow.transport.stop());
    await slow.start();
    expect(slow.states.filter((s) => s.state === 'disconnected')).toEqual([]);
    const t = watched(port, { connectTimeoutMs: 100 });
    cleanups.push(() => t.transport.stop());
    await t.start();
    const down = await waitFor('timed out', () => t.states.find((s) => s.state === 'disconnected'));
    expect(down.detail).toBe(`cannot connect to tcp-client://127.0.0.1:${port}: no answer within 100 ms`);
    expect(t.conns).toHaveLength(0);
  });

  it('stop() closes the connection, fires onClose, stops dialling, and resolves', async () => {
    const reg = registerServer();
    const port = await reg.listen();
    cleanups.push(reg.close);
    const t = watched(port);
    await t.start();
    await waitFor('connection', () => t.conns.length === 1 && reg.sockets.length === 1);
    await t.transport.stop();
    expect(t.conns[0]!.closed).toBe(true);
    expect(t.states.at(-1)).toEqual({ state: 'disconnected', detail: 'stopped' });
    await new Promise((r) => setTimeout(r, 100));
    expect(reg.sockets).toHaveLength(1); // no new dial after stop
  });

  it('drops a connection whose register stops reading, so unsent bytes stay bounded', async () => {
    const server = createServer((s) => s.pause()); // accepts, never reads
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const peers: Socket[] = [];
    server.on('connection', (s) => peers.push(s));
    cleanups.push(async () => {
      for (const s of peers) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const t = watched((server.address() as AddressInfo).port);
    cleanups.push(() => t.transport.stop());
    await t.start();
    await waitFor('connection', () => t.conns.length === 1);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 1024 && !t.conns[0]!.closed; i++) {
      t.conns[0]!.conn.write(chunk);
      if (i % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    await waitFor('dropped', () => t.conns[0]!.closed);
    expect(t.states.find((s) => s.state === 'disconnected')?.detail).toBe(
      'the register is not reading (over 1048576 bytes unsent); connection dropped',
    );
  });

  it('backs off when the register drops every connection at once', async () => {
    let accepted = 0;
    const server = createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    // random = 1: waits of exactly 20, 40, 80, 160, 160… ms; a link this short never resets them
    const t = watched((server.address() as AddressInfo).port, { reconnectBaseMs: 20, reconnectCapMs: 160 }, () => 1);
    cleanups.push(() => t.transport.stop());
    await t.start();
    await new Promise((r) => setTimeout(r, 500));
    // dials at 0, 20, 60, 140, 300, 460 ms: at most 7 in this half second, not 25 (a fixed 20 ms) or
    // hundreds (no wait); a busy machine only makes them fewer
    expect(accepted).toBeLessThanOrEqual(7);
    await waitFor('it keeps dialling', () => accepted >= 3);
  });

  it('a connection closed by the agent is dialled again', async () => {
    const { t } = await startedAgainstRegister();
    await waitFor('connection', () => t.conns.length === 1);
    t.conns[0]!.conn.close();
    await waitFor('closed', () => t.conns[0]!.closed);
    expect(t.states[2]).toEqual({ state: 'disconnected', detail: 'closed by the agent' });
    await waitFor('redial', () => t.conns.length === 2);
  });
});

describe('TcpClientTransportSchema', () => {
  it('fills the defaults', () => {
    expect(TcpClientTransportSchema.parse({ type: 'tcp-client', host: '10.0.0.7', port: 9100 })).toEqual({
      type: 'tcp-client',
      host: '10.0.0.7',
      port: 9100,
      connectTimeoutMs: 5000,
      keepAliveMs: 10_000,
      reconnectBaseMs: 500,
      reconnectCapMs: 10_000,
    });
  });

  it('names each bad key and what was expected', () => {
    expect(
      configProblems(TcpClientTransportSchema, {
        type: 'tcp-client',
        host: '',
        port: 0,
        connectTimeoutMs: 5,
        keepAliveMs: 1500.5,
      }),
    ).toEqual([
      'host: expected a host name or IP address of the register',
      'port: expected a port from 1 to 65535',
      'connectTimeoutMs: expected at least 100 milliseconds',
      'keepAliveMs: expected a whole number of milliseconds',
    ]);
  });
});
