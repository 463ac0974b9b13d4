import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatDevices, listDevices, type DeviceList } from '../src/gateway/discovery.js';

function hasUdevadm(): boolean {
  try {
    execFileSync('udevadm', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** What node/serialport give when `udevadm` is not installed. */
function udevadmMissing(): Error {
  return Object.assign(new Error('spawn udevadm ENOENT'), {
    code: 'ENOENT',
    errno: -2,
    syscall: 'spawn udevadm',
    path: 'udevadm',
    spawnargs: ['info', '-e'],
  });
}

/** What Node gives when a native module's shared library is missing. */
function libusbMissing(): Error {
  return Object.assign(new Error('libusb-1.0.so.0: cannot open shared object file: No such file or directory'), {
    code: 'ERR_DLOPEN_FAILED',
  });
}

const noHid = () => Promise.resolve({ devices: () => [] });
const noSerial = () => Promise.resolve([]);
/** A node-hid that loads, but whose devices() throws `err`. */
const hidThrowing = (err: Error) => () =>
  Promise.resolve({
    devices: (): never => {
      throw err;
    },
  });

describe('listDevices', () => {
  it('never throws on this machine and lists what it can', async () => {
    const r = await listDevices();
    expect(Array.isArray(r.serial)).toBe(true);
    expect(Array.isArray(r.hid)).toBe(true); // node-hid loads here: libusb-1.0-0 is installed
    expect(r.problems.some((p) => p.startsWith('HID'))).toBe(false);
    if (!hasUdevadm()) {
      expect(r.serial).toEqual([]);
      expect(r.problems).toContain(
        'serial ports cannot be listed: the `udevadm` command is missing (Debian/Ubuntu: `sudo ' +
          'apt-get install udev`). ' +
          'Serial registers still work when configured by path, e.g. /dev/ttyUSB0.',
      );
    }
  });

  it('names the missing udev package when serialport cannot run udevadm', async () => {
    const r = await listDevices({ listSerial: () => Promise.reject(udevadmMissing()), loadHid: noHid });
    expect(r.serial).toEqual([]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(
      new RegExp(
        '^serial ports cannot be listed: the `udevadm` command is missing \\(Debian/Ubuntu: ' +
          '`sudo apt-get install udev`\\)',
      ),
    );
  });

  it('passes other HID failures on in one line', async () => {
    const eacces = Object.assign(new Error('cannot open device /dev/hidraw0'), { code: 'EACCES' });
    const r = await listDevices({ listSerial: noSerial, loadHid: hidThrowing(eacces) });
    expect(r.problems).toEqual(['HID devices cannot be listed: cannot open device /dev/hidraw0.']);
  });

  it('passes other serial failures on in one line', async () => {
    const r = await listDevices({ listSerial: () => Promise.reject(new Error('permission\ndenied')), loadHid: noHid });
    expect(r.problems).toEqual([
      'serial ports cannot be listed: permission denied. Serial registers still work when configured by path.',
    ]);
  });

  it('names libusb-1.0-0 when node-hid cannot load (the import fails)', async () => {
    const r = await listDevices({ listSerial: noSerial, loadHid: () => Promise.reject(libusbMissing()) });
    expect(r.hid).toEqual([]);
    expect(r.problems).toEqual([
      "HID devices cannot be listed: node-hid's native module did not load; the system library " +
        'libusb-1.0.so.0 is missing ' +
        '(Debian/Ubuntu: `sudo apt-get install libusb-1.0-0`). Serial and TCP registers are not affected.',
    ]);
  });

  it('names the library when the native part fails at the first devices() call', async () => {
    const udev = Object.assign(new Error('libudev.so.1: cannot open shared object file: No such file or directory'), {
      code: 'ERR_DLOPEN_FAILED',
    });
    const r = await listDevices({ listSerial: noSerial, loadHid: hidThrowing(udev) });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toContain(
      'the system library libudev.so.1 is missing (Debian/Ubuntu: `sudo apt-get install libudev1`)',
    );
  });

  it('a native load failure that names no library says what node-hid needs', async () => {
    const r = await listDevices({
      listSerial: noSerial,
      loadHid: () => Promise.reject(new Error('Could not locate the bindings file HID_hidraw.node')),
    });
    expect(r.problems).toEqual([
      "HID devices cannot be listed: node-hid's native module did not load (Could not locate " +
        'the bindings file HID_hidraw.node); ' +
        'it needs the system library libusb-1.0 (Debian/Ubuntu: `sudo apt-get install ' +
        'libusb-1.0-0`). Serial and TCP registers are not affected.',
    ]);
  });

  it('normalises what the loaders return, dropping empty fields', async () => {
    const ftdi = {
      path: '/dev/ttyUSB0',
      manufacturer: 'FTDI',
      serialNumber: 'A50285BI',
      vendorId: '0403',
      productId: '6001',
      pnpId: 'usb-FTDI_FT232R-if00-port0',
    };
    const zebra = {
      vendorId: 0x05e0,
      productId: 0x1200,
      path: '/dev/hidraw0',
      manufacturer: 'Zebra',
      product: 'Symbol Bar Code Scanner',
      usagePage: 0x8c,
      usage: 2,
    };
    const r = await listDevices({
      listSerial: () =>
        Promise.resolve([{ ...ftdi }, { path: '/dev/ttyS0', manufacturer: undefined, serialNumber: '' }]),
      loadHid: () => Promise.resolve({ devices: () => [{ ...zebra, serialNumber: undefined }] }),
    });
    expect(r).toEqual({ serial: [ftdi, { path: '/dev/ttyS0' }], hid: [zebra], problems: [] });
  });
});

describe('formatDevices', () => {
  it('prints a table per kind and the problems', () => {
    const list: DeviceList = {
      serial: [
        { path: '/dev/ttyUSB0', manufacturer: 'FTDI', vendorId: '0403', productId: '6001' },
        { path: '/dev/ttyS0' },
      ],
      hid: [
        {
          vendorId: 0x05e0,
          productId: 0x1200,
          manufacturer: 'Zebra\u001b[2J',
          product: 'Scanner',
          usagePage: 0x8c,
          usage: 2,
          path: '/dev/hidraw0',
        },
      ],
      problems: ['serial ports cannot be listed: x'],
    };
    expect(formatDevices(list)).toBe(
      [
        'Serial ports (2)',
        '  PATH          VID:PID    MANUFACTURER  SERIAL  PNP ID',
        '  /dev/ttyUSB0  0403:6001  FTDI',
        '  /dev/ttyS0',
        '',
        'HID devices (1)',
        '  VID:PID    MANUFACTURER  PRODUCT  SERIAL  USAGE      PATH',
        '  05e0:1200  Zebra?[2J     Scanner          008c/0002  /dev/hidraw0',
        '',
        'Problems',
        '  - serial ports cannot be listed: x',
        '',
      ].join('\n'),
    );
  });

  it('says when nothing was found', () => {
    expect(formatDevices({ serial: [], hid: [], problems: [] })).toBe(
      'Serial ports (0)\n  none found\n\nHID devices (0)\n  none found\n',
    );
  });
});
