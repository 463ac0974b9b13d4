import { randomUUID } from 'node:crypto';
import type { Logger } from '@tillbridge/shared';
import type { HubStorage } from '../storage/sql.js';
import { MAX_NOTIFY_PAYLOAD_BYTES, type Listener, type Notifier } from '../storage/notify.js';

/**
 * The hub's messages from hub process to hub process (docs/architecture.md "Many hub processes").
 * Every process that hears one acts on it — the one that published it included — so that a change
 * made through any process reaches an agent held by any process, by one path.
 */
export type BusMessage =
  /** these SKUs of the store changed (`all`: too many to name; the holder sends the store's whole inventory) */
  | { t: 'inventory'; store: string; skus: string[]; all?: boolean }
  /** the returns policy of the store changed ('default': of every store) */
  | { t: 'policy'; scope: string }
  /** the sync settings of the store changed ('default': of every store) */
  | { t: 'config'; scope: string }
  /** process `from` committed entries to the ERP feed: long polls and the relay look again */
  | { t: 'feed'; from: string }
  /** a rotated-in key waits for the store's agent */
  | { t: 'key.deliver'; store: string }
  /**
   * the hub lacks transactions of the store's register and day: its agent is asked to send them again (`missing`: cut
   * to fit a message)
   */
  | {
      t: 'resend';
      store: string;
      register: string;
      businessDay: string;
      missing: { receipts: string[]; authorizations: string[] };
    }
  /** a key of the store was revoked: the connections authenticated with it end */
  | { t: 'key.drop'; store: string; keyId: string }
  /**
   * an agent said hello at process `from`: a process holding an older connection of the store gives it up (or says why
   * not)
   */
  | { t: 'session.claim'; id: string; from: string; store: string; agent: string; run?: string; attempt?: number }
  /** the holder's answer to claim `id`, for process `to` */
  | {
      t: 'session.verdict';
      id: string;
      to: string;
      from: string;
      store: string;
      verdict: RemoteVerdict['kind'];
      live?: string;
    };

/** What a process holding the store's connection says to another process's claim. */
export type RemoteVerdict =
  /** it held none, or gave it up: the claim may go on */
  | { kind: 'free' }
  /** another copy of the agent's database answers on the connection it holds (DESIGN rule 9) */
  | { kind: 'duplicate'; live: string }
  /** it holds a later attempt of the same run of the agent: the claiming connection was given up */
  | { kind: 'superseded' };

export type BusHandler = (msg: BusMessage) => void;

export interface HubBus {
  /** This hub process, as the bus names it (unique per start). */
  readonly processId: string;
  /** True when other hub processes hear what this one publishes (PostgreSQL). */
  readonly shared: boolean;
  /**
   * Sends `msg` to every hub process, this one included. Inside a transaction it leaves with the
   * commit (and never when the transaction rolls back); outside one, at once.
   */
  publish(msg: BusMessage): void;
  /** Hears every message; returns the unsubscribe. */
  subscribe(handler: BusHandler): () => void;
  /**
   * Runs `fn` each time the bus listens again after losing its connection (messages may have been missed meanwhile).
   */
  onResume(fn: () => void): void;
  /** Resolves once the bus hears messages (at once for the local bus). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** The largest message: what one PostgreSQL NOTIFY carries (messages are cut to fit it on either engine). */
export const MAX_PAYLOAD_BYTES = MAX_NOTIFY_PAYLOAD_BYTES;
/** SKUs named per inventory message: a changed list is cut to fit one payload. */
const INVENTORY_CHUNK_BYTES = 7000;
/** More chunks than this and the message says "the store's inventory changed" instead. */
const MAX_INVENTORY_CHUNKS = 16;

/** The inventory messages for `skus` of `store`: chunks that fit a payload, or one `all` message. */
export function inventoryMessages(store: string, skus: string[]): BusMessage[] {
  const out: BusMessage[] = [];
  let chunk: string[] = [];
  let bytes = 0;
  for (const sku of skus) {
    const b = Buffer.byteLength(JSON.stringify(sku)) + 1;
    if (chunk.length > 0 && bytes + b > INVENTORY_CHUNK_BYTES) {
      out.push({ t: 'inventory', store, skus: chunk });
      chunk = [];
      bytes = 0;
    }
    chunk.push(sku);
    bytes += b;
  }
  if (chunk.length > 0) out.push({ t: 'inventory', store, skus: chunk });
  if (out.length > MAX_INVENTORY_CHUNKS || bytes > INVENTORY_CHUNK_BYTES)
    return [{ t: 'inventory', store, skus: [], all: true }];
  return out;
}

/**
 * Bytes of names a resend message carries (the frame's `missing` is for the agent's log: the agent resends the whole
 * day).
 */
const RESEND_NAMES_BYTES = 6000;

/**
 * The bus message asking the store's agent for a register day again, its lists of what is missing cut to fit one
 * payload.
 */
export function resendMessage(r: {
  store: string;
  register: string;
  businessDay: string;
  missing: { receipts: string[]; authorizations: string[] };
}): BusMessage {
  let budget = RESEND_NAMES_BYTES;
  const fit = (names: string[]): string[] => {
    const out: string[] = [];
    for (const n of names) {
      const b = Buffer.byteLength(JSON.stringify(n)) + 1;
      if (b > budget) break;
      budget -= b;
      out.push(n);
    }
    return out;
  };
  const receipts = fit(r.missing.receipts);
  const authorizations = fit(r.missing.authorizations);
  return {
    t: 'resend',
    store: r.store,
    register: r.register,
    businessDay: r.businessDay,
    missing: { receipts, authorizations },
  };
}

class Handlers {
  private readonly list = new Set<BusHandler>();
  private readonly resumes: (() => void)[] = [];
  constructor(private readonly log: Logger) {}
  add(h: BusHandler): () => void {
    this.list.add(h);
    return () => this.list.delete(h);
  }
  onResume(fn: () => void): void {
    this.resumes.push(fn);
  }
  resumed(): void {
    for (const fn of this.resumes) {
      try {
        fn();
      } catch (err) {
        this.log.error({ err }, 'hub bus: catching up after a reconnection failed');
      }
    }
  }
  deliver(msg: BusMessage): void {
    for (const h of this.list) {
      try {
        h(msg);
      } catch (err) {
        this.log.error({ err, t: msg.t }, 'hub bus: a handler failed');
      }
    }
  }
}

export const BUS_CHANNEL = 'tillbridge_hub';

export interface BusOptions {
  /** First and largest wait before listening again after the connection was lost (default 100 ms, 5 s). */
  backoff?: { baseMs: number; capMs: number };
  channel?: string;
}

/**
 * The hub's bus on the storage's listen/notify (storage/notify.ts): on PostgreSQL a NOTIFY sent
 * inside the caller's transaction — so it leaves only if and when that transaction commits,
 * atomic with the change — heard by every hub process on the database; on SQLite, one process,
 * delivered in it after the commit. Messages are JSON on one channel.
 */
export class StorageBus implements HubBus {
  readonly processId = randomUUID();
  readonly shared: boolean;
  readonly ready: Promise<void>;
  private readonly handlers: Handlers;
  private readonly notifier: Notifier;
  private readonly listener: Listener;
  private readonly channel: string;

  constructor(
    private readonly storage: HubStorage,
    private readonly log: Logger,
    opts: BusOptions = {},
  ) {
    this.handlers = new Handlers(log);
    this.notifier = storage.notifier;
    this.shared = this.notifier.shared;
    this.channel = opts.channel ?? BUS_CHANNEL;
    this.listener = this.notifier.listen(this.channel, (payload) => this.hear(payload), {
      log,
      onResume: () => this.handlers.resumed(),
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
    });
    this.ready = this.listener.ready;
  }

  /** Whether the bus hears messages now (on PostgreSQL: its LISTEN connection is up). */
  get isListening(): boolean {
    return this.listener.listening;
  }

  publish(msg: BusMessage): void {
    const json = JSON.stringify(msg);
    const bytes = Buffer.byteLength(json);
    if (bytes > this.notifier.maxPayloadBytes)
      throw new Error(
        `hub bus: a "${msg.t}" message of ${bytes} bytes is over the ${this.notifier.maxPayloadBytes} a NOTIFY carries`,
      );
    if (this.storage.inTransaction()) {
      // leaves with the commit; a failure here fails the transaction, as any of its statements would
      this.notifier.notify(this.channel, json);
      return;
    }
    try {
      this.notifier.notify(this.channel, json);
    } catch (err) {
      // the change was committed before: it stands; the agents catch up (resume, digest, reconnect)
      this.log.error({ err, t: msg.t }, 'hub bus: could not publish a message');
    }
  }

  subscribe(handler: BusHandler): () => void {
    return this.handlers.add(handler);
  }

  onResume(fn: () => void): void {
    this.handlers.onResume(fn);
  }

  private hear(payload: string): void {
    if (!payload) return;
    let msg: BusMessage | null;
    try {
      msg = JSON.parse(payload) as BusMessage | null;
    } catch {
      this.log.warn({ bytes: payload.length }, 'hub bus: a message that is not JSON: ignored');
      return;
    }
    if (typeof msg?.t !== 'string') return;
    this.handlers.deliver(msg);
  }

  async close(): Promise<void> {
    await this.listener.close();
  }
}

/** The bus for this storage: across the processes on a PostgreSQL database, in-process on SQLite. */
export function openBus(storage: HubStorage, log: Logger, opts?: BusOptions): StorageBus {
  return new StorageBus(storage, log, opts);
}
