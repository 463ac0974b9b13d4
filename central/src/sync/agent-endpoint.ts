import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  MAX_AGENT_FRAME_BYTES,
  AGENT_WS_PATH,
  CloseCodes,
  isTbError,
  refuseOnSocket,
  requestTargetUrl,
  TbCodes,
  TbError,
  socketGone,
  type Logger,
} from '@tillbridge/shared';
import { retryAfterSec, sourceOf, type Gate } from '../auth/gate.js';
import type { KeyDelivery } from '../domain/key-rotation.js';
import type { RemoteVerdict } from '../cluster/bus.js';
import { clientCertOf } from '../tls/server-tls.js';
import { AgentSession, type ClaimOutcome, type ConnectionAttempt, type SessionDeps } from './agent-session.js';

const PING_MS = 15_000;
/** How long an agent's open connection has to answer a ping when the same agent says hello on another. */
export const DEFAULT_PROBE_MS = 5_000;

/** Where the hub noticed that an agent had given up its handshake. */
export type HandshakeStep = 'upgrade' | 'hello' | 'probe';

/**
 * Seams in an agent's handshake, for tests: `upgrade` is awaited once the access token is
 * verified and `hello` before a hello joins its store's queue, so that a test can hold one
 * connection there while another goes live; `gaveUp` hears each handshake dropped because its
 * agent had given it up (nothing else was done for it).
 */
export interface HandshakeHooks {
  upgrade?(store: string): Promise<void> | void;
  hello?(store: string, agent: string): Promise<void> | void;
  /** `store` is undefined when the client left before its token was verified. */
  gaveUp?(store: string | undefined, step: HandshakeStep): void;
}

/**
 * The other hub processes on the same database (cluster/session-claims.ts): a hello this process
 * is about to accept is first put to whichever of them holds a connection of the store.
 */
export interface RemoteSessions {
  claim(session: AgentSession): Promise<RemoteVerdict>;
}

/** A hello said at another hub process, put to this one (it may hold an older connection of the store). */
export interface RemoteClaim {
  store: string;
  agent: string;
  run?: string | undefined;
  attempt?: number | undefined;
}

export interface AgentEndpointOptions {
  /**
   * How long an agent's open connection has to answer a ping when the same agent says hello on another (default 5 s).
   */
  probeMs?: number;
  hooks?: HandshakeHooks;
  /** Many hub processes on one database: hellos are put to the other processes too. */
  remote?: RemoteSessions;
}

/** Refuses an upgrade that failed to authenticate: counted against its source, 401 or (blocked) 429. */
type Refuse = (reason: string, store?: string) => void;

export interface EndpointSecurity {
  gate: Pick<Gate, 'failed' | 'refused'>;
  /** Agents must present a valid client certificate (mutual TLS). */
  requireClientCert: boolean;
}

/**
 * The agents' WebSocket endpoint: one connection per store, authenticated by a bearer access
 * token at the upgrade, and claimed for an agent by its hello. A connection of another agent of
 * the store is replaced by the newer one. A connection of the same agent is either that agent
 * reconnecting before the hub saw its old socket close — the old one does not answer a ping and
 * is dropped — or a second live copy of its database (two PCs from one disk image), which is
 * refused: close 4010, audited, kept as an exception (DESIGN rule 9).
 *
 * The connection the agent uses wins. A handshake whose socket goes while the hub works on it
 * (the agent gave up and dialled again) is dropped at that step — the token check, the wait for
 * its turn, the probe — as soon as the hub sees it go: it replaces nothing and shows up in neither
 * presence nor audit. A hello of an earlier attempt of the same run of the agent than one it said
 * hello on since is refused quietly (4009), never probed against the newer connection.
 */
export class AgentEndpoint implements KeyDelivery {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_FRAME_BYTES });
  /** per store: the connection that said hello and was accepted */
  private readonly sessions = new Map<string, AgentSession>();
  /** per store: the claim being decided (claims of one store are decided one after the other) */
  private readonly claims = new Map<string, Promise<unknown>>();
  /** per store: the agent, run and highest attempt said in a hello (the connection the agent uses) */
  private readonly newest = new Map<string, { agent: string } & ConnectionAttempt>();
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly pinger: NodeJS.Timeout;
  private readonly probeMs: number;
  private readonly hooks: HandshakeHooks;
  private readonly remote: RemoteSessions | undefined;

  constructor(
    private readonly deps: SessionDeps,
    private readonly log: Logger,
    private readonly security: EndpointSecurity,
    opts: AgentEndpointOptions = {},
  ) {
    this.probeMs = opts.probeMs ?? DEFAULT_PROBE_MS;
    this.hooks = opts.hooks ?? {};
    this.remote = opts.remote;
    this.pinger = setInterval(() => {
      for (const ws of this.wss.clients) {
        if (this.alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        this.alive.set(ws, false);
        ws.ping();
      }
    }, PING_MS);
    this.pinger.unref();
  }

  session(store: string): AgentSession | undefined {
    return this.sessions.get(store);
  }

  /** Sends the current sync settings to one store's agent, or (store undefined) to every connected agent. */
  pushConfig(store?: string): void {
    if (store !== undefined) this.sessions.get(store)?.pushConfig();
    else for (const s of this.sessions.values()) s.pushConfig();
  }

  /** Sends the current policy to one store's agent, or (store undefined) to every connected agent. */
  pushPolicy(store?: string): void {
    if (store !== undefined) this.sessions.get(store)?.pushPolicy();
    else for (const s of this.sessions.values()) s.pushPolicy();
  }

  deliver(store: string): void {
    this.sessions.get(store)?.pushPendingKey();
  }

  dropKey(store: string, keyId: string): void {
    const s = this.sessions.get(store);
    if (s?.keyId === keyId) s.close(CloseCodes.UNAUTHORIZED, 'the API key of this connection was revoked');
  }

  /**
   * Closes each connection whose API key no longer works: revoked or ended where this process did not hear of it (the
   * hub's bus was cut off meanwhile).
   */
  dropDeadKeys(): void {
    for (const s of this.sessions.values())
      if (!this.deps.agents.acceptsKey(s.store, s.keyId))
        s.close(CloseCodes.UNAUTHORIZED, 'the API key of this connection no longer works');
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      this.handleUpgradeNow(req, socket, head);
    } catch (err) {
      // the gate reads and writes the database: while it cannot be reached, 503 — the agent tries
      // again, here or at another hub
      this.logRefusal(err);
      refuseOnSocket(socket, 503);
    }
  }

  private handleUpgradeNow(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = requestTargetUrl(req.url);
    if (url === undefined) {
      refuseOnSocket(socket, 400); // was a TypeError from `new URL`, caught as storage trouble: 503
      return;
    }
    if (url.pathname !== AGENT_WS_PATH) {
      refuseOnSocket(socket, 404);
      return;
    }
    const source = sourceOf(req);
    const { gate } = this.security;
    // a failed authentication counts against its source; once the source is blocked its failing
    // upgrades are answered 429 — a working token is served whatever else its address sent
    const refuse: Refuse = (reason, store) => {
      const wait = gate.failed(source, 'agent connection', { reason }, store);
      if (wait > 0) refuseOnSocket(socket, 429, { headers: { 'Retry-After': String(retryAfterSec(wait)) } });
      else refuseOnSocket(socket, 401);
    };
    const cert = clientCertOf(req);
    if (this.security.requireClientCert && cert.kind !== 'valid') {
      refuse(cert.kind === 'invalid' ? `client certificate: ${cert.reason}` : 'no client certificate');
      return;
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined) {
      refuse('no access token');
      return;
    }
    this.upgrade(req, socket, head, token, source, cert, refuse).catch((err: unknown) => {
      this.logRefusal(err);
      if (isTbError(err, TbCodes.STORAGE_BUSY)) refuseOnSocket(socket, 503);
      else socket.destroy();
    });
  }

  private logRefusal(err: unknown): void {
    if (isTbError(err, TbCodes.STORAGE_BUSY)) {
      this.log.warn({ err }, 'agent connection refused: the database cannot be reached');
    } else this.log.error({ err }, 'could not accept an agent connection');
  }

  /** The token is checked, then the upgrade completed — unless the agent gave up meanwhile. */
  private async upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    token: string,
    source: string,
    cert: ReturnType<typeof clientCertOf>,
    refuse: Refuse,
  ): Promise<void> {
    const left = whenLeft(socket);
    const verifying = this.deps.agents.verifyToken(token);
    let store: string | undefined; // once the token is verified
    let checked: { token: Awaited<typeof verifying> } | { err: unknown } | 'gone';
    try {
      const ready = verifying.then(async (t) => {
        store = t.store;
        await this.hooks.upgrade?.(t.store);
        return t;
      });
      checked = await Promise.race([
        ready.then(
          (t) => ({ token: t }),
          (err: unknown) => ({ err }),
        ),
        left.gone,
      ]);
    } finally {
      left.stop();
    }
    // an expired token is an agent that must refresh, not an attacker
    const refused = (err: unknown): void => {
      if (isTbError(err) && err.details?.expired) refuseOnSocket(socket, 401);
      else refuse('invalid access token');
    };
    if (checked === 'gone' || socketGone(socket)) {
      verifying.catch(refused); // a token that does not verify counts against its source all the same
      return void this.gaveUp(store, 'upgrade', socket);
    }
    if ('err' in checked) {
      refused(checked.err);
      return;
    }
    this.verified(req, socket, head, checked.token, source, cert, refuse);
  }

  /** A good token: its key must still work and, under mutual TLS, the certificate be its store's. */
  private verified(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    token: Awaited<ReturnType<SessionDeps['agents']['verifyToken']>>,
    source: string,
    cert: ReturnType<typeof clientCertOf>,
    refuse: Refuse,
  ): void {
    const { gate } = this.security;
    const { store, kid, expiresAt } = token;
    if (!this.deps.agents.acceptsKey(store, kid)) {
      refuse("the token's API key no longer works", store);
      return;
    }
    if (cert.kind === 'valid' && cert.store !== store) {
      gate.refused(
        source,
        'auth.cert_mismatch',
        'agent connection',
        { certificateStore: cert.store, tokenStore: store },
        store,
      );
      refuseOnSocket(socket, 403);
      return;
    }
    const peer = `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? 0}`;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, store, kid, expiresAt, peer));
  }

  /** The agent gave this handshake up (closed, reset or timed out): it is dropped, and nothing else is done. */
  private gaveUp(store: string | undefined, step: HandshakeStep, socket?: Duplex): ClaimOutcome {
    socket?.destroy();
    this.log.info({ store, step }, 'the agent gave up this connection before the hub accepted it; dropped');
    this.hooks.gaveUp?.(store, step);
    return { kind: 'abandoned' };
  }

  private accept(ws: WebSocket, store: string, kid: string, expiresAt: number, peer: string): void {
    const session = new AgentSession(store, kid, ws, expiresAt, this.deps, { peer, claim: (s) => this.claim(s) });
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('error', (err) => this.log.warn({ store, err }, 'agent socket error'));
    ws.on('close', () => {
      session.dispose();
      if (this.sessions.get(store) === session) {
        this.sessions.delete(store);
        this.deps.agents.disconnected(store);
        this.log.info({ store }, 'agent disconnected');
      }
    });
  }

  /**
   * A connection's hello: may it speak for the agent it names? Claims of one store are decided
   * one after the other, in the order their hellos arrived.
   */
  private claim(session: AgentSession): Promise<ClaimOutcome> {
    this.noteAttempt(session);
    const held = this.hooks.hello?.(session.store, claimedBy(session));
    if (held) return Promise.race([held, session.ended]).then(() => this.queue(session));
    return this.queue(session);
  }

  /**
   * An agent says hello on attempt n+1 only once it gave attempt n up: the highest attempt said
   * is the connection it uses, whichever hello the hub decides first.
   */
  private noteAttempt(session: AgentSession): void {
    const agent = claimedBy(session);
    const { run, attempt } = session.attempt;
    if (run === undefined || attempt === undefined) return;
    const newest = this.newest.get(session.store);
    if (newest?.agent === agent && newest.run === run && (newest.attempt ?? 0) >= attempt) return;
    this.newest.set(session.store, { agent, run, attempt });
  }

  private queue(session: AgentSession): Promise<ClaimOutcome> {
    const before = this.claims.get(session.store) ?? Promise.resolve();
    // a connection that closes while it waits is dropped then, not at its turn
    const decided = Promise.race([before, session.ended]).then(() => this.decide(session));
    // the next claim waits for this one and for every one before it
    const settled = Promise.all([before, decided.catch(() => undefined)]);
    this.claims.set(session.store, settled);
    void settled.then(() => {
      if (this.claims.get(session.store) === settled) this.claims.delete(session.store);
    });
    return decided;
  }

  private async decide(session: AgentSession): Promise<ClaimOutcome> {
    const { store } = session;
    const agent = claimedBy(session);
    // the agent gave this connection up while its hello waited its turn
    if (!session.open) return this.gaveUp(store, 'hello');
    if (this.superseded(session)) return { kind: 'superseded' };
    const prior = this.sessions.get(store);
    if (prior && prior !== session && prior.open) {
      if (prior.claimed === agent) {
        const answers = await Promise.race([prior.probe(this.probeMs), session.ended.then(() => false)]);
        // given up during the probe: the connection the hub holds is left as it is
        if (!stillOpen(session)) return this.gaveUp(store, 'probe');
        if (!answers) {
          this.log.info(
            { store, agentId: agent },
            'the agent reconnected; its old connection did not answer and is dropped',
          );
          prior.terminate();
        }
        // the agent said hello on a later attempt while the old connection was probed
        if (this.superseded(session)) return { kind: 'superseded' };
        if (answers) return { kind: 'duplicate', live: prior };
      } else {
        prior.close(CloseCodes.REPLACED, 'replaced by a newer connection from this store');
      }
    }
    if (this.remote) {
      // another hub process may hold an older connection of the store: it gives it up, or says why not
      const verdict = await Promise.race([this.remote.claim(session), session.ended.then(() => 'gone' as const)]);
      if (verdict === 'gone' || !stillOpen(session)) return this.gaveUp(store, 'probe');
      if (this.superseded(session) || verdict.kind === 'superseded') return { kind: 'superseded' };
      if (verdict.kind === 'duplicate') return { kind: 'duplicate', live: { peer: verdict.live } };
    }
    this.sessions.set(store, session);
    return { kind: 'accepted' };
  }

  /**
   * A hello said at another hub process: the connection of the store held here, if any, is
   * given up the way a newer local connection would have it — another agent's is replaced (4009),
   * an earlier attempt of the same run is closed, and one of the same agent otherwise is probed:
   * answering, it is a live copy and the claim is refused (`duplicate`); silent, it is dropped.
   * Undefined when nothing of the store is held here.
   */
  async yieldTo(c: RemoteClaim): Promise<RemoteVerdict | undefined> {
    const attempt: ConnectionAttempt = {};
    if (c.run !== undefined) attempt.run = c.run;
    if (c.attempt !== undefined) attempt.attempt = c.attempt;
    const newest = this.newest.get(c.store);
    if (
      attempt.run !== undefined &&
      attempt.attempt !== undefined &&
      !(newest?.agent === c.agent && newest.run === attempt.run && (newest.attempt ?? 0) >= attempt.attempt)
    ) {
      this.newest.set(c.store, { agent: c.agent, run: attempt.run, attempt: attempt.attempt });
    }
    const held = this.sessions.get(c.store);
    if (!held?.open) return undefined;
    if (held.claimed !== c.agent) {
      this.log.info(
        { store: c.store },
        'another hub process accepted a newer connection from this store: the one held here is replaced',
      );
      held.close(CloseCodes.REPLACED, 'replaced by a newer connection from this store');
      return { kind: 'free' };
    }
    if (earlierAttempt(attempt, held.attempt)) return { kind: 'superseded' };
    if (earlierAttempt(held.attempt, attempt)) {
      this.log.info(
        { store: c.store, agentId: c.agent },
        'the agent connected to another hub process on a later attempt: its connection here is closed',
      );
      held.close(CloseCodes.REPLACED, 'replaced by a newer connection of this agent');
      return { kind: 'free' };
    }
    const answers = await held.probe(this.probeMs);
    if (answers && stillOpen(held) && this.sessions.get(c.store) === held)
      return { kind: 'duplicate', live: held.peer };
    if (this.sessions.get(c.store) === held) {
      this.log.info(
        { store: c.store, agentId: c.agent },
        'the agent reconnected to another hub process; its old connection here did not answer and is dropped',
      );
      held.terminate();
    }
    return { kind: 'free' };
  }

  /**
   * Another hub process answered a claim only after this one accepted it (it had not yet written
   * that it held the store): the verdict is carried out now.
   */
  refuseLate(session: AgentSession, verdict: RemoteVerdict): void {
    if (this.sessions.get(session.store) !== session || !session.open) return;
    if (verdict.kind === 'duplicate') session.refuseAsCopy(verdict.live);
    else if (verdict.kind === 'superseded')
      session.close(CloseCodes.REPLACED, 'replaced by a newer connection of this agent');
  }

  /** Every connection held here. */
  held(): AgentSession[] {
    return [...this.sessions.values()];
  }

  /** An earlier attempt of the same run of the agent than the latest it said hello on: given up by the agent. */
  private superseded(session: AgentSession): boolean {
    const newest = this.newest.get(session.store);
    if (!newest || newest.agent !== session.claimed || !earlierAttempt(session.attempt, newest)) return false;
    this.log.info(
      { store: session.store, agentId: session.claimed, attempt: session.attempt.attempt, newest: newest.attempt },
      'a hello came late on a connection the agent had given up for a newer one: refused',
    );
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const s of this.sessions.values()) s.close(CloseCodes.GOING_AWAY, 'hub shutting down');
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

/**
 * Resolves `gone` when the client closes or resets a socket the hub has not answered yet; an
 * error on it meanwhile (a reset) is no unhandled error. `stop` hands the socket on.
 */
/** The agent a session's hello named; a claim is made only after it. */
function claimedBy(session: AgentSession): string {
  const agent = session.claimed;
  if (agent === undefined) throw new TbError(TbCodes.INTERNAL, 'a claim before the hello named its agent');
  return agent;
}

/** Whether a session is open, read afresh after an await (a check of `session.open` before it says nothing now). */
const stillOpen = (session: AgentSession): boolean => session.open;

function whenLeft(socket: Duplex): { gone: Promise<'gone'>; stop(): void } {
  let left!: (v: 'gone') => void;
  const gone = new Promise<'gone'>((r) => (left = r));
  const on = (): void => left('gone');
  socket.on('end', on);
  socket.on('close', on);
  socket.on('error', on);
  return {
    gone,
    stop() {
      socket.off('end', on);
      socket.off('close', on);
      socket.off('error', on);
    },
  };
}

/** The client closed or reset the socket (it gave the handshake up). */
/** Whether `a` is an earlier connection than `b` of one run of an agent (false when either does not say). */
export function earlierAttempt(a: ConnectionAttempt, b: ConnectionAttempt): boolean {
  return (
    a.run !== undefined &&
    a.run === b.run &&
    a.attempt !== undefined &&
    b.attempt !== undefined &&
    a.attempt < b.attempt
  );
}
