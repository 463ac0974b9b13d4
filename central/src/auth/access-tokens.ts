import { SignJWT, jwtVerify, errors } from 'jose';
import { systemClock, TbCodes, TbError } from '@tillbridge/shared';

/**
 * Short-lived access tokens for agents: HS256 JWTs (jose) bound to one store, issued by
 * POST /v1/token in exchange for the store's API key.
 */
export class AccessTokens {
  /** `now`: the hub's clock (hub-services passes it), for the tokens' iat/exp and their check. */
  constructor(
    private readonly key: Buffer,
    private readonly lifetimeSec: number,
    private readonly now: () => number = () => systemClock.now(),
  ) {}

  get lifetime(): number {
    return this.lifetimeSec;
  }

  /** A token for `store`, issued against API key `kid` (it dies with that key). */
  async issue(store: string, kid: string): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ typ: 'agent', kid })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(store)
      .setIssuer('tillbridge-hub')
      .setAudience('tillbridge-agent')
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.lifetimeSec)
      .sign(this.key);
  }

  /** The store a token is bound to, the key it was issued against, and when it expires (epoch ms). */
  async verify(token: string): Promise<{ store: string; kid: string; expiresAt: number }> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        issuer: 'tillbridge-hub',
        audience: 'tillbridge-agent',
        algorithms: ['HS256'],
        currentDate: new Date(this.now()),
      });
      if (
        typeof payload.sub !== 'string' ||
        payload.typ !== 'agent' ||
        typeof payload.exp !== 'number' ||
        typeof payload.kid !== 'string'
      )
        throw new Error('malformed claims');
      return { store: payload.sub, kid: payload.kid, expiresAt: payload.exp * 1000 };
    } catch (err) {
      const expired = err instanceof errors.JWTExpired;
      throw new TbError(TbCodes.UNAUTHORIZED, expired ? 'access token expired' : 'invalid access token', {
        cause: err,
        details: { expired },
      });
    }
  }
}
