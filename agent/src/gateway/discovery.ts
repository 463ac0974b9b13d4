/**
 * What registers could be plugged in here: serial ports and HID devices, for
 * `tillbridge-agent devices`. Never throws: what cannot be listed is named in `problems`, with
 * what is missing and how to install it.
 */

export interface SerialDeviceInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  pnpId?: string;
}

export interface HidDeviceInfo {
  path?: string;
  vendorId: number;
  productId: number;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  usagePage?: number;
  usage?: number;
}

export interface DeviceList {
  serial: SerialDeviceInfo[];
  hid: HidDeviceInfo[];
  problems: string[];
}

/** What serialport's `SerialPort.list()` and node-hid's `devices()` return (fields we read). */
export interface RawSerialPort {
  path: string;
  manufacturer?: string | undefined;
  serialNumber?: string | undefined;
  vendorId?: string | undefined;
  productId?: string | undefined;
  pnpId?: string | undefined;
}
export interface RawHidDevice {
  path?: string | undefined;
  vendorId: number;
  productId: number;
  manufacturer?: string | undefined;
  product?: string | undefined;
  serialNumber?: string | undefined;
  usagePage?: number | undefined;
  usage?: number | undefined;
}
export interface HidModule {
  devices(): RawHidDevice[];
}

export interface ListDevicesOptions {
  /** Default: serialport's `SerialPort.list()` (Linux: runs `udevadm info -e`). */
  listSerial?: () => Promise<RawSerialPort[]>;
  /** Default: `import('node-hid')` (its native part loads at the first `devices()` call). */
  loadHid?: () => Promise<HidModule>;
}

async function defaultListSerial(): Promise<RawSerialPort[]> {
  const { SerialPort } = await import('serialport');
  return SerialPort.list();
}

async function defaultLoadHid(): Promise<HidModule> {
  const hid = await import('node-hid');
  return { devices: () => hid.devices() };
}

function errorFields(err: unknown): { code?: unknown; path?: unknown; message: string } {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; path?: unknown; message?: unknown };
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- its own toString, if any, is the best text left
    return { code: e.code, path: e.path, message: typeof e.message === 'string' ? e.message : String(err) };
  }
  return { message: String(err) };
}

function oneLine(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- control characters are what it matches
      .replace(/[\u0000-\u001f\u007f]+/g, ' ')
      .trim()
      .slice(0, 200)
  );
}

export function serialProblem(err: unknown): string {
  const e = errorFields(err);
  if (e.code === 'ENOENT' && typeof e.path === 'string' && e.path.endsWith('udevadm')) {
    return (
      'serial ports cannot be listed: the `udevadm` command is missing (Debian/Ubuntu: `sudo apt-get install udev`). ' +
      'Serial registers still work when configured by path, e.g. /dev/ttyUSB0.'
    );
  }
  return `serial ports cannot be listed: ${oneLine(e.message)}. Serial registers still work when configured by path.`;
}

/** Debian/Ubuntu package for a shared library node-hid's native part links against. */
const LIBRARY_PACKAGES: [RegExp, string][] = [
  [/libusb-1\.0/, 'libusb-1.0-0'],
  [/libudev/, 'libudev1'],
];

export function hidProblem(err: unknown): string {
  const e = errorFields(err);
  // A native library that fails to load only says so in its message (dlopen has no finer code).
  const nativeLoad = e.code === 'ERR_DLOPEN_FAILED' || /libusb|\.so(\.\d+)*\b|\.node\b/.test(e.message);
  if (!nativeLoad) return `HID devices cannot be listed: ${oneLine(e.message)}.`;
  const lib = /lib[\w.+-]*\.so(?:\.\d+)*/.exec(e.message)?.[0];
  const tail = 'Serial and TCP registers are not affected.';
  if (lib === undefined) {
    return (
      `HID devices cannot be listed: node-hid's native module did not load (${oneLine(e.message)}); ` +
      `it needs the system library libusb-1.0 (Debian/Ubuntu: \`sudo apt-get install libusb-1.0-0\`). ${tail}`
    );
  }
  const pkg = LIBRARY_PACKAGES.find(([re]) => re.test(lib))?.[1] ?? 'libusb-1.0-0';
  return (
    `HID devices cannot be listed: node-hid's native module did not load; the system library ${lib} is missing ` +
    `(Debian/Ubuntu: \`sudo apt-get install ${pkg}\`). ${tail}`
  );
}

/** The fields a device list shows of each kind of device, in the order it shows them. */
const SERIAL_FIELDS = ['path', 'manufacturer', 'serialNumber', 'vendorId', 'productId', 'pnpId'] as const;
const HID_FIELDS = [
  'path',
  'vendorId',
  'productId',
  'manufacturer',
  'product',
  'serialNumber',
  'usagePage',
  'usage',
] as const;

/** The named fields of `o` that have a value (neither undefined nor ''): nothing else the library reports. */
function definedFields<T, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.flatMap((k) => (o[k] === undefined || o[k] === '' ? [] : [[k, o[k]]]))) as Pick<T, K>;
}

export async function listDevices(opts: ListDevicesOptions = {}): Promise<DeviceList> {
  const problems: string[] = [];
  let serial: SerialDeviceInfo[] = [];
  try {
    const ports = await (opts.listSerial ?? defaultListSerial)();
    serial = ports.map((p) => definedFields(p, SERIAL_FIELDS));
  } catch (err) {
    problems.push(serialProblem(err));
  }
  let hid: HidDeviceInfo[] = [];
  try {
    const mod = await (opts.loadHid ?? defaultLoadHid)();
    hid = mod.devices().map((d) => definedFields(d, HID_FIELDS));
  } catch (err) {
    problems.push(hidProblem(err));
  }
  return { serial, hid, problems };
}

const hex4 = (n: number | undefined): string => (n === undefined ? '' : n.toString(16).padStart(4, '0'));

/** Device strings come from USB descriptors: keep them printable and short for a terminal. */
function cell(v: string | undefined): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it replaces
  return v === undefined ? '' : v.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 60);
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The human listing for `tillbridge-agent devices`: a table per kind, then any problems. */
export function formatDevices(result: DeviceList): string {
  const out: string[] = [`Serial ports (${result.serial.length})`];
  if (result.serial.length === 0) out.push('  none found');
  else {
    const rows = result.serial.map((p) => [
      cell(p.path),
      p.vendorId || p.productId ? `${cell(p.vendorId)}:${cell(p.productId)}` : '',
      cell(p.manufacturer),
      cell(p.serialNumber),
      cell(p.pnpId),
    ]);
    out.push(...table(['PATH', 'VID:PID', 'MANUFACTURER', 'SERIAL', 'PNP ID'], rows).map((l) => `  ${l}`));
  }
  out.push('', `HID devices (${result.hid.length})`);
  if (result.hid.length === 0) out.push('  none found');
  else {
    const rows = result.hid.map((d) => [
      `${hex4(d.vendorId)}:${hex4(d.productId)}`,
      cell(d.manufacturer),
      cell(d.product),
      cell(d.serialNumber),
      d.usagePage === undefined ? '' : `${hex4(d.usagePage)}/${hex4(d.usage)}`,
      cell(d.path),
    ]);
    out.push(...table(['VID:PID', 'MANUFACTURER', 'PRODUCT', 'SERIAL', 'USAGE', 'PATH'], rows).map((l) => `  ${l}`));
  }
  if (result.problems.length > 0) {
    out.push('', 'Problems');
    for (const p of result.problems) out.push(`  - ${p}`);
  }
  return out.join('\n') + '\n';
}
