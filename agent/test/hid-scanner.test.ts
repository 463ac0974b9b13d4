import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { FakeHidBinding, type HidRecording } from './support/fake-hid-binding.js';
import { connectedScanner } from '../../test/support/terminals.js';
import { recordingLink, steadyRegister } from './support/terminal-reports.js';
import { HidScannerDecoder, ScannerSource, ScannerTerminal } from '../src/gateway/hid/scanner.js';
import { TerminalReporter } from '../src/sync/terminal-reporter.js';
import { HidScannerSchema } from '../src/gateway/transports/hid-schemas.js';
import type { LinkState } from '../src/gateway/types.js';

const log = createLogger({ name: 'test', level: 'silent' });
const recording = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/hid/${name}.json`, import.meta.url), 'utf8')) as HidRecording;
const keyboard = recording('keyboard-wedge-rcpt');
const pos = recording('pos-scanner-rcpt');
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(stops.splice(0).map((s) => s()));
});

function decoder(mode: 'pos' | 'keyboard', over: { maxCodeLength?: number; gapTimeoutMs?: number } = {}) {
  const d = new HidScannerDecoder({ mode, ...over });
  const scans: [string, string | undefined][] = [];
  d.onScan((code, symbology) => scans.push([code, symbology]));
  return { d, scans };
}

/** Boot keyboard report: modifiers, reserved, up to six keys. */
const kb = (mod: number, ...keys: number[]) =>
  Buffer.from([mod, 0, ...keys, ...Array<number>(6 - keys.length).fill(0)]);
/** HID POS Scanned Data Report (64 bytes, report id 2). */
function posReport(data: string, more: boolean, aim = ']C0'): Buffer {
  const b = Buffer.alloc(64);
  b[0] = 2;
  b[1] = data.length;
  b.write(aim, 2, 'latin1');
  b.write(data, 5, 'latin1');
  b[63] = more ? 1 : 0;
  return b;
}

describe('HidScannerDecoder, keyboard wedge', () => {
  it('decodes the recorded scan: shift, held keys, repeats and rollover', () => {
    const { d, scans } = decoder('keyboard');
    for (const r of FakeHidBinding.reportsOf(keyboard)) d.push(r, 1000);
    expect(scans).toEqual([[keyboard.expected?.[0], undefined]]);
    expect(keyboard.expected?.[0]).toBe('RCPT-000123');
  });

  it('ends a code on Tab as well, ignores key-up reports and empty codes', () => {
    const { d, scans } = decoder('keyboard');
    d.push(kb(0, 0x28), 0);
    d.push(kb(0), 0);
    d.push(kb(0x02, 0x1e), 0); // '!'
    d.push(kb(0), 0);
    d.push(kb(0, 0x2c), 0); // space
    d.push(kb(0), 0);
    d.push(kb(0, 0x2d), 0); // '-'
    d.push(kb(0), 0);
    d.push(kb(0, 0x2b), 0); // Tab
    expect(scans).toEqual([['! -', undefined]]);
  });

  it('accepts reports carrying a report id and ignores roll-over errors', () => {
    const { d, scans } = decoder('keyboard');
    d.push(Buffer.concat([Buffer.from([1]), kb(0, 0x04)]), 0);
    d.push(kb(0, 1, 1, 1, 1, 1, 1), 0);
    d.push(kb(0), 0);
    d.push(kb(0, 0x05), 0);
    d.push(kb(0, 0x28), 0);
    expect(scans).toEqual([['ab', undefined]]);
  });

  it('drops a partial code after a silence, and an over-long code whole', () => {
    const { d, scans } = decoder('keyboard', { maxCodeLength: 8, gapTimeoutMs: 100 });
    d.push(kb(0, 0x04), 0);
    d.push(kb(0), 10);
    d.push(kb(0, 0x05), 500);
    d.push(kb(0, 0x28), 510);
    expect(scans).toEqual([['b', undefined]]);
    for (let i = 0; i < 20; i++) {
      d.push(kb(0, 0x06), 600 + i);
      d.push(kb(0), 600 + i);
    }
    d.push(kb(0, 0x28), 700);
    d.push(kb(0), 700);
    d.push(kb(0, 0x07), 701);
    d.push(kb(0, 0x28), 702);
    expect(scans).toEqual([
      ['b', undefined],
      ['d', undefined],
    ]);
  });
});

describe('HidScannerDecoder, HID POS', () => {
  it('joins the recorded code split over two reports and reports its AIM symbology', () => {
    const { d, scans } = decoder('pos');
    for (const r of FakeHidBinding.reportsOf(pos)) d.push(r, 0);
    expect(scans).toEqual([['RCPT-000123', ']C0']]);
  });

  it('ignores other report ids and discards a code over maxCodeLength', () => {
    const { d, scans } = decoder('pos', { maxCodeLength: 100 });
    const other = posReport('XX', false);
    other[0] = 4;
    d.push(other, 0);
    for (let i = 0; i < 3; i++) d.push(posReport('A'.repeat(56), true), 0);
    d.push(posReport('A', false), 0);
    d.push(posReport('4006381333931', false, ']E0'), 0);
    expect(scans).toEqual([['4006381333931', ']E0']]);
  });

  it('drops a continuation that never finished', () => {
    const { d, scans } = decoder('pos', { gapTimeoutMs: 100 });
    d.push(posReport('STALE', true), 0);
    d.push(posReport('FRESH', false), 1000);
    expect(scans).toEqual([['FRESH', ']C0']]);
  });
});

describe('ScannerSource', () => {
  function source(binding: FakeHidBinding, rec: HidRecording, mode: 'pos' | 'keyboard') {
    const cfg = HidScannerSchema.parse({
      id: 'SC1',
      register: 'R1',
      vendorId: rec.device.vendorId,
      productId: rec.device.productId,
      mode,
    });
    const { id: _id, register: _register, ...device } = cfg;
    const s = new ScannerSource({ ...device, pollMs: 20, binding, log });
    const scans: [string, string | undefined][] = [];
    const states: LinkState[] = [];
    s.onScan((code, symbology) => scans.push([code, symbology]));
    s.onState((st) => states.push(st));
    stops.push(() => s.stop());
    return { s, scans, states };
  }

  it('reads a keyboard-wedge scanner, and resumes after unplug and replug', async () => {
    const binding = FakeHidBinding.fromRecording(keyboard);
    const { s, scans, states } = source(binding, keyboard, 'keyboard');
    await s.start();
    expect(s.describe()).toBe('hid://05e0:1200@/dev/hidraw3');
    const reports = FakeHidBinding.reportsOf(keyboard);
    await binding.replay(keyboard.device.path, reports, 1);
    expect(scans).toEqual([['RCPT-000123', undefined]]);

    await binding.replay(keyboard.device.path, reports.slice(0, 9));
    binding.unplug(keyboard.device.path);
    expect(states[states.length - 1]).toBe('disconnected');

    binding.plug(keyboard.device);
    await expect.poll(() => states[states.length - 1]).toBe('connected');
    await binding.replay(keyboard.device.path, reports);
    expect(scans).toEqual([
      ['RCPT-000123', undefined],
      ['RCPT-000123', undefined],
    ]);
  });

  it('reads a HID POS scanner', async () => {
    const binding = FakeHidBinding.fromRecording(pos);
    const { s, scans } = source(binding, pos, 'pos');
    await s.start();
    await binding.replay(pos.device.path, FakeHidBinding.reportsOf(pos));
    expect(scans).toEqual([['RCPT-000123', ']C0']]);
  });
});

describe('a scanner as a terminal reported to the hub', () => {
  const T0 = Date.parse('2026-11-28T10:00:00Z');

  async function reported(protocol: number) {
    const binding = FakeHidBinding.fromRecording(keyboard);
    const {
      id: _id,
      register: _register,
      ...device
    } = HidScannerSchema.parse({
      id: 'SC1',
      register: 'R1',
      vendorId: keyboard.device.vendorId,
      productId: keyboard.device.productId,
      mode: 'keyboard',
    });
    let now = T0;
    const source = new ScannerSource({ ...device, pollMs: 20, binding, log, now: () => now });
    const terminal = new ScannerTerminal('SC1', 'R1', source, () => now);
    const link = recordingLink(protocol);
    const register = steadyRegister({
      id: 'R1',
      transport: 'tcp://0.0.0.0:9100',
      codec: 'fixed:acme',
      connected: 0,
      state: 'listening',
    });
    const reporter = new TerminalReporter(link, [register, terminal], () => now, 10);
    reporter.start();
    stops.push(async () => {
      reporter.stop();
      await source.stop();
    });
    await source.start();
    reporter.reportAll(); // as on the hub's welcome
    now += 1000;
    await binding.replay(keyboard.device.path, FakeHidBinding.reportsOf(keyboard));
    if (protocol >= 5) await expect.poll(() => link.items().some((t) => t.lastMessageAt !== undefined)).toBe(true);
    binding.unplug(keyboard.device.path);
    reporter.reportAll();
    return link.items();
  }

  it('on protocol 5: its state, device, last scan and register, beside the registers with their codecs', async () => {
    const items = await reported(5);
    expect(items.find((t) => t.register === 'SC1' && t.lastMessageAt !== undefined)).toEqual(
      connectedScanner(new Date(T0 + 1000).toISOString()),
    );
    // unplugged: down, and why
    const last = items.filter((t) => t.register === 'SC1').at(-1);
    expect(last).toMatchObject({ kind: 'scanner', state: 'disconnected', connections: 0 });
    expect(last?.detail).toMatch(/device lost|unplugged/);
    expect(items.find((t) => t.register === 'R1')).toMatchObject({ codec: 'fixed:acme', state: 'listening' });
  });

  it('on protocol 4 (a hub that refuses fields it does not know): registers only, no kind or codec', async () => {
    const items = await reported(4);
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((t) => t.register === 'R1')).toBe(true);
    expect(items[0]).toEqual({
      register: 'R1',
      state: 'listening',
      transport: 'tcp://0.0.0.0:9100',
      connections: 0,
      at: expect.any(String) as string,
    });
  });
});
