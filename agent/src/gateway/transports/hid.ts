import { errorText, ReconnectBackoff, type Logger } from '@tillbridge/shared';
import { matchesDevice, usbIdText, type HidBinding, type HidHandle } from '../hid/binding.js';
import type { Connection, LinkState, Transport } from '../types.js';
import type { HidTransportConfig } from './hid-schemas.js';
import { PushedStream, StreamConnection } from './stream-link.js';

export interface HidTransportOptions extends Omit<HidTransportConfig, 'type'> {
  /** node-hid (loadNodeHidBinding) in the agent, FakeHidBinding in tests. */
  binding: HidBinding;
  log: Logger;
  /** Hand each input report over whole and untouched (no report-id strip, no padding trim): for ScannerSource. */
  raw?: boolean;
}

type ReportOptions = Pick<HidTransportOptions, 'reportId' | 'reportSize' | 'reportLengthByte' | 'raw'>;

/** One open device as a byte stream: each input report's payload is one chunk. */
class HidConnection extends StreamConnection {
  constructor(
    id: string,
    remote: string,
    private readonly handle: HidHandle,
    private readonly opts: ReportOptions,
    private readonly lost: (reason: string) => void,
    private readonly reports = new PushedStream(handle),
  ) {
    super(id, remote, reports);
  }

  receive(report: Buffer): void {
    const payload = this.payload(report);
    if (this.closed || !payload || payload.length === 0) return;
    this.reports.emit('data', payload);
  }

  /** Splits into reports of reportSize payload bytes, zero-padded, the report id first. */
  write(data: Buffer): void {
    if (this.closed) return;
    const room = Math.max(1, this.opts.reportSize - (this.opts.reportLengthByte ? 1 : 0));
    for (let off = 0; off < data.length; off += room) {
      const chunk = data.subarray(off, off + room);
      const report = Buffer.alloc(1 + this.opts.reportSize);
      report[0] = this.opts.reportId;
      if (this.opts.reportLengthByte) report[1] = chunk.length;
      chunk.copy(report, this.opts.reportLengthByte ? 2 : 1);
      this.handle.write(report).catch((err: unknown) => this.lost(`write failed: ${errorText(err)}`));
    }
  }
  /** Closes the device; the transport opens it again on its next poll while it stays plugged in. */
  close(): void {
    this.lost('closed by the agent');
  }

  private payload(report: Buffer): Buffer | undefined {
    if (this.opts.raw) return report;
    let r = report;
    if (this.opts.reportId !== 0) {
      if (r[0] !== this.opts.reportId) return undefined;
      r = r.subarray(1);
    }
    if (this.opts.reportLengthByte) return r.subarray(1, 1 + (r[0] ?? 0));
    let end = r.length;
    while (end > 0 && r[end - 1] === 0) end--;
    return r.subarray(0, end);
  }
}

/**
 * A register (or scanner) on USB HID. Finds its device by polling the device list every
 * `pollMs` and diffing (Odoo IoT style), opens it, hands it over as one Connection, reports
 * 'connected' / 'disconnected' as it is plugged and unplugged, and opens it again when it comes
 * back. A device that is listed but cannot be opened is retried with full-jitter backoff.
 */
export class HidTransport implements Transport {
  private current: { handle: HidHandle; conn: HidConnection; path: string } | undefined;
  private onConnection: ((conn: Connection) => void) | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> = Promise.resolve();
  /** When the next open of a listed device may be tried (elapsed time, not a time of day). */
  private readonly openBackoff: ReconnectBackoff;
  private state: { state: LinkState; detail: string | undefined } | undefined;
  private readonly stateListeners: ((state: LinkState, detail?: string) => void)[] = [];
  private seq = 0;

  constructor(private readonly opts: HidTransportOptions) {
    this.openBackoff = new ReconnectBackoff({ baseMs: opts.reconnectBaseMs, capMs: opts.reconnectCapMs });
  }

  describe(): string {
    const serial = this.opts.serialNumber ? `/${this.opts.serialNumber}` : '';
    const path = this.current?.path ?? this.opts.path;
    return `hid://${usbIdText(this.opts)}${serial}${path ? `@${path}` : ''}`;
  }

  onState(listener: (state: LinkState, detail?: string) => void): void {
    this.stateListeners.push(listener);
  }

  /** Looks for the device at once; a missing device is 'disconnected', not a failure to start. */
  async start(onConnection: (conn: Connection) => void): Promise<void> {
    if (this.running) throw new Error('hid transport already started');
    this.running = true;
    this.onConnection = onConnection;
    this.setState('connecting', undefined);
    await this.poll();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.loop;
    this.drop('stopped');
  }

  private poll(): Promise<void> {
    this.loop = this.tick()
      .catch((err: unknown) => this.setState('error', `HID poll failed: ${errorText(err)}`))
      .finally(() => {
        if (this.running) this.timer = setTimeout(() => void this.poll(), this.opts.pollMs);
      });
    return this.loop;
  }

  private async tick(): Promise<void> {
    let list;
    try {
      list = await this.opts.binding.devices();
    } catch (err) {
      this.setState('error', `cannot list HID devices: ${errorText(err)}`);
      return;
    }
    if (!this.running) return;
    if (this.current) {
      const path = this.current.path;
      if (!list.some((d) => d.path === path)) this.drop('device unplugged');
      return;
    }
    const found = list.find((d) => matchesDevice(d, this.opts));
    if (!found) {
      this.setState('disconnected', `no HID device ${usbIdText(this.opts)} plugged in`);
      return;
    }
    if (!this.openBackoff.due()) return;
    let handle: HidHandle;
    try {
      handle = await this.opts.binding.open(found.path);
    } catch (err) {
      this.openBackoff.failed();
      this.setState('error', `cannot open HID device ${usbIdText(this.opts)} at ${found.path}: ${errorText(err)}`);
      return;
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the await
    if (!this.running) {
      await handle.close().catch(() => undefined);
      return;
    }
    this.openBackoff.reset();
    this.attach(handle, found.path);
  }

  private attach(handle: HidHandle, path: string): void {
    const conn: HidConnection = new HidConnection(`hid-${++this.seq}`, `hid:${path}`, handle, this.opts, (reason) => {
      if (this.current?.conn === conn) this.drop(reason);
    });
    this.current = { handle, conn, path };
    handle.on('data', (report) => conn.receive(report));
    handle.on('error', (err) => {
      if (this.current?.conn === conn) this.drop(`device lost: ${errorText(err)}`);
    });
    this.setState('connected', path);
    this.opts.log.info({ device: usbIdText(this.opts), path }, 'HID device opened');
    this.onConnection?.(conn);
  }

  private drop(reason: string): void {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    c.handle.close().catch(() => undefined);
    c.conn.notifyClosed();
    this.setState('disconnected', reason);
  }

  private setState(state: LinkState, detail: string | undefined): void {
    if (this.state?.state === state && this.state.detail === detail) return;
    this.state = { state, detail };
    for (const l of this.stateListeners) l(state, detail);
  }
}
