/**
 * The narrow seam between the agent and USB HID devices, shaped after node-hid's `HIDAsync`
 * (`devicesAsync()`, `HIDAsync.open(path)`, and the handle's events and methods). Real:
 * `loadNodeHidBinding()` (node-hid-binding.ts); tests: `FakeHidBinding` (agent/test/support/fake-hid-binding.ts).
 *
 * It is asynchronous on purpose: node-hid's synchronous API blocks the event loop for every USB
 * enumeration and keeps one libuv thread-pool thread busy per open device (the pool also serves
 * DNS and file I/O); the async API enumerates off the loop and reads on its own thread.
 */

/** One HID interface as the OS lists it (node-hid's `Device`). */
export interface HidDeviceInfo {
  vendorId: number;
  productId: number;
  /** What `open` takes (e.g. /dev/hidraw3); a device without one cannot be opened. */
  path?: string | undefined;
  serialNumber?: string | undefined;
  manufacturer?: string | undefined;
  product?: string | undefined;
  release: number;
  interface: number;
  usagePage?: number | undefined;
  usage?: number | undefined;
}

/** An open device. Input reports arrive as 'data' (with the report id first when the device numbers its reports). */
export interface HidHandle {
  on(event: 'data', listener: (report: Buffer) => void): void;
  /** Reading failed — typically the device was unplugged; no more 'data' follows. */
  on(event: 'error', listener: (err: Error) => void): void;
  /**
   * Sends one output report: the first byte is the report id (0 when the device has none). Resolves to the bytes
   * written.
   */
  write(data: number[] | Buffer): Promise<number>;
  /** Stop / restart reading (reports the device sends meanwhile may be dropped by the OS). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export interface HidBinding {
  devices(): Promise<HidDeviceInfo[]>;
  open(path: string): Promise<HidHandle>;
}

/** Which device a transport or scanner wants. */
export interface HidDeviceMatch {
  vendorId: number;
  productId: number;
  serialNumber?: string | undefined;
  path?: string | undefined;
}

export function matchesDevice(d: HidDeviceInfo, m: HidDeviceMatch): d is HidDeviceInfo & { path: string } {
  return (
    typeof d.path === 'string' &&
    d.path.length > 0 &&
    d.vendorId === m.vendorId &&
    d.productId === m.productId &&
    (m.serialNumber === undefined || d.serialNumber === m.serialNumber) &&
    (m.path === undefined || d.path === m.path)
  );
}

/** "05e0:1200", for logs and status. */
export function usbIdText(m: { vendorId: number; productId: number }): string {
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  return `${hex(m.vendorId)}:${hex(m.productId)}`;
}
