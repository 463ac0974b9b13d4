import got from 'got';
import { TbCodes, TbError, TOKEN_PATH } from '@tillbridge/shared';

export interface AccessToken {
  token: string;
  /** epoch ms */
  expiresAt: number;
  /** epoch ms: when to fetch the next one (about 80 % of its life) */
  refreshAt: number;
}

/** The hub's HTTP base for a ws:// or wss:// hub URL. */
export function httpBase(hubUrl: string): string {
  const u = new URL(hubUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '';
  u.search = '';
  return u.toString().replace(/\/$/, '');
}

/** Exchanges the store's API key for a short-lived access token at POST /v1/token. */
export async function fetchAccessToken(hubUrl: string, store: string, apiKey: string, now = Date.now): Promise<AccessToken> {
  try {
    const started = now();
    const res = await got
      .post(`${httpBase(hubUrl)}${TOKEN_PATH}`, {
        json: { store, apiKey },
        timeout: { request: 5000 },
        retry: { limit: 0 },
        throwHttpErrors: false,
      })
      .json<{ accessToken?: string; expiresIn?: number; code?: string; message?: string }>();
    if (!res.accessToken || !res.expiresIn) {
      throw new TbError(res.code === TbCodes.UNAUTHORIZED ? TbCodes.UNAUTHORIZED : TbCodes.HUB_UNAVAILABLE, `token refused: ${res.message ?? 'no token in the answer'}`);
    }
    const lifeMs = res.expiresIn * 1000;
    return { token: res.accessToken, expiresAt: started + lifeMs, refreshAt: started + Math.floor(lifeMs * 0.8) };
  } catch (err) {
    if (err instanceof TbError) throw err;
    throw new TbError(TbCodes.HUB_UNAVAILABLE, `cannot reach the hub's token endpoint: ${(err as Error).message}`, { cause: err });
  }
}
