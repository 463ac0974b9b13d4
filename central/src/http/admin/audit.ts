import { TbCodes, TbError } from '@tillbridge/shared';
import type { PageQuery } from '../../audit/query.js';
import type { AdminApi } from '../../usecases/index.js';
import type { RequestContext, Router } from '../router.js';
import { actorOf, authorize, need, readOnly } from './common.js';
import * as contract from '../contract/audit.js';

function intParam(ctx: RequestContext, name: string, def: number): number;
function intParam(ctx: RequestContext, name: string): number | undefined;
function intParam(ctx: RequestContext, name: string, def?: number): number | undefined {
  const v = ctx.query.get(name);
  if (v === null) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new TbError(TbCodes.INVALID, `${name}: expected a whole number, got "${v}"`);
  return n;
}

/** The audit log: verify, tail, page through (export), signed checkpoints, the signing key. */
export function auditRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(
    contract.verifyAudit,
    readOnly(api, () => q.auditTrail.verify()),
  );

  router.serve(contract.auditTail, (ctx) => {
    authorize(api, ctx, false);
    const after = Number(ctx.query.get('after') ?? '0');
    const limit = Math.min(Number(ctx.query.get('limit') ?? '100'), 10_000);
    if (!Number.isInteger(after) || !Number.isInteger(limit) || limit < 1)
      throw new TbError(TbCodes.INVALID, 'after and limit must be integers');
    return ctx.query.has('after') ? q.audit.after(after, limit) : q.audit.tail(limit);
  });

  router.serve(contract.auditEntries, (ctx) => {
    authorize(api, ctx, false);
    const page: PageQuery = { limit: intParam(ctx, 'limit', 1000) };
    const after = intParam(ctx, 'after');
    if (after !== undefined) page.after = after;
    for (const k of ['since', 'until', 'store'] as const) {
      const v = ctx.query.get(k);
      if (v !== null) page[k] = v;
    }
    return q.auditTrail.query.page(page);
  });

  router.serve(contract.listCheckpoints, (ctx) => {
    authorize(api, ctx, false);
    const limit = Math.min(intParam(ctx, 'limit', 50), 1000);
    const before = intParam(ctx, 'before') ?? Number.MAX_SAFE_INTEGER;
    return q.auditTrail.checkpoints
      .list(limit, before)
      .map(({ seq, id, hash, at, entries, fingerprint }) => ({ seq, id, hash, at, entries, fingerprint }));
  });

  router.serve(contract.latestCheckpoint, (ctx) => {
    authorize(api, ctx, false);
    const cps = q.auditTrail.checkpoints;
    const latest = cps.latest();
    if (!latest)
      throw new TbError(TbCodes.NOT_FOUND, 'no checkpoint yet: `tillbridge-hub audit checkpoint --now` signs one');
    return cps.file(latest);
  });

  router.serve(contract.showCheckpoint, (ctx) => {
    authorize(api, ctx, false);
    const seq = Number(ctx.params.seq);
    if (!Number.isInteger(seq) || seq < 1)
      throw new TbError(TbCodes.INVALID, `checkpoint: expected its number, got "${ctx.params.seq}"`);
    const cps = q.auditTrail.checkpoints;
    return cps.file(need(cps.get(seq), `checkpoint ${seq}`));
  });

  // a checkpoint of the head now; the request is audited and covered by it
  router.serve(contract.signCheckpoint, (ctx) => {
    const who = authorize(api, ctx, true);
    return api.audit.checkpoint(actorOf(who));
  });

  router.serve(
    contract.auditPublicKey,
    readOnly(api, () => q.auditTrail.checkpoints.publicKey()),
  );
}
