import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import amqp from 'amqplib';
import type { ChannelModel, Channel, ConsumeMessage } from 'amqplib';

/** The broker the AMQP tests use (CI runs one; `rabbitmq-server -detached` on a workstation). */
export const RABBIT_HOST = '127.0.0.1';
export const RABBIT_PORT = 5672;
export const RABBIT_URL = `amqp://guest:guest@${RABBIT_HOST}:${RABBIT_PORT}`;

/** Whether something answers on host:port within `ms` (a TCP connect). */
export function reachable(host = RABBIT_HOST, port = RABBIT_PORT, ms = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), ms);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export const randomName = (prefix: string): string => `${prefix}.${randomBytes(5).toString('hex')}`;

/** A consumer of a test exchange: queues bound by pattern, every message kept; `close` deletes the lot. */
export class TestConsumer {
  readonly got = new Map<string, ConsumeMessage[]>();
  private constructor(
    private readonly conn: ChannelModel,
    private readonly ch: Channel,
    readonly exchange: string,
  ) {}

  static async open(exchange: string): Promise<TestConsumer> {
    const conn = await amqp.connect(RABBIT_URL);
    const ch = await conn.createChannel();
    // the relay declares it too, with the same arguments
    await ch.assertExchange(exchange, 'topic', { durable: true });
    return new TestConsumer(conn, ch, exchange);
  }

  /** A queue bound to `pattern`, consumed into `got.get(name)`. */
  async bind(name: string, pattern: string): Promise<void> {
    const q = await this.ch.assertQueue(`${this.exchange}.${name}`, { exclusive: true, autoDelete: true });
    await this.ch.bindQueue(q.queue, this.exchange, pattern);
    const list: ConsumeMessage[] = [];
    this.got.set(name, list);
    await this.ch.consume(q.queue, (m) => m && list.push(m), { noAck: true });
  }

  ids(name: string): string[] {
    return (this.got.get(name) ?? []).map((m) => m.properties.messageId as string);
  }

  async close(): Promise<void> {
    for (const name of this.got.keys()) await this.ch.deleteQueue(`${this.exchange}.${name}`).catch(() => undefined);
    await this.ch.deleteExchange(this.exchange).catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

/** A TCP proxy to the broker that can be cut (sockets destroyed, new ones refused) and restored. */
export class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.refusing) return void client.destroy();
      const upstream = tcpConnect({ host: RABBIT_HOST, port: RABBIT_PORT });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Polls `pred` every 20 ms until true, or fails after `ms` with `what`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
