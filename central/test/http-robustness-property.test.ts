import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, DISCARD_AT_MOST, ENROLL_PATH, findCardNumbers, TbCodes, TOKEN_PATH } from '@tillbridge/shared';
import { initHub, type RunningHub } from '../src/hub.js';
import { httpStatusFor } from '../src/http/router.js';
import type { RouteContract } from '../src/http/contract/route.js';
import * as audit from '../src/http/contract/audit.js';
import * as feed from '../src/http/contract/feed.js';
import * as imports from '../src/http/contract/imports.js';
import * as inventory from '../src/http/contract/inventory.js';
import * as keys from '../src/http/contract/keys.js';
import * as reconcile from '../src/http/contract/reconcile.js';
import * as returns from '../src/http/contract/returns.js';
import * as sales from '../src/http/contract/sales.js';
import * as settings from '../src/http/contract/settings.js';
import * as status from '../src/http/contract/status.js';
import * as stores from '../src/http/contract/stores.js';
import * as webhooks from '../src/http/contract/webhooks.js';
import { listeningHub, seedSale, silent, TestClock } from './helpers.js';

/**
 * The hub's HTTP surfaces against malformed requests, on one real hub on 127.0.0.1 (SQLite): every route of the admin
 * API's contract (docs/api.md) and the POSLog export, the agents' token and enrollment endpoints, and the agents'
 * WebSocket upgrade. Requests are made from the real route list, valid but for one part broken (or several at once):
 * wrong methods, bad %-escapes, long segments, unknown or mistyped query keys, bodies that are not JSON or JSON of the
 * wrong shape (lone surrogates, huge numbers, deep nesting, duplicate keys), wrong or lying content headers, missing,
 * invalid, revoked and wrong-role tokens, bodies over the route's limit; and request lines and headers no HTTP client
 * would send, over a raw socket. Each answer must come (no hang: a per-request timeout), be below 500, and when it is a
 * 4xx be the house error `{code, message, details?}` (docs/api.md "Errors"): a TbCodes code with its status, and a
 * message that names the problem; no error answer echoes a card number the request carried (docs/security.md "Card
 * data"). After every case the hub still serves: the admin API and a token; an enrollment and an agent's WebSocket too.
 *
 * The agents' upgrade refusals carry no body by design (shared/src/socket-refusal.ts; the ws library's are text):
 * there the rule is a 4xx, or the 101 of the one valid request.
 *
 * What the hub does wrong today is listed in KNOWN, each with the narrowest description of the cases it explains and a
 * reproduction under "known findings" marked `it.fails`: fixing one makes its reproduction fail — then delete the
 * entry and drop the `.fails`. An answer that breaks a rule and that no entry explains fails the property.
 */

/** Cases per property: for each admin route that reads a body, each that does not, and the other surfaces. */
const RUNS = { adminBody: 6, adminRead: 3, agents: 40, upgrade: 40, raw: 40 };
/** An answer that has not come in this long is a hang. */
const TIMEOUT_MS = 5000;
/** The imports' body limit given to the hub here (HubOptions.imports.maxBytes; 256 MiB by default). */
const IMPORT_MAX = 64 * 1024;
/** The router's default body limit (central/src/http/router.ts) and the routes with their own. */
const DEFAULT_LIMIT = 1024 * 1024;
const BODY_LIMITS: Record<string, number> = {
  'POST /v1/admin/stores/:store/enrollments': 4096, // http/enroll.ts
  'PUT /v1/admin/managers/:id': 4096, // http/admin/policies.ts
  'POST /v1/admin/webhooks': 16 * 1024, // http/admin/webhooks.ts
  [`POST ${TOKEN_PATH}`]: 16 * 1024, // http/agent-token.ts
  [`POST ${ENROLL_PATH}`]: 4096, // http/enroll.ts
};
/** Node's limit on a request's head (request line and headers): past it Node answers 431 itself. */
const MAX_HEAD = 16 * 1024;

/** Published test card numbers, written as a register or an operator might type them. */
const PANS = ['4111111111111111', '4242 4242 4242 4242', '5555-5555-5555-4444', '378282246310005', '6011111111111117'];
/** Only the digits: a card number found however it is written (spaces, dashes, %20, JSON escapes between groups). */
const digitsOf = (s: string): string => s.replace(/\D/g, '');

// ---- the hub's routes ----

type AnyRoute = RouteContract<string, never, never>;
interface HubRoute {
  method: string;
  path: string;
  parts: string[];
  /** the query keys it reads */
  query: string[];
  /** needs the admin role (operators only read) */
  writes: boolean;
  /** reads its body before it checks the token (the feed's ack: going back needs the admin role) */
  bodyFirst: boolean;
  surface: 'admin' | 'agents' | 'probe';
}

const isRoute = (v: unknown): v is AnyRoute => typeof v === 'object' && v !== null && 'method' in v && 'response' in v;
const CONTRACT = [audit, feed, imports, inventory, keys, reconcile, returns, sales, settings, status, stores, webhooks]
  .flatMap((module): unknown[] => Object.values(module))
  .filter(isRoute);
const queryKeys = (r: AnyRoute): string[] =>
  Object.keys((r.query as unknown as { def: { shape: Record<string, unknown> } }).def.shape);
/** Query keys the handlers read that their contract does not declare. */
const EXTRA_QUERY: Record<string, string[]> = {
  'POST /v1/admin/sales': ['id'],
  'POST /v1/admin/inventory/import': ['id'],
};

const route = (method: string, path: string, more: Partial<HubRoute> = {}): HubRoute => ({
  method,
  path,
  parts: path.split('/').filter(Boolean),
  query: EXTRA_QUERY[`${method} ${path}`] ?? [],
  writes: method !== 'GET' && path !== feed.ackFeed.path,
  bodyFirst: path === feed.ackFeed.path,
  surface: 'admin',
  ...more,
});
const ADMIN_ROUTES: HubRoute[] = [
  ...CONTRACT.map((r) => {
    const base = route(r.method, r.path);
    return { ...base, query: [...queryKeys(r), ...base.query] };
  }),
  // the POSLog export: in the admin API, not in the contract (XML)
  route('GET', '/v1/admin/feed/poslog', { query: ['store', 'day'] }),
];
const TOKEN_ROUTE = route('POST', TOKEN_PATH, { surface: 'agents', writes: false });
const ENROLL_ROUTE = route('POST', ENROLL_PATH, { surface: 'agents', writes: false });
/** Every route the hub's router holds (central/src/hub.ts). */
const HUB_ROUTES: HubRoute[] = [
  ...ADMIN_ROUTES,
  TOKEN_ROUTE,
  ENROLL_ROUTE,
  ...['/healthz', '/readyz', '/metrics'].map((p) => route('GET', p, { surface: 'probe' })),
];

/** The path's segments %-decoded as the router decodes them; undefined when an escape is malformed. */
function segmentsOf(target: string): string[] | undefined {
  try {
    const { pathname } = new URL(target, 'http://hub');
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}
const matches = (r: HubRoute, segs: string[]): boolean =>
  r.parts.length === segs.length && r.parts.every((p, i) => p.startsWith(':') || p === segs[i]);

function limitOf(r: HubRoute, contentType: string | undefined): number {
  if (r.path === '/v1/admin/inventory/import') return IMPORT_MAX;
  if (r.path === '/v1/admin/sales' && r.method === 'POST') {
    const t = contentType ?? '';
    return t.includes('json') && !t.includes('ndjson') ? DEFAULT_LIMIT : IMPORT_MAX;
  }
  return BODY_LIMITS[`${r.method} ${r.path}`] ?? DEFAULT_LIMIT;
}

/** Percent-encodes every byte of `s`'s UTF-8 but the unreserved characters (a lone surrogate becomes U+FFFD). */
const pct = (s: string): string =>
  [...Buffer.from(s, 'utf8')]
    .map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16)}`))
    .join('');

// ---- sending ----

interface Sent {
  method: string;
  /** the request target, sent as it is */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer | undefined;
  /** sent in chunks, without a content-length */
  chunked?: boolean;
}
type Outcome =
  | { kind: 'answer'; status: number; headers: IncomingHttpHeaders; text: string }
  | { kind: 'reset'; error: string }
  | { kind: 'hang' };

let running: RunningHub;

/** One request on a connection of its own (node:http); its answer, a connection closed without one, or a hang. */
function send(s: Sent): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(o);
    };
    const headers: Record<string, string> = { ...s.headers };
    if (s.body !== undefined) {
      if (s.chunked) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = String(Buffer.byteLength(s.body));
    }
    const req = httpRequest(
      { host: '127.0.0.1', port: running.port, method: s.method, path: s.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          finish({
            kind: 'answer',
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (err) => finish({ kind: 'reset', error: err.message }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish({ kind: 'hang' });
    }, TIMEOUT_MS);
    req.on('error', (err) => finish({ kind: 'reset', error: err.message }));
    if (s.body === undefined) req.end();
    else if (s.chunked) {
      const b = Buffer.from(s.body);
      req.write(b.subarray(0, b.length >> 1));
      req.end(b.subarray(b.length >> 1));
    } else req.end(s.body);
  });
}

interface RawAnswer {
  kind: 'answer';
  status: number;
  headers: Record<string, string>;
  text: string;
}
type RawOutcome = RawAnswer | { kind: 'closed'; got: string } | { kind: 'hang' };

/** A chunked body's bytes, once its last chunk is in. */
function dechunk(b: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(b.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(out);
    if (b.length < eol + 2 + size + 2) return undefined;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Bytes written as they are to a new connection; the first answer read back (a 101 as soon as its head is in). */
function sendRaw(bytes: string | Buffer): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect(running.port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (o: RawOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const parse = (closed: boolean): void => {
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) {
        if (closed) finish({ kind: 'closed', got: got.toString('latin1') });
        return;
      }
      const [line = '', ...fields] = got.subarray(0, end).toString('latin1').split('\r\n');
      const code = /^HTTP\/1\.[01] (\d{3})/.exec(line)?.[1];
      if (code === undefined) {
        finish({ kind: 'closed', got: got.toString('latin1') });
        return;
      }
      const headers: Record<string, string> = {};
      for (const f of fields) {
        const at = f.indexOf(':');
        if (at > 0) headers[f.slice(0, at).trim().toLowerCase()] = f.slice(at + 1).trim();
      }
      const body = got.subarray(end + 4);
      const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
      const chunks = /chunked/i.test(headers['transfer-encoding'] ?? '') ? dechunk(body) : undefined;
      const whole =
        code === '101' || (length !== undefined ? body.length >= length : chunks !== undefined ? true : closed);
      if (whole) {
        const text = (chunks ?? (length !== undefined ? body.subarray(0, length) : body)).toString('utf8');
        finish({ kind: 'answer', status: Number(code), headers, text });
      } else if (closed) finish({ kind: 'closed', got: got.toString('latin1') });
    };
    const timer = setTimeout(() => finish({ kind: 'hang' }), TIMEOUT_MS);
    socket.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      parse(false);
    });
    socket.on('close', () => parse(true));
    socket.on('error', () => undefined); // a reset shows as the close that follows
    socket.write(bytes);
  });
}

// ---- the rules ----

const CODES = new Set<string>(Object.values(TbCodes));

/** What a 4xx message of each status must speak of: the thing that was wrong. */
const NAMES_PROBLEM: Record<number, RegExp> = {
  // a field or parameter named first (`limit: …`, `--every: …`), or what is wrong with the body or the path
  400: /^[\w.[\]-]+: |expected|must|not valid|% escape|bad row|line \d+|unknown|missing|nothing was applied/i,
  401: /admin token|API key|enrollment code|access token|certificate/i,
  403: /may only read/,
  404: /not found|\bno\b|has no|unknown/i,
  405: /is not allowed here/,
  409: /./,
  413: /over \d+ bytes|larger than \d+ bytes/,
  429: /too many/,
};

/** The keys a request gave: its JSON body's and its query's (a 400 that names one names the problem). */
function keysOf(sentText: string): string[] {
  const keys = new Set<string>();
  for (const m of sentText.matchAll(/"([A-Za-z_][\w]{1,40})"\s*:/g)) keys.add(m[1]!);
  for (const m of sentText.matchAll(/[?&]([A-Za-z_][\w]{1,40})=/g)) keys.add(m[1]!);
  return [...keys];
}
const saysWord = (text: string, word: string): boolean => new RegExp(`\\b${word}\\b`, 'i').test(text);

interface Problem {
  kind: '5xx' | 'reset' | 'hang' | 'closed' | 'shape' | 'message' | 'status' | 'card-echo' | 'bodiless';
  detail: string;
}

/** What the test knows the answer must be, beyond the general rules. */
interface Expected {
  status?: number;
  code?: string;
  message?: RegExp;
}

/** The general rules for one answer: below 500; a 4xx is the house error naming its problem; no card number echoed. */
/**
 * The statuses a code may come with (docs/api.md): its own, and the more precise ones for what is refused before a
 * route is found (a known path with another method or CONNECT 405, a head over 16 KiB 431, a request not in by its
 * deadline 408, an Expect other than 100-continue 417).
 */
function statusesOf(code: string): number[] {
  const precise: Record<string, number[]> = {
    [TbCodes.NOT_FOUND]: [405],
    [TbCodes.FRAME_TOO_LARGE]: [431],
    [TbCodes.MALFORMED]: [408, 417],
  };
  return [httpStatusFor(code), ...(precise[code] ?? [])];
}

function problemsOf(sentText: string, o: Outcome | RawOutcome, expected: Expected = {}): Problem[] {
  if (o.kind === 'hang') return [{ kind: 'hang', detail: `no answer in ${TIMEOUT_MS} ms` }];
  if (o.kind === 'reset') return [{ kind: 'reset', detail: `the connection closed without an answer: ${o.error}` }];
  if (o.kind === 'closed') return [{ kind: 'closed', detail: `the connection closed after ${JSON.stringify(o.got)}` }];
  const out: Problem[] = [];
  const head = `${o.status} ${o.text.slice(0, 300)}`;
  if (o.status >= 500) return [{ kind: '5xx', detail: head }];
  if (expected.status !== undefined && o.status !== expected.status)
    out.push({ kind: 'status', detail: `expected ${expected.status}, got ${head}` });
  if (o.status < 400) return out;
  const type = o.headers['content-type'];
  if (type === undefined && o.text === '') {
    out.push({ kind: 'bodiless', detail: `a ${o.status} without a body: ${JSON.stringify(o.headers)}` });
    return out;
  }
  let body: unknown;
  try {
    body = JSON.parse(o.text);
  } catch {
    body = undefined;
  }
  if (typeof type !== 'string' || !type.startsWith('application/json') || typeof body !== 'object' || body === null) {
    out.push({ kind: 'shape', detail: `not a JSON error (${String(type)}): ${head}` });
    return out;
  }
  const { code, message, ...rest } = body as { code?: unknown; message?: unknown };
  const restKeys = Object.keys(rest).filter((k) => k !== 'details');
  const statusFits = typeof code === 'string' && statusesOf(code).includes(o.status);
  if (typeof code !== 'string' || !CODES.has(code) || !statusFits || restKeys.length > 0)
    out.push({ kind: 'shape', detail: `not the house error {code, message, details?} for its status: ${head}` });
  if (typeof message !== 'string' || message.trim() === '' || message === 'internal error') {
    out.push({ kind: 'message', detail: `no message: ${head}` });
  } else {
    const names = expected.message ?? NAMES_PROBLEM[o.status];
    const namesAKey =
      expected.message === undefined && o.status === 400 && keysOf(sentText).some((k) => saysWord(message, k));
    if (names && !names.test(message) && !namesAKey)
      out.push({ kind: 'message', detail: `"${message}" does not say ${names}, nor a key the request gave` });
    if (expected.code !== undefined && code !== expected.code)
      out.push({ kind: 'status', detail: `expected ${expected.code}, got ${head}` });
  }
  const flat = digitsOf(o.text);
  for (const pan of PANS)
    if (digitsOf(sentText).includes(digitsOf(pan)) && flat.includes(digitsOf(pan)))
      out.push({ kind: 'card-echo', detail: `the card number ${pan} sent is in the answer: ${head}` });
  return out;
}

// ---- what the hub does wrong today (each reproduced under "known findings") ----

interface Finding {
  id: string;
  explains: (p: Problem, s: Sent) => boolean;
}
const bodyText = (s: Sent): string => (s.body === undefined ? '' : Buffer.from(s.body).toString('utf8'));
const KNOWN: Finding[] = [];

function unexplained(problems: Problem[], s: Sent): Problem[] {
  return problems.filter((p) => !KNOWN.some((k) => k.explains(p, s)));
}
const sentTextOf = (s: Sent): string =>
  `${s.method} ${s.path} ${Object.values(s.headers).join(' ')} ${bodyText(s)}`.slice(0, 4 * 1024 * 1024);

// ---- the hub and its fixtures ----

interface Fixtures {
  admin: string;
  operator: string;
  revokedAdmin: string;
  s1Key: string;
  s2RevokedKey: string;
  /** an access token of S1, expired */
  expired: string;
  /** an access token of S2 whose API key was revoked since */
  revokedKeyToken: string;
  /** values for each path parameter, the first naming something that exists (never S1 nor E1: the checks use them) */
  params: Record<string, string[]>;
  /** the `:id` of the routes under each path: a delivery, a webhook, an import, a token, a manager, a key… */
  ids: [string, string][];
}
let fx: Fixtures;
let dir: string;
const clock = new TestClock();

const JSON_TYPE = { 'content-type': 'application/json' };
const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

async function json(s: Sent): Promise<Record<string, unknown>> {
  const o = await send(s);
  if (o.kind !== 'answer' || o.status !== 200) throw new Error(`${s.method} ${s.path}: ${JSON.stringify(o)}`);
  return JSON.parse(o.text) as Record<string, unknown>;
}
const adminCall = (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> =>
  json({
    method,
    path,
    headers: { ...bearer(fx.admin), ...JSON_TYPE },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function accessToken(): Promise<string> {
  const r = await json({
    method: 'POST',
    path: TOKEN_PATH,
    headers: JSON_TYPE,
    body: JSON.stringify({ store: 'S1', apiKey: fx.s1Key }),
  });
  return r.accessToken as string;
}

/** Whether an agent's WebSocket with `token` opens. */
function wsOpens(token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${running.wsUrl}${AGENT_WS_PATH}`, { headers: bearer(token) });
    const end = (ok: boolean): void => {
      clearTimeout(timer);
      ws.terminate();
      resolve(ok);
    };
    const timer = setTimeout(() => end(false), TIMEOUT_MS);
    ws.once('open', () => end(true));
    ws.once('error', () => end(false));
  });
}

/**
 * After a case: the admin API answers and a store gets a token; `full`, a code enrolls and an agent's WebSocket opens
 * too (the admin API's cases check that after every fourth, the others after each).
 */
async function stillServing(after: string, full = true): Promise<void> {
  const statusAnswer = await send({ method: 'GET', path: '/v1/admin/status', headers: bearer(fx.operator) });
  expect(statusAnswer.kind === 'answer' && statusAnswer.status, `GET /v1/admin/status after ${after}`).toBe(200);
  const token = await accessToken();
  if (!full) return;
  const code = await adminCall('POST', '/v1/admin/stores/E1/enrollments', {});
  const enrolled = await json({
    method: 'POST',
    path: ENROLL_PATH,
    headers: JSON_TYPE,
    body: JSON.stringify({ code: code.code }),
  });
  expect(enrolled.store, `an enrollment after ${after}`).toBe('E1');
  usedCode = String(code.code);
  expect(await wsOpens(token), `an agent's WebSocket after ${after}`).toBe(true);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-http-robust-'));
  const { adminToken } = initHub(dir, silent, clock);
  // the gate is wide open: hundreds of refused tokens from 127.0.0.1 must not block the checks that follow (429s
  // are allowed answers all the same); imports take 64 KiB, so that a body over their limit is cheap to send
  const gate = { tokenBurst: 1e6, tokenPeriodMs: 1000, maxFailures: 1e6, windowMs: 1000, blockMs: 1000 };
  running = await listeningHub(dir, { clock, gate, imports: { maxBytes: IMPORT_MAX } });
  const hub = running.hub;
  for (const id of ['S1', 'S2', 'E1']) hub.stores.create(id, `Store ${id}`);
  const s1Key = hub.credentials.createApiKey('S1');
  const s2Key = hub.credentials.createApiKey('S2');
  const s2KeyId = hub.credentials.checkApiKey('S2', s2Key).keyId;
  const revokedKeyToken = await hub.tokens.issue('S2', s2KeyId);
  const expired = await hub.tokens.issue('S1', hub.credentials.checkApiKey('S1', s1Key).keyId);
  clock.advance(20 * 60_000); // past the tokens' 15 minutes
  const revoked = hub.credentials.createAdminToken('admin', 'revoked');
  const victim = hub.credentials.createAdminToken('operator', 'victim');
  fx = {
    admin: adminToken,
    operator: hub.credentials.createAdminToken('operator', 'operator').secret,
    revokedAdmin: revoked.secret,
    s1Key,
    s2RevokedKey: s2Key,
    expired,
    revokedKeyToken,
    params: {},
    ids: [],
  };
  await adminCall('POST', `/v1/admin/tokens/${revoked.id}/revoke`);
  await adminCall('POST', `/v1/admin/stores/S2/keys/${s2KeyId}/revoke`);
  seedSale(hub, 'S2', 'X1');
  hub.exceptions.record({ store: 'S2', kind: 'event', code: 'TB_TEST', reason: 'a refused event for the test' });
  const exceptions = (await json({
    method: 'GET',
    path: '/v1/admin/exceptions',
    headers: bearer(fx.admin),
  })) as unknown;
  const exception = (exceptions as { id: string }[])[0]!.id;
  const hook = await adminCall('POST', '/v1/admin/webhooks', {
    url: 'http://127.0.0.1:9/hook', // the discard port: nothing listens
    events: ['return.completed'],
  });
  const delivery = await adminCall('POST', `/v1/admin/webhooks/${String(hook.id)}/test`, {});
  const checkpoint = (await adminCall('POST', '/v1/admin/audit/checkpoints')).checkpoint as { seq: number };
  await adminCall('POST', '/v1/feed/consumers/erp/ack', { position: 0 });
  await adminCall('PUT', '/v1/admin/managers/m1', { name: 'Mia', code: '246810' });
  const stock = await json({
    method: 'POST',
    path: '/v1/admin/inventory/import',
    headers: { ...bearer(fx.admin), 'content-type': 'text/csv' },
    body: 'store,sku,qty\nS2,A,3\n',
  });
  fx.params = {
    store: ['S2', 'NOPE'],
    sku: ['A', 'B'],
    id: [String(hook.id), String(delivery.delivery), String(stock.import), victim.id, 'm1', s2KeyId, exception, 'nope'],
    authorization: ['auth-1'],
    receipt: ['X1', 'X2'],
    seq: [String(checkpoint.seq), '0', '-1', '1.5', '1e400'],
    name: ['erp', 'not a name!'],
  };
  fx.ids = [
    ['/webhooks/deliveries/', String(delivery.delivery)],
    ['/webhooks/', String(hook.id)],
    ['/imports/', String(stock.import)],
    ['/tokens/', victim.id],
    ['/managers/', 'm1'],
    ['/keys/', s2KeyId],
    ['/exceptions/', exception],
  ];
  await stillServing('the set-up');
});

afterAll(async () => {
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
});

// ---- generators ----

const BAD_ESCAPES = ['%', '%zz', '%c0%af', '%ed%a0%80', '%E0%A4%A', 'a%2', '%%', '%u0041'];
const longText = (n: number): string => 'x'.repeat(n);

/** A path segment's raw text: a real value, a card number, a bad escape, a long one, anything. */
const segmentArb = (name: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...(fx.params[name] ?? ['nope'])).map(pct) },
    { weight: 1, arbitrary: fc.constantFrom(...PANS).map(pct) },
    { weight: 2, arbitrary: fc.constantFrom(...BAD_ESCAPES, '..', '.', '%00', '%2F', '%20') },
    { weight: 1, arbitrary: fc.constantFrom(300, 4000, 20_000).map(longText) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(pct) },
  );

/** JSON leaves as text, among them what JSON.stringify never writes (1e400, a lone surrogate's "\ud800"). */
const leafJson = fc.oneof(
  fc.constantFrom('null', 'true', 'false', '0', '-0', '1', '-1', '1.5', '1e308', '1e400', '-1e400', '1E-400'),
  fc.constantFrom('9007199254740993', '123456789012345678901234567890', '1e300', '86400000', '0.001'),
  fc.constantFrom('1e16', '8.64e15', '-86400000', '2147483648', '1e-7', '0.5', '-1.5', '4294967296'),
  fc.constantFrom('"\\ud800"', '"\\udfff"', '"a\\ud800b"', '"\\u0000"', '""', '" "', '"S2"', '"NOPE"', '"admin"'),
  fc.constantFrom('"operator"', '"accept"', '"return.completed"', '"http://127.0.0.1:9/hook"', '"0.2.0"', '"246810"'),
  fc.constantFrom(...PANS).map((p) => JSON.stringify(p)),
  fc.string({ maxLength: 16 }).map((s) => JSON.stringify(s)),
  fc.constantFrom(300, 5000).map((n) => JSON.stringify('y'.repeat(n))),
);
/** The names the handlers read from their bodies, and a few hostile ones. */
const FIELDS = [
  ...['id', 'name', 'qty', 'version', 'code', 'role', 'url', 'events', 'store', 'change', 'replace', 'note'],
  ...['action', 'position', 'rewind', 'ttlMs', 'graceMs', 'everyMs', 'off', 'overlapMs', 'reason', 'apiKey'],
  ...['receipt', 'channel', 'at', 'currency', 'lines', 'tenders', 'sku', 'returnWindowDays', 'timeZone'],
  ...['__proto__', 'constructor', '', '\\ud800', 'cvv', 'track2', PANS[0]!],
];
const { value: jsonValue } = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafJson,
    fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
    fc
      .array(fc.tuple(fc.constantFrom(...FIELDS), tie('value')), { maxLength: 5 })
      .map((kvs) => `{${kvs.map(([k, v]) => `"${k}":${v}`).join(',')}}`),
  ),
}));
/** An object of the fields handlers read (duplicates allowed: JSON.parse keeps the last). */
const objectBody = fc
  .array(fc.tuple(fc.constantFrom(...FIELDS), jsonValue), { minLength: 1, maxLength: 6 })
  .map((kvs) => `{${kvs.map(([k, v]) => `"${k}":${v}`).join(',')}}`);
const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
const deepBody = fc
  .tuple(fc.constantFrom(50, 1500, 6000), fc.boolean())
  .map(([n, arrays]) => (arrays ? deep(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n)));
const notJson = fc.oneof(
  fc.constantFrom('{', '{"a":', "{'a':1}", 'nul', 'undefined', '{"a":1}garbage', '\u0000', '[1,]', '{"a" 1}', 'NaN'),
  fc.constantFrom('store,sku,qty\nS2,A,1\n', '<xml/>', 'a=1&b=2', '\ufeff{}'),
  fc.string({ maxLength: 40 }),
);

/** A request body (undefined: none). */
type Body = string | Buffer | undefined;
/** A valid body of each route that reads one (from admin-contract.test.ts): what the mutations start from. */
const SALE = {
  store: 'S2',
  channel: 'web',
  receipt: 'W-1',
  at: '2026-11-27T09:00:00Z',
  currency: 'EUR',
  lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 500 }],
  tenders: [{ kind: 'card', amount: 500, pan: PANS[1] }],
};
const TEMPLATES: Record<string, Record<string, unknown>> = {
  'POST /v1/admin/stores': { id: 'S9', name: 'Ninth' },
  'PUT /v1/admin/stores/min-version': { version: '0.2.0' },
  'POST /v1/admin/stores/:store/enrollments': { ttlMs: 600_000 },
  'PUT /v1/admin/stores/:store/inventory/:sku': { qty: 5 },
  'POST /v1/admin/sales': SALE,
  'POST /v1/admin/stores/:store/keys/rotate': { graceMs: 60_000 },
  'PUT /v1/admin/stores/:store/keys/schedule': { everyMs: 7 * 86_400_000, graceMs: 3_600_000 },
  'POST /v1/admin/tokens': { role: 'operator', name: 'dashboard' },
  'PUT /v1/admin/policy': { store: 'S2', change: { returnWindowDays: 14 }, note: 'why' },
  'PUT /v1/admin/managers/:id': { name: 'Mia', code: '246810' },
  'PUT /v1/admin/config': { store: 'S2', change: { timeZone: 'Europe/Berlin' } },
  'POST /v1/admin/exceptions/:id/resolve': { action: 'accept', note: 'checked' },
  'POST /v1/admin/webhooks': { url: 'http://127.0.0.1:9/hook', events: ['return.completed'], store: 'S2' },
  'POST /v1/admin/webhooks/:id/rotate-secret': { overlapMs: 60_000 },
  'POST /v1/admin/webhooks/:id/disable': { reason: 'maintenance' },
  'POST /v1/feed/consumers/:name/ack': { position: 0, rewind: false },
  [`POST ${TOKEN_PATH}`]: { store: 'S1', apiKey: '$S1_KEY' },
  [`POST ${ENROLL_PATH}`]: { code: '$USED_CODE' },
};

/** `template` as JSON text with one field replaced by a hostile value, left out, or given twice. */
function mutated(template: Record<string, unknown>): fc.Arbitrary<string> {
  const names = Object.keys(template);
  const valueFor = (key: string): fc.Arbitrary<string> => {
    const v = template[key];
    const hostile = fc.oneof({ weight: 3, arbitrary: leafJson }, { weight: 2, arbitrary: jsonValue }, deepBody);
    if (Array.isArray(v) && typeof v[0] === 'object' && v[0] !== null)
      return fc.oneof(
        hostile,
        mutated(v[0] as Record<string, unknown>).map((x) => `[${x}]`),
      );
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      return fc.oneof(hostile, mutated(v as Record<string, unknown>));
    return hostile;
  };
  return fc
    .record({
      key: fc.constantFrom(...names, 'unknownKey'),
      how: fc.constantFrom('replace', 'replace', 'drop', 'twice-last', 'twice-first'),
    })
    .chain(({ key, how }) =>
      valueFor(key).map((value) => {
        let entries = Object.entries(template).map(([k, v]): [string, string] => [k, JSON.stringify(v)]);
        if (how === 'drop') entries = entries.filter(([k]) => k !== key);
        else if (how === 'twice-last') entries.push([key, value]);
        else if (how === 'twice-first') entries.unshift([key, value]);
        else if (names.includes(key)) entries = entries.map(([k, v]): [string, string] => [k, k === key ? value : v]);
        else entries.push([key, value]);
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
      }),
    );
}

const CSV_CELLS = ['', ' ', '"', 'a"b', '"a', '1e400', '-1', '0.0001', 'NaN', 'NOPE', '\u0000', '=cmd()', ...PANS];
/** The inventory import's CSV, broken one cell or one line at a time. */
const csvBody = fc.oneof(
  fc.constantFrom(
    'store,sku,qty\nS2,A,1\n',
    'store,sku,qty\r\nS2,A,1\r\n',
    '\ufeffstore,sku,qty\nS2,A,1\n',
    'sku,qty\nA,1\n',
    'store,sku,qty\nS2,A\n',
    'store,sku,qty\nS2,A,1,extra\n',
    'store,sku,qty\nS2,"A,1\n',
    'store,sku,qty\n',
    'store,store,sku,qty\nS2,S2,A,1\n',
  ),
  fc
    .tuple(fc.constantFrom(0, 1, 2), fc.oneof(fc.constantFrom(...CSV_CELLS), fc.string({ maxLength: 12 })))
    .map(([at, cell]) => {
      const row = ['S2', 'A', '1'];
      row[at] = cell;
      return `store,sku,qty\nS2,B,2\n${row.join(',')}\n`;
    }),
  fc.constantFrom(300, 5000).map((n) => `store,sku,qty\nS2,${'k'.repeat(n)},1\n`),
);

/** A body shaped for the route: its template mutated (JSON lines of them for the sales import), or its CSV. */
function shapedBody(r: HubRoute): fc.Arbitrary<string> | undefined {
  if (r.path === '/v1/admin/inventory/import') return csvBody;
  const template = TEMPLATES[`${r.method} ${r.path}`];
  if (template === undefined) return undefined;
  const one = mutated(template);
  if (r.path !== '/v1/admin/sales') return one;
  return fc.oneof(
    one,
    fc.array(one, { minLength: 1, maxLength: 3 }).map((lines) => `${lines.join('\n')}\n`),
  );
}

/** A body for the route: none, empty, shaped and broken, JSON of any shape, not JSON, deep, invalid UTF-8, too big. */
const bodyArb = (r: HubRoute): fc.Arbitrary<Body> => {
  const limit = limitOf(r, undefined);
  const shaped = shapedBody(r);
  const plain = (a: fc.Arbitrary<string>): fc.Arbitrary<Body> => a;
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant<Body>(undefined) },
    { weight: 1, arbitrary: fc.constant<Body>('') },
    { weight: shaped ? 10 : 0, arbitrary: plain(shaped ?? objectBody) },
    { weight: 3, arbitrary: plain(objectBody) },
    { weight: 2, arbitrary: plain(fc.constantFrom('null', '[]', '"text"', '42', 'true', '1e400', '{}', ' null ')) },
    { weight: 1, arbitrary: plain(jsonValue) },
    { weight: 2, arbitrary: plain(notJson) },
    { weight: 1, arbitrary: plain(deepBody) },
    {
      weight: 1,
      arbitrary: fc.constant<Body>(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0xc0, 0x22, 0x7d])), // not UTF-8
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(1, 2).map((times): Body => `{"pad":"${'p'.repeat(limit * times)}"}`), // over the limit
    },
  );
};

const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-ndjson',
  'text/csv',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  ';;;',
  'application/json; charset=utf-16',
];
const headersArb = fc.record(
  {
    'content-type': fc.constantFrom(...CONTENT_TYPES),
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'gzip, gzip'),
    accept: fc.constantFrom('text/html', '*/*', ';;'),
    'x-forwarded-for': fc.constantFrom('not an address', '::1, ::1'),
  },
  { requiredKeys: [] },
);

type TokenKind = 'admin' | 'operator' | 'revoked' | 'none' | 'garbage' | 'pan' | 'basic' | 'lowercase' | 'apiKey';
const tokenArb: fc.Arbitrary<TokenKind> = fc.oneof(
  { weight: 10, arbitrary: fc.constant<TokenKind>('admin') },
  { weight: 3, arbitrary: fc.constant<TokenKind>('operator') },
  { weight: 3, arbitrary: fc.constantFrom<TokenKind>('revoked', 'none', 'garbage', 'pan', 'basic', 'lowercase') },
  { weight: 1, arbitrary: fc.constant<TokenKind>('apiKey') },
);
function authHeader(kind: TokenKind): Record<string, string> {
  switch (kind) {
    case 'admin':
      return bearer(fx.admin);
    case 'operator':
      return bearer(fx.operator);
    case 'revoked':
      return bearer(fx.revokedAdmin);
    case 'none':
      return {};
    case 'garbage':
      return bearer('tba_garbage_x');
    case 'pan':
      return bearer(PANS[0]!);
    case 'basic':
      return { authorization: 'Basic YWRtaW46YWRtaW4=' };
    case 'lowercase':
      return { authorization: `bearer ${fx.admin}` };
    case 'apiKey':
      return bearer(fx.s1Key);
  }
}

const QUERY_VALUES = [
  ...['', '0', '-1', '1.5', '1e400', '99999999999999999999', 'NaN', 'Infinity', '0x10', 'true', 'abc', '2026-02-30'],
  ...['2026-11-27', 'S2', 'NOPE', 'erp', 'return.completed', ...BAD_ESCAPES, '%ED%A0%80', '+', '&', '='],
];
/** A query string: the route's keys (and unknown ones), with mistyped, malformed, long and card-number values. */
const queryArb = (r: HubRoute | undefined): fc.Arbitrary<string> => {
  const key = fc.oneof(
    { weight: 3, arbitrary: r && r.query.length > 0 ? fc.constantFrom(...r.query) : fc.constant('limit') },
    { weight: 1, arbitrary: fc.constantFrom('foo', '__proto__', 'limit[]', '', '%zz', 'a%00', 'constructor') },
  );
  const value = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...QUERY_VALUES) },
    { weight: 1, arbitrary: fc.constantFrom(...PANS).map(pct) },
    { weight: 1, arbitrary: fc.constantFrom(300, 5000).map(longText) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }).map(pct) },
  );
  return fc.array(fc.tuple(key, value), { maxLength: 4 }).map((kvs) =>
    kvs
      .map(([k, v]) => {
        // a feed read holds the request for `wait` seconds: any wait it would honour becomes 0
        const held = k === 'wait' && /^\d+$/.test(v) && Number(v) > 0 && Number(v) <= 60;
        return `${k}=${held ? '0' : v}`;
      })
      .join('&'),
  );
};

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
type PathChange = 'none' | 'extra' | 'drop' | 'trailing' | 'double' | 'upper' | 'unknown' | 'escape';
const pathChangeArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant<PathChange>('none') },
  { weight: 1, arbitrary: fc.constantFrom<PathChange>('extra', 'drop', 'trailing', 'double', 'upper', 'unknown') },
  { weight: 1, arbitrary: fc.constant<PathChange>('escape') },
);
const brokenPathArb = fc.constantFrom<PathChange>('extra', 'drop', 'trailing', 'double', 'upper', 'unknown', 'escape');

function changePath(path: string, change: PathChange, escape: string): string {
  switch (change) {
    case 'none':
      return path;
    case 'extra':
      return `${path}/x`;
    case 'drop':
      return path.slice(0, path.lastIndexOf('/')) || '/';
    case 'trailing':
      return `${path}/`;
    case 'double':
      return `/${path}`;
    case 'upper':
      return path.toUpperCase();
    case 'unknown':
      return `/v1/admin/${pct(PANS[0]!)}/nothing`;
    case 'escape': {
      const parts = path.split('/');
      const at = Math.min(2, parts.length - 1); // inside the literal part: /v1/<here>…
      parts[at] = `${parts[at] ?? ''}${escape}`;
      return parts.join('/');
    }
  }
}

/** What a case breaks: one part of an otherwise valid request, or several parts at once. */
type Defect = 'method' | 'path' | 'param' | 'query' | 'headers' | 'token' | 'body' | 'several';
const DEFECTS: Defect[] = ['method', 'path', 'param', 'query', 'headers', 'token', 'body', 'body', 'body', 'several'];

/** The value of a path parameter that names something that exists (or did: a case may have removed it). */
function validParam(r: HubRoute, name: string): string {
  if (name !== 'id') return fx.params[name]?.[0] ?? 'x';
  return fx.ids.find(([under]) => r.path.includes(under))?.[1] ?? 'x';
}

/** The headers and body of a valid request to the route. */
function validParts(r: HubRoute): { headers: Record<string, string>; body: string | undefined } {
  if (r.path === '/v1/admin/inventory/import')
    return { headers: { 'content-type': 'text/csv' }, body: 'store,sku,qty\nS2,A,1\n' };
  const template = TEMPLATES[`${r.method} ${r.path}`];
  if (template !== undefined) return { headers: JSON_TYPE, body: JSON.stringify(template) };
  return { headers: {}, body: r.method === 'GET' ? undefined : '{}' };
}

/** An admin API request made from a route of the contract, valid but for what its defect breaks. */
const adminCaseArb = (r: HubRoute) =>
  fc
    .constantFrom(...DEFECTS)
    .chain((defect) => {
      const pick = <T>(part: Defect, valid: fc.Arbitrary<T>, broken: fc.Arbitrary<T>): fc.Arbitrary<T> =>
        defect === part || defect === 'several' ? broken : valid;
      const valid = validParts(r);
      const names = r.parts.filter((p) => p.startsWith(':')).map((p) => p.slice(1));
      return fc.record({
        route: fc.constant(r),
        params: fc.tuple(...names.map((n) => pick('param', fc.constant(pct(validParam(r, n))), segmentArb(n)))),
        method: pick('method', fc.constant(r.method), fc.constantFrom(...METHODS)),
        change: pick('path', fc.constant<PathChange>('none'), defect === 'path' ? brokenPathArb : pathChangeArb),
        escape: fc.constantFrom(...BAD_ESCAPES),
        query: pick('query', fc.constant(''), queryArb(r)),
        headers: pick('headers', fc.constant(valid.headers), headersArb),
        token: pick(
          'token',
          fc.constantFrom<TokenKind>(...(r.writes ? ['admin' as const] : (['admin', 'operator'] as const))),
          tokenArb,
        ),
        body: pick('body', fc.constant<Body>(valid.body), bodyArb(r)),
        chunked: fc.boolean(),
      });
    })
    .map((c): { sent: Sent; token: TokenKind } => {
      let i = 0;
      const filled = c.route.parts.map((p) => (p.startsWith(':') ? (c.params[i++] ?? 'x') : p)).join('/');
      const path = changePath(`/${filled}`, c.change, c.escape);
      return {
        sent: {
          method: c.method,
          path: c.query ? `${path}?${c.query}` : path,
          headers: { ...c.headers, ...authHeader(c.token) },
          body: c.body,
          chunked: c.chunked,
        },
        token: c.token,
      };
    });

/** What the router must answer to `s`, where the test knows (a bad escape, no route, another method, the token). */
function expectedOf(s: Sent, token: TokenKind | undefined): Expected {
  // `//…` is read as `//authority/path` today (finding F8): what it must answer is left to the general rules
  if (s.path.startsWith('//')) return {};
  const segs = segmentsOf(s.path);
  if (segs === undefined) return { status: 400, code: TbCodes.MALFORMED, message: /% escape/ };
  const byPath = HUB_ROUTES.filter((r) => matches(r, segs));
  if (byPath.length === 0) return { status: 404, code: TbCodes.NOT_FOUND, message: /no such endpoint/ };
  const hit = byPath.filter((r) => r.method === s.method);
  if (hit.length === 0)
    return { status: 405, code: TbCodes.NOT_FOUND, message: new RegExp(`${s.method} is not allowed`) };
  const [only] = hit;
  if (hit.length > 1 || only?.surface !== 'admin' || only.bodyFirst || token === undefined) return {};
  if (!['admin', 'operator'].includes(token))
    return { status: 401, code: TbCodes.UNAUTHORIZED, message: /admin token/ };
  if (token === 'operator' && only.writes) return { status: 403, code: TbCodes.FORBIDDEN, message: /may only read/ };
  return {};
}

async function checkCase(s: Sent, token: TokenKind | undefined): Promise<void> {
  const head = Buffer.byteLength(s.path) + 1024;
  const o = await send(s);
  const expected = head > MAX_HEAD ? {} : expectedOf(s, token);
  const left = unexplained(problemsOf(sentTextOf(s), o, expected), s);
  const label = `${s.method} ${s.path.slice(0, 200)} ${JSON.stringify(s.headers)} ${bodyText(s).slice(0, 200)}`;
  expect(left, label).toEqual([]);
  await stillServing(label, ++adminCases % 4 === 0);
}
let adminCases = 0;

// ---- the agents' endpoints ----

/** The code the last check enrolled with: used, so refused from then on. */
let usedCode = '';
const USED_CODE = '"$USED_CODE"';
const agentFieldValue = (name: 'store' | 'apiKey' | 'code'): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        ...{
          store: ['"S1"', '"S2"', '"NOPE"', '"E1"'],
          apiKey: ['"$S1_KEY"', '"$S2_KEY"', '"$ADMIN"', '"tbk_garbage"', '""'],
          code: [USED_CODE, '"K5MA-G876-5BNC-DBRK"', '"----"', '""', '"k5ma g876 5bnc dbrk"'],
        }[name],
      ),
    },
    { weight: 2, arbitrary: leafJson },
    { weight: 1, arbitrary: jsonValue },
  );
/** `{store, apiKey}` or `{code}` with some fields left out, mistyped or hostile. */
const agentBodyArb = fc
  .record(
    { store: agentFieldValue('store'), apiKey: agentFieldValue('apiKey'), code: agentFieldValue('code') },
    { requiredKeys: [] },
  )
  .map(
    (fields): Body =>
      `{${Object.entries(fields)
        .map(([k, v]) => `"${k}":${v}`)
        .join(',')}}`,
  );

const agentCaseArb = fc
  .constantFrom(TOKEN_ROUTE, ENROLL_ROUTE)
  .chain((r) =>
    fc.record({
      route: fc.constant(r),
      method: fc.oneof(
        { weight: 5, arbitrary: fc.constant('POST') },
        { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
      ),
      change: pathChangeArb,
      escape: fc.constantFrom(...BAD_ESCAPES),
      query: queryArb(undefined),
      headers: headersArb,
      body: fc.oneof({ weight: 3, arbitrary: agentBodyArb }, { weight: 3, arbitrary: bodyArb(r) }),
      chunked: fc.boolean(),
      auth: fc.constantFrom<TokenKind>('none', 'none', 'admin', 'garbage', 'pan', 'basic'),
    }),
  )
  .map((c): Sent => ({
    method: c.method,
    path: `${changePath(c.route.path, c.change, c.escape)}${c.query ? `?${c.query}` : ''}`,
    headers: { ...c.headers, ...authHeader(c.auth) },
    body: c.body,
    chunked: c.chunked,
  }));

/** The placeholders of a generated body filled in with this run's secrets and used code. */
function filled(s: Sent): Sent {
  if (typeof s.body !== 'string') return s;
  const body = s.body
    .replaceAll(USED_CODE, JSON.stringify(usedCode))
    .replaceAll('$S1_KEY', fx.s1Key)
    .replaceAll('$S2_KEY', fx.s2RevokedKey)
    .replaceAll('$ADMIN', fx.admin);
  return { ...s, body };
}

// ---- the agents' WebSocket ----

interface UpgradeCase {
  method: string;
  path: string;
  connection: string | undefined;
  upgrade: string | undefined;
  key: string | undefined;
  version: string | undefined;
  auth: 'valid' | 'none' | 'garbage' | 'expired' | 'revokedKey' | 'admin' | 'basic' | 'pan';
  extra: string | undefined;
}
const VALID_KEY = Buffer.from('0123456789abcdef').toString('base64');
const upgradeCaseArb: fc.Arbitrary<UpgradeCase> = fc.record({
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constant('GET') },
    { weight: 1, arbitrary: fc.constantFrom('POST', 'PUT') },
  ),
  path: fc.oneof(
    { weight: 6, arbitrary: fc.constant(AGENT_WS_PATH) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        `${AGENT_WS_PATH}/`,
        `${AGENT_WS_PATH}?x=%zz`,
        `${AGENT_WS_PATH}%zz`,
        `${AGENT_WS_PATH}/%ed%a0%80`,
        '/v1/AGENT',
        '/v1/admin/status',
        TOKEN_PATH,
        '/',
        '//',
        `/${'x'.repeat(4000)}`,
      ),
    },
  ),
  connection: fc.constantFrom('Upgrade', 'upgrade, keep-alive', 'Upgrade', 'keep-alive', undefined),
  upgrade: fc.constantFrom('websocket', 'WebSocket', 'websocket', 'h2c', 'websocket, h2c', 'x'.repeat(300), undefined),
  key: fc.constantFrom(VALID_KEY, VALID_KEY, VALID_KEY, 'abc', '', undefined),
  version: fc.constantFrom('13', '13', '13', '8', '99', 'abc', undefined),
  auth: fc.constantFrom('valid', 'valid', 'valid', 'none', 'garbage', 'expired', 'revokedKey', 'admin', 'basic', 'pan'),
  extra: fc.constantFrom(
    undefined,
    undefined,
    'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99', // the hub offers none: ignored
    'Sec-WebSocket-Protocol: ,,,',
    'Content-Length: 0',
  ),
});

function upgradeRequest(c: UpgradeCase, token: string): string {
  const auth = {
    valid: `Bearer ${token}`,
    none: undefined,
    garbage: 'Bearer eyJhbGciOiJub25lIn0.e30.',
    expired: `Bearer ${fx.expired}`,
    revokedKey: `Bearer ${fx.revokedKeyToken}`,
    admin: `Bearer ${fx.admin}`,
    basic: 'Basic YWdlbnQ6YWdlbnQ=',
    pan: `Bearer ${PANS[0]!}`,
  }[c.auth];
  const lines = [
    `${c.method} ${c.path} HTTP/1.1`,
    'Host: 127.0.0.1',
    c.connection && `Connection: ${c.connection}`,
    c.upgrade && `Upgrade: ${c.upgrade}`,
    c.key !== undefined && `Sec-WebSocket-Key: ${c.key}`,
    c.version && `Sec-WebSocket-Version: ${c.version}`,
    auth && `Authorization: ${auth}`,
    c.extra,
  ].filter((l): l is string => typeof l === 'string');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Whether Node hands the request to the upgrade handler (Connection names upgrade, and an Upgrade is given). */
const isUpgrade = (c: UpgradeCase): boolean => /upgrade/i.test(c.connection ?? '') && c.upgrade !== undefined;
/** Whether it is the one request the hub must upgrade. */
const upgrades = (c: UpgradeCase): boolean =>
  isUpgrade(c) &&
  c.method === 'GET' &&
  URL.canParse(c.path, 'http://hub') &&
  new URL(c.path, 'http://hub').pathname === AGENT_WS_PATH &&
  c.upgrade?.toLowerCase() === 'websocket' &&
  c.key === VALID_KEY &&
  (c.version === '13' || c.version === '8') &&
  c.auth === 'valid' &&
  c.extra !== 'Sec-WebSocket-Protocol: ,,,';

// ---- raw request lines and headers ----

const rawRequestArb = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'FOO', 'get', 'G ET', '', 'GET\u0000', 'CONNECT'),
    target: fc.oneof(
      fc.constantFrom('/v1/admin/status', TOKEN_PATH, ENROLL_PATH, AGENT_WS_PATH, '/healthz', '/', '*'),
      fc.constantFrom('//', '//:99999', 'x', 'http://[::1/', 'http://x/v1/admin/status', '/%zz', '/a b', '/\u0001'),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `/${s}`),
    ),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'http/1.1', '', 'HTTP/1.1 x'),
    headers: fc.subarray([
      'Host: 127.0.0.1',
      'Host: 127.0.0.1',
      'Host:',
      'Bad Header',
      'X-Control: \u0001',
      ' folded: continuation',
      'Content-Length: abc',
      'Content-Length: -1',
      'Content-Length: 1\r\nContent-Length: 2',
      'Transfer-Encoding: gzip',
      'Connection: close',
      'Expect: nonsense',
      `Authorization: Bearer $ADMIN`,
      `X-Long: ${'h'.repeat(20_000)}`,
    ]),
    chunked: fc.boolean(),
  })
  .map(({ method, target, version, headers, chunked }) => {
    const head = [`${method} ${target} ${version}`.trimEnd(), ...headers];
    // a body that ends: chunked and closed with its last chunk, so a request the parser takes is whole
    if (chunked) head.push('Transfer-Encoding: chunked');
    return { method, target, text: `${head.join('\r\n')}\r\n\r\n${chunked ? '3\r\n{}x\r\n0\r\n\r\n' : ''}` };
  });

// ---- the properties ----

describe('the admin API: every route of the contract, and the POSLog export,', () => {
  it.each(ADMIN_ROUTES.map((r): [string, HubRoute] => [`${r.method} ${r.path}`, r]))(
    '%s answers every broken request below 500, as the house error naming its problem, and keeps serving',
    async (_, r) => {
      // the routes that read a body get more cases: there is more to break in them
      const numRuns = validParts(r).body === undefined ? RUNS.adminRead : RUNS.adminBody;
      await fc.assert(
        fc.asyncProperty(adminCaseArb(r), async ({ sent, token }) => checkCase(sent, token)),
        { numRuns },
      );
    },
  );
});

describe("the agents' token and enrollment endpoints", () => {
  it('answer every broken request below 500, as the house error, and keep serving', async () => {
    await fc.assert(
      fc.asyncProperty(agentCaseArb, async (generated) => {
        const s = filled(generated);
        const o = await send(s);
        const label = `${s.method} ${s.path.slice(0, 200)} ${JSON.stringify(s.headers)} ${bodyText(s).slice(0, 200)}`;
        const head = Buffer.byteLength(s.path) + 1024;
        expect(
          unexplained(problemsOf(sentTextOf(s), o, head > MAX_HEAD ? {} : expectedOf(s, undefined)), s),
          label,
        ).toEqual([]);
        await stillServing(label);
      }),
      { numRuns: RUNS.agents },
    );
  });
});

describe("the agents' WebSocket", () => {
  it('answers every upgrade it does not take with a 4xx, never hangs, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(upgradeCaseArb, async (c) => {
        const text = upgradeRequest(c, await accessToken());
        const o = await sendRaw(text);
        const s: Sent = { method: c.method, path: c.path, headers: {}, body: undefined };
        const label = JSON.stringify(c).slice(0, 400);
        if (upgrades(c)) {
          expect(o.kind === 'answer' && o.status, label).toBe(101);
        } else if (o.kind === 'answer' && isUpgrade(c)) {
          // the upgrade handler's refusals (and the ws library's) carry no JSON: a 4xx is the rule here
          expect(unexplained(o.status >= 500 ? [{ kind: '5xx', detail: `${o.status}` }] : [], s), label).toEqual([]);
          expect(o.status, label).toBeGreaterThanOrEqual(400);
        } else {
          // not an upgrade to Node: an ordinary request, held to the ordinary rules
          expect(unexplained(problemsOf(text, o), s), label).toEqual([]);
        }
        await stillServing(label);
      }),
      { numRuns: RUNS.upgrade },
    );
  });

  it('answers a plain GET of its path with a 4xx JSON error', async () => {
    const o = await send({ method: 'GET', path: AGENT_WS_PATH, headers: bearer(await accessToken()) });
    expect(o.kind === 'answer' && o.status).toBe(404);
    expect(problemsOf('', o)).toEqual([]);
  });
});

describe('a raw socket', () => {
  const examples: [string, string][] = [
    ['a request line that is not one', 'GARBAGE\r\n\r\n'],
    ['a header without a colon', 'GET /v1/admin/status HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'],
    ['a NUL in the target', 'GET /v1/admin/status\u0000 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['an unknown HTTP version', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['no Host', 'GET /healthz HTTP/1.1\r\n\r\n'],
    [
      'Content-Length and Transfer-Encoding',
      `POST ${TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'a chunk size that is not hex',
      `POST ${TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
    ],
  ];
  it.each(examples)('answers %s with a 400 and keeps serving', async (what, text) => {
    const o = await sendRaw(text);
    expect(o.kind === 'answer' && o.status, what).toBe(400);
    const s: Sent = { method: 'GET', path: '/', headers: {}, body: text };
    expect(unexplained(problemsOf(text, o), s), what).toEqual([]);
    await stillServing(what);
  });

  it('answers any request line and headers below 500, never hangs, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(rawRequestArb, async ({ method, target, text }) => {
        const o = await sendRaw(text.replaceAll('$ADMIN', fx.admin));
        const s: Sent = { method, path: target, headers: {}, body: undefined };
        expect(unexplained(problemsOf(text, o), s), JSON.stringify(text.slice(0, 300))).toEqual([]);
        await stillServing(JSON.stringify(text.slice(0, 300)));
      }),
      { numRuns: RUNS.raw },
    );
  });
});

// ---- the findings: each reproduction fails while the hub is wrong (`it.fails`); fixed, delete it and its KNOWN ----

interface Reproduction {
  /** the KNOWN entry that explains what the hub answers today */
  id: string;
  /** what the hub should do */
  should: string;
  run: () => Promise<{ sent: Sent; o: Outcome | RawOutcome }>;
  /** the assertions of the right answer (they fail today) */
  right: (o: Outcome | RawOutcome) => void;
  /** an upgrade: its refusals carry no body by design, only a 5xx, a hang or no answer break its rules */
  upgrade?: true;
}

const adminSent = (method: string, path: string, body?: string, type = 'application/json'): Sent => ({
  method,
  path,
  headers: { ...bearer(fx.admin), 'content-type': type },
  body,
});
const viaHttp = async (s: Sent): Promise<{ sent: Sent; o: Outcome }> => ({ sent: s, o: await send(s) });
const viaSocket = async (method: string, path: string, text: string): Promise<{ sent: Sent; o: RawOutcome }> => ({
  sent: { method, path, headers: {}, body: undefined },
  o: await sendRaw(text),
});
const houseError =
  (status: number, message: RegExp) =>
  (o: Outcome | RawOutcome): void => {
    expect(o.kind === 'answer' && o.status).toBe(status);
    if (o.kind === 'answer') expect(JSON.parse(o.text)).toMatchObject({ code: expect.any(String), message });
  };

const REPRODUCTIONS: Reproduction[] = [
  {
    id: 'null-body',
    should: 'a JSON body of null is a 400, not a TypeError (500)',
    run: () => viaHttp(adminSent('PUT', '/v1/admin/stores/min-version', 'null')),
    right: houseError(400, /body|version/),
  },
  {
    id: 'history-limit',
    should: 'a history limit that is not a whole number is a 400 naming limit',
    run: () => viaHttp(adminSent('GET', '/v1/admin/policy/history?limit=1.5')),
    right: houseError(400, /limit/),
  },
  {
    // F3, fixed in efebd99 (KeyRotation refuses a grace over 365 days, an interval over 3650): was a RangeError, 500
    id: 'huge-duration',
    should: 'a key schedule past the last date a Date holds is a 400 naming --every',
    run: () => viaHttp(adminSent('PUT', '/v1/admin/stores/S2/keys/schedule', '{"everyMs":1e300,"graceMs":0}')),
    right: houseError(400, /every/),
  },
  {
    id: 'deep-json',
    should: 'a deeply nested sale posted as JSON is a 400',
    run: () => viaHttp(adminSent('POST', '/v1/admin/sales', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000))),
    right: houseError(400, /./),
  },
  {
    id: 'deep-json',
    should: "a webhook's store nested deep is a 400 or 404, not a RangeError quoting it",
    run: () => viaHttp(adminSent('POST', '/v1/admin/webhooks', `{"url":"http://127.0.0.1:9/h","store":${deep(5000)}}`)),
    right: (o) => expect(o.kind === 'answer' && [400, 404].includes(o.status)).toBe(true),
  },
  {
    id: 'deep-json',
    should: "a feed ack's position nested deep is a 400 naming position",
    run: () => viaHttp(adminSent('POST', '/v1/feed/consumers/erp/ack', `{"position":${deep(5000)}}`)),
    right: houseError(400, /position/),
  },
  {
    id: 'oversize-reset',
    should: 'a body over the route limit is answered 413 TB_FRAME_TOO_LARGE',
    run: () =>
      viaHttp(adminSent('PUT', '/v1/admin/managers/m1', JSON.stringify({ code: '246810', name: longText(5000) }))),
    right: houseError(413, /over 4096 bytes/),
  },
  {
    id: 'oversize-reset',
    should: 'a body twice the default limit, sent in chunks, is answered 413 once it is all in',
    run: () =>
      viaHttp({ ...adminSent('POST', '/v1/admin/stores', `{"pad":"${longText(2 * DEFAULT_LIMIT)}"}`), chunked: true }),
    right: houseError(413, /over 1048576 bytes/),
  },
  {
    id: 'oversize-reset',
    should: "an import over the hub's limit is answered 413 once its rest is read, not reset",
    run: () =>
      viaHttp(
        adminSent('POST', '/v1/admin/inventory/import', 'store,sku,qty\n' + 'S2,a,1\n'.repeat(20_000), 'text/csv'),
      ),
    right: houseError(413, /larger than 65536 bytes/),
  },
  {
    id: 'node-bodiless',
    should: 'a head over 16 KiB is a 431 with the house error',
    run: () =>
      viaSocket('GET', '/healthz', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ${longText(MAX_HEAD)}\r\n\r\n`),
    right: houseError(431, /16 KiB/),
  },
  {
    id: 'node-bodiless',
    should: 'an HTTP/1.1 request without Host is a 400 with the house error',
    run: () => viaSocket('GET', '/healthz', 'GET /healthz HTTP/1.1\r\n\r\n'),
    right: houseError(400, /Host/),
  },
  {
    id: 'node-bodiless',
    should: 'an Expect other than 100-continue is a 417 with the house error',
    run: () => viaSocket('GET', '/healthz', 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n'),
    right: houseError(417, /Expect/),
  },
  {
    id: 'card-echo',
    should: 'an error answer never echoes a card number the request named',
    run: () => viaHttp(adminSent('GET', `/v1/admin/sales/${PANS[0]!}`)),
    right: (o) => {
      expect(o.kind === 'answer' && o.status).toBe(404);
      expect(o.kind === 'answer' && o.text).not.toContain(PANS[0]);
    },
  },
  {
    id: 'node-bodiless',
    should: "what Node's parser refuses is still answered with the house error",
    run: () => viaSocket('GARBAGE', '/', 'GARBAGE\r\n\r\n'),
    right: houseError(400, /./),
  },
  {
    id: 'unparsable-target',
    should: 'a request target the URL parser refuses is a 400',
    run: () => viaSocket('GET', 'http://[::1/', 'GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n'),
    right: houseError(400, /./),
  },
  {
    id: 'unparsable-target',
    should: 'a request target of `//` is a 4xx',
    run: () => viaSocket('GET', '//', 'GET // HTTP/1.1\r\nHost: x\r\n\r\n'),
    right: (o) => expect(o.kind === 'answer' && [400, 404].includes(o.status)).toBe(true),
  },
  {
    id: 'unparsable-target',
    should: 'an upgrade to a request target of `//` is a 4xx, not a 503',
    upgrade: true,
    run: () =>
      viaSocket('GET', '//', 'GET // HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
    right: (o) => expect(o.kind === 'answer' && [400, 404].includes(o.status)).toBe(true),
  },
  {
    id: 'card-echo',
    should: "an import's bad rows (in details, and as `imports show` keeps them) never quote a card number",
    run: async () => {
      const sent = adminSent(
        'POST',
        '/v1/admin/inventory/import',
        'store,sku,qty\n4242 4242 4242 4242,A,1\n',
        'text/csv',
      );
      const o = await send(sent);
      const id = o.kind === 'answer' ? (JSON.parse(o.text) as { details?: { import?: string } }).details?.import : '';
      const shown = await send(adminSent('GET', `/v1/admin/imports/${id ?? ''}`));
      return {
        sent,
        o: {
          ...o,
          text: `${o.kind === 'answer' ? o.text : ''} ${shown.kind === 'answer' ? shown.text : ''}`,
        } as Outcome,
      };
    },
    right: (o) => {
      expect(o.kind === 'answer' && o.status).toBe(400);
      const text = o.kind === 'answer' ? o.text : '';
      expect(text).toContain('424242******4242'); // masked where it is quoted
      expect(findCardNumbers(text)).toEqual([]);
    },
  },
  {
    id: 'csv-opening-quote',
    should: 'a CSV import with a quote inside a field is a 400 naming the line',
    run: () => viaHttp(adminSent('POST', '/v1/admin/inventory/import', 'store,sku,qty\nS2,a"b,1\n', 'text/csv')),
    right: houseError(400, /line 2/),
  },
  {
    id: 'connect-closed',
    should: 'a CONNECT is answered (405), not dropped',
    run: () => viaSocket('CONNECT', '/', 'CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n'),
    right: houseError(405, /./),
  },
];

describe('known findings', () => {
  const open = (r: Reproduction): boolean => KNOWN.some((k) => k.id === r.id);
  for (const r of REPRODUCTIONS) {
    // open: it fails while the hub is wrong; fixed (its KNOWN entry deleted): an ordinary test
    (open(r) ? it.fails : it)(`${r.id}: ${r.should}`, async () => {
      const { o } = await r.run();
      r.right(o);
    });
  }

  it('a body that goes on far past its limit is cut: the hub reads at most 4 MiB more of it', async () => {
    const huge = JSON.stringify({ code: '246810', name: longText(DISCARD_AT_MOST + 1024 * 1024) });
    const o = await send(adminSent('PUT', '/v1/admin/managers/m1', huge));
    expect(o.kind).toBe('reset');
    await stillServing('a body far past its limit');
  });

  it('each is what its KNOWN entry explains, and KNOWN holds no entry without one', async () => {
    for (const r of REPRODUCTIONS.filter(open)) {
      const { sent, o } = await r.run();
      const known = KNOWN.find((k) => k.id === r.id)!;
      // fixed: nothing left to explain (its `it.fails` says so); else all of it is this entry's
      const problems = problemsOf(sentTextOf(sent), o).filter(
        (p) => !r.upgrade || ['5xx', 'hang', 'closed', 'reset'].includes(p.kind),
      );
      const left = problems.filter((p) => !known.explains(p, sent));
      expect(left, r.id).toEqual([]);
    }
    expect(KNOWN.filter((k) => !REPRODUCTIONS.some((r) => r.id === k.id)).map((k) => k.id)).toEqual([]);
    await stillServing('the findings');
  });
});
