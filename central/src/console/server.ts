import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { isTbError, TbCodes, type Logger } from '@tillbridge/shared';
import type { AdminAccess } from '../usecases/index.js';
import type { Feed } from '../feed/feed.js';
import { retryAfterSec, sourceOf, type Gate } from '../auth/gate.js';
import { serverOptions, type LoadedTls } from '../tls/server-tls.js';
import { readBody, sendJson } from '../http/router.js';
import {
  ConsoleSessions,
  DEFAULT_SESSION_LIMITS,
  type ConsoleSession,
  type SessionDeps,
  type SessionLimits,
} from './sessions.js';
import { ConsoleLive, type LiveOptions, type LiveMessage } from './live.js';
import { fleet, liveRows, outboxes, recentDecisions, type ConsoleQueries } from './fleet.js';
import { storePage, terminalOf } from './store.js';
import { auditRow, auditView, exceptionDetails } from './oversight.js';
import { consoleAssetsDir, loadAssets, type Asset } from './static.js';
import { ConsoleTimeline, type TimelineOptions } from './timeline.js';

export interface ConsoleDeps {
  queries: ConsoleQueries;
  /** operator and admin tokens checked as the admin API checks them (a refused one counts against its source) */
  access: Pick<AdminAccess, 'identify'>;
  gate: Pick<Gate, 'blockedFor'>;
  /** the sessions, in the database every hub process shares */
  sessionRows: SessionDeps['rows'];
  /** a signed-in token looked up again on each request (revoked: its sessions end) */
  tokens: SessionDeps['tokens'];
  /** the feed's after-commit signal (this process's commits, and those the cluster tells of) */
  commits: Pick<Feed, 'onCommitted'>;
  /** this process's presence changes, for the live fleet */
  presence: { onChange(listener: (store: string) => void): void };
  /** this process's changes of a store's registers, for its page */
  terminals: { onChange(listener: (store: string) => void): void };
  /** this process's audit appends, once committed (the audit tail pushed live); without it, those of other commits */
  audit?: { onAppended(listener: () => void): void };
  log: Logger;
}

export interface ConsoleOptions {
  host: string;
  port: number;
  /** serve HTTPS (the session cookie is then Secure and __Host- prefixed) */
  tls?: LoadedTls | undefined;
  sessions?: Partial<SessionLimits>;
  live?: LiveOptions;
  timeline?: TimelineOptions;
  /** the built page (default: found next to the hub, consoleAssetsDir) */
  assetsDir?: string;
  /** how often an open live stream is sent a keep-alive and its session checked again (default 15 s) */
  keepAliveMs?: number;
}

export interface RunningConsole {
  readonly url: string;
  readonly port: number;
  readonly sessions: ConsoleSessions;
  readonly live: ConsoleLive;
  readonly timeline: ConsoleTimeline;
  stop(): Promise<void>;
}

/**
 * The page may load scripts, styles, images and connections only from the hub itself: no inline script or style, no
 * framing, no plugins, no form posted elsewhere.
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const API = '/console/api/';
const MAX_SIGN_IN_BODY = 4096;
const RECENT_DECISIONS = 200;

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Every answer's headers: the CSP, no sniffing, no framing, no referrer; HSTS over TLS. */
function secure(res: ServerResponse, tls: boolean): void {
  res.setHeader('content-security-policy', CONSOLE_CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  if (tls) res.setHeader('strict-transport-security', 'max-age=31536000');
}

function problem(res: ServerResponse, status: number, code: string, message: string, extra = {}): void {
  sendJson(res, status, { code, message }, { 'cache-control': 'no-store', ...extra });
}

/**
 * The operator console's requests (docs/console.md): the page at /console/, sign-in with an operator or admin token
 * exchanged for a session cookie, read-only JSON under /console/api/ and a live stream (Server-Sent Events). Every
 * method but GET answers 405, sign-in and sign-out aside.
 */
class ConsoleHttp {
  readonly sessions: ConsoleSessions;
  readonly live: ConsoleLive;
  readonly timeline: ConsoleTimeline;
  readonly streams = new Set<ServerResponse>();
  private readonly assets: Map<string, Asset>;
  private readonly cookieName: string;
  private readonly keepAliveMs: number;

  constructor(
    private readonly deps: ConsoleDeps,
    private readonly tls: boolean,
    opts: ConsoleOptions,
  ) {
    const q = deps.queries;
    const dir = opts.assetsDir ?? consoleAssetsDir();
    this.assets = dir ? loadAssets(dir) : new Map<string, Asset>();
    if (!this.assets.has('index.html'))
      deps.log.warn({ dir }, 'console: its page is not built (npm run build): /console/ answers 503, the API works');
    this.sessions = new ConsoleSessions(
      { rows: deps.sessionRows, tokens: deps.tokens, now: () => q.clock.now() },
      { ...DEFAULT_SESSION_LIMITS, ...opts.sessions },
    );
    this.timeline = new ConsoleTimeline(
      { activity: q.activity, clock: q.clock, outboxes: () => outboxes(q), commits: deps.commits, log: deps.log },
      opts.timeline,
    );
    this.live = new ConsoleLive(
      {
        timeline: this.timeline,
        feed: q.erpFeed,
        commits: deps.commits,
        presence: deps.presence,
        rows: (only) => liveRows(q, only),
        terminals: deps.terminals,
        terminalRows: (store) => q.terminals.list(store).map(terminalOf),
        oversight: {
          exceptions: () => exceptionDetails(q),
          auditLastId: () => q.audit.lastId(),
          auditAfter: (id, limit) => q.audit.after(id, limit).map(auditRow),
          onAppended: (listener) => deps.audit?.onAppended(listener),
        },
        log: deps.log,
      },
      opts.live,
    );
    this.cookieName = tls ? '__Host-tb_console' : 'tb_console';
    this.keepAliveMs = opts.keepAliveMs ?? 15_000;
  }

  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    this.handle(req, res).catch((err: unknown) => {
      const busy = isTbError(err, TbCodes.STORAGE_BUSY);
      if (!busy) this.deps.log.error({ err, url: req.url }, 'console: request failed');
      if (res.headersSent) res.end();
      else problem(res, busy ? 503 : 500, busy ? TbCodes.STORAGE_BUSY : TbCodes.INTERNAL, 'the request failed');
    });
  };

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    secure(res, this.tls);
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://console').pathname);
    } catch {
      problem(res, 400, TbCodes.MALFORMED, 'the request path has a malformed % escape');
      return;
    }
    if (path === '/' || path === '/console') res.writeHead(302, { location: '/console/' }).end();
    else if (path.startsWith(API)) await this.api(req, res, path.slice(API.length));
    else if (path.startsWith('/console/') && !path.includes('..')) this.page(req, res, path);
    else problem(res, 404, TbCodes.NOT_FOUND, `no such page: ${path}`);
  }

  private async api(req: IncomingMessage, res: ServerResponse, sub: string): Promise<void> {
    if (req.method === 'POST' && sub === 'sign-in') {
      await this.signIn(req, res);
      return;
    }
    if (req.method === 'POST' && sub === 'sign-out') {
      this.signOut(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const message = 'the console is read-only: changes are made with tillbridge-hub';
      problem(res, 405, TbCodes.FORBIDDEN, message, { allow: 'GET' });
      return;
    }
    const s = this.sessionOf(req);
    const q = this.deps.queries;
    const json = (body: unknown): void => {
      sendJson(res, 200, body, { 'cache-control': 'no-store' });
    };
    // whether the page is signed in: answered either way (the page asks it first)
    if (sub === 'session') json(s ? { signedIn: true, name: s.who.name, role: s.who.role } : { signedIn: false });
    else if (!s) problem(res, 401, TbCodes.UNAUTHORIZED, 'sign in first');
    else if (sub === 'fleet') json({ now: new Date(q.clock.now()).toISOString(), stores: fleet(q) });
    else if (sub === 'decisions') json({ decisions: recentDecisions(q, RECENT_DECISIONS) });
    else if (sub === 'timeline') json(this.timeline.current());
    else if (sub === 'events') this.stream(req, res, s);
    else if (sub === 'exceptions') json({ exceptions: exceptionDetails(q) });
    else if (sub === 'audit') json(auditView(q));
    else if (sub.startsWith('stores/')) this.store(res, sub.slice('stores/'.length));
    else problem(res, 404, TbCodes.NOT_FOUND, `no such endpoint: ${API}${sub}`);
  }

  /** GET stores/ID: a store's page (its registers, latest sales and decisions, open exceptions). */
  private store(res: ServerResponse, id: string): void {
    const page = id === '' || id.includes('/') ? undefined : storePage(this.deps.queries, id);
    if (page) sendJson(res, 200, page, { 'cache-control': 'no-store' });
    else problem(res, 404, TbCodes.NOT_FOUND, `no such store: ${id}`);
  }

  /** The request's session (its token checked again: revoked, the session ends), or undefined. */
  private sessionOf(req: IncomingMessage): ConsoleSession | undefined {
    return this.sessions.use(cookieOf(req, this.cookieName));
  }

  private cookie(value: string, maxAge: number): string {
    const secureFlag = this.tls ? '; Secure' : '';
    return `${this.cookieName}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secureFlag}`;
  }

  /** A POST must come from the console's own page: its Origin is this listener's (with SameSite=Strict: CSRF-safe). */
  private sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin !== undefined && origin === `${this.tls ? 'https' : 'http'}://${req.headers.host ?? ''}`;
  }

  /** The token in the body, or why not (answered). */
  private async tokenOf(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    let token: unknown;
    try {
      token = (JSON.parse(await readBody(req, MAX_SIGN_IN_BODY)) as { token?: unknown }).token;
    } catch (err) {
      if (isTbError(err, TbCodes.FRAME_TOO_LARGE)) problem(res, 413, err.code, err.message);
      else problem(res, 400, TbCodes.MALFORMED, 'the request body is not valid JSON');
      return undefined;
    }
    if (typeof token === 'string' && token.trim() !== '') return token.trim();
    problem(res, 400, TbCodes.INVALID, 'token: expected an operator or admin token (tba_…)');
    return undefined;
  }

  private async signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.sameOrigin(req)) {
      problem(res, 403, TbCodes.FORBIDDEN, 'sign in from the console page itself');
      return;
    }
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
      problem(res, 415, TbCodes.INVALID, 'send {"token": "…"} as application/json');
      return;
    }
    const source = sourceOf(req);
    const wait = this.deps.gate.blockedFor(source);
    if (wait > 0) {
      const message = 'too many failed authentications from this address; try again later';
      problem(res, 429, TbCodes.RATE_LIMITED, message, { 'retry-after': String(retryAfterSec(wait)) });
      return;
    }
    const token = await this.tokenOf(req, res);
    if (token === undefined) return;
    let who;
    try {
      who = this.deps.access.identify(`Bearer ${token}`, source, '/console/api/sign-in');
    } catch (err) {
      if (isTbError(err, TbCodes.UNAUTHORIZED)) problem(res, 401, err.code, 'unknown or revoked token');
      else if (isTbError(err, TbCodes.RATE_LIMITED)) problem(res, 429, err.code, err.message);
      else throw err;
      return;
    }
    const s = this.sessions.create(who);
    this.deps.log.info({ token: who.id, role: who.role, source }, 'console: signed in');
    const headers = { 'set-cookie': this.cookie(s.id, this.sessions.maxAgeSec), 'cache-control': 'no-store' };
    sendJson(res, 200, { signedIn: true, name: who.name, role: who.role }, headers);
  }

  private signOut(req: IncomingMessage, res: ServerResponse): void {
    if (!this.sameOrigin(req)) {
      problem(res, 403, TbCodes.FORBIDDEN, 'sign out from the console page itself');
      return;
    }
    this.sessions.end(cookieOf(req, this.cookieName));
    sendJson(res, 200, { signedIn: false }, { 'set-cookie': this.cookie('', 0), 'cache-control': 'no-store' });
  }

  private stream(req: IncomingMessage, res: ServerResponse, s: ConsoleSession): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const write = (m: LiveMessage): void => {
      res.write(`event: ${m.event}\ndata: ${JSON.stringify(m.data)}\n\n`);
    };
    res.write('retry: 3000\n\n');
    write({ event: 'stores', data: liveRows(this.deps.queries) }); // every store as it is now; then what changes
    write({ event: 'timeline', data: this.timeline.current() }); // the charts as they are; then each new reading
    const leave = this.live.join(write);
    this.streams.add(res);
    const keepAlive = setInterval(() => {
      // the session still good (not expired, not signed out, its token not revoked)? else the stream ends
      if (this.sessionOf(req)?.id !== s.id) res.end();
      else res.write(': keep-alive\n\n');
    }, this.keepAliveMs);
    res.on('close', () => {
      clearInterval(keepAlive);
      leave();
      this.streams.delete(res);
    });
  }

  private page(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      problem(res, 405, TbCodes.FORBIDDEN, `${req.method ?? ''} is not allowed here`, { allow: 'GET' });
      return;
    }
    const rel = path === '/console/' ? 'index.html' : path.slice('/console/'.length);
    const asset = this.assets.get(rel);
    if (!asset) {
      if (rel === 'index.html') problem(res, 503, TbCodes.INTERNAL, 'the console page is not built');
      else problem(res, 404, TbCodes.NOT_FOUND, `no such file: ${path}`);
      return;
    }
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }
}

/** Starts the console's listener (docs/console.md). */
export async function startConsole(deps: ConsoleDeps, opts: ConsoleOptions): Promise<RunningConsole> {
  const tls = opts.tls !== undefined;
  const http = new ConsoleHttp(deps, tls, opts);
  const server: Server = opts.tls ? createTlsServer(serverOptions(opts.tls), http.handler) : createServer(http.handler);
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // the live stream stays open
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const sweeper = setInterval(() => {
    http.sessions.sweep();
  }, 60_000);
  sweeper.unref();
  return {
    url: `${tls ? 'https' : 'http'}://${hostPart}:${port}/console/`,
    port,
    sessions: http.sessions,
    live: http.live,
    timeline: http.timeline,
    stop: async () => {
      clearInterval(sweeper);
      http.live.close();
      for (const r of http.streams) r.end();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}
