import type WebSocket from 'ws';
import type { RawData } from 'ws';
import type { ZodError } from 'zod';
import { auditOrigin } from '../domain/audit-log.js';
import {
  AgentFrame,
  AuthorizeRequestBody,
  CloseCodes,
  type HelloFrame,
  ReceiptLookupBody,
  OverrideBody,
  type TerminalStatus,
  describeZodError,
  fullJitterDelay,
  isTbError,
  TbError,
  TbCodes,
  WIRE_VERSION,
  WIRE_VERSION_MIN,
  MAX_AGENT_FRAME_BYTES,
  monotonicClock,
  type Clock,
  agentTooOldReason,
  inflateFrame,
  negotiateProtocol,
  settleOnce,
  type HubFrame,
  type ResendFrame,
  type Logger,
} from '@tillbridge/shared';
import { ForkedHistory, type BatchInput } from '../domain/event-applier.js';
import type { AgentUseCases, ReturnUseCases } from '../usecases/index.js';
import type { AgentInfo } from './presence.js';

export interface SessionDeps {
  /** What the agent's frames do at the hub: each change one unit of work (usecases/agents.ts). */
  agents: AgentUseCases;
  /** Its authorization requests, manager overrides and receipt lookups. */
  returns: Pick<ReturnUseCases, 'authorize' | 'override' | 'lookup'>;
  log: Logger;
  now: () => number;
  /** Elapsed time, for an online decision's latency (default monotonicClock; never a time of day). */
  elapsed?: Clock;
}

/** Which connection of the agent a hello came on: the run of the agent and the attempt in it (when it says). */
export interface ConnectionAttempt {
  run?: string;
  attempt?: number;
}

/** What the endpoint decided on a hello. */
export type ClaimOutcome =
  /** the connection is now the store's */
  | { kind: 'accepted' }
  /** another copy of the agent's database answers on its connection: this one is refused (DESIGN rule 9) */
  | { kind: 'duplicate'; live: { peer: string } }
  /** the hub accepted a later attempt of the same run of the agent: the agent gave this one up */
  | { kind: 'superseded' }
  /** the connection closed while its hello waited: nothing was done for it */
  | { kind: 'abandoned' };

/** What the endpoint gives each connection: where it comes from, and the claim its hello makes. */
export interface SessionLink {
  /** the remote address and port */
  peer: string;
  /** May this connection speak for the agent its hello named (`session.claimed`)? */
  claim: (session: AgentSession) => Promise<ClaimOutcome>;
}

interface Parked {
  rid: number;
  after: number;
  run: () => void;
  timer: NodeJS.Timeout;
}

/** How long an authorization waits for the agent's earlier events to arrive before it is dropped. */
const PARK_MS = 10_000;

/**
 * One store agent's connection: hello (the agent, its database's incarnation and newest seq) →
 * welcome and the inventory snapshot — or, for a database behind what the hub applied, close
 * 4011 (start a new incarnation), and for a second live copy of the agent, close 4010; event
 * batches → queued and committed with other agents' (ingest-queue.ts) → ack(upTo), nack on a
 * transient failure, close 4011 on a forked history; authorization requests answered once the
 * agent's earlier events are applied.
 */
export class AgentSession {
  private agentId: string | undefined;
  private incarnation = '';
  /** the agent this connection's hello speaks for (set before the hub has accepted it) */
  private claimedAgent: string | undefined;
  /** The protocol version this connection uses, chosen at its hello (docs/upgrade.md). */
  private protocol: number | undefined;
  private claimedAttempt: ConnectionAttempt = {};
  private inventoryN = 0;
  /** SKU → the number of the last inventory frame that carried it, on this connection */
  private readonly pushedIn = new Map<string, number>();
  private cursor = 0;
  private parked: Parked[] = [];
  private failures = 0;
  private expiryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Resolves when the socket has closed. */
  readonly ended: Promise<void>;
  private readonly elapsed: Clock;

  constructor(
    readonly store: string,
    /** the API key the connection's token was issued against (it dies with it) */
    public keyId: string,
    private readonly ws: WebSocket,
    tokenExpiresAt: number,
    private readonly deps: SessionDeps,
    private readonly link: SessionLink,
  ) {
    this.elapsed = deps.elapsed ?? monotonicClock;
    this.ended = new Promise((resolve) => ws.once('close', () => resolve()));
    this.armExpiry(tokenExpiresAt);
    ws.on('message', (data, isBinary) => {
      let text: string;
      try {
        // a binary frame is a compressed one (protocol 4 on), sent once the agent has its welcome
        text = isBinary
          ? inflateFrame(bufferOf(data), this.agentId ? this.protocol : undefined, MAX_AGENT_FRAME_BYTES)
          : bufferOf(data).toString('utf8');
      } catch (err) {
        this.protocolError((err as Error).message);
        return;
      }
      // audit entries written for this agent's frames say so (origin agent:ID, or the store before hello)
      auditOrigin.run(this.agentId ? `agent:${this.agentId}` : `store:${this.store}`, () => this.onMessage(text));
    });
  }

  get agent(): string | undefined {
    return this.agentId;
  }

  /** The agent this connection said hello for, accepted or not yet. */
  get claimed(): string | undefined {
    return this.claimedAgent;
  }

  /** Which of the agent's connections this is, as its hello said. */
  get attempt(): ConnectionAttempt {
    return this.claimedAttempt;
  }

  send(frame: HubFrame): void {
    if (!this.closed && this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /** Neither closed nor closing. */
  get open(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  get peer(): string {
    return this.link.peer;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.dispose();
    this.ws.close(code, reason);
  }

  /** Drops a connection that stopped answering. */
  terminate(): void {
    this.closed = true;
    this.dispose();
    this.ws.terminate();
  }

  /**
   * Whether the other end still answers: a pong (or any frame) within `ms`. A live agent's
   * WebSocket answers pings by itself; a socket whose agent is gone does not. When the time is
   * up, what has arrived meanwhile is read first: a hub too busy to read the pong in time does
   * not take a live connection for a dead one.
   */
  probe(ms: number): Promise<boolean> {
    if (!this.open) return Promise.resolve(false);
    const ws = this.ws;
    return settleOnce<boolean>((resolve) => {
      const yes = (): void => resolve(true);
      const no = (): void => resolve(false);
      // timers run before the poll for I/O: the verdict waits for that poll (setImmediate runs after it)
      const timer = setTimeout(() => setImmediate(no), ms);
      ws.on('pong', yes);
      ws.on('message', yes);
      ws.on('close', no);
      ws.ping();
      return () => {
        clearTimeout(timer);
        ws.off('pong', yes);
        ws.off('message', yes);
        ws.off('close', no);
      };
    });
  }

  dispose(): void {
    this.closed = true;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const p of this.parked) clearTimeout(p.timer);
    this.parked = [];
  }

  pushInventory(skus: string[]): void {
    if (!this.agentId) return;
    this.sendInventory(false, this.deps.agents.onHand(this.store, skus));
  }

  /** Numbers each inventory frame of this connection and remembers which SKUs each carried. */
  private sendInventory(full: boolean, items: { sku: string; onHand: number }[], removed?: string[]): void {
    const n = ++this.inventoryN;
    for (const i of items) this.pushedIn.set(i.sku, n);
    for (const sku of removed ?? []) this.pushedIn.set(sku, n);
    this.send(
      removed && removed.length > 0 ? { t: 'inventory', full, items, removed, n } : { t: 'inventory', full, items, n },
    );
  }

  /** The store's effective returns policy (on connect, and whenever the operator changes it). */
  pushPolicy(): void {
    if (!this.agentId) return;
    const { version, policy } = this.deps.agents.policy(this.store);
    this.send({ t: 'policy', version, policy });
  }

  /** The store's sync settings (on connect, and whenever an operator changes them). */
  pushConfig(): void {
    if (!this.agentId) return;
    const { version, settings } = this.deps.agents.settings(this.store);
    this.send({ t: 'config', version, settings });
  }

  private onDigest(items: { sku: string; h: string }[], upTo: number | undefined): void {
    // SKUs pushed after the frame the agent had applied are on their way: neither counted nor re-sent
    const inFlight = new Set<string>();
    if (upTo !== undefined) for (const [sku, n] of this.pushedIn) if (n > upTo) inFlight.add(sku);
    // the accuracy report is kept by the hub (metrics and status read it from there)
    const { corrections } = this.deps.agents.compareInventory(this.store, items, inFlight);
    if (corrections.items.length > 0 || corrections.removed.length > 0) {
      this.deps.log.info(
        { store: this.store, differing: corrections.items.length, extra: corrections.removed.length },
        'inventory copy differs; re-sending',
      );
      this.sendInventory(false, corrections.items, corrections.removed);
    }
  }

  private armExpiry(expiresAt: number): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const ms = Math.max(0, expiresAt - this.deps.now());
    this.expiryTimer = setTimeout(
      () => this.close(CloseCodes.TOKEN_EXPIRED, 'access token expired'),
      Math.min(ms, 2 ** 31 - 1),
    );
  }

  private protocolError(message: string): void {
    this.deps.log.warn({ store: this.store }, `protocol error: ${message}`);
    this.close(CloseCodes.PROTOCOL, message.slice(0, 120));
  }

  /** No protocol version both speak: the side to upgrade is named in the close reason (for store IT). */
  private refuseProtocol(
    agent: { min: number; max: number },
    agentTooOld: boolean,
    software: string | undefined,
  ): void {
    const reason = agentTooOld
      ? agentTooOldReason(WIRE_VERSION_MIN)
      : `this agent needs a newer tillbridge-hub (agent protocol >= ${agent.min}, hub <= ${WIRE_VERSION}): ` +
        `upgrade the hub (docs/upgrade.md)`;
    this.deps.log.warn(
      { store: this.store, agentProtocol: agent, hubProtocol: { min: WIRE_VERSION_MIN, max: WIRE_VERSION }, software },
      `agent refused: no protocol version in common (${agentTooOld ? 'agent too old' : 'hub too old'})`,
    );
    this.close(CloseCodes.PROTOCOL_VERSION, reason);
  }

  private onMessage(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.protocolError('frame is not JSON');
      return;
    }
    const hello = raw as { t?: unknown; v?: unknown; min?: unknown; software?: unknown } | null;
    if (hello?.t === 'hello' && this.protocol === undefined) {
      // the protocol first (docs/upgrade.md): a hello of a version this hub does not speak may not parse
      if (typeof hello.v !== 'number' || !Number.isInteger(hello.v)) {
        this.protocolError('hello: "v" must be the protocol version, a whole number');
        return;
      }
      const agentRange = { min: typeof hello.min === 'number' ? hello.min : hello.v, max: hello.v };
      const chosen = negotiateProtocol({ min: WIRE_VERSION_MIN, max: WIRE_VERSION }, agentRange);
      if (!('version' in chosen)) {
        this.refuseProtocol(
          agentRange,
          chosen.agentTooOld,
          typeof hello.software === 'string' ? hello.software : undefined,
        );
        return;
      }
      this.protocol = chosen.version;
    }
    const parsed = AgentFrame.safeParse(raw, { reportInput: true });
    if (!parsed.success) {
      this.protocolError(describeZodError(parsed.error).join('; '));
      return;
    }
    const frame = parsed.data;
    // a hello counts once the hub accepts it (presence.connected): one it refuses, or one the agent gave up, leaves no
    // trace
    if (frame.t === 'hello') {
      this.onHello(frame);
      return;
    }
    this.deps.agents.frame(this.store);
    if (!this.agentId) {
      this.protocolError(`"${frame.t}" before "welcome"`);
      return;
    }
    switch (frame.t) {
      case 'events': {
        this.onEvents(frame.items);
        return;
      }
      case 'req':
        if (frame.op === 'authorize') {
          this.onAuthorize(frame.rid, frame.body);
          return;
        }
        if (frame.op === 'override') {
          this.onOverride(frame.rid, frame.body);
          return;
        }
        {
          this.onLookup(frame.rid, frame.body);
          return;
        }
      case 'terminal': {
        this.onTerminal(frame.items);
        return;
      }
      case 'token':
        return void this.onToken(frame.token);
      case 'key.ack': {
        this.onKeyAck(frame.id);
        return;
      }
      case 'inventory.digest': {
        this.onDigest(frame.items, frame.upTo);
        return;
      }
      case 'heartbeat': {
        // nothing of it is owed durability: held in memory, or a deferred write (no fsync)
        this.deps.agents.heartbeat(this.store, this.agentId, frame);
        return;
      }
    }
  }

  private async onToken(token: string): Promise<void> {
    try {
      const t = await this.deps.agents.refreshToken(this.store, token);
      if (t.kind === 'other-store') {
        this.close(CloseCodes.UNAUTHORIZED, 'token for another store');
        return;
      }
      if (t.kind === 'key-dead') {
        this.close(CloseCodes.UNAUTHORIZED, "the token's API key no longer works");
        return;
      }
      this.keyId = t.kid;
      this.armExpiry(t.expiresAt);
    } catch {
      this.close(CloseCodes.UNAUTHORIZED, 'invalid token');
    }
  }

  /** A rotated-in key waiting for this store: sent over this authenticated connection. */
  pushPendingKey(): void {
    if (!this.agentId) return;
    const k = this.deps.agents.takePendingKey(this.store);
    if (!k) return;
    this.send({ t: 'key', id: k.id, apiKey: k.secret });
  }

  /** The hub lacks transactions of a register day (docs/reconciliation.md): the agent is asked to send them again. */
  pushResend(frame: ResendFrame): void {
    if (!this.agentId) return; // not welcomed yet: the welcome sends what is pending
    this.send(frame);
  }

  /** Every resend the store's agent still owes (after the welcome, and when the hub's bus was cut off). */
  pushPendingResends(): void {
    if (!this.agentId) return;
    try {
      for (const r of this.deps.agents.pendingResends(this.store))
        this.send({ t: 'resend', register: r.register, businessDay: r.businessDay, missing: r.missing });
    } catch (err) {
      this.deps.log.warn(
        { store: this.store, err },
        'could not read the resends the agent owes (asked again on its next connection)',
      );
    }
  }

  private onKeyAck(id: string): void {
    // owed: the confirmation and its audit entry, committed together (one synced commit)
    const confirmed = this.deps.agents.confirmKey(this.store, id);
    if (confirmed) this.deps.log.info({ store: this.store, key: id }, 'the agent stored its new API key');
  }

  private onHello(hello: HelloFrame): void {
    if (this.claimedAgent !== undefined) {
      this.protocolError('a second hello');
      return;
    }
    const agentId = hello.agent;
    this.claimedAgent = agentId;
    const cursorStore = this.deps.agents.otherStoreOf(this.store, agentId); // refused, audited
    if (cursorStore !== undefined) {
      this.deps.log.warn(
        { store: this.store, agentId, cursorStore },
        "an agent of another store presented this store's token",
      );
      this.close(CloseCodes.UNAUTHORIZED, 'this agent belongs to another store');
      return;
    }
    const failed = (err: unknown): void => {
      this.deps.log.error({ store: this.store, agentId, err }, 'could not accept the agent');
      this.close(CloseCodes.GOING_AWAY, 'the hub could not accept this connection; retry');
    };
    if (hello.run !== undefined) this.claimedAttempt.run = hello.run;
    if (hello.attempt !== undefined) this.claimedAttempt.attempt = hello.attempt;
    this.link.claim(this).then((outcome) => {
      // the agent gave this connection up while the hub decided: nothing is done for it
      if (!this.open) return;
      try {
        if (outcome.kind === 'accepted') this.start(hello);
        else if (outcome.kind === 'duplicate') this.refuseCopy(hello, outcome.live);
        else if (outcome.kind === 'superseded')
          this.close(CloseCodes.REPLACED, 'replaced by a newer connection of this agent');
      } catch (err) {
        failed(err); // storage busy, say: the agent reconnects
      }
    }, failed);
  }

  /** A second live copy of the agent (DESIGN rule 9): refused, loudly. */
  private refuseCopy(hello: HelloFrame, live: { peer: string }): void {
    this.refuseCopyOf({ store: this.store, agentId: hello.agent, incarnation: hello.incarnation }, live);
  }

  /**
   * Refused after all, once accepted: another hub process found a live copy of this agent on the
   * connection it holds (it answered after this process had accepted this one).
   */
  refuseAsCopy(livePeer: string): void {
    if (!this.agentId) {
      this.close(
        CloseCodes.DUPLICATE_AGENT,
        'another copy of this agent (same database) is connected to the hub: this one is refused',
      );
      return;
    }
    this.refuseCopyOf({ store: this.store, agentId: this.agentId, incarnation: this.incarnation }, { peer: livePeer });
  }

  private refuseCopyOf(copy: { store: string; agentId: string; incarnation: string }, live: { peer: string }): void {
    try {
      this.deps.agents.recordDuplicate(copy, { live: live.peer, refused: this.peer });
    } catch (err) {
      this.deps.log.error({ store: this.store, err }, 'could not record the refused copy');
    }
    this.deps.log.warn(
      { ...copy, live: live.peer, refused: this.peer },
      'a second live copy of an agent connected: refused',
    );
    this.close(
      CloseCodes.DUPLICATE_AGENT,
      'another copy of this agent (same database) is connected to the hub: this one is refused',
    );
  }

  /** The connection is the agent's: welcome it — unless its database is behind its incarnation at the hub. */
  private start(hello: HelloFrame): void {
    const { agent: agentId, incarnation, newest } = hello;
    // the agent belongs to this store from now on — unless its database is behind its incarnation
    const startedAt = hello.startedAt === undefined ? NaN : Date.parse(hello.startedAt);
    const info: AgentInfo = {
      protocol: this.protocol ?? WIRE_VERSION_MIN,
      ...(hello.software !== undefined ? { software: hello.software } : {}),
      ...(hello.os ? { os: hello.os } : {}),
      ...(Number.isFinite(startedAt) ? { startedAt } : {}),
    };
    const c = this.deps.agents.connect(this.store, agentId, incarnation, newest, info);
    if (c.kind === 'behind') {
      // restored from a backup, or a snapshot reverted: its seqs would repeat ones the hub applied (recorded)
      this.deps.log.warn(
        { store: this.store, agentId, incarnation, newest, applied: c.applied },
        "an agent's database is behind what the hub applied (restored or reverted): it starts a new incarnation",
      );
      this.close(
        CloseCodes.NEW_INCARNATION,
        `behind: newest seq ${newest}, the hub applied up to ${c.applied}; start a new incarnation`,
      );
      return;
    }
    this.agentId = agentId;
    this.incarnation = incarnation;
    this.cursor = c.lastSeq;
    this.send({
      t: 'welcome',
      v: this.protocol ?? WIRE_VERSION_MIN,
      store: this.store,
      lastSeq: this.cursor,
      serverTime: new Date(this.deps.now()).toISOString(),
      cardKey: this.deps.agents.cardKey.toString('base64url'),
    });
    this.pushPolicy();
    this.pushConfig();
    this.sendInventory(true, this.deps.agents.inventory(this.store));
    this.pushPendingKey();
    this.pushPendingResends();
    this.deps.log.info(
      {
        store: this.store,
        agentId,
        incarnation,
        lastSeq: this.cursor,
        protocol: info.protocol,
        software: info.software,
      },
      'agent connected',
    );
  }

  /** The agent the hello named: events and their outcomes come only after it. */
  private helloAgent(): string {
    if (this.agentId === undefined) throw new TbError(TbCodes.INTERNAL, 'events before the hello');
    return this.agentId;
  }

  private onEvents(items: BatchInput['items']): void {
    // queued with other agents' batches, one commit for them all: acked or nacked once it returned
    this.deps.agents.applyBatch(
      { store: this.store, agentId: this.helloAgent(), incarnation: this.incarnation, items },
      (o) => {
        if (o.ok) {
          this.cursor = Math.max(this.cursor, o.result.upTo);
          this.failures = 0;
          this.send({ t: 'ack', upTo: o.result.upTo, results: o.result.results });
          this.drainParked();
          return;
        }
        const err = o.error;
        if (err instanceof ForkedHistory) {
          this.onForked(err);
          return;
        }
        const first = Math.min(...items.map((i) => i.seq));
        const retryAfterMs = fullJitterDelay(this.failures++, { baseMs: 200, capMs: 30_000 });
        this.deps.log.error({ store: this.store, seq: first, err }, 'could not apply events; the agent will retry');
        this.send({ t: 'nack', seq: first, code: TbCodes.STORAGE_BUSY, retryAfterMs });
      },
    );
  }

  /**
   * Another history under this incarnation: nothing of the batch was applied; the agent starts a new incarnation and
   * sends it all again.
   */
  private onForked(f: ForkedHistory): void {
    const copy = { store: this.store, agentId: this.helloAgent(), incarnation: this.incarnation };
    try {
      this.deps.agents.recordForked(copy, { seq: f.seq, eventId: f.eventId, applied: f.applied });
    } catch (err) {
      this.deps.log.error({ store: this.store, err }, 'could not record the forked history');
    }
    this.deps.log.warn(
      { ...copy, seq: f.seq, event: f.eventId, applied: f.applied },
      "an agent's database forked from what the hub applied: it starts a new incarnation",
    );
    this.close(CloseCodes.NEW_INCARNATION, `forked at seq ${f.seq}: start a new incarnation`);
  }

  /** Runs `run` now, or once this agent's events up to `after` are applied (the sale may be among them). */
  private whenApplied(rid: number, after: number, run: () => void): void {
    if (after <= this.cursor) {
      run();
      return;
    }
    const timer = setTimeout(() => {
      this.parked = this.parked.filter((p) => p.rid !== rid);
    }, PARK_MS);
    this.parked.push({ rid, after, run, timer });
  }

  private onAuthorize(rid: number, rawBody: unknown): void {
    const parsed = AuthorizeRequestBody.safeParse(rawBody, { reportInput: true });
    if (!parsed.success) {
      this.refuseInvalid(rid, parsed.error);
      return;
    }
    const arrived = this.elapsed.now(); // the decision's latency counts from here (a wait for earlier events included)
    this.whenApplied(rid, parsed.data.after, () => this.authorize(rid, parsed.data, arrived));
  }

  private onOverride(rid: number, rawBody: unknown): void {
    const parsed = OverrideBody.safeParse(rawBody);
    if (!parsed.success) {
      this.refuseInvalid(rid, parsed.error);
      return;
    }
    try {
      this.send({ t: 'res', rid, ok: true, body: this.deps.returns.override(this.store, parsed.data) });
    } catch (err) {
      if (!isTbError(err)) this.deps.log.error({ store: this.store, err }, 'override failed');
      this.answerFailure(rid, err);
    }
  }

  private onLookup(rid: number, rawBody: unknown): void {
    const parsed = ReceiptLookupBody.safeParse(rawBody, { reportInput: true });
    if (!parsed.success) {
      this.refuseInvalid(rid, parsed.error);
      return;
    }
    this.whenApplied(rid, parsed.data.after, () =>
      this.send({ t: 'res', rid, ok: true, body: this.deps.returns.lookup(this.store, parsed.data) }),
    );
  }

  /** The registers' states: recorded, and announced by the `terminal.status` webhook when one changes. */
  private onTerminal(items: TerminalStatus[]): void {
    this.deps.agents.reportTerminals(this.store, items);
  }

  private authorize(rid: number, body: AuthorizeRequestBody, arrived: number): void {
    try {
      const result = this.deps.returns.authorize(this.store, body, () => this.elapsed.now() - arrived);
      this.send({ t: 'res', rid, ok: true, body: result });
    } catch (err) {
      this.deps.log.error({ store: this.store, err }, 'authorization failed');
      this.answerFailure(rid, err);
    }
  }

  /** Answers request `rid` whose body `schema` refused: TB_INVALID, naming what is wrong in it. */
  private refuseInvalid(rid: number, error: ZodError): void {
    const message = describeZodError(error, 'body').join('; ');
    this.send({ t: 'res', rid, ok: false, code: TbCodes.INVALID, message });
  }

  /** Answers request `rid` that threw `err`: a TbError's code and message, anything else as internal. */
  private answerFailure(rid: number, err: unknown): void {
    const code = isTbError(err) ? err.code : TbCodes.INTERNAL;
    this.send({ t: 'res', rid, ok: false, code, message: isTbError(err) ? err.message : 'internal error' });
  }

  private drainParked(): void {
    if (this.parked.length === 0) return;
    const ready = this.parked.filter((p) => p.after <= this.cursor);
    this.parked = this.parked.filter((p) => p.after > this.cursor);
    for (const p of ready) {
      clearTimeout(p.timer);
      p.run();
    }
  }
}

/** A text frame's bytes as a string (ws hands a Buffer, or fragments, or an ArrayBuffer). */
function bufferOf(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}
