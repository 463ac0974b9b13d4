import { isTbError, TbCodes, TbError } from '@tillbridge/shared';
import { rateLimited } from '../auth/gate.js';
import type { AdminIdentity, Credentials } from '../auth/credentials.js';
import type { Gate } from '../auth/gate.js';

export interface AdminAccessDeps {
  credentials: Pick<Credentials, 'checkAdminToken'>;
  gate: Pick<Gate, 'failed'>;
}

/** Who an admin request is: its bearer token checked, a refused one counted against its source. */
export class AdminAccess {
  constructor(private readonly d: AdminAccessDeps) {}

  /**
   * The identity of an `Authorization` header's admin token. A refused token counts against its
   * source like any failed authentication; once the source is blocked its failing requests are
   * refused TB_RATE_LIMITED (a working token is still served).
   */
  identify(authorization: string | undefined, source: string, path: string | undefined): AdminIdentity {
    try {
      const m = /^Bearer (.+)$/.exec(authorization ?? '');
      if (!m) throw new TbError(TbCodes.UNAUTHORIZED, 'an admin token is required (Authorization: Bearer tba_…)');
      return this.d.credentials.checkAdminToken(m[1]!);
    } catch (err) {
      if (!isTbError(err, TbCodes.UNAUTHORIZED)) throw err;
      const wait = this.d.gate.failed(source, 'admin API', { path });
      throw wait > 0 ? rateLimited('too many failed authentications from this address; try again later', wait) : err;
    }
  }
}
