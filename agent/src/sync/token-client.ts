import { monotonicClock, TbCodes, TbError, TOKEN_PATH, type TbCode } from '@tillbridge/shared';
import { PinnedAgent } from './pinning.js';
import { postJson } from './post-json.js';

/** How long a token request may take, connection and answer together. */
const TOKEN_REQUEST_MS = 5000;

/**
 * A token and when it runs out, as the hub's `expiresIn` counted from the request: in the
 * milliseconds of the `now` it was fetched with (the hub link's is elapsed time, monotonicClock).
 */
export interface AccessToken {
  token: string;
  expiresAt: number;
  /** when to fetch the next one (about 80 % of its life) */
  refreshAt: number;
}

/**
 * TLS material for talking to the hub: its CA (else the system store) and, for mutual TLS, this store's certificate.
 */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /**
   * The hub certificate's SHA-256 fingerprint (hub.fingerprint): when set, the only certificate accepted
   * (sync/pinning.ts).
   */
  fingerprint?: string;
}

const pinned = new WeakMap<ClientTls, PinnedAgent>();

/** The HTTPS agent that enforces `tls.fingerprint` (one per ClientTls), or undefined without a pin. */
export function pinnedAgentFor(tls: ClientTls | undefined): PinnedAgent | undefined {
  if (!tls?.fingerprint) return undefined;
  let a = pinned.get(tls);
  if (!a) {
    a = new PinnedAgent(tls.fingerprint, {
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
    });
    pinned.set(tls, a);
  }
  return a;
}

/** The hub's HTTP base for a ws:// or wss:// hub URL. */
export function httpBase(hubUrl: string): string {
  const u = new URL(hubUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '';
  u.search = '';
  return u.toString().replace(/\/$/, '');
}

/**
 * The error code for an HTTP status the hub refused with: 401 the store's credentials were not
 * accepted, 429 the hub is limiting, anything else the hub is not available.
 */
export function hubRefusalCode(statusCode: number | undefined): TbCode {
  if (statusCode === 401) return TbCodes.UNAUTHORIZED;
  return statusCode === 429 ? TbCodes.RATE_LIMITED : TbCodes.HUB_UNAVAILABLE;
}

/**
 * What a 429 asks for: its `Retry-After` (delay-seconds, or an HTTP date against `now`) in ms,
 * else the answer's `details.retryAfterSec`, else a minute.
 */
export function retryAfterMs(
  header: string | undefined,
  body: { details?: { retryAfterSec?: unknown } } | undefined,
  now: number,
): number {
  const h = header?.trim();
  if (h && /^\d+$/.test(h)) return Number(h) * 1000;
  if (h) {
    const at = Date.parse(h);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const s = body?.details?.retryAfterSec;
  return typeof s === 'number' && Number.isFinite(s) && s >= 0 ? s * 1000 : 60_000;
}

/**
 * Exchanges the store's API key for a short-lived access token at POST /v1/token (abandoned when
 * `signal` fires). A 429 is `TB_RATE_LIMITED` with `details.retryAfterMs`: how long the hub asked
 * to wait before the next request.
 */
export async function fetchAccessToken(
  hubUrl: string,
  store: string,
  apiKey: string,
  opts: { tls?: ClientTls; refreshRatio?: number; now?: () => number; signal?: AbortSignal } = {},
): Promise<AccessToken> {
  const now = opts.now ?? (() => monotonicClock.now());
  try {
    const started = now();
    const tls = opts.tls;
    const pin = pinnedAgentFor(tls);
    const answer = await postJson(
      `${httpBase(hubUrl)}${TOKEN_PATH}`,
      { store, apiKey },
      {
        timeoutMs: TOKEN_REQUEST_MS,
        ...(tls?.ca ? { ca: tls.ca } : {}),
        ...(tls?.cert ? { cert: tls.cert } : {}),
        ...(tls?.key ? { key: tls.key } : {}),
        ...(pin ? { agent: pin } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
    );
    let res: {
      accessToken?: string;
      expiresIn?: number;
      code?: string;
      message?: string;
      details?: { retryAfterSec?: unknown };
    };
    try {
      res = JSON.parse(answer.body) as typeof res;
    } catch {
      res = {};
    }
    if (answer.statusCode === 429) {
      const header = answer.headers['retry-after'];
      const waitMs = retryAfterMs(typeof header === 'string' ? header : undefined, res, now());
      throw new TbError(
        TbCodes.RATE_LIMITED,
        `the hub is limiting token requests (${res.message ?? 'HTTP 429'}); it asked to wait ` +
          `${Math.ceil(waitMs / 1000)} s`,
        { details: { retryAfterMs: waitMs } },
      );
    }
    if (!res.accessToken || !res.expiresIn) {
      const code =
        res.code === TbCodes.UNAUTHORIZED || res.code === TbCodes.FORBIDDEN
          ? TbCodes.UNAUTHORIZED
          : TbCodes.HUB_UNAVAILABLE;
      throw new TbError(code, `token refused: ${res.message ?? `HTTP ${answer.statusCode}, no token in the answer`}`);
    }
    const lifeMs = res.expiresIn * 1000;
    return {
      token: res.accessToken,
      expiresAt: started + lifeMs,
      refreshAt: started + Math.floor(lifeMs * (opts.refreshRatio ?? 0.8)),
    };
  } catch (err) {
    if (err instanceof TbError) throw err;
    throw new TbError(TbCodes.HUB_UNAVAILABLE, `cannot reach the hub's token endpoint: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
