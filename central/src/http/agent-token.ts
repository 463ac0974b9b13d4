import { TbCodes, TbError, TOKEN_PATH } from '@tillbridge/shared';
import { sourceOf } from '../auth/gate.js';
import { clientCertOf } from '../tls/server-tls.js';
import type { AgentTokenUseCases } from '../usecases/index.js';
import type { Router } from './router.js';

/** POST /v1/token: a store's API key for a short-lived access token (the agents' WebSocket takes it). */
export function agentTokenRoute(router: Router, tokens: AgentTokenUseCases, requireClientCert: boolean): void {
  router.add(
    'POST',
    TOKEN_PATH,
    async (ctx) => {
      const source = sourceOf(ctx.req);
      const cert = clientCertOf(ctx.req);
      if (requireClientCert && cert.kind !== 'valid') {
        return tokens.refuse(
          source,
          cert.kind === 'invalid' ? `client certificate: ${cert.reason}` : 'no client certificate',
          new TbError(TbCodes.UNAUTHORIZED, 'a client certificate is required'),
        );
      }
      let body: { store?: unknown; apiKey?: unknown };
      try {
        body = (await ctx.body()) ?? {}; // `null` is JSON too
      } catch (err) {
        return tokens.refuse(
          source,
          'malformed request',
          err instanceof TbError ? err : new TbError(TbCodes.MALFORMED, 'the request body could not be read'),
        );
      }
      if (typeof body.store !== 'string' || typeof body.apiKey !== 'string')
        return tokens.refuse(source, 'malformed request', new TbError(TbCodes.INVALID, 'expected {"store","apiKey"}'));
      return tokens.issue(source, body.store, body.apiKey, cert.kind === 'valid' ? cert.store : undefined);
    },
    16 * 1024,
  );
}
