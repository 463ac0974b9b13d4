import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type RegisterMessage, type RegisterReply } from '@tillbridge/shared';
import { FakeHidBinding, type HidRecording } from './support/fake-hid-binding.js';
import { HidTransport, type HidTransportOptions } from '../src/gateway/transports/hid.js';
import { HidTransportSchema } from '../src/gateway/transports/hid-schemas.js';
import { LineFramer } from '../src/gateway/framing/line.js';
import { JsonlCodec } from '../src/gateway/codecs/jsonl.js';
import { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import type { Connection, LinkState } from '../src/gateway/types.js';

const log = createLogger({ name: 'test', level: 'silent' });
const recording = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/hid/${name}.json`, import.meta.url), 'utf8')) as HidRecording;
const rec = recording('register-jsonl');
const PATH = rec.device.path;
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(stops.splice(0).map((s) => s()));
});

function hidTransport(binding: FakeHidBinding, over: Partial<HidTransportOptions> = {}) {
  const { type: _type, ...cfg } = HidTransportSchema.parse({ type: 'hid', vendorId: '0x1234', productId: '0x5678' });
  const t = new HidTransport({ ...cfg, pollMs: 20, reconnectBaseMs: 20, reconnectCapMs: 40, ...over, binding, log });
  const states: [LinkState, string | undefined][] = [];
  t.onState((s, d) => states.push([s, d]));
  stops.push(() => t.stop());
  return { t, states, last: () => states[states.length - 1]?.[0] };
}

/** Collects every connection and its data as text. */
function collect() {
  const conns: { conn: Connection; data: string[]; closed: boolean }[] = [];
  const onConnection = (conn: Connection) => {
    const entry = { conn, data: [] as string[], closed: false };
    conns.push(entry);
    conn.onData((c) => entry.data.push(c.toString('latin1')));
    conn.onClose(() => (entry.closed = true));
  };
  return { conns, onConnection };
}

describe('HidTransport', () => {
  it('runs a recorded HID register end to end: reports → line framing → jsonl → handler → reply reports', async () => {
    const binding = FakeHidBinding.fromRecording(rec);
    const handled: RegisterMessage[] = [];
    const handler = {
      handle: (_r: string, m: RegisterMessage): Promise<RegisterReply> => {
        handled.push(m);
        return Promise.resolve({ type: 'ack', id: m.id });
      },
    };
    const { t } = hidTransport(binding);
    const framer = () => new LineFramer({ terminator: '\n', maxFrameBytes: 65_536, interByteTimeoutMs: 0 });
    const endpoint = new RegisterEndpoint('R1', t, framer, new JsonlCodec(), handler, log);
    await endpoint.start();
    expect(endpoint.status().state).toBe('connected');
    expect(t.describe()).toBe('hid://1234:5678@/dev/hidraw5');

    expect(await binding.replay(PATH, rec.reports)).toBe(2);
    await expect.poll(() => binding.written(PATH).length).toBe(1);
    const [report] = binding.written(PATH);
    expect(report?.length).toBe(65);
    expect(report?.[0]).toBe(0);
    expect(report?.subarray(1).toString('latin1').replace(/\0+$/, '')).toBe('{"type":"ack","id":"h-1"}\n');
    expect(handled).toEqual([JSON.parse(rec.expected?.[0] ?? '')]);
  });

  it('starts without the device, connects when it is plugged in, and reconnects after an unplug', async () => {
    const binding = new FakeHidBinding();
    const { t, states, last } = hidTransport(binding);
    const { conns, onConnection } = collect();
    await t.start(onConnection);
    expect(states).toEqual([
      ['connecting', undefined],
      ['disconnected', 'no HID device 1234:5678 plugged in'],
    ]);

    binding.plug(rec.device);
    await expect.poll(() => last()).toBe('connected');
    binding.emitReport(PATH, Buffer.from('one\n\0\0\0'));
    expect(conns.map((c) => c.data)).toEqual([['one\n']]);

    binding.unplug(PATH);
    expect(last()).toBe('disconnected');
    expect(conns[0]?.closed).toBe(true);
    expect(binding.emitReport(PATH, 'aa')).toBe(0);

    binding.plug({ ...rec.device, path: '/dev/hidraw6' });
    await expect.poll(() => conns.length).toBe(2);
    expect(last()).toBe('connected');
    binding.emitReport('/dev/hidraw6', Buffer.from('two\n'));
    expect(conns[1]?.data).toEqual(['two\n']);
    expect(states.filter(([s]) => s === 'connected').map(([, d]) => d)).toEqual(['/dev/hidraw5', '/dev/hidraw6']);
  });

  it('notices a device gone from the list even when its handle says nothing', async () => {
    const binding = FakeHidBinding.fromRecording(rec);
    const { t, last } = hidTransport(binding);
    const { conns, onConnection } = collect();
    await t.start(onConnection);
    expect(last()).toBe('connected');
    binding.unplug(PATH, true);
    await expect.poll(() => last()).toBe('disconnected');
    expect(conns[0]?.closed).toBe(true);
    expect(binding.openHandles(PATH)).toBe(0);
    let lateToldClosed = false;
    conns[0]?.conn.onClose(() => (lateToldClosed = true));
    await expect.poll(() => lateToldClosed).toBe(true);
  });

  it('strips the report id, reads the length byte, and ignores other reports', async () => {
    const binding = FakeHidBinding.fromRecording(rec);
    const { t } = hidTransport(binding, { reportId: 3, reportLengthByte: true, reportSize: 8 });
    const { conns, onConnection } = collect();
    await t.start(onConnection);
    binding.emitReport(PATH, [3, 4, 0x61, 0x62, 0x63, 0x0a, 0, 0, 0]);
    binding.emitReport(PATH, [4, 2, 0x78, 0x79, 0, 0, 0, 0, 0]);
    binding.emitReport(PATH, [3, 200, 0x64, 0, 0, 0, 0, 0, 0]);
    expect(conns[0]?.data).toEqual(['abc\n', 'd\0\0\0\0\0\0']);

    conns[0]?.conn.write(Buffer.from('hello world'));
    expect(binding.written(PATH).map((b) => [...b])).toEqual([
      [3, 7, ...Buffer.from('hello w')],
      [3, 4, ...Buffer.from('orld'), 0, 0, 0],
    ]);
  });

  it('splits a long write into zero-padded reports of reportSize', async () => {
    const binding = FakeHidBinding.fromRecording(rec);
    const { t } = hidTransport(binding);
    const { conns, onConnection } = collect();
    await t.start(onConnection);
    conns[0]?.conn.write(Buffer.alloc(100, 0x41));
    const out = binding.written(PATH);
    expect(out.map((b) => b.length)).toEqual([65, 65]);
    expect(out[0]?.subarray(1).equals(Buffer.alloc(64, 0x41))).toBe(true);
    expect(out[1]?.subarray(1, 37).equals(Buffer.alloc(36, 0x41))).toBe(true);
    expect(out[1]?.subarray(37).equals(Buffer.alloc(28))).toBe(true);
  });

  it('retries a device it cannot open with backoff, reporting the error', async () => {
    const binding = FakeHidBinding.fromRecording(rec);
    binding.failOpen(PATH, 2);
    const { t, states, last } = hidTransport(binding);
    await t.start(() => undefined);
    expect(states[1]).toEqual([
      'error',
      'cannot open HID device 1234:5678 at /dev/hidraw5: cannot open device: permission denied',
    ]);
    await expect.poll(() => last(), { timeout: 2000 }).toBe('connected');
    expect(binding.calls.open).toBe(3);
  });

  it('stops polling and closes the device on stop', async () => {
    const binding = FakeHidBinding.fromRecording(rec);
    const { t, last } = hidTransport(binding);
    const { conns, onConnection } = collect();
    await t.start(onConnection);
    expect(binding.openHandles(PATH)).toBe(1);
    await t.stop();
    expect(binding.openHandles(PATH)).toBe(0);
    expect(conns[0]?.closed).toBe(true);
    expect(last()).toBe('disconnected');
    const polls = binding.calls.devices;
    await new Promise((r) => setTimeout(r, 60));
    expect(binding.calls.devices).toBe(polls);
  });
});
