import { fromMilli, TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { ReturnRow } from '../../domain/returns-repo.js';
import { ticketHeader } from '../../domain/return-ticket.js';
import type { Router } from '../router.js';
import { actorOf, authorize, need } from './common.js';

function summary(r: ReturnRow): Record<string, unknown> {
  return {
    ...ticketHeader(r),
    exception: r.exception_code,
    reconciliation: r.reconciliation,
    resolution: r.resolution,
    reason: r.reason,
    refund: r.refund_amount,
    refundKind: r.refund_kind,
    createdAt: r.created_at,
    completedAt: r.completed_at,
  };
}

/** Return tickets (online and offline, every outcome) and the exceptions the operator settles. */
export function returnRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  const lines = (auth: string) =>
    q.returnsRepo.lines(auth).map((l) => ({
      line: Math.max(0, l.line),
      sku: l.asked_sku,
      requested: fromMilli(l.requested_qty),
      approved: fromMilli(l.approved_qty),
      completed: fromMilli(l.completed_qty),
      disposition: l.disposition,
      code: l.code,
      reason: l.reason,
    }));

  router.add('GET', '/v1/admin/returns', (ctx) => {
    authorize(api, ctx, false);
    return q.returnsRepo.list(ctx.query.get('store') ?? undefined).map((r) => ({ ...summary(r), lines: lines(r.authorization) }));
  });

  /** The whole ticket: request, rules that fired, decision, override, completion, reconciliation. */
  router.add('GET', '/v1/admin/returns/:authorization', (ctx) => {
    authorize(api, ctx, false);
    const r = need(q.returnsRepo.get(ctx.params.authorization!), `return ${ctx.params.authorization}`);
    const request = JSON.parse(r.request) as Record<string, unknown>;
    if (typeof request.cardHash === 'string') request.cardHash = '(keyed hash)';
    return {
      ...summary(r),
      /** the sale's currency, which every amount of the ticket is in (null: no receipt) */
      currency: q.sales.ofReturn(r)?.currency ?? null,
      request,
      policyVersion: r.policy_version,
      rules: JSON.parse(r.rules) as unknown[],
      decisionDetail: { allowedTenders: JSON.parse(r.allowed_tenders) as string[], conditions: JSON.parse(r.conditions) as string[], grossRefund: r.gross_refund, fees: r.fees, expiresAt: r.expires_at },
      lines: lines(r.authorization),
      exchange: q.returnsRepo.exchanges(r.authorization).map((e) => ({ sku: e.sku, qty: fromMilli(e.qty), approved: fromMilli(e.approved_qty), code: e.code })),
      override: r.override_by ? { manager: r.override_by, at: r.override_at } : null,
      completion: r.completed_at ? { at: r.completed_at, refund: { kind: r.refund_kind, amount: r.refund_amount }, kind: r.kind } : null,
      reconciliation: r.mode === 'offline' ? { result: r.reconciliation, exception: r.exception_code, lateOnlineReplaced: r.late_online === 1 } : null,
      resolution: r.resolution ? { action: r.resolution, by: r.resolved_by, at: r.resolved_at, note: r.resolution_note } : null,
      exceptions: q.exceptions.forAuthorization(r.authorization).map((e) => ({ id: e.id, code: e.code, reason: e.reason, createdAt: e.created_at, resolvedAt: e.resolved_at })),
    };
  });

  router.add('GET', '/v1/admin/exceptions', (ctx) => {
    authorize(api, ctx, false);
    const open = ctx.query.get('open') === 'true';
    return q.exceptions
      .forStore(ctx.query.get('store') ?? undefined)
      .filter((e) => !open || e.resolved_at === null)
      .map((e) => ({
        id: e.id,
        store: e.store,
        register: e.register,
        kind: e.kind,
        code: e.code,
        reason: e.reason,
        authorization: e.authorization,
        eventId: e.event_id,
        createdAt: e.created_at,
        resolvedAt: e.resolved_at,
        resolution: e.resolution ? (JSON.parse(e.resolution) as unknown) : null,
      }));
  });

  router.add('POST', '/v1/admin/exceptions/:id/resolve', async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { action?: unknown; note?: unknown };
    if (body.action !== 'accept' && body.action !== 'reverse') throw new TbError(TbCodes.INVALID, 'action: expected "accept" or "reverse"');
    if (typeof body.note !== 'string' || body.note.trim() === '') throw new TbError(TbCodes.INVALID, 'note: expected a few words on why (it goes into the audit log)');
    return api.returns.resolveException(actorOf(who), ctx.params.id!, body.action, body.note.slice(0, 500));
  });
}
