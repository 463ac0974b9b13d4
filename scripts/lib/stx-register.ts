import { SerialPort } from 'serialport';

const STX = 0x02;
const ETX = 0x03;
const ACK = 0x06;
const NAK = 0x15;

export function lrc(payload: Buffer): number {
  let x = 0;
  for (const b of payload) x ^= b;
  return x ^ ETX;
}

/** STX payload ETX LRC, the LRC being the XOR of every byte after STX up to and including ETX. */
export function stxFrame(record: string, corruptLrc = false): Buffer {
  const p = Buffer.from(record, 'latin1');
  return Buffer.concat([Buffer.from([STX]), p, Buffer.from([ETX, lrc(p) ^ (corruptLrc ? 0xff : 0)])]);
}

export interface Answer {
  control: 'ACK' | 'NAK';
  reply?: string;
}

/**
 * A legacy cash register on a serial line speaking STX/ETX+LRC with ACK/NAK: what the serial
 * tests and the benchmark drive the agent with. Sends one record, waits for the agent's ACK or
 * NAK and, after an ACK, for the reply frame (which it ACKs).
 */
export class StxRegister {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(private readonly port: SerialPort) {
    port.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(path: string, baudRate = 9600): Promise<StxRegister> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate, autoOpen: false });
      port.open((err) => (err ? reject(err) : resolve(new StxRegister(port))));
    });
  }

  private async next<T>(take: () => T | undefined, timeoutMs: number): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      const left = until - Date.now();
      if (left <= 0)
        throw new Error(`no answer from the agent within ${timeoutMs} ms (have ${this.buf.toString('hex')})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  private takeControl(): 'ACK' | 'NAK' | undefined {
    const i = this.buf.findIndex((b) => b === ACK || b === NAK);
    if (i === -1) return undefined;
    const c = this.buf[i] === ACK ? 'ACK' : 'NAK';
    this.buf = Buffer.concat([this.buf.subarray(0, i), this.buf.subarray(i + 1)]);
    return c;
  }

  private takeFrame(): string | undefined {
    const s = this.buf.indexOf(STX);
    const e = s === -1 ? -1 : this.buf.indexOf(ETX, s + 1);
    if (e === -1 || this.buf.length < e + 2) return undefined;
    const payload = this.buf.subarray(s + 1, e);
    if (this.buf[e + 1] !== lrc(payload)) throw new Error('the agent sent a frame with a bad LRC');
    this.buf = this.buf.subarray(e + 2);
    return payload.toString('latin1');
  }

  /** Writes raw bytes (a frame, or something broken) and returns the agent's ACK/NAK and reply. */
  async sendRaw(bytes: Buffer, timeoutMs = 5000): Promise<Answer> {
    this.port.write(bytes);
    const control = await this.next(() => this.takeControl(), timeoutMs);
    if (control === 'NAK') return { control };
    const reply = await this.next(() => this.takeFrame(), timeoutMs);
    this.port.write(Buffer.from([ACK]));
    return { control, reply };
  }

  send(record: string, timeoutMs?: number): Promise<Answer> {
    return this.sendRaw(stxFrame(record), timeoutMs);
  }

  close(): Promise<void> {
    return new Promise((r) => (this.port.isOpen ? this.port.close(() => r()) : r()));
  }
}
