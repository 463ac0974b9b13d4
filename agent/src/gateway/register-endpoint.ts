import { TbCodes, type Logger, type RegisterReply } from '@tillbridge/shared';
import { toCanonical } from './canonical.js';
import type { Codec, Connection, Framer, FramerOutput, MessageHandler, Transport } from './types.js';

export interface RegisterEndpointStatus {
  id: string;
  transport: string;
  codec: string;
  connected: number;
  state: 'connected' | 'listening' | 'error';
  lastMessageAt?: string;
}

/** Frames queued per connection before reading pauses (backpressure on a flooding register). */
const MAX_PENDING = 64;

/**
 * One configured register: its transport, a framer per connection, its codec, and the store
 * core. Frames from one connection are answered in order; a malformed frame gets an error reply
 * and the connection stays usable.
 */
export class RegisterEndpoint {
  private readonly connections = new Set<Connection>();
  private lastMessageMs: number | undefined;
  private failed = false;

  constructor(
    readonly id: string,
    private readonly transport: Transport,
    private readonly makeFramer: () => Framer,
    private readonly codec: Codec,
    private readonly handler: MessageHandler,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    try {
      await this.transport.start((conn) => this.accept(conn));
      this.log.info({ at: this.transport.describe(), codec: this.codec.name }, 'register endpoint ready');
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.transport.stop();
  }

  status(): RegisterEndpointStatus {
    const s: RegisterEndpointStatus = {
      id: this.id,
      transport: this.transport.describe(),
      codec: this.codec.name,
      connected: this.connections.size,
      state: this.failed ? 'error' : this.connections.size > 0 ? 'connected' : 'listening',
    };
    if (this.lastMessageMs) s.lastMessageAt = new Date(this.lastMessageMs).toISOString();
    return s;
  }

  private accept(conn: Connection): void {
    const log = this.log.child({ conn: conn.id, remote: conn.remote });
    const framer = this.makeFramer();
    this.connections.add(conn);
    log.info('register connected');
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;
    let paused = false;
    conn.onClose(() => {
      this.connections.delete(conn);
      log.info('register disconnected');
    });
    conn.onData((chunk) => {
      for (const out of framer.push(chunk)) {
        pending++;
        if (pending >= MAX_PENDING && !paused) {
          paused = true;
          conn.pause();
        }
        chain = chain
          .then(() => this.process(conn, framer, out, log))
          .catch((err: unknown) => log.error({ err: (err as Error).message }, 'reply failed'))
          .finally(() => {
            pending--;
            if (paused && pending < MAX_PENDING / 2) {
              paused = false;
              conn.resume();
            }
          });
      }
    });
  }

  private async process(conn: Connection, framer: Framer, out: FramerOutput, log: Logger): Promise<void> {
    const send = (reply: RegisterReply): void => conn.write(framer.encode(this.codec.encode(reply)));
    if (out.kind === 'error') {
      log.warn({ code: out.code }, out.message);
      send({ type: 'error', code: out.code, message: out.message });
      return;
    }
    const decoded = this.codec.decode(out.payload);
    if (decoded.kind === 'error') {
      log.warn({ code: decoded.code }, decoded.message);
      send(withId({ type: 'error', code: decoded.code, message: decoded.message }, decoded.id));
      return;
    }
    const canon = toCanonical(decoded.message);
    if (!canon.ok) {
      log.warn({ code: canon.code, id: canon.id }, canon.message);
      send(withId({ type: 'error', code: canon.code, message: canon.message }, canon.id));
      return;
    }
    this.lastMessageMs = Date.now();
    let reply: RegisterReply;
    try {
      reply = await this.handler.handle(this.id, canon.message);
    } catch (err) {
      log.error({ err: (err as Error).message, id: canon.message.id }, 'message not handled; nothing was acknowledged');
      reply = { type: 'error', id: canon.message.id, code: TbCodes.INTERNAL, message: 'the agent could not record this message; send it again' };
    }
    send(reply);
  }
}

function withId(reply: { type: 'error'; code: string; message: string }, id: string | undefined): RegisterReply {
  return id === undefined ? reply : { type: 'error', id, code: reply.code, message: reply.message };
}
