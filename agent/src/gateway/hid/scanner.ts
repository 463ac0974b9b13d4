import { systemClock, type Logger } from '@tillbridge/shared';
import type { RegisterStatus, RegisterStatusSource } from '../../core/ports.js';
import { HidTransport } from '../transports/hid.js';
import type { HidScannerConfig } from '../transports/hid-schemas.js';
import type { LinkState } from '../types.js';
import type { HidBinding } from './binding.js';

export type ScanListener = (code: string, symbology?: string) => void;

export interface HidScannerDecoderOptions {
  mode: 'pos' | 'keyboard';
  /** A code longer than this is discarded whole (memory stays bounded whatever the device sends). */
  maxCodeLength?: number;
  /** A partial code older than this when the next report arrives is dropped (0: never). */
  gapTimeoutMs?: number;
}

/*
 * HID POS (usage page 0x8C, "HID Point of Sale Usage Tables" 1.02, Scanned Data Report 0x8C:0x12),
 * in the fixed 64-byte layout Honeywell, Zebra and Access-IS scanners send in "HID POS" mode:
 *   byte 0      report id 0x02 (the Scanned Data Report)
 *   byte 1      number of decoded-data bytes in this report (0-56)
 *   bytes 2-4   AIM symbology identifier (Symbology Identifier 1-3, 0x8C:0xFB-0xFD), e.g. "]C0"
 *   bytes 5-60  decoded data (0x8C:0xFE), zero-padded
 *   byte 61     vendor symbology id (e.g. Honeywell code id); byte 62 reserved
 *   byte 63     bit 0: Decoded Data Continued (0x8C:0xFF) — 1 while more reports of this code follow
 * A long code is the concatenation of the data of consecutive reports up to one with bit 0 clear.
 * Reports with another id (attribute, status) are ignored.
 */
const POS_REPORT_ID = 0x02;
const POS_DATA_AT = 5;
const POS_DATA_MAX = 56;
const POS_CONTINUED_AT = 63;

/*
 * Boot-protocol keyboard reports (HID 1.11 appendix B): 8 bytes — modifiers, reserved, six
 * keycodes (usage page 0x07). A 9-byte report is taken to start with a report id. A key counts
 * when it appears in a report and was not in the one before (held keys repeat in every report
 * until released); all-0x01 keycodes (roll-over error) are ignored. US layout.
 */
const SHIFT = 0x22; // left shift | right shift
const ENTER = new Set([0x28, 0x58, 0x2b]); // Enter, keypad Enter, Tab
const KEYS: Record<number, [string, string]> = {
  0x1e: ['1', '!'],
  0x1f: ['2', '@'],
  0x20: ['3', '#'],
  0x21: ['4', '$'],
  0x22: ['5', '%'],
  0x23: ['6', '^'],
  0x24: ['7', '&'],
  0x25: ['8', '*'],
  0x26: ['9', '('],
  0x27: ['0', ')'],
  0x2c: [' ', ' '],
  0x2d: ['-', '_'],
  0x2e: ['=', '+'],
  0x2f: ['[', '{'],
  0x30: [']', '}'],
  0x31: ['\\', '|'],
  0x33: [';', ':'],
  0x34: ["'", '"'],
  0x35: ['`', '~'],
  0x36: [',', '<'],
  0x37: ['.', '>'],
  0x38: ['/', '?'],
  0x54: ['/', '/'],
  0x55: ['*', '*'],
  0x56: ['-', '-'],
  0x57: ['+', '+'],
  0x62: ['0', '0'],
  0x63: ['.', '.'],
};
for (let k = 0x04; k <= 0x1d; k++) {
  const c = String.fromCharCode(0x61 + k - 0x04);
  KEYS[k] = [c, c.toUpperCase()];
}
for (let k = 0x59; k <= 0x61; k++) KEYS[k] = [String(k - 0x58), String(k - 0x58)]; // keypad 1-9

/** Turns a scanner's input reports into barcodes. One per device; `reset` after a reconnect. */
export class HidScannerDecoder {
  private readonly listeners: ScanListener[] = [];
  private readonly max: number;
  private readonly gapMs: number;
  private bytes: number[] = [];
  private text = '';
  private symbology: string | undefined;
  private overflow = false;
  private lastMs = 0;
  private held = new Set<number>();

  constructor(private readonly opts: HidScannerDecoderOptions) {
    this.max = opts.maxCodeLength ?? 1024;
    this.gapMs = opts.gapTimeoutMs ?? 1000;
  }

  onScan(listener: ScanListener): void {
    this.listeners.push(listener);
  }

  reset(): void {
    this.bytes = [];
    this.text = '';
    this.symbology = undefined;
    this.overflow = false;
    this.held = new Set();
  }

  push(report: Buffer, nowMs = Date.now()): void {
    if (
      this.gapMs > 0 &&
      nowMs - this.lastMs > this.gapMs &&
      (this.bytes.length > 0 || this.text.length > 0 || this.overflow)
    ) {
      const held = this.held;
      this.reset();
      this.held = held;
    }
    this.lastMs = nowMs;
    if (this.opts.mode === 'pos') this.pos(report);
    else this.keyboard(report);
  }

  private pos(r: Buffer): void {
    if (r[0] !== POS_REPORT_ID || r.length < POS_DATA_AT) return;
    const n = Math.min(r[1] ?? 0, POS_DATA_MAX, r.length - POS_DATA_AT);
    if (this.bytes.length === 0 && !this.overflow) this.symbology = aimId(r.subarray(2, POS_DATA_AT));
    if (this.bytes.length + n > this.max) this.overflow = true;
    if (!this.overflow) for (const b of r.subarray(POS_DATA_AT, POS_DATA_AT + n)) this.bytes.push(b);
    if (((r[POS_CONTINUED_AT] ?? 0) & 0x01) === 0) {
      const code = Buffer.from(this.bytes)
        .toString('utf8')
        .replace(/[\r\n]+$/, '');
      const ok = !this.overflow;
      const symbology = this.symbology;
      this.reset();
      if (ok && code.length > 0) this.emit(code, symbology);
    }
  }

  private keyboard(r: Buffer): void {
    if (r.length === 9) r = r.subarray(1);
    if (r.length < 8) return;
    const keys = [...r.subarray(2, 8)].filter((k) => k !== 0);
    if (keys.length > 0 && keys.every((k) => k === 0x01)) return;
    const shift = ((r[0] ?? 0) & SHIFT) !== 0;
    for (const k of keys) {
      if (this.held.has(k)) continue;
      if (ENTER.has(k)) {
        const code = this.text;
        const ok = !this.overflow;
        const held = this.held;
        this.reset();
        this.held = held;
        if (ok && code.length > 0) this.emit(code);
        continue;
      }
      const ch = KEYS[k]?.[shift ? 1 : 0];
      if (ch === undefined || this.overflow) continue;
      if (this.text.length >= this.max) {
        this.overflow = true;
        this.text = '';
      } else this.text += ch;
    }
    this.held = new Set(keys);
  }

  private emit(code: string, symbology?: string): void {
    for (const l of this.listeners) l(code, symbology);
  }
}

/** "]C0" when the three bytes are an AIM symbology identifier. */
function aimId(b: Buffer): string | undefined {
  if (b.length !== 3 || b[0] !== 0x5d) return undefined;
  const s = b.toString('latin1');
  return /^\][\x21-\x7e]{2}$/.test(s) ? s : undefined;
}

export interface ScannerSourceOptions extends Omit<HidScannerConfig, 'id' | 'register'> {
  binding: HidBinding;
  log: Logger;
  maxCodeLength?: number;
  gapTimeoutMs?: number;
  /** The agent's clock, handed to the decoder with each report (its gap timeout); default the system's. */
  now?: () => number;
}

/**
 * A HID scanner device feeding a decoder: found, opened and reopened on replug exactly like a
 * HID register (it is a HidTransport handing whole reports over), every code to `onScan`.
 * On Linux a keyboard-wedge scanner also types into the console it is attached to.
 */
export class ScannerSource {
  private readonly transport: HidTransport;
  private readonly decoder: HidScannerDecoder;
  private readonly now: () => number;
  readonly mode: ScannerSourceOptions['mode'];

  constructor(opts: ScannerSourceOptions) {
    const { binding, log, mode, maxCodeLength, gapTimeoutMs, now, ...device } = opts;
    this.now = now ?? (() => systemClock.now());
    this.mode = mode;
    this.transport = new HidTransport({
      ...device,
      binding,
      log,
      raw: true,
      reportId: 0,
      reportSize: 64,
      reportLengthByte: false,
    });
    const decoderOpts: HidScannerDecoderOptions = { mode };
    if (maxCodeLength !== undefined) decoderOpts.maxCodeLength = maxCodeLength;
    if (gapTimeoutMs !== undefined) decoderOpts.gapTimeoutMs = gapTimeoutMs;
    this.decoder = new HidScannerDecoder(decoderOpts);
  }

  onScan(listener: ScanListener): void {
    this.decoder.onScan(listener);
  }

  onState(listener: (state: LinkState, detail?: string) => void): void {
    this.transport.onState(listener);
  }

  describe(): string {
    return this.transport.describe();
  }

  start(): Promise<void> {
    return this.transport.start((conn) => {
      this.decoder.reset();
      conn.onData((report) => this.decoder.push(report, this.now()));
    });
  }

  stop(): Promise<void> {
    return this.transport.stop();
  }
}

/**
 * A scanner as a terminal its agent reports to the hub (protocol 5): the device's state and why it is down, where it
 * is (hid://vendor:product@path), its last scan (as `lastMessageAt`) and the register it feeds.
 */
export class ScannerTerminal implements RegisterStatusSource {
  private state: LinkState = 'connecting';
  private detail: string | undefined;
  private lastScanMs: number | undefined;
  private readonly listeners: ((s: RegisterStatus) => void)[] = [];

  /** `now`: the agent's clock, for the time of each scan. */
  constructor(
    private readonly id: string,
    private readonly feeds: string,
    private readonly source: ScannerSource,
    private readonly now: () => number = () => systemClock.now(),
  ) {
    source.onState((state, detail) => {
      this.state = state;
      this.detail = detail;
      this.changed();
    });
    source.onScan(() => {
      this.lastScanMs = this.now();
      this.changed();
    });
  }

  onStatus(listener: (s: RegisterStatus) => void): void {
    this.listeners.push(listener);
  }

  status(): RegisterStatus {
    const connected = this.state === 'connected';
    const s: RegisterStatus = {
      id: this.id,
      kind: 'scanner',
      feeds: this.feeds,
      transport: this.source.describe(),
      codec: `hid-${this.source.mode}`,
      connected: connected ? 1 : 0,
      state: this.state,
    };
    if (!connected && this.detail) s.detail = this.detail;
    if (this.lastScanMs !== undefined) s.lastMessageAt = new Date(this.lastScanMs).toISOString();
    return s;
  }

  private changed(): void {
    const s = this.status();
    for (const l of this.listeners) l(s);
  }
}
