import { isTbError, TbCodes, TbError } from '@tillbridge/shared';
import { rateLimited } from '../auth/gate.js';
import type { AccessTokens } from '../auth/access-tokens.js';
import type { AdminIdentity, Credentials } from '../auth/credentials.js';
import type { Gate } from '../auth/gate.js';

export interface AdminAccessDeps {
  credentials: Pick<Credentials, 'checkAdminToken'>;
  gate: Pick<Gate, 'failed'>;
}

/** Who an admin request is: its bearer token checked, a refused one counted against its source. */
export class AdminAccess {
  constructor(private readonly deps: AdminAccessDeps) {}

  /**
   * The identity of an `Authorization` header's admin token. A refused token counts against its
   * source like any failed authentication; once the source is blocked its failing requests are
   * refused TB_RATE_LIMITED (a working token is still served).
   */
  identify(authorization: string | undefined, source: string, path: string | undefined): AdminIdentity {
    try {
      const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
      if (token === undefined) {
        throw new TbError(TbCodes.UNAUTHORIZED, 'an admin token is required (Authorization: Bearer tba_…)');
      }
      return this.deps.credentials.checkAdminToken(token);
    } catch (err) {
      if (!isTbError(err, TbCodes.UNAUTHORIZED)) throw err;
      const wait = this.deps.gate.failed(source, 'admin API', { path });
      throw wait > 0 ? rateLimited('too many failed authentications from this address; try again later', wait) : err;
    }
  }
}

export interface AgentTokenDeps {
  gate: Pick<Gate, 'failed' | 'tokenWait' | 'refused' | 'tokenIssued'>;
  credentials: Pick<Credentials, 'checkApiKey'>;
  tokens: Pick<AccessTokens, 'issue' | 'lifetime'>;
}

/** An agent's access token for its store's API key (POST /v1/token): rate limited per store and per source. */
export class AgentTokenUseCases {
  constructor(private readonly deps: AgentTokenDeps) {}

  /**
   * A request that does not authenticate: a failure of its source; TB_RATE_LIMITED once the source is blocked, else
   * `err`.
   */
  refuse(source: string, reason: string, err: TbError, tried?: string): never {
    const wait = this.deps.gate.failed(
      source,
      'token',
      { reason, ...(tried !== undefined ? { store: tried } : {}) },
      undefined,
      tried,
    );
    throw wait > 0 ? rateLimited('too many failed authentications from this address; try again later', wait) : err;
  }

  /**
   * Checks the store's API key and issues a token for it. Per store, whatever the address: a
   * store past its allowance waits, and so does a blocked address trying again at a key it failed
   * at; a refusal takes nothing from the allowance. `certStore`: the store of a valid client
   * certificate presented (it must be the key's).
   */
  async issue(
    source: string,
    storeRaw: string,
    apiKey: string,
    certStore: string | undefined,
  ): Promise<{ accessToken: string; tokenType: 'Bearer'; expiresIn: number }> {
    const store = storeRaw.slice(0, 64);
    const wait = this.deps.gate.tokenWait(source, store);
    if (wait > 0) throw rateLimited('too many token requests for this store; try again later', wait);
    let key: { store: string; keyId: string };
    try {
      key = this.deps.credentials.checkApiKey(storeRaw, apiKey);
    } catch (err) {
      return this.refuse(
        source,
        'unknown store or API key',
        err instanceof TbError ? err : new TbError(TbCodes.UNAUTHORIZED, 'unknown store or API key'),
        store,
      );
    }
    if (certStore !== undefined && certStore !== key.store) {
      this.deps.gate.refused(
        source,
        'auth.cert_mismatch',
        'token',
        { certificateStore: certStore, store: key.store },
        key.store,
      );
      throw new TbError(TbCodes.FORBIDDEN, 'the client certificate belongs to another store');
    }
    this.deps.gate.tokenIssued(key.store);
    return {
      accessToken: await this.deps.tokens.issue(key.store, key.keyId),
      tokenType: 'Bearer',
      expiresIn: this.deps.tokens.lifetime,
    };
  }
}
