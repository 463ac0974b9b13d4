import {
  frameForTrace,
  isTbError,
  systemClock,
  TbCodes,
  TbError,
  type Logger,
  type RegisterReply,
} from '@tillbridge/shared';
import type { RegisterStatus } from '../core/ports.js';
import { toCanonical } from './canonical.js';
import type { Codec, Connection, Framer, FramerOutput, LinkState, MessageHandler, Transport } from './types.js';

/** A register's state (the core's RegisterStatus): status and the hub's terminal view. */
export type RegisterEndpointStatus = RegisterStatus;

/** Frames queued per connection before reading pauses (backpressure on a flooding register). */
const MAX_PENDING = 64;
/** Times a NAKed reply is sent again before giving up on it. */
const MAX_RESENDS = 3;

export interface RegisterEndpointOptions {
  /** The hub's key for the keyed hash of card numbers (undefined until the agent first connected). */
  cardKey?: () => Buffer | undefined;
  /**
   * The agent's clock: the times in this register's status, and the framers' inter-byte
   * timeouts (the endpoint hands each chunk to its framer with this time); default the system's.
   */
  now?: () => number;
}

interface ConnState {
  framer: Framer;
  lastFrame: Buffer | undefined;
  resends: number;
}

/**
 * One configured register: its transport, a framer per connection, its codec, and the store
 * core. Frames from one connection are answered in order; a malformed frame gets an error reply
 * (or a NAK, where the framing has one) and the connection stays usable.
 */
export class RegisterEndpoint {
  private readonly connections = new Map<Connection, ConnState>();
  private lastMessageMs: number | undefined;
  private transportState: LinkState = 'listening';
  private transportDetail: string | undefined;
  private reported: RegisterEndpointStatus['reported'];
  private readonly listeners: ((s: RegisterEndpointStatus) => void)[] = [];
  private readonly cardKey: () => Buffer | undefined;
  private readonly now: () => number;

  constructor(
    readonly id: string,
    private readonly transport: Transport,
    private readonly makeFramer: () => Framer,
    private readonly codec: Codec,
    private readonly handler: MessageHandler,
    private readonly log: Logger,
    opts: RegisterEndpointOptions = {},
  ) {
    this.cardKey = opts.cardKey ?? (() => undefined);
    this.now = opts.now ?? (() => systemClock.now());
    transport.onState?.((state, detail) => {
      this.transportState = state;
      this.transportDetail = detail;
      if ((state === 'error' || state === 'disconnected') && detail !== 'stopped')
        this.log.warn({ state, detail }, 'register link down');
      this.changed();
    });
  }

  async start(): Promise<void> {
    try {
      await this.transport.start((conn) => this.accept(conn));
      this.log.info({ at: this.transport.describe(), codec: this.codec.name }, 'register endpoint ready');
    } catch (err) {
      this.transportState = 'error';
      this.transportDetail = (err as Error).message;
      this.changed();
      // say which register: the agent's start fails with this line
      throw new TbError(
        isTbError(err) ? err.code : TbCodes.INTERNAL,
        `register ${this.id}: ${(err as Error).message}`,
        { cause: err, ...(isTbError(err) && err.details ? { details: err.details } : {}) },
      );
    }
  }

  async stop(): Promise<void> {
    await this.transport.stop();
  }

  /** Hears every change of this register's status (connection, link, reported state). */
  onStatus(listener: (s: RegisterEndpointStatus) => void): void {
    this.listeners.push(listener);
  }

  /** The register reported its own state (`{"type":"status",…}`). */
  reportedState(state: string, detail?: string): void {
    const at = new Date(this.now()).toISOString();
    this.reported = detail === undefined ? { state, at } : { state, detail, at };
    this.changed();
  }

  status(): RegisterEndpointStatus {
    const s: RegisterEndpointStatus = {
      id: this.id,
      transport: this.transport.describe(),
      codec: this.codec.name,
      connected: this.connections.size,
      state: this.connections.size > 0 ? 'connected' : this.transportState,
    };
    if (this.connections.size === 0 && this.transportDetail) s.detail = this.transportDetail;
    if (this.reported) s.reported = this.reported;
    if (this.lastMessageMs !== undefined) s.lastMessageAt = new Date(this.lastMessageMs).toISOString();
    return s;
  }

  /** Sends an unsolicited message (e.g. a scanned receipt) to every open connection of this register. */
  push(reply: RegisterReply): number {
    for (const [conn, st] of this.connections) {
      const frame = st.framer.encode(this.codec.encode([reply]));
      traceFrame(this.log, 'sent', frame, conn.id);
      conn.write(frame);
    }
    return this.connections.size;
  }

  private changed(): void {
    const s = this.status();
    for (const l of this.listeners) l(s);
  }

  private accept(conn: Connection): void {
    const log = this.log.child({ conn: conn.id, remote: conn.remote });
    const st: ConnState = { framer: this.makeFramer(), lastFrame: undefined, resends: 0 };
    this.connections.set(conn, st);
    if (conn.transient) log.debug('register request');
    else log.info('register connected');
    this.changed();
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;
    let paused = false;
    conn.onClose(() => {
      this.connections.delete(conn);
      if (!conn.transient) log.info('register disconnected');
      this.changed();
    });
    conn.onData((chunk) => {
      let outs: FramerOutput[];
      try {
        outs = st.framer.push(chunk, this.now());
      } catch (err) {
        // a framer must not throw; if one does, drop its state rather than the agent
        log.error({ err }, 'framing failed; buffer reset');
        st.framer = this.makeFramer();
        return;
      }
      for (const out of outs) {
        if (out.kind === 'control') {
          traceFrame(log, 'sent', out.bytes);
          conn.write(out.bytes);
          if (out.note) log.warn(out.note);
          continue;
        }
        if (out.kind === 'resend') {
          if (st.lastFrame && st.resends < MAX_RESENDS) {
            st.resends++;
            conn.write(st.lastFrame);
          }
          continue;
        }
        pending++;
        if (pending >= MAX_PENDING && !paused) {
          paused = true;
          conn.pause();
        }
        chain = chain
          .then(() => this.process(conn, st, out, log))
          .catch((err: unknown) => log.error({ err }, 'reply failed'))
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

  private send(conn: Connection, st: ConnState, replies: RegisterReply[], context?: unknown): void {
    const frame = st.framer.encode(this.codec.encode(replies, context));
    st.lastFrame = frame;
    st.resends = 0;
    traceFrame(this.log, 'sent', frame, conn.id);
    conn.write(frame);
  }

  private async process(conn: Connection, st: ConnState, out: FramerOutput, log: Logger): Promise<void> {
    if (out.kind === 'error') {
      log.warn({ code: out.code }, out.message);
      this.send(conn, st, [{ type: 'error', code: out.code, message: out.message }]);
      return;
    }
    if (out.kind !== 'frame') return;
    traceFrame(log, 'received', out.payload);
    const decoded = this.codec.decode(out.payload);
    if (decoded.kind === 'error') {
      log.warn({ code: decoded.code }, decoded.message);
      this.send(conn, st, [withId({ type: 'error', code: decoded.code, message: decoded.message }, decoded.id)]);
      return;
    }
    const replies: RegisterReply[] = [];
    for (const raw of decoded.messages) replies.push(await this.one(raw, log));
    if (replies.length === 0)
      replies.push({ type: 'error', code: TbCodes.INVALID, message: 'the frame held no message' });
    this.send(conn, st, replies, decoded.context);
  }

  private async one(raw: unknown, log: Logger): Promise<RegisterReply> {
    const canon = toCanonical(raw, { cardKey: this.cardKey() });
    if (!canon.ok) {
      log.warn({ code: canon.code, id: canon.id }, canon.message);
      return withId({ type: 'error', code: canon.code, message: canon.message }, canon.id);
    }
    this.lastMessageMs = this.now();
    try {
      const reply = await this.handler.handle(this.id, canon.message);
      if (canon.message.type === 'status' && reply.type === 'ack')
        this.reportedState(canon.message.state, canon.message.detail);
      return reply;
    } catch (err) {
      log.error({ err, id: canon.message.id }, 'message not handled; nothing was acknowledged');
      return {
        type: 'error',
        id: canon.message.id,
        code: TbCodes.INTERNAL,
        message: 'the agent could not record this message; send it again',
      };
    }
  }
}

/**
 * Log level "trace": every frame received from and sent to a register, for integrating a new one
 * (docs/configuration.md, log.level). Card numbers masked, track data and security codes removed
 * (shared/src/frame-trace.ts): the raw bytes never reach the log.
 */
function traceFrame(log: Logger, direction: 'received' | 'sent', bytes: Buffer, conn?: string): void {
  if (!log.isLevelEnabled('trace')) return;
  log.trace(
    { ...(conn === undefined ? {} : { conn }), direction, bytes: bytes.length, frame: frameForTrace(bytes) },
    direction === 'received' ? 'frame received' : 'frame sent',
  );
}

function withId(reply: { type: 'error'; code: string; message: string }, id: string | undefined): RegisterReply {
  return id === undefined ? reply : { type: 'error', id, code: reply.code, message: reply.message };
}
