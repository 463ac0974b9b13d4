import type { SerialPort } from 'serialport';
import { errorText } from '@tillbridge/shared';
import type { Transport } from '../types.js';
import { ReconnectingTransport, type ReconnectingOptions } from './reconnect.js';
import { StreamLink } from './stream-link.js';
import type { SerialTransportConfig } from './schemas.js';

export type SerialTransportOptions = Omit<SerialTransportConfig, 'type'> & ReconnectingOptions;

/** Bytes queued for a register that does not take them (flow control held) before the port is reset. */
const MAX_UNSENT_BYTES = 1 << 20;
/** A port that has not reported 'close' this long after close() is given up as closed. */
const CLOSE_GRACE_MS = 1000;
/** How often an open port's modem status is queried to notice a hung-up tty (see watchHangup). */
const HANGUP_PROBE_MS = 500;

/**
 * serialport's Linux binding (bindings-cpp unixRead) reads a hung-up tty forever: read() returns
 * 0 and it reads again, so neither 'close' nor 'error' comes when the hangup wins the race with
 * its poller (seen with a pty whose socat exits, about 1 time in 50 under CPU load; the kernel
 * hangs up a USB serial tty on unplug the same way), or when nobody is reading the port. A hung-up tty fails every
 * ioctl with EIO, so the
 * port's modem-status query (TIOCMGET; GetCommModemStatus on Windows) is asked now and then: an
 * outcome that changes from the one at open (success, or ENOTTY on a pty) means the device is
 * gone. Returns a function that stops the probe.
 */
function watchHangup(port: SerialPort, onHangup: (detail: string) => void): () => void {
  let baseline: string | undefined;
  let inFlight = false;
  const probe = (): void => {
    if (inFlight || !port.isOpen) return;
    inFlight = true;
    port.get((err) => {
      inFlight = false;
      const outcome = err ? errorText(err) : 'ok';
      if (baseline === undefined) baseline = outcome;
      else if (outcome !== baseline && port.isOpen) onHangup(outcome);
    });
  };
  probe();
  const timer = setInterval(probe, HANGUP_PROBE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** One open port: the Connection the gateway reads and writes, and the Link the reconnect loop watches. */
class SerialLink extends StreamLink {
  readonly lost: Promise<string>;
  private resolveLost!: (reason: string) => void;
  private closing = false;
  private failure: string | undefined;

  constructor(
    private readonly port: SerialPort,
    seq: number,
    path: string,
  ) {
    super(`serial-${seq}`, path, port);
    this.lost = new Promise((resolve) => (this.resolveLost = resolve));
    // A vanished device (unplugged USB adapter, closed pty: EIO/EBADF/ENXIO on read or write)
    // makes serialport close the port and emit 'close' with an error whose `disconnected` is true.
    port.on('close', (err: (Error & { disconnected?: boolean }) | null | undefined) => {
      if (err?.disconnected) this.resolveLost(`the serial port went away (${errorText(err)})`);
      else
        this.resolveLost(this.failure ?? (err ? `the serial port closed (${errorText(err)})` : 'closed by the agent'));
    });
    port.on('error', (err: Error) => {
      this.failure ??= `the serial port failed (${errorText(err)})`;
      this.close();
    });
    port.on('end', () => this.close());
    const stopProbe = watchHangup(port, (detail) => {
      this.failure ??= `the serial port went away (${detail})`;
      this.close();
    });
    void this.lost.then(stopProbe);
  }

  write(data: Buffer): void {
    if (this.closing || !this.port.isOpen) return;
    if (this.port.writableLength > MAX_UNSENT_BYTES) {
      this.failure = `the register is not taking bytes (over ${MAX_UNSENT_BYTES} unsent); port reset`;
      this.close();
      return;
    }
    this.port.write(data);
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    setTimeout(() => this.resolveLost(this.failure ?? 'closed by the agent'), CLOSE_GRACE_MS).unref();
    if (this.port.isOpen) {
      this.port.close((err) => {
        if (err) this.resolveLost(this.failure ?? `the serial port closed (${errorText(err)})`);
      });
    } else if (!this.port.closing) {
      this.resolveLost(this.failure ?? 'closed by the agent');
    }
  }
}

/**
 * A register on a serial port (RS-232 cable, USB serial adapter). One Connection per open port.
 * A missing or vanished port is `disconnected` (with the reason), never a failure of start():
 * the port is opened again with full-jitter backoff until stop(), and each time it opens a new
 * Connection is handed over. The port is opened with serialport's default exclusive lock
 * (TIOCEXCL on Linux), so a second program cannot open the same register port under us; pseudo
 * terminals open fine with it, so `lock: false` is not needed.
 * Loss is noticed from serialport's 'close' (with a disconnected error) and 'error' events, and
 * by a modem-status probe every 500 ms that catches a hung-up tty serialport itself misses.
 */
export class SerialTransport extends ReconnectingTransport<SerialLink> implements Transport {
  private seq = 0;

  constructor(private readonly opts: SerialTransportOptions) {
    super(opts, { kind: 'serial', where: opts.path, logFields: { path: opts.path } });
  }

  describe(): string {
    const o = this.opts;
    return `serial:${o.path}@${o.baudRate},${o.dataBits}${o.parity.charAt(0).toUpperCase()}${o.stopBits}`;
  }

  protected describeError(err: unknown): string {
    // the binding's message ends with ", cannot open <path>" itself
    return `cannot open ${this.opts.path}: ${errorText(err).replace(/, cannot open .*$/, '')}`;
  }

  protected async open(signal: AbortSignal): Promise<SerialLink> {
    const o = this.opts;
    // serialport (its binding and parsers) is loaded by an agent with a serial register only
    const { SerialPort } = await import('serialport');
    return new Promise((resolve, reject) => {
      const port = new SerialPort({
        path: o.path,
        baudRate: o.baudRate,
        dataBits: o.dataBits,
        parity: o.parity,
        stopBits: o.stopBits,
        rtscts: o.flowControl === 'rts-cts',
        xon: o.flowControl === 'xon-xoff',
        xoff: o.flowControl === 'xon-xoff',
        autoOpen: false,
      });
      port.open((err) => {
        if (err) {
          reject(err);
          return;
        }
        if (signal.aborted) {
          port.close(() => undefined);
          reject(new Error('stopped'));
          return;
        }
        resolve(new SerialLink(port, ++this.seq, o.path));
      });
    });
  }
}
