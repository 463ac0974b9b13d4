import { fromMilli, TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi } from '../../usecases/index.js';
import type { ReturnLineRow, ReturnRow, ReturnsPageKey } from '../../domain/returns-repo.js';
import { ticketHeader } from '../../domain/return-ticket.js';
import { exceptionFields } from '../../domain/exceptions.js';
import type { Router } from '../router.js';
import type { HandlerResultOf } from '../contract/route.js';
import { parseQuery } from '../contract/route.js';
import { listExceptions, listReturns, resolveException, RETURNS_PAGE, showReturn } from '../contract/returns.js';
import { actorOf, authorize, need } from './common.js';

type ReturnListItem = HandlerResultOf<typeof listReturns>['returns'][number];
type ReturnSummary = Omit<ReturnListItem, 'lines'>;
type ReturnLine = ReturnListItem['lines'][number];

function summary(r: ReturnRow): ReturnSummary {
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

function lineView(l: ReturnLineRow): ReturnLine {
  return {
    line: Math.max(0, l.line),
    sku: l.asked_sku,
    requested: fromMilli(l.requested_qty),
    approved: fromMilli(l.approved_qty),
    completed: fromMilli(l.completed_qty),
    disposition: l.disposition,
    code: l.code,
    reason: l.reason,
  };
}

/** A page's key as the client holds it: opaque text (base64url of the last ticket's creation time and id). */
function cursorOf(key: ReturnsPageKey): string {
  return Buffer.from(JSON.stringify([key.createdAt, key.authorization])).toString('base64url');
}

function keyOf(cursor: string): ReturnsPageKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!isTextPair(key)) throw new TbError(TbCodes.INVALID, 'after: expected the "next" of a page of returns');
  return { createdAt: key[0], authorization: key[1] };
}

function isTextPair(v: unknown): v is [string, string] {
  return Array.isArray(v) && v.length === 2 && v.every((part) => typeof part === 'string');
}

/** The whole ticket: request, rules that fired, decision, override, completion, reconciliation. */
function ticketView(q: AdminApi['queries'], r: ReturnRow): HandlerResultOf<typeof showReturn> {
  const request = JSON.parse(r.request) as Record<string, unknown>;
  if (typeof request.cardHash === 'string') request.cardHash = '(keyed hash)';
  const lateOnlineReplaced = r.late_online === 1;
  const reconciliation = { result: r.reconciliation, exception: r.exception_code, lateOnlineReplaced };
  const completion = { at: r.completed_at, refund: { kind: r.refund_kind, amount: r.refund_amount }, kind: r.kind };
  return {
    ...summary(r),
    currency: q.sales.ofReturn(r)?.currency ?? null,
    request,
    policyVersion: r.policy_version,
    rules: JSON.parse(r.rules) as { code: string; detail: string }[],
    decisionDetail: {
      allowedTenders: JSON.parse(r.allowed_tenders) as string[],
      conditions: JSON.parse(r.conditions) as string[],
      grossRefund: r.gross_refund,
      fees: r.fees,
      expiresAt: r.expires_at,
    },
    lines: q.returnsRepo.lines(r.authorization).map(lineView),
    exchange: q.returnsRepo
      .exchanges(r.authorization)
      .map((e) => ({ sku: e.sku, qty: fromMilli(e.qty), approved: fromMilli(e.approved_qty), code: e.code })),
    override: r.override_by ? { manager: r.override_by, at: r.override_at } : null,
    completion: completion.at !== null ? { ...completion, at: completion.at } : null,
    reconciliation: r.mode === 'offline' ? reconciliation : null,
    resolution: r.resolution
      ? { action: r.resolution, by: r.resolved_by, at: r.resolved_at, note: r.resolution_note }
      : null,
    exceptions: q.exceptions.forAuthorization(r.authorization).map((e) => ({
      id: e.id,
      code: e.code,
      reason: e.reason,
      createdAt: e.created_at,
      resolvedAt: e.resolved_at,
    })),
  };
}

/** Return tickets (online and offline, every outcome) and the exceptions the operator settles. */
export function returnRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;

  // a page of tickets, oldest first: ?store &limit (default 100, at most 1000) &after (the `next` of the page before)
  router.serve(listReturns, (ctx) => {
    authorize(api, ctx, false);
    const query = parseQuery(listReturns, ctx.query);
    const after = query.after === undefined ? undefined : keyOf(query.after);
    const page = q.returnsRepo.page({ store: query.store, after, limit: query.limit ?? RETURNS_PAGE.default });
    return {
      returns: page.tickets.map(({ ticket, lines }) => ({ ...summary(ticket), lines: lines.map(lineView) })),
      next: page.next ? cursorOf(page.next) : null,
    };
  });

  router.serve(showReturn, (ctx) => {
    authorize(api, ctx, false);
    return ticketView(q, need(q.returnsRepo.get(ctx.params.authorization), `return ${ctx.params.authorization}`));
  });

  router.serve(listExceptions, (ctx) => {
    authorize(api, ctx, false);
    const open = ctx.query.get('open') === 'true';
    return q.exceptions
      .forStore(ctx.query.get('store') ?? undefined)
      .filter((e) => !open || e.resolved_at === null)
      .map((e) => ({
        ...exceptionFields(e),
        resolution: e.resolution ? (JSON.parse(e.resolution) as { action: string; note: string; by: string }) : null,
      }));
  });

  router.serve(resolveException, async (ctx) => {
    const who = authorize(api, ctx, true);
    const body = (await ctx.body()) as { action?: unknown; note?: unknown };
    if (body.action !== 'accept' && body.action !== 'reverse') {
      throw new TbError(TbCodes.INVALID, 'action: expected "accept" or "reverse"');
    }
    if (typeof body.note !== 'string' || body.note.trim() === '') {
      throw new TbError(TbCodes.INVALID, 'note: expected a few words on why (it goes into the audit log)');
    }
    return api.returns.resolveException(actorOf(who), ctx.params.id, body.action, body.note.slice(0, 500));
  });
}
