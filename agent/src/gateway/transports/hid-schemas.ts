import * as z from 'zod';
import { capMessage, capNotBelowBase } from './schemas.js';

const USB_ID = 'a USB id from 0 to 0xffff: a number, or a hex string such as "0x05e0"';

/** A USB vendor or product id: 1504, "0x05e0" or "05e0" (hex, as lsusb prints it). */
export const UsbId = z.union([z.number(), z.string()], { error: USB_ID }).transform((v, ctx) => {
  const n =
    typeof v === 'number'
      ? v
      : /^(0x)?[0-9a-f]{1,4}$/i.test(v.trim())
        ? parseInt(v.trim().replace(/^0x/i, ''), 16)
        : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) {
    ctx.addIssue({ code: 'custom', message: USB_ID });
    return z.NEVER;
  }
  return n;
});

const int = (min: number, max: number, what: string) => {
  const msg = `${what} from ${min} to ${max}`;
  return z.number().int(msg).min(min, msg).max(max, msg);
};

const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an id of 1-64 letters, digits, ".", "_" or "-"');

/** Which device: vendor and product id, narrowed by serial number or OS path when several are plugged in. */
const DeviceKeys = {
  vendorId: UsbId,
  productId: UsbId,
  serialNumber: z.string().min(1, 'the serial number the device reports').max(128, 'at most 128 characters').optional(),
  /** OS path (e.g. /dev/hidraw3); paths change on replug, so prefer serialNumber. */
  path: z.string().min(1, 'the OS path of the device, e.g. /dev/hidraw3').max(512, 'at most 512 characters').optional(),
  /** How often the device list is polled to find the device and notice it leave or come back. */
  pollMs: int(100, 60_000, 'milliseconds').default(1000),
  /** Full-jitter backoff between failed opens of a listed device (e.g. permission denied). */
  reconnectBaseMs: int(10, 60_000, 'milliseconds').default(500),
  reconnectCapMs: int(100, 600_000, 'milliseconds').default(30_000),
};

/**
 * Config of the `hid` register transport: a register that speaks its protocol over HID reports.
 * Use a stream framing with it (`line` by default): a message may span several reports.
 */
export const HidTransportSchema = z
  .strictObject({
    type: z.literal('hid'),
    ...DeviceKeys,
    /** The report id the register uses (0: unnumbered reports). Input reports with another id are ignored. */
    reportId: int(0, 255, 'a report id').default(0),
    /** Payload bytes in one report (after the id byte); writes are split and zero-padded to it. */
    reportSize: int(2, 1024, 'bytes').default(64),
    /**
     * true: the first payload byte of each report is the count of data bytes that follow (and
     * writes are built the same way). false: each report's trailing 0x00 padding is dropped.
     */
    reportLengthByte: z.boolean().default(false),
  })
  .refine(capNotBelowBase, capMessage);
export type HidTransportConfig = z.infer<typeof HidTransportSchema>;

/**
 * A HID barcode scanner attached to a register (the agent's `scanners` list): each scanned code
 * goes to that register. `pos`: a HID POS scanner (usage page 0x8C); `keyboard`: a keyboard-
 * wedge scanner (boot keyboard reports ending each code with Enter or Tab).
 */
export const HidScannerSchema = z
  .strictObject({
    id: Id,
    register: Id,
    ...DeviceKeys,
    mode: z.enum(['pos', 'keyboard']),
  })
  .refine(capNotBelowBase, capMessage);
export type HidScannerConfig = z.infer<typeof HidScannerSchema>;
