import type { Readable } from 'node:stream';
import type { AdminApi } from '../../usecases/index.js';
import type { ImportRequest } from '../../imports/imports.js';
import type { RequestContext, Router } from '../router.js';
import { need, readOnly } from './common.js';
import { listImports, showImport } from '../contract/imports.js';

/** Imports running or recently finished on this hub: progress while they run, the outcome after. */
export function importRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(
    listImports,
    readOnly(api, () => q.imports.list()),
  );
  router.serve(
    showImport,
    readOnly(api, (ctx) => need(q.imports.get(ctx.params.id), `import ${ctx.params.id}`)),
  );
}

/**
 * An import request from an HTTP request: the body is the request stream itself (never read
 * whole); `?id=` lets the client follow the progress; the client going away stops the import at
 * its next chunk boundary.
 */
export function importRequest(ctx: RequestContext, actor: string, body: Readable = ctx.req): ImportRequest {
  const gone = new AbortController();
  ctx.res.once('close', () => {
    if (!ctx.res.writableFinished) gone.abort();
  });
  const length = Number(ctx.req.headers['content-length']);
  return {
    id: ctx.query.get('id') ?? undefined,
    actor,
    body,
    bytesExpected: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
    signal: gone.signal,
  };
}
