import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { SerialTransportSchema } from '../src/gateway/transports/schemas.js';
import { SerialTransport } from '../src/gateway/transports/serial.js';
import type { Connection, LinkState } from '../src/gateway/types.js';
import { startPtyPair, waitFor, type PtyPair } from './pty.js';
import { configProblems } from './support/config-problems.js';

const log = createLogger({ name: 'test', level: 'silent' });

/** A transport with everything it reports and hands over recorded. */
function watched(path: string, read = true, over: Record<string, unknown> = {}, random?: () => number) {
  const cfg = SerialTransportSchema.parse({ type: 'serial', path, reconnectBaseMs: 10, reconnectCapMs: 100, ...over });
  const transport = new SerialTransport({ ...cfg, log, ...(random ? { random } : {}) });
  const states: { state: LinkState; detail?: string }[] = [];
  const conns: { conn: Connection; data: Buffer[]; closed: boolean; stateAtClose?: LinkState }[] = [];
  transport.onState((state, detail) => states.push({ state, detail }));
  const start = () =>
    transport.start((conn) => {
      const rec: (typeof conns)[number] = { conn, data: [], closed: false };
      if (read) conn.onData((d) => rec.data.push(d));
      conn.onClose(() => {
        rec.closed = true;
        rec.stateAtClose = states.at(-1)?.state;
      });
      conns.push(rec);
    });
  return { transport, states, conns, start, text: (i: number) => Buffer.concat(conns[i]?.data ?? []).toString() };
}

/** The register's side: the other end of the pty, opened like any serial port. */
async function register(path: string) {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const data: Buffer[] = [];
  port.on('data', (d: Buffer) => data.push(d));
  port.on('error', () => undefined);
  return {
    write: (s: string) => port.write(s),
    text: () => Buffer.concat(data).toString(),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

let dir: string;
let ptys: PtyPair[];
const stops: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-serial-'));
  ptys = [];
});
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  for (const p of ptys) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A watched transport on `path` (reading unless `read` is false), started and stopped after the test. */
async function started(path: string, read = true): Promise<ReturnType<typeof watched>> {
  const t = watched(path, read);
  stops.push(() => t.transport.stop());
  await t.start();
  return t;
}

async function pty(): Promise<PtyPair> {
  const p = await startPtyPair(dir);
  ptys.push(p);
  return p;
}

describe('SerialTransport over real pseudo-terminals', () => {
  it('carries bytes both ways, reports the pty vanishing, and reconnects when it is back (hot-plug)', async () => {
    const p1 = await pty();
    const t = await started(p1.a);
    await waitFor('first connection', () => t.conns.length === 1);
    expect(t.states.map((s) => s.state)).toEqual(['connecting', 'connected']);
    expect(t.conns[0]!.conn.remote).toBe(p1.a);
    expect(t.transport.describe()).toBe(`serial:${p1.a}@9600,8N1`);

    const reg1 = await register(p1.b);
    reg1.write('{"type":"sale"}\n');
    await waitFor('bytes at the agent', () => t.text(0) === '{"type":"sale"}\n');
    t.conns[0]!.conn.write(Buffer.from('{"type":"ack"}\n'));
    await waitFor('bytes at the register', () => reg1.text() === '{"type":"ack"}\n');

    await p1.close(); // the device disappears
    await waitFor('connection closed', () => t.conns[0]!.closed);
    const down = t.states.find((s) => s.state === 'disconnected');
    expect(down?.detail).toMatch(/^the serial port went away/);
    expect(t.conns[0]!.stateAtClose).toBe('disconnected'); // state reported before onClose fires
    await reg1.close();

    const p2 = await startPtyPair(dir); // plugged back in: same link paths, new /dev/pts
    ptys.push(p2);
    await waitFor('second connection', () => t.conns.length === 2);
    expect(t.states.at(-1)?.state).toBe('connected');
    expect(t.conns[1]!.conn.id).not.toBe(t.conns[0]!.conn.id);

    const reg2 = await register(p2.b);
    reg2.write('again\n');
    await waitFor('bytes after reconnect', () => t.text(1) === 'again\n');
    t.conns[1]!.conn.write(Buffer.from('ok\n'));
    await waitFor('reply after reconnect', () => reg2.text() === 'ok\n');
    t.conns[0]!.conn.write(Buffer.from('stale')); // the old connection is dead: ignored, no throw
    await reg2.close();
  });

  it('starts without the port, reports it missing once, and connects when it appears', async () => {
    const t = await started(join(dir, 'a')); // resolves although nothing is there
    await waitFor('disconnected', () => t.states.some((s) => s.state === 'disconnected'));
    expect(t.states[0]!.state).toBe('connecting');
    expect(t.states[1]!.detail).toBe(`cannot open ${join(dir, 'a')}: No such file or directory`);
    await new Promise((r) => setTimeout(r, 150)); // several retries fail the same way
    expect(t.states).toHaveLength(2); // the same failure is reported once
    expect(t.conns).toHaveLength(0);

    const p = await pty();
    await waitFor('connection', () => t.conns.length === 1);
    const reg = await register(p.b);
    reg.write('hello\n');
    await waitFor('bytes', () => t.text(0) === 'hello\n');
    await reg.close();
  });

  it('notices the port vanishing while the agent is writing to it', async () => {
    const p = await pty();
    const t = await started(p.a);
    await waitFor('connection', () => t.conns.length === 1);
    const conn = t.conns[0]!.conn;
    const writer = setInterval(() => conn.write(Buffer.alloc(256, 0x41)), 1);
    try {
      await new Promise((r) => setTimeout(r, 20));
      await p.close();
      await waitFor('connection closed', () => t.conns[0]!.closed);
    } finally {
      clearInterval(writer);
    }
    const down = t.states.find((s) => s.state === 'disconnected');
    expect(down?.detail).toMatch(/^the serial port (went away|failed)/);
  });

  it('notices a hung-up port even while nothing reads it (serialport alone misses that)', async () => {
    const p = await pty();
    const t = await started(p.a, false); // no onData: serialport never polls the port
    await waitFor('connection', () => t.conns.length === 1);
    await new Promise((r) => setTimeout(r, 20)); // the probe's first answer is the baseline
    await p.close();
    await waitFor('connection closed', () => t.conns[0]!.closed, 2000);
    const down = t.states.find((s) => s.state === 'disconnected');
    expect(down?.detail).toMatch(/^the serial port went away \(.*Input\/output error/);
  });

  it('stop() closes the port, fires onClose, stops retrying and resolves', async () => {
    const p = await pty();
    const t = watched(p.a);
    await t.start();
    await waitFor('connection', () => t.conns.length === 1);
    await t.transport.stop();
    expect(t.conns[0]!.closed).toBe(true);
    expect(t.states.at(-1)).toEqual({ state: 'disconnected', detail: 'stopped' });
    await new Promise((r) => setTimeout(r, 100));
    expect(t.conns).toHaveLength(1); // no reopening after stop
    // the port is free again: the transport's end can be opened by someone else
    const again = await register(p.a);
    await again.close();
  });

  it('stop() while the port is missing does not wait out the retry timer', async () => {
    // The next retry is a minute away (the most the backoff's random source can give): a stop()
    // that waited for it would outlast the test's timeout.
    const t = watched(
      join(dir, 'missing'),
      true,
      { reconnectBaseMs: 60_000, reconnectCapMs: 600_000 },
      () => 0.999_999,
    );
    await t.start();
    await waitFor('disconnected', () => t.states.some((s) => s.state === 'disconnected'));
    await t.transport.stop();
    expect(t.states.at(-1)).toEqual({ state: 'disconnected', detail: 'stopped' });
  }, 30_000);

  it('refuses to start twice', async () => {
    const t = await started(join(dir, 'missing'));
    await expect(t.start()).rejects.toMatchObject({ code: 'TB_INTERNAL' });
  });
});

describe('SerialTransportSchema', () => {
  it('fills the defaults', () => {
    expect(SerialTransportSchema.parse({ type: 'serial', path: 'COM3' })).toEqual({
      type: 'serial',
      path: 'COM3',
      baudRate: 9600,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      flowControl: 'none',
      reconnectBaseMs: 500,
      reconnectCapMs: 10_000,
    });
  });

  it('names each bad key and what was expected', () => {
    const lines = configProblems(SerialTransportSchema, {
      type: 'serial',
      path: '',
      baudRate: 9601,
      dataBits: 9,
      parity: 'x',
      stopBits: 3,
      flowControl: 'dtr',
      extra: 1,
    });
    expect(lines).toEqual(
      expect.arrayContaining([
        'path: expected a serial port path, e.g. /dev/ttyUSB0 or COM3',
        expect.stringMatching(/^baudRate: expected a standard baud rate: one of 110, .*9600.*921600$/),
        'dataBits: expected one of 5, 6, 7, 8',
        'parity: expected one of "none", "even", "odd", "mark", "space"',
        'stopBits: expected one of 1, 1.5, 2',
        'flowControl: expected one of "none", "rts-cts", "xon-xoff"',
        '(top level): unknown key "extra" (remove or fix the spelling)',
      ]),
    );
  });

  it('refuses a backoff cap below its base', () => {
    expect(
      configProblems(SerialTransportSchema, {
        type: 'serial',
        path: '/dev/ttyS0',
        reconnectBaseMs: 5000,
        reconnectCapMs: 1000,
      }),
    ).toEqual(['reconnectCapMs: expected a value at least reconnectBaseMs']);
  });
});
