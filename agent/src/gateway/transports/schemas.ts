import * as z from 'zod';

/**
 * Config schemas of the transports that open a device or dial out (`serial`, `tcp-client`).
 * Each is a strict object with defaults, meant for `registers[].transport` in the agent's config
 * (add them to its `TransportConfig` discriminated union). Messages say what is expected: the
 * config loader prints them as `<key>: expected <message>`.
 */

/** Rates every serial driver supports (Windows' CBR_* list and the POSIX B* constants agree on these). */
export const STANDARD_BAUD_RATES = [
  110, 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
] as const;

const BaudRate = z
  .number()
  .refine(
    (v) => (STANDARD_BAUD_RATES as readonly number[]).includes(v),
    `a standard baud rate: one of ${STANDARD_BAUD_RATES.join(', ')}`,
  );

/**
 * A whole number. Not `.int()`: zod 4 reports that as an `invalid_type` issue, for which the
 * config loader (describeZodError) prints its own text, not the message given; a refinement
 * keeps the message given here.
 */
const whole = (message: string) => z.number().refine(Number.isInteger, message);
const WholeMs = () => whole('a whole number of milliseconds');

const ReconnectBaseMs = WholeMs()
  .min(10, 'at least 10 (milliseconds before the first retry, at most)')
  .max(60_000, 'at most 60000 milliseconds');
const ReconnectCapMs = WholeMs()
  .min(100, 'at least 100 (the longest wait between retries, in milliseconds)')
  .max(600_000, 'at most 600000 milliseconds');

/** A transport's reconnection backoff: its cap may not be below its base (every transport that reconnects). */
export const capNotBelowBase = (t: { reconnectBaseMs: number; reconnectCapMs: number }) =>
  t.reconnectCapMs >= t.reconnectBaseMs;
export const capMessage = { message: 'a value at least reconnectBaseMs', path: ['reconnectCapMs'] };

export const SerialTransportSchema = z
  .strictObject({
    type: z.literal('serial'),
    /** The port's device path: /dev/ttyUSB0, /dev/ttyS0, /dev/serial/by-id/…, COM3. */
    path: z
      .string()
      .min(1, 'a serial port path, e.g. /dev/ttyUSB0 or COM3')
      .max(4096, 'a path of at most 4096 characters'),
    baudRate: BaudRate.default(9600),
    dataBits: z.literal([5, 6, 7, 8]).default(8),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none'),
    stopBits: z.literal([1, 1.5, 2]).default(1),
    flowControl: z.enum(['none', 'rts-cts', 'xon-xoff']).default('none'),
    reconnectBaseMs: ReconnectBaseMs.default(500),
    reconnectCapMs: ReconnectCapMs.default(10_000),
  })
  .refine(capNotBelowBase, capMessage);
export type SerialTransportConfig = z.infer<typeof SerialTransportSchema>;

export const TcpClientTransportSchema = z
  .strictObject({
    type: z.literal('tcp-client'),
    /** The register's address on the store LAN. */
    host: z
      .string()
      .min(1, 'a host name or IP address of the register')
      .max(253, 'a host name of at most 253 characters'),
    port: whole('a port from 1 to 65535').min(1, 'a port from 1 to 65535').max(65535, 'a port from 1 to 65535'),
    connectTimeoutMs: WholeMs()
      .min(100, 'at least 100 milliseconds')
      .max(120_000, 'at most 120000 milliseconds')
      .default(5000),
    /** Idle time before the first TCP keepalive probe. */
    keepAliveMs: WholeMs()
      .min(1000, 'at least 1000 milliseconds')
      .max(3_600_000, 'at most 3600000 milliseconds')
      .default(10_000),
    reconnectBaseMs: ReconnectBaseMs.default(500),
    reconnectCapMs: ReconnectCapMs.default(10_000),
  })
  .refine(capNotBelowBase, capMessage);
export type TcpClientTransportConfig = z.infer<typeof TcpClientTransportSchema>;
