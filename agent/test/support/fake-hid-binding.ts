import { EventEmitter } from 'node:events';
import type { HidBinding, HidDeviceInfo, HidHandle } from '../../src/gateway/hid/binding.js';

/** A recorded device session (test fixtures: agent/test/fixtures/hid/*.json). */
export interface HidRecording {
  description?: string;
  device: HidDeviceInfo & { path: string };
  /** Input reports as the OS delivers them, hex (report id first when the device numbers its reports). */
  reports: string[];
  /** What the recording should decode to (checked by the tests). */
  expected?: string[];
  symbology?: string;
}

export type ReportBytes = number[] | Buffer | string;

/** Reports the fake holds for a paused handle, like the OS's small per-device queue. */
const PAUSED_QUEUE = 64;

function toBuffer(bytes: ReportBytes): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes.replace(/\s+/g, ''), 'hex');
  return Buffer.from(bytes);
}

class FakeHidHandle implements HidHandle {
  private readonly events = new EventEmitter();
  private paused = false;
  private held: Buffer[] = [];
  dead = false;
  closed = false;

  constructor(
    readonly path: string,
    private readonly writes: Buffer[],
  ) {}

  on(event: 'data' | 'error', listener: ((report: Buffer) => void) | ((err: Error) => void)): void {
    this.events.on(event, listener);
  }
  write(data: number[] | Buffer): Promise<number> {
    if (this.closed || this.dead) return Promise.reject(new Error('could not write to HID device'));
    this.writes.push(Buffer.from(data));
    return Promise.resolve(data.length);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const r of held) this.deliver(r);
  }
  close(): Promise<void> {
    this.closed = true;
    this.events.removeAllListeners();
    return Promise.resolve();
  }

  deliver(report: Buffer): boolean {
    if (this.closed || this.dead) return false;
    if (this.paused) {
      if (this.held.length < PAUSED_QUEUE) this.held.push(report);
      return true;
    }
    this.events.emit('data', Buffer.from(report));
    return true;
  }
  fail(err: Error): void {
    if (this.closed || this.dead) return;
    this.dead = true;
    this.events.emit('error', err);
  }
}

/**
 * An in-memory HidBinding for tests: devices come and go with plug/unplug, reports are pushed
 * with emitReport/replay (delivered like node-hid does — only to open handles, nothing is kept
 * for a device nobody has open), and every output report written is kept per path.
 */
export class FakeHidBinding implements HidBinding {
  private readonly plugged = new Map<string, HidDeviceInfo & { path: string }>();
  private readonly handles: FakeHidHandle[] = [];
  private readonly writes = new Map<string, Buffer[]>();
  private readonly openFailures = new Map<string, { times: number; message: string }>();
  /** How often each method was called (tests check that polling happens). */
  readonly calls = { devices: 0, open: 0 };

  constructor(devices: (HidDeviceInfo & { path: string })[] = []) {
    for (const d of devices) this.plug(d);
  }

  static fromRecording(rec: HidRecording): FakeHidBinding {
    return new FakeHidBinding([rec.device]);
  }

  /** The recording's reports as buffers. */
  static reportsOf(rec: HidRecording): Buffer[] {
    return rec.reports.map(toBuffer);
  }

  devices(): Promise<HidDeviceInfo[]> {
    this.calls.devices++;
    return Promise.resolve([...this.plugged.values()].map((d) => ({ ...d })));
  }

  open(path: string): Promise<HidHandle> {
    this.calls.open++;
    const failure = this.openFailures.get(path);
    if (failure && failure.times > 0) {
      failure.times--;
      return Promise.reject(new Error(failure.message));
    }
    if (!this.plugged.has(path)) return Promise.reject(new Error('could not open HID device'));
    const writes = this.writes.get(path) ?? [];
    this.writes.set(path, writes);
    const h = new FakeHidHandle(path, writes);
    this.handles.push(h);
    return Promise.resolve(h);
  }

  plug(info: HidDeviceInfo & { path: string }): void {
    this.plugged.set(info.path, { ...info });
  }

  /**
   * The device disappears: it leaves the list and every open handle on it gets 'error' (as
   * node-hid reports it). `silently`: the handles hear nothing; only the list shows it.
   */
  unplug(path: string, silently = false): void {
    this.plugged.delete(path);
    if (silently) return;
    for (const h of this.handles) if (h.path === path) h.fail(new Error('could not read from HID device'));
  }

  /** The next `times` opens of `path` fail (e.g. permission denied). */
  failOpen(path: string, times: number, message = 'cannot open device: permission denied'): void {
    this.openFailures.set(path, { times, message });
  }

  /** Sends one input report from the device; returns how many open handles received it. */
  emitReport(path: string, bytes: ReportBytes): number {
    const report = toBuffer(bytes);
    let n = 0;
    for (const h of this.handles) if (h.path === path && h.deliver(report)) n++;
    return n;
  }

  /** Sends the reports one by one, `intervalMs` apart (0: all at once); resolves after the last. */
  async replay(path: string, reports: ReportBytes[], intervalMs = 0): Promise<number> {
    let delivered = 0;
    for (let i = 0; i < reports.length; i++) {
      if (i > 0 && intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
      const report = reports[i];
      if (report !== undefined && this.emitReport(path, report) > 0) delivered++;
    }
    return delivered;
  }

  /** Output reports written to `path`, in order (report id first, as node-hid takes them). */
  written(path: string): Buffer[] {
    return [...(this.writes.get(path) ?? [])];
  }

  /** Handles open (not closed, not failed) on `path`. */
  openHandles(path: string): number {
    return this.handles.filter((h) => h.path === path && !h.closed && !h.dead).length;
  }
}
