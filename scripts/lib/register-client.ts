import { connect, type Socket } from 'node:net';

/**
 * A register on the store LAN speaking the canonical JSON-lines protocol: one request, one
 * reply line, in order. Used by the demo, the tests and the benchmark.
 */
export class JsonLinesRegister {
  private buf = '';
  private readonly queue: ((line: string) => void)[] = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) !== -1) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const next = this.queue.shift();
        if (next) next(line);
      }
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<JsonLinesRegister> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => {
        s.off('error', reject);
        resolve(new JsonLinesRegister(s));
      });
      s.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one line (an object is JSON-encoded) and resolves with the reply line, parsed. */
  async send<T = Record<string, unknown>>(msg: unknown, timeoutMs = 10_000): Promise<T> {
    const line = typeof msg === 'string' ? msg : JSON.stringify(msg);
    return JSON.parse(await this.sendRaw(`${line}\n`, timeoutMs)) as T;
  }

  /** Writes raw bytes and resolves with the next reply line. */
  sendRaw(bytes: string | Buffer, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.queue.push((l) => {
        clearTimeout(t);
        resolve(l);
      });
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.socket.end();
  }
}
