import { describe, expect, it } from 'vitest';
import { isTbError } from '@tillbridge/shared';
import { loadNodeHidBinding, type NodeHidImporter } from '../src/gateway/hid/node-hid-binding.js';
import { HidScannerSchema, HidTransportSchema } from '../src/gateway/transports/hid-schemas.js';
import { configProblems } from './support/config-problems.js';

async function loadError(importer: NodeHidImporter): Promise<unknown> {
  try {
    await loadNodeHidBinding(importer);
  } catch (err) {
    return err;
  }
  throw new Error('expected loadNodeHidBinding to fail');
}

describe('loadNodeHidBinding', () => {
  it('loads node-hid on this machine and lists devices', async () => {
    const binding = await loadNodeHidBinding();
    const devices = await binding.devices();
    expect(Array.isArray(devices)).toBe(true);
    for (const d of devices) expect(typeof d.vendorId).toBe('number');
  });

  it('names the system library when node-hid cannot be imported', async () => {
    const err = await loadError(() =>
      Promise.reject(new Error('libusb-1.0.so.0: cannot open shared object file: No such file or directory')),
    );
    expect(isTbError(err, 'TB_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('libusb-1.0-0');
    expect((err as Error).message).toContain('sudo apt-get install libusb-1.0-0');
    expect((err as Error).message).toContain('cannot open shared object file');
  });

  it('names the system library when the native part fails at first use', async () => {
    const real = await import('node-hid');
    const broken = {
      ...real,
      devicesAsync: () => Promise.reject(new Error('Could not locate the bindings file')),
    } as unknown as typeof real;
    const err = await loadError(() => Promise.resolve(broken));
    expect(isTbError(err, 'TB_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('apt-get install libusb-1.0-0');
  });
});

describe('HID config schemas', () => {
  it('fills the transport defaults and takes USB ids as numbers or hex strings', () => {
    expect(HidTransportSchema.parse({ type: 'hid', vendorId: '0x05e0', productId: '1200' })).toEqual({
      type: 'hid',
      vendorId: 0x05e0,
      productId: 0x1200,
      pollMs: 1000,
      reconnectBaseMs: 500,
      reconnectCapMs: 30_000,
      reportId: 0,
      reportSize: 64,
      reportLengthByte: false,
    });
    expect(
      HidTransportSchema.parse({ type: 'hid', vendorId: 1504, productId: '0X1200', serialNumber: 'S1' }),
    ).toMatchObject({
      vendorId: 1504,
      productId: 0x1200,
      serialNumber: 'S1',
    });
  });

  it('says what a USB id must be and rejects unknown keys', () => {
    const lines = configProblems(HidTransportSchema, { type: 'hid', vendorId: '0xZZ', productId: 70_000, baud: 9600 });
    expect(lines).toContain('vendorId: expected a USB id from 0 to 0xffff: a number, or a hex string such as "0x05e0"');
    expect(lines).toContain(
      'productId: expected a USB id from 0 to 0xffff: a number, or a hex string such as "0x05e0"',
    );
    expect(lines.some((l) => l.includes('"baud"'))).toBe(true);
    expect(
      configProblems(HidTransportSchema, {
        type: 'hid',
        vendorId: 1,
        productId: 2,
        reconnectBaseMs: 5000,
        reconnectCapMs: 1000,
      }),
    ).toEqual(['reconnectCapMs: expected a value at least reconnectBaseMs']);
  });

  it('validates a scanner: register, device and mode', () => {
    expect(
      HidScannerSchema.parse({ id: 'SC1', register: 'R1', vendorId: '0x0c2e', productId: '0x0b87', mode: 'pos' }),
    ).toMatchObject({
      id: 'SC1',
      register: 'R1',
      vendorId: 0x0c2e,
      productId: 0x0b87,
      mode: 'pos',
      pollMs: 1000,
    });
    const missing = configProblems(HidScannerSchema, { id: 'SC1', register: 'R1', vendorId: 1, productId: 2 });
    expect(missing).toEqual(['mode: expected one of "pos", "keyboard"']);
  });
});
